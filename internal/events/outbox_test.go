package events_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// flakyBus is a real bus whose Publish fails while fail > 0 (counting
// down), or blocks for ever when block is set: a bus that is down, or a
// process frozen between its commit and its publish.
type flakyBus struct {
	bus.Bus
	mu       sync.Mutex
	fail     int
	failures int
	block    bool
}

func (f *flakyBus) Publish(ctx context.Context, ms ...bus.Message) error {
	f.mu.Lock()
	block := f.block
	fail := f.fail > 0
	if fail {
		f.fail--
		f.failures++
	}
	f.mu.Unlock()
	if block {
		select {}
	}
	if fail {
		return errors.New("injected bus failure")
	}
	return f.Bus.Publish(ctx, ms...)
}

func (f *flakyBus) failed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

// writeBatches writes batches of per indicators (ids from first on)
// through st and returns their ids.
func writeBatches(t testing.TB, st store.Objects, first, batches, per int) []string {
	t.Helper()
	var ids []string
	for i := range batches {
		recs := make([]store.Record, 0, per)
		for j := range per {
			n := first + i*per + j
			id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n)
			buf := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"%s","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.1.%d.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, id, n/250, n%250)
			o, err := stix.Parse(buf)
			if err != nil {
				t.Fatal(err)
			}
			o.Raw = buf
			recs = append(recs, store.Record{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen}})
			ids = append(ids, id)
		}
		res, err := st.Add(context.Background(), store.DefaultCollectionID, recs, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("Add %s: %v", r.ID, r.Err)
			}
		}
	}
	return ids
}

// alerting is the consumer side of a hub: a dispatcher (DIR/alerts.db)
// with one rule for object-added events delivering into a sink, fed by
// Deliver from the bus.
type alerting struct {
	out *sink
	d   *alert.Dispatcher
	sub bus.Subscription
}

func startAlerting(t *testing.T, dir string, b bus.Bus, st store.Objects, out *sink) *alerting {
	t.Helper()
	ctx := context.Background()
	d, err := alert.Open(ctx, dir, alert.Options{
		Visible:  func(string, sharing.Label) bool { return true },
		Channels: map[string]alert.Channel{"test": out},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutRule(ctx, alert.Rule{ID: "objects", Org: orgA, Kinds: []alert.Kind{alert.ObjectAdded}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	sub, err := events.Deliver(ctx, b, d, nil, events.StoreLoader(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &alerting{out: out, d: d, sub: sub}
}

func (a *alerting) stop(t *testing.T) {
	a.sub.Stop()
	if err := a.d.Close(context.Background()); err != nil {
		t.Error(err)
	}
}

// waitExactlyOnce waits until the sink received an alert for every id,
// lets late duplicates arrive, and checks each was delivered exactly once
// and nothing else was.
func waitExactlyOnce(t *testing.T, out *sink, ids []string) {
	t.Helper()
	count := func() map[string]int {
		out.mu.Lock()
		defer out.mu.Unlock()
		got := map[string]int{}
		for _, a := range out.got[orgA] {
			got[strings.SplitN(a.Event, "@", 2)[0]]++
		}
		return got
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := count()
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d committed objects never alerted", missing, len(ids))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // duplicates would arrive now
	got := count()
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s alerted %d times, want 1", id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("%d objects alerted, want %d", len(got), len(ids))
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	for k, n := range out.keys {
		if n != 1 {
			t.Errorf("delivery %s made %d times", k, n)
		}
	}
}

// openStoreBus opens a SQLite store and a local bus in dir, both closed
// when the test ends.
func openStoreBus(tb testing.TB, dir string, opt bus.LocalOptions) (*sqlite.Store, *bus.Local) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	b, err := bus.OpenLocal(ctx, dir, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return st, b
}

func testLog(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(testWriter{t}, nil)) }

// TestDurableRetriesFailedPublishes: the bus refuses publishes after the
// store committed; every committed object still yields exactly one alert,
// whether the retries get through (a few failures) or the batches are
// parked and published by the catch-up (a longer outage).
func TestDurableRetriesFailedPublishes(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail int
		opt  events.OutboxOptions
	}{
		{"retried", 3, events.OutboxOptions{Backoff: 5 * time.Millisecond}},
		{"parked then caught up", 25, events.OutboxOptions{Backoff: 5 * time.Millisecond, Attempts: 2, CatchUpEvery: 50 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, lb := openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
			fb := &flakyBus{Bus: lb, fail: tc.fail}
			al := startAlerting(t, dir, lb, st, &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}})
			defer al.stop(t)
			pub := events.NewPublisher(fb, nil, testLog(t))
			if err := pub.Durable(ctx, dir, st, tc.opt); err != nil {
				t.Fatal(err)
			}
			ids := writeBatches(t, pub.Store(st), 0, 10, 20)
			waitExactlyOnce(t, al.out, ids)
			pub.Close()
			if fb.failed() != tc.fail {
				t.Errorf("bus failed %d publishes, want %d", fb.failed(), tc.fail)
			}
		})
	}
}

// outboxHelperEnv names the data directory of the process that
// TestDurableSurvivesKill kills.
const outboxHelperEnv = "KIZUNA_TEST_OUTBOX_HELPER_DIR"

// TestOutboxKillHelper is the process TestDurableSurvivesKill kills: it
// commits batches through a durable publisher whose bus never answers,
// says so, and waits to be killed.
func TestOutboxKillHelper(t *testing.T) {
	dir := os.Getenv(outboxHelperEnv)
	if dir == "" {
		t.Skip("run by TestDurableSurvivesKill")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(&flakyBus{Bus: lb, block: true}, nil, nil)
	if err := pub.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
		t.Fatal(err)
	}
	writeBatches(t, pub.Store(st), 0, 5, 20)
	fmt.Println("committed")
	select {}
}

// killHelper runs the test helper in a child process with env=dir, waits
// until it prints a line starting with prefix, kills it (SIGKILL: no
// deferred code runs) and returns the line.
func killHelper(t *testing.T, helper, env, dir, prefix string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env+"="+dir)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				line <- sc.Text()
			}
		}
		close(line)
	}()
	var got string
	select {
	case l, ok := <-line:
		if !ok {
			cmd.Process.Kill()
			t.Fatalf("the helper process %s ended early", helper)
		}
		got = l
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the helper process %s did not get there in time", helper)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	return got
}

