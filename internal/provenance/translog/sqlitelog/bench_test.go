package sqlitelog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

// BenchmarkAppend measures Log.Append into SQLite (WAL, synchronous=NORMAL)
// in batches: one transaction per batch.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			es := storetest.Entries(0, batch)
			l := translog.New(open(b))
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

// BenchmarkInclusionProof measures an inclusion proof read from SQLite in
// a 1,000,000-record log.
func BenchmarkInclusionProof(b *testing.B) {
	ctx := context.Background()
	const n = 1_000_000
	l := translog.New(open(b))
	for i := 0; i < n; i += 10000 {
		if _, err := l.Append(ctx, storetest.Entries(i, i+10000)...); err != nil {
			b.Fatal(err)
		}
	}
	i := int64(0)
	for b.Loop() {
		i = (i + 7919) % n
		if _, err := l.InclusionProof(ctx, i, n); err != nil {
			b.Fatal(err)
		}
	}
}
