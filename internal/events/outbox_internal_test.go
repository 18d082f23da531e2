package events

import (
	"context"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// BenchmarkOutboxBatch is what the outbox adds per committed batch,
// whatever its size: the pending row written before the commit and, once
// the events are on the bus, its deletion with the mark's advance.
func BenchmarkOutboxBatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := NewPublisher(nil, nil, nil)
	if err := p.Durable(ctx, dir, st, OutboxOptions{}); err != nil {
		b.Fatal(err)
	}
	defer p.ob.close()
	b.ResetTimer()
	for i := range b.N {
		row, err := p.ob.begin(ctx, store.DefaultCollectionID)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.ob.finish(ctx, row, store.DefaultCollectionID, int64(i+1)); err != nil {
			b.Fatal(err)
		}
	}
}
