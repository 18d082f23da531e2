package translog_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vectorFile is the layout of testdata/vectors.json: receipts (a signed
// tree head, an entry and its inclusion proof) and consistency proofs
// between signed tree heads, each with the expected outcome: "ok",
// "verification" (provenance.ErrVerification) or "invalid" (errkind.Invalid).
type vectorFile struct {
	VerifierKey string          `json:"verifier_key"`
	Receipts    []receiptVector `json:"receipts"`
	Consistency []consVector    `json:"consistency"`
}

type receiptVector struct {
	Name       string `json:"name"`
	Receipt    string `json:"receipt"`
	ObjectHash string `json:"object_hash"`
	Want       string `json:"want"`
}

type consVector struct {
	Name    string `json:"name"`
	OldHead string `json:"old_head"`
	NewHead string `json:"new_head"`
	Proof   string `json:"proof"`
	Want    string `json:"want"`
}

func makeVectors(t testing.TB) vectorFile {
	ctx := context.Background()
	hs, wrong := testSigner(t, "hub"), testSigner(t, "impostor")
	l := buildLog(t, 13)
	oldHead, _ := l.Head(ctx)
	oldSigned, _ := hs.SignTree(oldHead)
	if _, err := l.Append(ctx, storetest.Entries(13, 40)...); err != nil {
		t.Fatal(err)
	}
	vf := vectorFile{VerifierKey: hs.VerifierKey()}
	js := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rec := func(i int64, s *translog.HeadSigner) *translog.Receipt {
		r, err := l.Receipt(ctx, i, s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	add := func(name string, r any, i int, want string) {
		text, ok := r.(string)
		if !ok {
			text = js(r)
		}
		oh := storetest.Entry(i).ObjectHash
		vf.Receipts = append(vf.Receipts, receiptVector{Name: name, Receipt: text,
			ObjectHash: hex.EncodeToString(oh[:]), Want: want})
	}
	good := rec(21, hs)
	add("good", good, 21, "ok")
	add("good first record", rec(0, hs), 0, "ok")
	add("good last record", rec(39, hs), 39, "ok")
	add("another object in hand", good, 22, "verification")
	add("wrong key signed the tree head", rec(21, wrong), 21, "verification")
	c := *good
	c.Proof = append(c.Proof[:0:0], good.Proof...)
	c.Proof[2][7] ^= 1
	add("tampered proof", &c, 21, "verification")
	c = *good
	c.Proof = good.Proof[:len(good.Proof)-1]
	add("truncated proof", &c, 21, "verification")
	c = *good
	c.Index = 20
	add("wrong index", &c, 21, "verification")
	c = *good
	c.Entry = strings.Replace(good.Entry, "collection-a", "collection-z", 1)
	add("tampered entry", &c, 21, "verification")
	c = *good
	c.TreeHead = strings.Replace(good.TreeHead, "\n40\n", "\n41\n", 1)
	add("tampered tree head", &c, 21, "verification")
	c = *good
	c.TreeHead = good.TreeHead[:len(good.TreeHead)-20]
	add("truncated tree head", &c, 21, "invalid")
	c = *good
	c.Entry = good.Entry[:len(good.Entry)-1]
	add("truncated entry", &c, 21, "invalid")
	g := js(good)
	add("truncated receipt", g[:len(g)-30], 21, "invalid")
	add("unknown member", strings.Replace(g, "{", `{"x":1,`, 1), 21, "invalid")
	add("bad hash base64", strings.Replace(g, `"proof":["`, `"proof":["!`, 1), 21, "invalid")

	newHead, _ := l.Head(ctx)
	newSigned, _ := hs.SignTree(newHead)
	p, err := l.ConsistencyProof(ctx, 13, 40)
	if err != nil {
		t.Fatal(err)
	}
	addC := func(name string, oldH, newH []byte, proof any, want string) {
		text, ok := proof.(string)
		if !ok {
			text = js(proof)
		}
		vf.Consistency = append(vf.Consistency, consVector{Name: name, OldHead: string(oldH), NewHead: string(newH), Proof: text, Want: want})
	}
	addC("good", oldSigned, newSigned, p, "ok")
	q := *p
	q.Hashes = append(p.Hashes[:0:0], p.Hashes...)
	q.Hashes[0][0] ^= 0x10
	addC("tampered proof", oldSigned, newSigned, &q, "verification")
	q = *p
	q.Hashes = p.Hashes[1:]
	addC("truncated proof", oldSigned, newSigned, &q, "verification")
	wrongNew, _ := wrong.SignTree(newHead)
	addC("new head signed by the wrong key", oldSigned, wrongNew, p, "verification")
	fork := buildLog(t, 40)
	forkHead, _ := fork.TreeAt(ctx, 39)
	forkSigned, _ := hs.SignTree(forkHead)
	addC("proof for other sizes", oldSigned, forkSigned, p, "verification")
	addC("malformed proof", oldSigned, newSigned, `{"old_size":13,"new_size":40,"hashes":"x"}`, "invalid")
	addC("old size zero", oldSigned, newSigned, `{"old_size":0,"new_size":40,"hashes":[]}`, "invalid")
	return vf
}

func TestVectorsFileUpToDate(t *testing.T) {
	got, err := json.MarshalIndent(makeVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the vectors the code makes; run go test -run TestVectorsFileUpToDate -update", path)
	}
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

func checkWant(t *testing.T, want string, err error) {
	t.Helper()
	switch want {
	case "ok":
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
	case "verification":
		if !errors.Is(err, provenance.ErrVerification) || errors.Is(err, errkind.Invalid) {
			t.Fatalf("want a verification failure, got %v", err)
		}
	case "invalid":
		if !errors.Is(err, errkind.Invalid) || errors.Is(err, provenance.ErrVerification) {
			t.Fatalf("want errkind.Invalid, got %v", err)
		}
	default:
		t.Fatalf("bad want %q", want)
	}
}

func verifyReceiptText(vkey, receipt, objectHash string) error {
	v, err := translog.NewHeadVerifier(vkey)
	if err != nil {
		return err
	}
	r, err := translog.ParseReceipt([]byte(receipt))
	if err != nil {
		return err
	}
	var h [32]byte
	hex.Decode(h[:], []byte(objectHash))
	_, _, err = translog.VerifyReceipt(r, v, h)
	return err
}

func verifyConsistencyText(vkey, oldHead, newHead, proof string) error {
	v, err := translog.NewHeadVerifier(vkey)
	if err != nil {
		return err
	}
	old, err := translog.OpenTreeHead([]byte(oldHead), v)
	if err != nil {
		return err
	}
	cur, err := translog.OpenTreeHead([]byte(newHead), v)
	if err != nil {
		return err
	}
	p, err := translog.ParseConsistencyProof([]byte(proof))
	if err != nil {
		return err
	}
	return translog.VerifyConsistency(p, old, cur)
}

func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	for _, v := range vf.Receipts {
		t.Run("receipt/"+v.Name, func(t *testing.T) {
			checkWant(t, v.Want, verifyReceiptText(vf.VerifierKey, v.Receipt, v.ObjectHash))
		})
	}
	for _, v := range vf.Consistency {
		t.Run("consistency/"+v.Name, func(t *testing.T) {
			checkWant(t, v.Want, verifyConsistencyText(vf.VerifierKey, v.OldHead, v.NewHead, v.Proof))
		})
	}
}
