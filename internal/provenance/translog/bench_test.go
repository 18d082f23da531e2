package translog_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

// BenchmarkAppend measures Log.Append into the in-memory store in batches;
// the entries/s metric is the append target (>= 50,000/s).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			es := storetest.Entries(0, batch)
			l := translog.New(&translog.MemStore{})
			n := 0
			for b.Loop() {
				if _, err := l.Append(ctx, es...); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// hashStore serves stored hashes only; enough for tree heads and proofs,
// and small enough to hold a 10,000,000-record tree (20M hashes, 640 MB).
type hashStore struct {
	n      int64
	hashes []tlog.Hash
}

func (s *hashStore) Size(context.Context) (int64, error) { return s.n, nil }
func (s *hashStore) Append(context.Context, int64, []translog.Record) error {
	panic("read-only")
}
func (s *hashStore) ReadHashes(_ context.Context, idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = s.hashes[x]
	}
	return out, nil
}
func (s *hashStore) ReadEntries(context.Context, int64, int) ([]translog.Entry, error) {
	return nil, nil
}
func (s *hashStore) Find(context.Context, [32]byte) ([]int64, error) { return nil, nil }

func (s *hashStore) readHashes(idx []int64) ([]tlog.Hash, error) {
	return s.ReadHashes(context.Background(), idx)
}

// buildHashStore computes the stored hashes of an n-record tree of
// synthetic leaves (tlog.StoredHashesForRecordHash, as Log.Append does).
func buildHashStore(b *testing.B, n int64) *hashStore {
	s := &hashStore{hashes: make([]tlog.Hash, 0, tlog.StoredHashCount(n))}
	var leaf [8]byte
	for i := range n {
		binary.BigEndian.PutUint64(leaf[:], uint64(i))
		hs, err := tlog.StoredHashesForRecordHash(i, sha256.Sum256(leaf[:]), tlog.HashReaderFunc(s.readHashes))
		if err != nil {
			b.Fatal(err)
		}
		s.hashes = append(s.hashes, hs...)
		s.n = i + 1
	}
	return s
}

// BenchmarkInclusionProof10M measures producing and verifying inclusion
// proofs in a 10,000,000-record tree held in memory (issue target: < 1 ms).
// Building the tree takes about 10 s and 640 MB before timing starts; set
// -short to use 1,000,000 records.
func BenchmarkInclusionProof10M(b *testing.B) {
	n := int64(10_000_000)
	if testing.Short() {
		n = 1_000_000
	}
	s := buildHashStore(b, n)
	ctx := context.Background()
	l := translog.New(s)
	head, err := l.Head(ctx)
	if err != nil {
		b.Fatal(err)
	}
	leaf := func(i int64) tlog.Hash {
		var x [8]byte
		binary.BigEndian.PutUint64(x[:], uint64(i))
		return sha256.Sum256(x[:])
	}
	b.Run("prove", func(b *testing.B) {
		i := int64(0)
		for b.Loop() {
			i = (i + 7_919_993) % n
			if _, err := l.InclusionProof(ctx, i, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prove+verify", func(b *testing.B) {
		i := int64(0)
		for b.Loop() {
			i = (i + 7_919_993) % n
			p, err := l.InclusionProof(ctx, i, n)
			if err != nil {
				b.Fatal(err)
			}
			if err := translog.VerifyInclusion(p, head, leaf(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consistency", func(b *testing.B) {
		old := n / 3
		for b.Loop() {
			old = (old + 1_000_003) % n
			if _, err := l.ConsistencyProof(ctx, max(old, 1), n); err != nil {
				b.Fatal(err)
			}
		}
	})
}
