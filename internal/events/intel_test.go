package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// intelHub is a hub's consumer side for intelligence routing: a store, a
// local bus, a registry, a notification store, a dispatcher delivering
// into out, and Deliver with a ConstituencyRouter.
type intelHub struct {
	st    *sqlite.Store
	b     *bus.Local
	reg   *constituency.Registry
	notes *notify.Store
	d     *alert.Dispatcher
	out   *sink
	loads atomic.Int64
}

func newIntelHub(t *testing.T, regs map[string][]string) *intelHub {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	h := &intelHub{out: &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}}
	h.st, h.b = openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond, Backoff: 20 * time.Millisecond})
	var err error
	if h.reg, err = constituency.Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.reg.Close() })
	for org, res := range regs {
		if _, err := h.reg.Add(ctx, org, res...); err != nil {
			t.Fatal(err)
		}
	}
	if h.notes, err = notify.Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.notes.Close() })
	if h.d, err = alert.Open(ctx, dir, alert.Options{Visible: memberVisible, Channels: map[string]alert.Channel{"test": h.out}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.d.Close(ctx) })
	return h
}

var testPolicy = sharing.NewPolicy(sharing.TLPNone)

func memberVisible(org string, l sharing.Label) bool {
	return testPolicy.CanSee(sharing.Principal{OrgID: org, Role: sharing.RoleMember}, l)
}

// deliver subscribes the router (publishing notifications on pb) with a
// loader counting its loads.
func (h *intelHub) deliver(t *testing.T, pb bus.Publisher) *events.ConstituencyRouter {
	t.Helper()
	notePub := events.NewPublisher(pb, nil, testLog(t))
	router := &events.ConstituencyRouter{Registry: h.reg, Log: testLog(t), Notes: h.notes, Visible: memberVisible,
		Producer: sharing.Principal{OrgID: hubOrg}, Added: notePub.PublishNotifications}
	load := func(ctx context.Context, r events.Ref) (json.RawMessage, sharing.Label, error) {
		h.loads.Add(1)
		return events.StoreLoader(h.st)(ctx, r)
	}
	sub, err := events.Deliver(context.Background(), h.b, h.d, router, load, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Stop)
	return router
}

// records parses STIX objects into records with label l.
func records(t *testing.T, l sharing.Label, objs ...string) []store.Record {
	t.Helper()
	recs := make([]store.Record, 0, len(objs))
	for _, raw := range objs {
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		o.Raw = []byte(raw)
		recs = append(recs, store.Record{Object: o, Label: l})
	}
	return recs
}

func (h *intelHub) add(t *testing.T, p *events.Publisher, recs []store.Record) {
	t.Helper()
	res, err := p.Store(h.st).Add(context.Background(), store.DefaultCollectionID, recs, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.ID, r.Err)
		}
	}
}

