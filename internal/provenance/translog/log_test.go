package translog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

const origin = "hub.example.org/kizuna/log"

func testSigner(t testing.TB, name string) *translog.HeadSigner {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	hs, err := translog.NewHeadSigner(origin, ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// mth is RFC 6962's Merkle Tree Hash written out from the RFC, an oracle
// independent of x/mod/sumdb/tlog.
func mth(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func buildLog(t testing.TB, n int) *translog.Log {
	t.Helper()
	l := translog.New(&translog.MemStore{})
	if _, err := l.Append(context.Background(), storetest.Entries(0, n)...); err != nil {
		t.Fatal(err)
	}
	return l
}

func leafOf(t testing.TB, i int) tlog.Hash {
	e := storetest.Entry(i)
	h, err := e.LeafHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTreeMatchesRFC6962(t *testing.T) {
	ctx := context.Background()
	l := translog.New(&translog.MemStore{})
	var leaves [][]byte
	for n := 1; n <= 70; n++ {
		e := storetest.Entry(n - 1)
		text, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, text)
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if head.N != int64(n) || head.Hash != tlog.Hash(mth(leaves)) {
			t.Fatalf("size %d: root %v, RFC 6962 says %x", n, head.Hash, mth(leaves))
		}
		// The audit's O(log n) recomputation agrees.
		rep, err := translog.Audit(ctx, l, head, func(func(translog.Current, error) bool) {})
		if err != nil || rep.Tree != head {
			t.Fatalf("size %d: audit tree %v, %v", n, rep.Tree, err)
		}
	}
}

func TestBatchAppendEqualsSingleAppends(t *testing.T) {
	ctx := context.Background()
	one := translog.New(&translog.MemStore{})
	for i := range 300 {
		if first, err := one.Append(ctx, storetest.Entry(i)); err != nil || first != int64(i) {
			t.Fatalf("Append = %d, %v", first, err)
		}
	}
	batched := translog.New(&translog.MemStore{})
	for _, b := range [][2]int{{0, 5}, {5, 6}, {6, 255}, {255, 257}, {257, 300}} {
		if _, err := batched.Append(ctx, storetest.Entries(b[0], b[1])...); err != nil {
			t.Fatal(err)
		}
	}
	h1, _ := one.Head(ctx)
	h2, _ := batched.Head(ctx)
	if h1 != h2 || h1.N != 300 {
		t.Fatalf("heads differ: %v, %v", h1, h2)
	}
}

func TestAppendRejectsBadEntries(t *testing.T) {
	l := translog.New(&translog.MemStore{})
	bad := storetest.Entry(0)
	bad.ObjectID = "indicator--x\nadd"
	if _, err := l.Append(context.Background(), storetest.Entry(1), bad); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("Append = %v", err)
	}
	if n, _ := l.Store().Size(context.Background()); n != 0 {
		t.Fatalf("a failed batch stored %d records", n)
	}
}

func TestInclusionProofs(t *testing.T) {
	ctx := context.Background()
	l := buildLog(t, 37)
	for size := int64(1); size <= 37; size++ {
		head, err := l.TreeAt(ctx, size)
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(0); i < size; i++ {
			p, err := l.InclusionProof(ctx, i, size)
			if err != nil {
				t.Fatal(err)
			}
			leaf := leafOf(t, int(i))
			if err := translog.VerifyInclusion(p, head, leaf); err != nil {
				t.Fatalf("good proof %d in %d: %v", i, size, err)
			}
			bad := map[string]func() (*translog.InclusionProof, tlog.Tree, tlog.Hash){
				"wrong leaf": func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					return p, head, leafOf(t, int(i+1))
				},
				"wrong root": func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					h := head
					h.Hash[0] ^= 1
					return p, h, leaf
				},
				"tree size mismatch": func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					q := *p
					q.TreeSize++
					return &q, head, leaf
				},
				"extended": func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					q := *p
					q.Hashes = append(append(tlog.RecordProof(nil), p.Hashes...), tlog.Hash{})
					return &q, head, leaf
				},
			}
			if size > 1 {
				bad["wrong index"] = func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					q := *p
					q.Index = (i + 1) % size
					return &q, head, leaf
				}
			}
			if len(p.Hashes) > 0 {
				bad["tampered"] = func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					q := *p
					q.Hashes = append(tlog.RecordProof(nil), p.Hashes...)
					q.Hashes[len(q.Hashes)/2][31] ^= 0x40
					return &q, head, leaf
				}
				bad["truncated"] = func() (*translog.InclusionProof, tlog.Tree, tlog.Hash) {
					q := *p
					q.Hashes = p.Hashes[:len(p.Hashes)-1]
					return &q, head, leaf
				}
			}
			for name, f := range bad {
				q, h, lf := f()
				if err := translog.VerifyInclusion(q, h, lf); !errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("%s proof %d in %d: %v", name, i, size, err)
				}
			}
		}
	}
	for _, tc := range [][2]int64{{37, 37}, {-1, 10}, {0, 38}, {5, 0}} {
		if _, err := l.InclusionProof(ctx, tc[0], tc[1]); !errors.Is(err, errkind.NotFound) {
			t.Errorf("InclusionProof(%d, %d) = %v", tc[0], tc[1], err)
		}
	}
}

