package bus_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/kizuna-cti/kizuna/internal/bus"
)

// TestLocalPrune: messages every consumer acknowledged are dropped.
func TestLocalPrune(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, bus.LocalFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	left := func() (n int) {
		if err := db.QueryRow(`SELECT COUNT(*) FROM bus_messages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var fast atomic.Int64
	fs, err := l.Subscribe(ctx, "fast", func(context.Context, bus.Message) error { fast.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Stop()
	wait := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); fast.Load() < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("fast consumer handled %d messages, want %d", fast.Load(), n)
			}
		}
		time.Sleep(50 * time.Millisecond) // its acknowledgement and prune
	}
	publish := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if err := l.Publish(ctx, bus.Message{Topic: "t", ID: id, Data: []byte("{}")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("a1", "a2")
	wait(2)
	if n := left(); n != 0 {
		t.Fatalf("%d messages left after every consumer acknowledged them, want 0", n)
	}
	publish("b1", "b2", "b3")
	wait(5)
	if n := left(); n != 0 {
		t.Fatalf("%d messages left after the second batch was acknowledged, want 0", n)
	}
}