// TestDurableSurvivesKill: a process commits objects and is killed
// (SIGKILL) before it publishes them; meanwhile objects are written with
// publishing disabled. The next publisher of the data directory catches
// up: a rule gets each object exactly once, and a further restart
// publishes nothing again.
func TestDurableSurvivesKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	killHelper(t, "TestOutboxKillHelper", outboxHelperEnv, dir, "committed")

	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := []string{}
	for i := range 100 {
		ids = append(ids, fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i))
	}
	ids = append(ids, writeBatches(t, st, 1000, 1, 10)...) // publishing disabled
	lb, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	al := startAlerting(t, dir, lb, st, out)
	pub := events.NewPublisher(lb, nil, testLog(t))
	if err := pub.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
		t.Fatal(err)
	}
	waitExactlyOnce(t, out, ids)
	ids = append(ids, writeBatches(t, pub.Store(st), 2000, 2, 10)...)
	waitExactlyOnce(t, out, ids)
	pub.Close()
	al.stop(t)

	// Restarted: the catch-up finds nothing left to publish.
	al = startAlerting(t, dir, lb, st, out)
	defer al.stop(t)
	pub = events.NewPublisher(lb, nil, testLog(t))
	if err := pub.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	waitExactlyOnce(t, out, ids)
}

// TestDurableNATSRestart: on NATS JetStream, publishes fail after the
// commit (some retried, the rest parked when the publisher closes); the
// hub restarts on the same stream, catches up, and every committed object
// was alerted exactly once.
func TestDurableNATSRestart(t *testing.T) {
	url := bustest.URL(t)
	stream, subject := bustest.Stream(t)
	ctx := context.Background()
	dial := func() *bus.NATS {
		n, err := bus.DialNATS(ctx, url, bus.NATSOptions{Stream: stream, Subject: subject, Backoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	nb := dial()
	t.Cleanup(func() {
		n := dial()
		_ = n.DeleteStream(context.Background())
		n.Close()
	})
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	al := startAlerting(t, dir, nb, st, out)
	fb := &flakyBus{Bus: nb, fail: 2}
	pub := events.NewPublisher(fb, nil, testLog(t))
	opt := events.OutboxOptions{Backoff: 5 * time.Millisecond, Attempts: 3, CatchUpEvery: time.Hour}
	if err := pub.Durable(ctx, dir, st, opt); err != nil {
		t.Fatal(err)
	}
	ids := writeBatches(t, pub.Store(st), 0, 4, 25) // retried through two failures
	waitExactlyOnce(t, out, ids)
	fb.mu.Lock()
	fb.fail = 1 << 30 // the bus goes down
	fb.mu.Unlock()
	down := writeBatches(t, pub.Store(st), 500, 3, 25)
	pub.Close() // parks them
	al.stop(t)
	nb.Close()

	nb = dial() // restart
	defer nb.Close()
	al = startAlerting(t, dir, nb, st, out)
	defer al.stop(t)
	pub = events.NewPublisher(nb, nil, testLog(t))
	if err := pub.Durable(ctx, dir, st, opt); err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ids = append(ids, down...)
	ids = append(ids, writeBatches(t, pub.Store(st), 1000, 2, 25)...)
	waitExactlyOnce(t, out, ids)
}

// BenchmarkDurableStore is the outbox's cost on a bulk import: one op is
// a batch of 2,000 indicators committed through a publishing store on the
// embedded bus, without and with Durable (a pending row before the
// commit, the mark after the publish).
func BenchmarkDurableStore(b *testing.B) {
	for _, durable := range []bool{false, true} {
		b.Run(fmt.Sprintf("durable=%v", durable), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			st, lb := openStoreBus(b, dir, bus.LocalOptions{})
			pub := events.NewPublisher(lb, nil, nil)
			if durable {
				if err := pub.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			est := pub.Store(st)
			const per = 2000
			b.ResetTimer()
			for i := range b.N {
				writeBatches(b, est, i*per, 1, per)
			}
			pub.Close()
		})
	}
}
