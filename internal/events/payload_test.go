package events_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// payloadHub is the consumer side for payload events: a dispatcher of
// dir with a rule of orgA for findings, cases and notifications, fed by
// Deliver from b.
func payloadHub(t *testing.T, dir string, b bus.Bus, out *sink) func() {
	t.Helper()
	ctx := context.Background()
	d, err := alert.Open(ctx, dir, alert.Options{Visible: memberVisible, Channels: map[string]alert.Channel{"test": out}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutRule(ctx, alert.Rule{ID: "payload", Org: orgA, Kinds: []alert.Kind{alert.Finding, alert.Case, alert.Notification}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	sub, err := events.Deliver(ctx, b, d, nil, nil, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		sub.Stop()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	}
}

// payloadEvents publishes through p, for orgA, a finding, a case change
// and the notifications of two reports stored in notes (tag tells the
// batches apart), and returns the alert event ids they should become.
func payloadEvents(t *testing.T, p *events.Publisher, notes *notify.Store, rt *route.Table, tag string) []string {
	t.Helper()
	ctx := context.Background()
	f := vulndb.Finding{Org: orgA, Asset: "web-" + tag, SBOMVersion: 1, Vulnerability: "CVE-2026-0001", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH"}
	p.Findings(ctx, []vulndb.Finding{f})
	c := incident.Case{ID: "case-" + tag, ReporterOrg: orgA, Affected: []string{orgA}, State: incident.StateNew,
		Report: incident.Report{Title: "Ransomware " + tag, Severity: "high"}, Reported: time.Now()}
	p.Case(ctx, c, "reported")
	ns, _, err := notes.Route(ctx, rt, "scan", []notify.Report{{Value: "198.51.100.7", Key: tag}, {Value: "198.51.100.8", Key: tag}},
		sharing.Principal{OrgID: hubOrg}, nil)
	if err != nil || len(ns) != 2 {
		t.Fatalf("notifications: %v, %d", err, len(ns))
	}
	p.Notifications(ctx, ns)
	ids := []string{fmt.Sprintf("%s/%s/%d/%s/%s/%s", f.Org, f.Asset, f.SBOMVersion, f.Component, f.Vulnerability, f.InstalledVersion), c.ID + "/reported"}
	for _, n := range ns {
		ids = append(ids, fmt.Sprintf("notification/%d", n.ID))
	}
	return ids
}

// waitEventsOnce waits until out received an alert for every event id
// and checks each arrived exactly once, and nothing else did.
func waitEventsOnce(t *testing.T, out *sink, ids []string) {
	t.Helper()
	count := func() map[string]int {
		got := map[string]int{}
		for _, a := range out.alerts(orgA) {
			got[a.Event]++
		}
		return got
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, missing := count(), []string{}
		for _, id := range ids {
			if got[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never alerted: %v", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // duplicates would arrive now
	got := count()
	var extra []string
	for ev, n := range got {
		if n != 1 {
			t.Errorf("%s alerted %d times, want 1", ev, n)
		}
		if !strings.Contains(strings.Join(ids, "\n"), ev) {
			extra = append(extra, ev)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("unexpected alerts: %v", extra)
	}
}

func payloadSetup(t *testing.T, dir string) (*sqlite.Store, *notify.Store, *route.Table) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	notes, err := notify.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { notes.Close() })
	reg, err := constituency.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Add(ctx, orgA, "198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
	rt, err := reg.Table(ctx, route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, notes, rt
}

// TestDurablePayloadEvents: findings, cases and notifications whose
// publish the bus refuses are kept in the outbox and published again,
// by the catch-up of the same publisher once the bus recovers, or by the
// next publisher of the data directory after a restart; the dispatcher
// alerts each exactly once.
func TestDurablePayloadEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, notes, rt := payloadSetup(t, dir)
	lb, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	stop := payloadHub(t, dir, lb, out)
	defer stop()
	opt := events.OutboxOptions{Backoff: 5 * time.Millisecond, CatchUpEvery: 50 * time.Millisecond}

	// The bus refuses the first 4 publishes (the finding, the case, the
	// notifications, then the catch-up's first try): the catch-up gets
	// them through.
	fb := &flakyBus{Bus: lb, fail: 4}
	p := events.NewPublisher(fb, nil, testLog(t))
	if err := p.Durable(ctx, dir, st, opt); err != nil {
		t.Fatal(err)
	}
	ids := payloadEvents(t, p, notes, rt, "a")
	waitEventsOnce(t, out, ids)
	if fb.failed() != 4 {
		t.Errorf("bus failed %d publishes, want 4", fb.failed())
	}

	// The bus is down until the publisher closes: a restarted publisher
	// on a working bus publishes what was parked.
	fb.mu.Lock()
	fb.fail = 1 << 30
	fb.mu.Unlock()
	ids = append(ids, payloadEvents(t, p, notes, rt, "b")...)
	time.Sleep(200 * time.Millisecond) // a few catch-ups fail
	p.Close()
	if got := len(out.alerts(orgA)); got != 4 {
		t.Fatalf("%d alerts while the bus was down, want the first 4", got)
	}
	p = events.NewPublisher(lb, nil, testLog(t))
	if err := p.Durable(ctx, dir, st, opt); err != nil {
		t.Fatal(err)
	}
	waitEventsOnce(t, out, ids)
	p.Close()

	// Restarted again: nothing is left to publish.
	p = events.NewPublisher(lb, nil, testLog(t))
	if err := p.Durable(ctx, dir, st, opt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	p.Close()
	waitEventsOnce(t, out, ids)
	for k, n := range out.keys {
		if n != 1 {
			t.Errorf("delivery %s made %d times", k, n)
		}
	}
}

// payloadHelperEnv names the data directory of the process that
// TestDurablePayloadSurvivesKill kills.
const payloadHelperEnv = "KIZUNA_TEST_PAYLOAD_HELPER_DIR"

// TestPayloadKillHelper is the process TestDurablePayloadSurvivesKill
// kills: its durable publisher's bus never answers; once a finding, a
// case and notifications are on their way it says so and waits.
func TestPayloadKillHelper(t *testing.T) {
	dir := os.Getenv(payloadHelperEnv)
	if dir == "" {
		t.Skip("run by TestDurablePayloadSurvivesKill")
	}
	ctx := context.Background()
	st, notes, rt := payloadSetup(t, dir)
	lb, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(&flakyBus{Bus: lb, fail: 1 << 30}, nil, nil)
	if err := p.Durable(ctx, dir, st, events.OutboxOptions{CatchUpEvery: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ids := payloadEvents(t, p, notes, rt, "k") // refused, parked
	// The last is stuck in its publish when the process dies.
	blocked := &flakyBus{Bus: lb, block: true}
	q := events.NewPublisher(blocked, nil, nil)
	if err := q.Durable(ctx, dir, st, events.OutboxOptions{CatchUpEvery: time.Hour}); err != nil {
		t.Fatal(err)
	}
	f := vulndb.Finding{Org: orgA, Asset: "stuck", SBOMVersion: 1, Vulnerability: "CVE-2026-0002", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH"}
	go q.Findings(ctx, []vulndb.Finding{f})
	time.Sleep(300 * time.Millisecond) // written to the outbox, blocked on the bus
	ids = append(ids, fmt.Sprintf("%s/%s/%d/%s/%s/%s", f.Org, f.Asset, f.SBOMVersion, f.Component, f.Vulnerability, f.InstalledVersion))
	fmt.Println("ids " + strings.Join(ids, " "))
	select {}
}

// TestDurablePayloadSurvivesKill: a process is killed (SIGKILL) with
// findings, cases and notifications refused by the bus or stuck in their
// publish; the next publisher of the data directory publishes them, and
// each alerts exactly once.
func TestDurablePayloadSurvivesKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ids := strings.Fields(strings.TrimPrefix(killHelper(t, "TestPayloadKillHelper", payloadHelperEnv, dir, "ids "), "ids "))
	if len(ids) != 5 {
		t.Fatalf("helper ids %v", ids)
	}

	st, lb := openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond})
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	stop := payloadHub(t, dir, lb, out)
	defer stop()
	p := events.NewPublisher(lb, nil, testLog(t))
	if err := p.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitEventsOnce(t, out, ids)
}
