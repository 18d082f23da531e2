package audit_test

import (
	"context"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/audit"
)

// BenchmarkRecord measures the asynchronous writer end to end: records
// queued with Record, stored in SQLite and appended to the audit log
// (Flush at the end), each record naming 100 objects like a TAXII page.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	tr, err := audit.Open(ctx, b.TempDir(), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	r := sample(1)
	for i := range 100 {
		r.Objects = append(r.Objects, sample(i).Objects[0])
	}
	for b.Loop() {
		if err := tr.Record(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if err := tr.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