func TestConsistencyAcrossGrowth(t *testing.T) {
	ctx := context.Background()
	l := translog.New(&translog.MemStore{})
	var heads []tlog.Tree
	for _, n := range []int{1, 1, 2, 3, 8, 1, 16, 31, 1, 64} {
		size, _ := l.Store().Size(ctx)
		if _, err := l.Append(ctx, storetest.Entries(int(size), int(size)+n)...); err != nil {
			t.Fatal(err)
		}
		h, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, h)
	}
	for i, old := range heads {
		for _, cur := range heads[i:] {
			p, err := l.ConsistencyProof(ctx, old.N, cur.N)
			if err != nil {
				t.Fatal(err)
			}
			if err := translog.VerifyConsistency(p, old, cur); err != nil {
				t.Fatalf("%d→%d: %v", old.N, cur.N, err)
			}
			forged := old
			forged.Hash[5] ^= 1
			if err := translog.VerifyConsistency(p, forged, cur); !errors.Is(err, provenance.ErrVerification) {
				t.Fatalf("%d→%d with a forged old head: %v", old.N, cur.N, err)
			}
			if len(p.Hashes) > 0 {
				q := *p
				q.Hashes = p.Hashes[:len(p.Hashes)-1]
				if err := translog.VerifyConsistency(&q, old, cur); !errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("%d→%d truncated: %v", old.N, cur.N, err)
				}
				q.Hashes = append(tlog.TreeProof(nil), p.Hashes...)
				q.Hashes[0][0] ^= 1
				if err := translog.VerifyConsistency(&q, old, cur); !errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("%d→%d tampered: %v", old.N, cur.N, err)
				}
			}
		}
	}
	// A fork: a log with one different entry is not consistent with this one.
	fork := translog.New(&translog.MemStore{})
	es := storetest.Entries(0, 200)
	es[3].Version = "2026-02-02T00:00:00.000Z"
	if _, err := fork.Append(ctx, es[:int(heads[len(heads)-1].N)]...); err != nil {
		t.Fatal(err)
	}
	fh, _ := fork.Head(ctx)
	old := heads[4]
	p, err := fork.ConsistencyProof(ctx, old.N, fh.N)
	if err != nil {
		t.Fatal(err)
	}
	if err := translog.VerifyConsistency(p, old, fh); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("forked log passes consistency: %v", err)
	}
}

func TestTreeHead(t *testing.T) {
	ctx := context.Background()
	l := buildLog(t, 10)
	head, _ := l.Head(ctx)
	hs := testSigner(t, "hub")
	signed, err := hs.SignTree(head)
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewHeadVerifier(hs.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	got, err := translog.OpenTreeHead(signed, v)
	if err != nil || got != head {
		t.Fatalf("OpenTreeHead = %v, %v", got, err)
	}
	other, _ := translog.NewHeadVerifier(testSigner(t, "other").VerifierKey())
	otherOrigin, _ := translog.NewHeadSigner("another.example/log", ed25519.NewKeyFromSeed(make([]byte, 32)))
	otherSigned, _ := otherOrigin.SignTree(head)
	tampered := []byte(string(signed))
	tampered[len(origin)+1] = '9' // the size "10" becomes "90"
	for _, tc := range []struct {
		name string
		in   []byte
		v    note.Verifier
		want error
	}{
		{"wrong key", signed, other, provenance.ErrVerification},
		{"tampered size", tampered, v, provenance.ErrVerification},
		{"other log's head", otherSigned, v, provenance.ErrVerification},
		{"truncated", signed[:len(signed)-10], v, errkind.Invalid},
		{"empty", nil, v, errkind.Invalid},
		{"unsigned", []byte(origin + "\n10\nAAAA\n\n"), v, errkind.Invalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := translog.OpenTreeHead(tc.in, tc.v)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReceipt(t *testing.T) {
	ctx := context.Background()
	l := buildLog(t, 25)
	hs := testSigner(t, "hub")
	v, _ := translog.NewHeadVerifier(hs.VerifierKey())
	r, err := l.Receipt(ctx, 17, hs)
	if err != nil {
		t.Fatal(err)
	}
	e, head, err := translog.VerifyReceipt(r, v, storetest.Entry(17).ObjectHash)
	if err != nil || *e != storetest.Entry(17) || head.N != 25 {
		t.Fatalf("VerifyReceipt = %v, %v, %v", e, head, err)
	}
	if _, _, err := translog.VerifyReceipt(r, v, storetest.Entry(16).ObjectHash); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("receipt for another object: %v", err)
	}
	edited := *r
	other := storetest.Entry(17)
	other.Collection = "collection-b"
	text, _ := other.Marshal()
	edited.Entry = string(text)
	if _, _, err := translog.VerifyReceipt(&edited, v, other.ObjectHash); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("receipt with an edited entry: %v", err)
	}
}