// notes returns org's notifications as "observation object [observed]".
func (h *intelHub) notesOf(t *testing.T, org string) []string {
	t.Helper()
	ns, err := h.notes.List(context.Background(), sharing.Access{Clauses: []sharing.Clause{{}}}, notify.Filter{OrgID: org})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range ns {
		if n.Source != events.IntelSource || n.Label().TLP != sharing.TLPAmberStrict || !slices.Equal(n.Label().Orgs, []string{org}) || n.OrgID != org {
			t.Errorf("notification %d: source %q, org %s, label %+v", n.ID, n.Source, n.OrgID, n.Label())
		}
		s := n.Observation + " " + n.Fields["object"]
		if n.Fields["observed"] != "" {
			s += " " + n.Fields["observed"]
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

const ts = `"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z"`

func indicator(id, pattern, modified string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"` + id + `","created":"2026-01-01T00:00:00.000Z","modified":"` + modified + `","name":"bad things","pattern":"` + pattern + `","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`
}

// TestIntelRoutedByConstituency shares indicators, observed-data and SCOs
// naming addresses, domains, URLs and e-mail addresses of organisations
// with overlapping registrations (A's /24, /48 and IDN domain inside B's
// /16, /32 and parent domain): each owner of the most specific
// registration gets one notification (source "intel") per object and
// value, never the covering organisation, never C (which owns something
// else), nobody for TLP:RED or unowned values; a revision of an indicator
// and a redelivery add nothing; the first publish of the notification
// events fails and each notification still alerts exactly once. No rule
// wants object-added events: routing runs for the notifications alone.
func TestIntelRoutedByConstituency(t *testing.T) {
	ctx := context.Background()
	h := newIntelHub(t, map[string][]string{
		orgOwnerA: {"198.51.100.0/24", "2001:db8:a::/48", "bücher.example"},
		orgOwnerB: {"198.51.0.0/16", "2001:db8::/32", "example"},
		orgOwnerC: {"203.0.113.0/24"},
	})
	for _, org := range []string{orgOwnerA, orgOwnerB, orgOwnerC} {
		if err := h.d.PutRule(ctx, alert.Rule{ID: "notes-" + org[10:14], Org: org, Kinds: []alert.Kind{alert.Notification}, Target: alert.Target{Channel: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	noteBus := &flakyBus{Bus: h.b, fail: 1}
	router := h.deliver(t, noteBus)
	pub := events.NewPublisher(h.b, nil, testLog(t))
	defer pub.Close()

	const (
		ind1 = "indicator--00000000-0000-4000-8000-000000000001"
		ind2 = "indicator--00000000-0000-4000-8000-000000000002"
		ind3 = "indicator--00000000-0000-4000-8000-000000000003"
		v6   = "ipv6-addr--00000000-0000-4000-8000-000000000004"
		dom  = "domain-name--00000000-0000-4000-8000-000000000005"
		url  = "url--00000000-0000-4000-8000-000000000006"
		mail = "email-addr--00000000-0000-4000-8000-000000000007"
		v4   = "ipv4-addr--00000000-0000-4000-8000-000000000008"
		od   = "observed-data--00000000-0000-4000-8000-000000000009"
	)
	green := sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgOwnerC}
	red := sharing.Label{TLP: sharing.TLPRed, ProducerOrg: orgOwnerC, Users: []string{"someone"}}
	h.add(t, pub, records(t, green,
		indicator(ind1, `[ipv4-addr:value IN ('198.51.100.7', '198.51.7.7')] OR [email-addr:value = 'ceo@mail.xn--bcher-kva.example']`, "2026-01-01T00:00:00.000Z"),
		indicator(ind2, `[ipv4-addr:value = '192.0.2.1'] AND [file:name = 'x']`, "2026-01-01T00:00:00.000Z"),
		`{"type":"ipv6-addr","spec_version":"2.1","id":"`+v6+`","value":"2001:db8:a::5"}`,
		`{"type":"domain-name","spec_version":"2.1","id":"`+dom+`","value":"shop.bücher.example"}`,
		`{"type":"url","spec_version":"2.1","id":"`+url+`","value":"https://portal.example/login"}`,
		`{"type":"email-addr","spec_version":"2.1","id":"`+mail+`","value":"it@other.example"}`,
		`{"type":"ipv4-addr","spec_version":"2.1","id":"`+v4+`","value":"198.51.9.9"}`,
		`{"type":"observed-data","spec_version":"2.1","id":"`+od+`",`+ts+`,"first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":2,"object_refs":["`+v6+`","`+v4+`"],"objects":{"0":{"type":"ipv6-addr","value":"2001:db8:b::1"}}}`,
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000010",`+ts+`,"name":"x","is_family":true}`,
	))
	h.add(t, pub, records(t, red, indicator(ind3, `[ipv4-addr:value = '198.51.100.99']`, "2026-01-01T00:00:00.000Z")))
	// A revision of ind1 naming the same values, and one more of B's.
	h.add(t, pub, records(t, green, indicator(ind1, `[ipv4-addr:value IN ('198.51.100.7', '198.51.7.7', '198.51.8.8')] OR [email-addr:value = 'ceo@mail.xn--bcher-kva.example']`, "2026-01-02T00:00:00.000Z")))

	wantA := []string{
		"198.51.100.7 " + ind1,
		"2001:db8:a::5 " + v6,
		"mail.xn--bcher-kva.example " + ind1,
		"shop.xn--bcher-kva.example " + dom,
	}
	wantB := []string{
		"198.51.7.7 " + ind1,
		"198.51.8.8 " + ind1,
		"198.51.9.9 " + v4,
		"2001:db8:b::1 " + od + " " + od + "/0",
		"other.example " + mail,
		"portal.example " + url,
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(h.out.alerts(orgOwnerA)) < len(wantA) || len(h.out.alerts(orgOwnerB)) < len(wantB) {
		if time.Now().After(deadline) {
			t.Fatalf("notification alerts: A %d, B %d; notifications A %q, B %q", len(h.out.alerts(orgOwnerA)), len(h.out.alerts(orgOwnerB)),
				h.notesOf(t, orgOwnerA), h.notesOf(t, orgOwnerB))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything leaking or repeated would be there now
	if got := h.notesOf(t, orgOwnerA); !slices.Equal(got, wantA) {
		t.Errorf("A's notifications:\n got %q\nwant %q", got, wantA)
	}
	if got := h.notesOf(t, orgOwnerB); !slices.Equal(got, wantB) {
		t.Errorf("B's notifications (never A's more specific resources):\n got %q\nwant %q", got, wantB)
	}
	if got := h.notesOf(t, orgOwnerC); len(got) != 0 {
		t.Errorf("C owns none of it but got %q", got)
	}
	if got := h.out.alerts(orgOwnerC); len(got) != 0 {
		t.Errorf("C was alerted: %+v", got)
	}
	if noteBus.failed() != 1 {
		t.Errorf("the notification publish failed %d times, want 1", noteBus.failed())
	}
	for org, want := range map[string]int{orgOwnerA: len(wantA), orgOwnerB: len(wantB)} {
		per := map[string]int{}
		for _, a := range h.out.alerts(org) {
			if a.Kind != alert.Notification {
				t.Errorf("%s: unexpected %s alert", org, a.Kind)
			}
			per[a.Event]++
		}
		if len(per) != want {
			t.Errorf("%s: %d notification alerts, want %d", org, len(per), want)
		}
		for ev, n := range per {
			if n != 1 {
				t.Errorf("%s: %s alerted %d times", org, ev, n)
			}
		}
	}

	// A redelivered event routes again and notifies nobody twice.
	raw, _, err := events.StoreLoader(h.st)(ctx, events.Ref{Collection: store.DefaultCollectionID, ID: ind1})
	if err != nil {
		t.Fatal(err)
	}
	e, err := alert.FromObject(alert.ObjectAdded, ind1+"@2026-01-02T00:00:00.000Z", raw, green)
	if err != nil {
		t.Fatal(err)
	}
	owners, err := router.Intel(ctx, &e, events.Ref{Collection: store.DefaultCollectionID, ID: ind1}, events.StoreLoader(h.st))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(owners)
	if !slices.Equal(owners, []string{orgOwnerA, orgOwnerB}) {
		t.Errorf("owners of %s: %v", ind1, owners)
	}
	if got := h.notesOf(t, orgOwnerA); !slices.Equal(got, wantA) {
		t.Errorf("after a redelivery A has %q", got)
	}
}

// TestIntelSkippedWithoutRegistrations: with a notification store but no
// registered resource (and no rule for object-added events) the consumer
// loads no object of a bulk write; once a resource is registered, the
// indicators naming it are loaded and notified.
func TestIntelSkippedWithoutRegistrations(t *testing.T) {
	ctx := context.Background()
	h := newIntelHub(t, nil)
	if err := h.d.PutRule(ctx, alert.Rule{ID: "findings", Org: orgOwnerA, Kinds: []alert.Kind{alert.Finding}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	router := h.deliver(t, h.b)
	router.TTL = time.Millisecond
	pub := events.NewPublisher(h.b, nil, testLog(t))
	defer pub.Close()
	green := sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgOwnerC}
	var objs []string
	for i := range 50 {
		objs = append(objs, indicator(fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i), `[ipv4-addr:value = '198.51.100.`+fmt.Sprint(i)+`']`, "2026-01-01T00:00:00.000Z"))
	}
	h.add(t, pub, records(t, green, objs...))
	// A marker after the bulk write: a finding is delivered once the
	// consumer went past every object-added event.
	pub.Findings(ctx, []vulndb.Finding{{Org: orgOwnerA, Asset: "web", SBOMVersion: 1, Vulnerability: "CVE-2026-0001", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH"}})
	deadline := time.Now().Add(10 * time.Second)
	for len(h.out.alerts(orgOwnerA)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the finding was not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.loads.Load(); n != 0 {
		t.Errorf("%d objects loaded with an empty constituency registry", n)
	}
	if _, err := h.reg.Add(ctx, orgOwnerA, "198.51.100.0/24"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the router's table expires
	h.add(t, pub, records(t, green, indicator(fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", 99), `[ipv4-addr:value = '198.51.100.99']`, "2026-01-01T00:00:00.000Z")))
	deadline = time.Now().Add(10 * time.Second)
	for len(h.notesOf(t, orgOwnerA)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no notification after the resource was registered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.loads.Load(); n != 1 {
		t.Errorf("%d objects loaded, want 1 (the new indicator)", n)
	}
}
