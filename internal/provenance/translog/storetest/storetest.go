// Package storetest is the conformance suite every translog.Store
// implementation runs: storetest.Run(t, newStore).
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

// Entry returns a deterministic test entry, the i-th of a log.
func Entry(i int) translog.Entry {
	return translog.Entry{
		Op:         translog.Add,
		Collection: "collection-a",
		ObjectID:   fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i),
		Version:    "2026-01-01T00:00:00.000Z",
		DateAdded:  fmt.Sprintf("2026-01-01T00:00:00.%06dZ", i%1000000),
		ObjectHash: sha256.Sum256([]byte(fmt.Sprint("object ", i))),
	}
}

// Entries returns test entries from..to-1.
func Entries(from, to int) []translog.Entry {
	es := make([]translog.Entry, 0, to-from)
	for i := from; i < to; i++ {
		es = append(es, Entry(i))
	}
	return es
}

// Run runs the conformance suite; newStore returns a new, empty store
// (cleaned up by the test).
func Run(t *testing.T, newStore func(t *testing.T) translog.Store) {
	ctx := context.Background()
	t.Run("Empty", func(t *testing.T) {
		s := newStore(t)
		if n, err := s.Size(ctx); err != nil || n != 0 {
			t.Fatalf("Size = %d, %v; want 0", n, err)
		}
		if es, err := s.ReadEntries(ctx, 0, 10); err != nil || len(es) != 0 {
			t.Fatalf("ReadEntries = %v, %v", es, err)
		}
		if _, err := s.ReadHashes(ctx, []int64{0}); !errors.Is(err, errkind.NotFound) {
			t.Fatalf("ReadHashes beyond the end: %v", err)
		}
	})
	t.Run("AppendReadBack", func(t *testing.T) {
		s := newStore(t)
		l := translog.New(s)
		mem := translog.New(&translog.MemStore{})
		for _, batch := range [][2]int{{0, 1}, {1, 2}, {2, 7}, {7, 100}, {100, 129}} {
			es := Entries(batch[0], batch[1])
			first, err := l.Append(ctx, es...)
			if err != nil || first != int64(batch[0]) {
				t.Fatalf("Append %v = %d, %v", batch, first, err)
			}
			if _, err := mem.Append(ctx, es...); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Size(ctx)
		if err != nil || n != 129 {
			t.Fatalf("Size = %d, %v", n, err)
		}
		// Every stored hash equals the reference implementation's.
		all := make([]int64, tlog.StoredHashCount(n))
		for i := range all {
			all[i] = int64(i)
		}
		got, err := s.ReadHashes(ctx, all)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := mem.Store().ReadHashes(ctx, all)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("stored hash %d differs", i)
			}
		}
		// Out of order and repeated indexes.
		if hs, err := s.ReadHashes(ctx, []int64{5, 0, 5}); err != nil || hs[0] != want[5] || hs[1] != want[0] || hs[2] != want[5] {
			t.Fatalf("ReadHashes(5,0,5) = %v, %v", hs, err)
		}
		if _, err := s.ReadHashes(ctx, []int64{tlog.StoredHashCount(n)}); !errors.Is(err, errkind.NotFound) {
			t.Fatalf("ReadHashes one beyond the end: %v", err)
		}
		es, err := s.ReadEntries(ctx, 120, 50)
		if err != nil || len(es) != 9 || es[0] != Entry(120) || es[8] != Entry(128) {
			t.Fatalf("ReadEntries(120, 50) = %d entries, %v", len(es), err)
		}
		idx, err := s.Find(ctx, Entry(77).ObjectHash)
		if err != nil || len(idx) != 1 || idx[0] != 77 {
			t.Fatalf("Find = %v, %v", idx, err)
		}
		if idx, err := s.Find(ctx, [32]byte{1}); err != nil || len(idx) != 0 {
			t.Fatalf("Find unknown = %v, %v", idx, err)
		}
		// Proofs served from this store verify.
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ref, _ := mem.Head(ctx); ref != head {
			t.Fatalf("head %v, reference %v", head, ref)
		}
		for _, i := range []int64{0, 1, 64, 127, 128} {
			p, err := l.InclusionProof(ctx, i, n)
			if err != nil {
				t.Fatal(err)
			}
			e := Entry(int(i))
			leaf, _ := e.LeafHash()
			if err := translog.VerifyInclusion(p, head, leaf); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	})
	t.Run("AppendConflict", func(t *testing.T) {
		s := newStore(t)
		l := translog.New(s)
		if _, err := l.Append(ctx, Entries(0, 3)...); err != nil {
			t.Fatal(err)
		}
		recs := []translog.Record{{Entry: Entry(3), Hashes: make([]tlog.Hash, 1)}}
		for _, start := range []int64{0, 2, 4} {
			if err := s.Append(ctx, start, recs); !errors.Is(err, errkind.Conflict) {
				t.Fatalf("Append at %d of a 3-record log: %v", start, err)
			}
		}
		if n, _ := s.Size(ctx); n != 3 {
			t.Fatalf("failed appends changed the size to %d", n)
		}
	})
	t.Run("ConcurrentAppend", func(t *testing.T) {
		s := newStore(t)
		l := translog.New(s)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for j := range 10 {
					if _, err := l.Append(ctx, Entries(g*1000+j*10, g*1000+j*10+10)...); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		n, err := s.Size(ctx)
		if err != nil || n != 400 {
			t.Fatalf("Size = %d, %v", n, err)
		}
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		es, _ := s.ReadEntries(ctx, 0, 400)
		ref := translog.New(&translog.MemStore{})
		if _, err := ref.Append(ctx, es...); err != nil {
			t.Fatal(err)
		}
		if h, _ := ref.Head(ctx); h != head {
			t.Fatal("stored tree differs from the tree of the stored entries")
		}
	})
}
