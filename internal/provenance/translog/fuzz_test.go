package translog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

// FuzzParseEntry checks that ParseEntry never panics and that what it
// accepts marshals back to exactly its input.
func FuzzParseEntry(f *testing.F) {
	for _, v := range loadVectors(f).Receipts {
		var r translog.Receipt
		if json.Unmarshal([]byte(v.Receipt), &r) == nil {
			f.Add([]byte(r.Entry))
		}
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		e, err := translog.ParseEntry(text)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil || !bytes.Equal(out, text) {
			t.Fatalf("Marshal(ParseEntry(%q)) = %q, %v", text, out, err)
		}
	})
}

// FuzzReceipt checks that receipt parsing and offline verification never
// panic, and that only the untouched good receipts verify.
func FuzzReceipt(f *testing.F) {
	vf := loadVectors(f)
	for _, v := range vf.Receipts {
		f.Add(v.Receipt, v.ObjectHash)
	}
	good := map[string]bool{}
	for _, v := range vf.Receipts {
		if v.Want == "ok" {
			good[v.Receipt+v.ObjectHash] = true
		}
	}
	f.Fuzz(func(t *testing.T, receipt, objectHash string) {
		err := verifyReceiptText(vf.VerifierKey, receipt, objectHash)
		if err == nil && !good[receipt+objectHash] {
			// Only a semantically identical receipt may verify.
			r, _ := translog.ParseReceipt([]byte(receipt))
			for k := range good {
				var g translog.Receipt
				json.Unmarshal([]byte(k[:len(k)-64]), &g)
				if r.Entry == g.Entry && r.Index == g.Index && r.TreeHead == g.TreeHead && len(r.Proof) == len(g.Proof) {
					return
				}
			}
			t.Fatalf("forged receipt verifies: %s", receipt)
		}
	})
}

// FuzzOpenTreeHead checks that tree head parsing never panics.
func FuzzOpenTreeHead(f *testing.F) {
	vf := loadVectors(f)
	for _, v := range vf.Consistency {
		f.Add([]byte(v.OldHead))
		f.Add([]byte(v.NewHead))
	}
	v, err := translog.NewHeadVerifier(vf.VerifierKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, signed []byte) {
		tree, err := translog.OpenTreeHead(signed, v)
		if err == nil && tree.N < 0 {
			t.Fatalf("negative tree size from %q", signed)
		}
	})
}

// FuzzProofs checks that proof parsing and verification never panic and
// that a parsed inclusion proof verifies only for the true leaf.
func FuzzProofs(f *testing.F) {
	ctx := context.Background()
	l := buildLog(f, 40)
	head, _ := l.Head(ctx)
	for _, i := range []int64{0, 7, 39} {
		p, _ := l.InclusionProof(ctx, i, 40)
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	for _, v := range loadVectors(f).Consistency {
		f.Add([]byte(v.Proof))
	}
	old, _ := l.TreeAt(ctx, 13)
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := translog.ParseInclusionProof(data); err == nil {
			e := storetest.Entry(int(p.Index % 40))
			leaf, _ := e.LeafHash()
			if translog.VerifyInclusion(p, head, leaf) == nil {
				want, _ := l.InclusionProof(ctx, p.Index, 40)
				if !equalHashes(p.Hashes, want.Hashes) {
					t.Fatalf("a different proof verifies: %s", data)
				}
			}
		}
		if p, err := translog.ParseConsistencyProof(data); err == nil {
			_ = translog.VerifyConsistency(p, old, head)
		}
	})
}

func equalHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
