package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// TestStoreClosePublishesEverything writes batches through the publishing
// store wrapper of a real SQLite store, reusing the JSON buffers after
// each Add as a bulk reader would, closes the publisher and reads the bus:
// every committed version is there exactly once, as a reference that
// loads its own JSON from the store.
func TestStoreClosePublishesEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, b := openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
	pub := events.NewPublisher(b, nil, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	est := pub.Store(st)
	const batches, per = 20, 50
	for i := range batches {
		recs := make([]store.Record, 0, per)
		for j := range per {
			buf := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.%d.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","labels":["batch-%d"]}`, i*per+j, i, j, i)
			o, err := stix.Parse(buf)
			if err != nil {
				t.Fatal(err)
			}
			o.Raw = buf
			recs = append(recs, store.Record{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen}})
		}
		res, err := est.Add(ctx, store.DefaultCollectionID, recs, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("Add %s: %v", r.ID, r.Err)
			}
		}
		for _, r := range recs { // a reader reusing its buffers overwrites them after Add
			for k := range r.Object.Raw {
				r.Object.Raw[k] = ' '
			}
		}
	}
	pub.Close()

	load := events.StoreLoader(st)
	if _, _, err := load(ctx, events.Ref{Collection: store.DefaultCollectionID, ID: "indicator--00000000-0000-4000-8000-999999999999", Version: "2026-01-01T00:00:00.000Z"}); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("loading a version that is not stored: %v, want NotFound", err)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	sub, err := b.Subscribe(ctx, "check", func(_ context.Context, m bus.Message) error {
		es, refs, err := events.Decode(m)
		if err != nil {
			t.Errorf("decoding %s: %v", m.ID, err)
			return nil
		}
		if len(es) == 0 || len(m.Data)/len(es) > 1024 {
			t.Errorf("message %s: %d events in %d bytes: want references only", m.ID, len(es), len(m.Data))
			return nil
		}
		for i, e := range es {
			ref := refs[i]
			if ref == nil || e.Object != nil {
				t.Errorf("event %s: ref %v, %d bytes of object: want a reference only", e.ID, ref, len(e.Object))
				continue
			}
			raw, _, err := load(ctx, *ref)
			if err != nil {
				t.Errorf("loading %v: %v", *ref, err)
				continue
			}
			e.Object = raw
			mu.Lock()
			seen[e.ID]++
			want := fmt.Sprintf(`"labels":["%s"]`, e.Labels[0])
			if !strings.Contains(string(e.Object), want) {
				t.Errorf("event %s carries %s, not its own object (%s)", e.ID, e.Object, want)
			}
			if len(seen) == batches*per {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		mu.Lock()
		t.Fatalf("bus holds %d distinct events, want %d", len(seen), batches*per)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s published %d times", id, n)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestDeliverSkipsUnwantedKinds: with rules for findings only, the
// consumer neither loads nor routes object-added events (a bulk import
// costs the server nothing), and still delivers the finding after them.
func TestDeliverSkipsUnwantedKinds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, b := openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	d, err := alert.Open(ctx, dir, alert.Options{
		Visible:  func(string, sharing.Label) bool { return true },
		Channels: map[string]alert.Channel{"test": out},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	if err := d.PutRule(ctx, alert.Rule{ID: "findings", Org: orgA, Kinds: []alert.Kind{alert.Finding}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	var loads sync.Map
	load := func(ctx context.Context, r events.Ref) (json.RawMessage, sharing.Label, error) {
		loads.Store(r.ID, true)
		return events.StoreLoader(st)(ctx, r)
	}
	sub, err := events.Deliver(ctx, b, d, nil, load, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	pub := events.NewPublisher(b, nil, nil)
	o, err := stix.Parse([]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Store(st).Add(ctx, store.DefaultCollectionID, []store.Record{{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen}}}, ""); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	pub.Findings(ctx, []vulndb.Finding{{Org: orgA, Asset: "web", SBOMVersion: 1, Vulnerability: "CVE-2026-0001", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH"}})
	deadline := time.Now().Add(10 * time.Second)
	for len(out.alerts(orgA)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the finding was not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, loaded := loads.Load(o.ID); loaded {
		t.Error("the consumer loaded an object-added event no rule wants")
	}
}
