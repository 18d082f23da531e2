package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// recorder is a handler that fails the first attempt of the ids in failOnce
// and records every call.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	failOnce map[string]bool
}

func (r *recorder) handle(_ context.Context, m bus.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, m.Topic+"/"+m.ID+"/"+string(m.Data))
	if r.failOnce[m.ID] {
		delete(r.failOnce, m.ID)
		return errors.New("transient")
	}
	return nil
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func count(calls []string, s string) int {
	n := 0
	for _, c := range calls {
		if c == s {
			n++
		}
	}
	return n
}

// TestBus runs the same contract against both implementations: delivery of
// what was published before and after subscribing, redelivery after a
// handler error, no redelivery of acknowledged messages after a restart of
// the subscription, and refusal of bad topics and names.
func TestBus(t *testing.T) {
	impls := []struct {
		name string
		open func(t *testing.T) bus.Bus
	}{
		{"local", func(t *testing.T) bus.Bus {
			b, err := bus.OpenLocal(context.Background(), t.TempDir(), bus.LocalOptions{PollInterval: 20 * time.Millisecond, Backoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}},
		{"nats", func(t *testing.T) bus.Bus { return bustest.NATS(t) }},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) {
			ctx := context.Background()
			b := impl.open(t)
			pub := func(topic, id string) {
				t.Helper()
				if err := b.Publish(ctx, bus.Message{Topic: topic, ID: id, Data: []byte("d-" + id)}); err != nil {
					t.Fatal(err)
				}
			}
			pub("object-added", "e1")
			pub("finding", "e2")
			rec := &recorder{failOnce: map[string]bool{"e2": true}}
			sub, err := b.Subscribe(ctx, "alerts", rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			pub("case", "e3")
			bustest.WaitFor(t, "e1..e3 acknowledged", func() bool {
				c := rec.snapshot()
				return count(c, "finding/e2/d-e2") == 2 && count(c, "case/e3/d-e3") == 1
			})
			sub.Stop()
			got := rec.snapshot()
			if count(got, "object-added/e1/d-e1") != 1 {
				t.Errorf("e1 delivered %d times, want 1: %v", count(got, "object-added/e1/d-e1"), got)
			}

			// Restart: acknowledged messages stay acknowledged.
			rec2 := &recorder{}
			sub2, err := b.Subscribe(ctx, "alerts", rec2.handle)
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Stop()
			pub("sighting", "e4")
			bustest.WaitFor(t, "e4", func() bool { return count(rec2.snapshot(), "sighting/e4/d-e4") == 1 })
			time.Sleep(100 * time.Millisecond)
			if c := rec2.snapshot(); len(c) != 1 {
				t.Errorf("after restart got %v, want only e4", c)
			}

			// Durable consumers are independent: each gets every message.
			rec3 := &recorder{}
			sub3, err := b.Subscribe(ctx, "audit", rec3.handle)
			if err != nil {
				t.Fatal(err)
			}
			defer sub3.Stop()
			pub("case", "e5")
			bustest.WaitFor(t, "both consumers see e5", func() bool {
				return count(rec2.snapshot(), "case/e5/d-e5") == 1 && count(rec3.snapshot(), "case/e5/d-e5") == 1
			})

			for _, m := range []bus.Message{{Topic: "Bad.Topic", ID: "x"}, {Topic: "", ID: "x"}, {Topic: "case", ID: ""}} {
				if err := b.Publish(ctx, m); !errors.Is(err, errkind.Invalid) {
					t.Errorf("Publish(%+v) = %v, want Invalid", m, err)
				}
			}
			if _, err := b.Subscribe(ctx, "a.b", rec.handle); !errors.Is(err, errkind.Invalid) {
				t.Errorf("Subscribe(a.b) = %v, want Invalid", err)
			}
		})
	}
}

// TestLocalAcrossProcesses: a second Local on the same directory (another
// process, such as kizuna import) publishes; the subscriber finds the
// message by polling.
func TestLocalAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sub, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	writer, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	rec := &recorder{}
	s, err := sub.Subscribe(ctx, "alerts", rec.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for i := range 300 { // more than one read batch
		if err := writer.Publish(ctx, bus.Message{Topic: "object-added", ID: fmt.Sprint(i), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	bustest.WaitFor(t, "300 messages", func() bool { return len(rec.snapshot()) == 300 })
	for i, c := range rec.snapshot() {
		if want := fmt.Sprintf("object-added/%d/x", i); c != want {
			t.Fatalf("message %d is %q, want %q (order)", i, c, want)
		}
	}
}

// TestPublishBatch: one Publish of more messages than an INSERT carries
// (two full statements and a partial one) delivers every message once, in
// order, with its own topic, id and data, on both implementations.
func TestPublishBatch(t *testing.T) {
	ctx := context.Background()
	for name, b := range map[string]bus.Bus{
		"local": func() bus.Bus {
			b, err := bus.OpenLocal(ctx, t.TempDir(), bus.LocalOptions{PollInterval: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}(),
		"nats": bustest.NATS(t),
	} {
		t.Run(name, func(t *testing.T) {
			const n = 257
			topics := []string{"object-added", "sighting", "finding"}
			ms := make([]bus.Message, n)
			want := make([]string, n)
			for i := range ms {
				ms[i] = bus.Message{Topic: topics[i%3], ID: fmt.Sprintf("b%03d", i), Data: []byte(fmt.Sprintf("data %d", i))}
				want[i] = ms[i].Topic + "/" + ms[i].ID + "/" + string(ms[i].Data)
			}
			if err := b.Publish(ctx, ms...); err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			sub, err := b.Subscribe(ctx, "batch", rec.handle)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Stop()
			bustest.WaitFor(t, "every message of the batch", func() bool { return len(rec.snapshot()) >= n })
			time.Sleep(50 * time.Millisecond)
			got := rec.snapshot()
			if len(got) != n {
				t.Fatalf("delivered %d messages, want %d", len(got), n)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("message %d = %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

// TestLocalLargeMessages: messages larger than a delivery batch's byte
// bound are still delivered, one per batch, in order.
func TestLocalLargeMessages(t *testing.T) {
	ctx := context.Background()
	b, err := bus.OpenLocal(ctx, t.TempDir(), bus.LocalOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	big := make([]byte, 1536<<10)
	for i := range 3 {
		big[0] = byte('a' + i)
		if err := b.Publish(ctx, bus.Message{Topic: "object-added", ID: fmt.Sprintf("big%d", i), Data: append([]byte(nil), big...)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(ctx, bus.Message{Topic: "object-added", ID: "small", Data: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	sub, err := b.Subscribe(ctx, "big", func(_ context.Context, m bus.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s/%d/%c", m.ID, len(m.Data), m.Data[0]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	bustest.WaitFor(t, "four messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 4 })
	mu.Lock()
	defer mu.Unlock()
	want := fmt.Sprintf("[big0/%d/a big1/%d/b big2/%d/c small/1/s]", len(big), len(big), len(big))
	if fmt.Sprint(got) != want {
		t.Errorf("delivered %v, want %s", got, want)
	}
}
