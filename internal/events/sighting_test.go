package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
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
)

const (
	orgOwnerA = "identity--aaaaaaaa-0000-4000-8000-00000000000a"
	orgOwnerB = "identity--bbbbbbbb-0000-4000-8000-00000000000b"
	orgOwnerC = "identity--cccccccc-0000-4000-8000-00000000000c"
	hubOrg    = "identity--dddddddd-0000-4000-8000-00000000000d"
)

// TestSightingsRoutedByConstituency stores sightings through a publishing
// store: each is routed by what it observed (the indicator's pattern, the
// SCOs of its observed-data, IPv4, IPv6 and IDN domains) to the owner of
// the most specific registration, which alone gets a notification (source
// "sighting") and a constituency-only alert. Organisation B holds the
// covering /16, /32 and parent domain and hears only of its own
// resources; C owns nothing and hears nothing; a TLP:RED sighting the
// owner may not see notifies nobody; a redelivered sighting adds nothing.
func TestSightingsRoutedByConstituency(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, b := openStoreBus(t, dir, bus.LocalOptions{PollInterval: 10 * time.Millisecond, Backoff: 20 * time.Millisecond})
	reg, err := constituency.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for org, res := range map[string][]string{
		orgOwnerA: {"198.51.100.0/24", "2001:db8:a::/48", "bücher.example"},
		orgOwnerB: {"198.51.0.0/16", "2001:db8::/32", "example"},
	} {
		if _, err := reg.Add(ctx, org, res...); err != nil {
			t.Fatal(err)
		}
	}
	notes, err := notify.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer notes.Close()
	policy := sharing.NewPolicy(sharing.TLPNone)
	visible := func(org string, l sharing.Label) bool {
		return policy.CanSee(sharing.Principal{OrgID: org, Role: sharing.RoleMember}, l)
	}
	out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
	d, err := alert.Open(ctx, dir, alert.Options{Visible: visible, Channels: map[string]alert.Channel{"test": out}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	for _, org := range []string{orgOwnerA, orgOwnerB, orgOwnerC} {
		r := alert.Rule{ID: "mine-" + org[10:14], Org: org, Kinds: []alert.Kind{alert.Sighting}, ConstituencyOnly: true, Target: alert.Target{Channel: "test"}}
		if err := d.PutRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.PutRule(ctx, alert.Rule{ID: "notes-a", Org: orgOwnerA, Kinds: []alert.Kind{alert.Notification}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	pub := events.NewPublisher(b, nil, testLog(t))
	// The first publish of notification events fails: the sighting is
	// delivered again and its stored notifications published then.
	noteBus := &flakyBus{Bus: b, fail: 1}
	notePub := events.NewPublisher(noteBus, nil, testLog(t))
	router := &events.ConstituencyRouter{Registry: reg, Log: testLog(t), Notes: notes, Visible: visible,
		Producer: sharing.Principal{OrgID: hubOrg}, Added: notePub.PublishNotifications}
	sub, err := events.Deliver(ctx, b, d, router, events.StoreLoader(st), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()

	green := sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgOwnerC}
	red := sharing.Label{TLP: sharing.TLPRed, ProducerOrg: orgOwnerC, Users: []string{"someone"}}
	const ts = `"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z"`
	objs := []struct {
		json  string
		label sharing.Label
	}{
		{`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001",` + ts + `,"pattern":"[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'shop.xn--bcher-kva.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, green},
		{`{"type":"ipv6-addr","spec_version":"2.1","id":"ipv6-addr--00000000-0000-4000-8000-000000000002","value":"2001:db8:a::5"}`, green},
		{`{"type":"domain-name","spec_version":"2.1","id":"domain-name--00000000-0000-4000-8000-000000000003","value":"mail.bücher.example"}`, green},
		{`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-000000000004","value":"198.51.7.7"}`, green},
		{`{"type":"observed-data","spec_version":"2.1","id":"observed-data--00000000-0000-4000-8000-000000000005",` + ts + `,"first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"object_refs":["ipv6-addr--00000000-0000-4000-8000-000000000002","domain-name--00000000-0000-4000-8000-000000000003","url--00000000-0000-4000-8000-000000000007"]}`, green},
		{`{"type":"url","spec_version":"2.1","id":"url--00000000-0000-4000-8000-000000000007","value":"https://login.bücher.example/reset"}`, green},
		{`{"type":"observed-data","spec_version":"2.1","id":"observed-data--00000000-0000-4000-8000-000000000006",` + ts + `,"first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"object_refs":["ipv4-addr--00000000-0000-4000-8000-000000000004"]}`, green},
		// S1: the indicator's values (A); S2: observed SCOs (A); S3: B's own address; S4: TLP:RED about A's address.
		{`{"type":"sighting","spec_version":"2.1","id":"sighting--00000000-0000-4000-8000-0000000000s1",` + ts + `,"sighting_of_ref":"indicator--00000000-0000-4000-8000-000000000001","count":3,"last_seen":"2026-01-01T01:00:00Z"}`, green},
		{`{"type":"sighting","spec_version":"2.1","id":"sighting--00000000-0000-4000-8000-0000000000s2",` + ts + `,"sighting_of_ref":"indicator--00000000-0000-4000-8000-000000000099","observed_data_refs":["observed-data--00000000-0000-4000-8000-000000000005"]}`, green},
		{`{"type":"sighting","spec_version":"2.1","id":"sighting--00000000-0000-4000-8000-0000000000s3",` + ts + `,"sighting_of_ref":"indicator--00000000-0000-4000-8000-000000000099","observed_data_refs":["observed-data--00000000-0000-4000-8000-000000000006"]}`, green},
		{`{"type":"sighting","spec_version":"2.1","id":"sighting--00000000-0000-4000-8000-0000000000s4",` + ts + `,"sighting_of_ref":"indicator--00000000-0000-4000-8000-000000000001"}`, red},
	}
	recs := make([]store.Record, 0, len(objs))
	for _, o := range objs {
		raw := strings.ReplaceAll(o.json, "0000000000s", "00000000000") // valid UUIDs
		obj, err := stix.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		obj.Raw = []byte(raw)
		recs = append(recs, store.Record{Object: obj, Label: o.label})
	}
	est := pub.Store(st)
	if _, err := est.Add(ctx, store.DefaultCollectionID, recs[:7], ""); err != nil {
		t.Fatal(err)
	}
	res, err := est.Add(ctx, store.DefaultCollectionID, recs[7:], "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	sighting := func(n int) string { return fmt.Sprintf("sighting--00000000-0000-4000-8000-0000000000%02d", n) }

	everyone := sharing.Access{Clauses: []sharing.Clause{{}}}
	values := func(org string) []string {
		ns, err := notes.List(ctx, everyone, notify.Filter{OrgID: org})
		if err != nil {
			t.Fatal(err)
		}
		var vs []string
		for _, n := range ns {
			if n.Source == events.IntelSource {
				continue // the shared indicator and SCOs (TestIntelRoutedByConstituency)
			}
			if n.Source != events.SightingSource || n.Label().TLP != sharing.TLPAmberStrict || !slices.Equal(n.Label().Orgs, []string{org}) {
				t.Errorf("notification %d: source %q, label %+v", n.ID, n.Source, n.Label())
			}
			vs = append(vs, n.Observation+" "+n.Fields["sighting"])
		}
		sort.Strings(vs)
		return vs
	}
	alerted := func(org string) []string {
		var ids []string
		for _, a := range out.alerts(org) {
			if a.Kind == alert.Sighting {
				ids = append(ids, strings.SplitN(a.Event, "@", 2)[0])
			}
		}
		sort.Strings(ids)
		return ids
	}
	wantA := []string{
		"198.51.100.7 " + sighting(1),
		"2001:db8:a::5 " + sighting(2),
		"login.xn--bcher-kva.example " + sighting(2),
		"mail.xn--bcher-kva.example " + sighting(2),
		"shop.xn--bcher-kva.example " + sighting(1),
	}
	deadline := time.Now().Add(20 * time.Second)
	allNotes := func(org string) int {
		ns, err := notes.List(ctx, everyone, notify.Filter{OrgID: org})
		if err != nil {
			t.Fatal(err)
		}
		return len(ns)
	}
	for len(alerted(orgOwnerA)) < 2 || len(alerted(orgOwnerB)) < 1 || len(values(orgOwnerA)) < len(wantA) || len(out.alerts(orgOwnerA)) < 2+allNotes(orgOwnerA) {
		if time.Now().After(deadline) {
			t.Fatalf("alerts: A %v, B %v", alerted(orgOwnerA), alerted(orgOwnerB))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // S4, and anything leaking, would be there now
	if got := values(orgOwnerA); !slices.Equal(got, wantA) {
		t.Errorf("A's notifications:\n got %q\nwant %q", got, wantA)
	}
	if got, want := values(orgOwnerB), []string{"198.51.7.7 " + sighting(3)}; !slices.Equal(got, want) {
		t.Errorf("B's notifications: got %q, want %q (never A's resources)", got, want)
	}
	if got := values(orgOwnerC); len(got) != 0 {
		t.Errorf("C owns nothing but got %q", got)
	}
	if got, want := alerted(orgOwnerA), []string{sighting(1), sighting(2)}; !slices.Equal(got, want) {
		t.Errorf("A's constituency alerts: got %v, want %v", got, want)
	}
	if got, want := alerted(orgOwnerB), []string{sighting(3)}; !slices.Equal(got, want) {
		t.Errorf("B's constituency alerts: got %v, want %v", got, want)
	}
	if got := alerted(orgOwnerC); len(got) != 0 {
		t.Errorf("C's constituency alerts: %v", got)
	}
	if noteBus.failed() != 1 {
		t.Errorf("the notification publish failed %d times, want 1", noteBus.failed())
	}
	noteAlerts := map[string]int{}
	for _, a := range out.alerts(orgOwnerA) {
		if a.Kind == alert.Notification {
			noteAlerts[a.Event]++
		}
	}
	if len(noteAlerts) != allNotes(orgOwnerA) {
		t.Errorf("A's notification alerts %v, want one per notification (%d)", noteAlerts, allNotes(orgOwnerA))
	}
	for ev, n := range noteAlerts {
		if n != 1 {
			t.Errorf("%s alerted %d times", ev, n)
		}
	}

	// A redelivered sighting routes again but notifies nobody twice.
	raw, _, err := events.StoreLoader(st)(ctx, events.Ref{Collection: store.DefaultCollectionID, ID: sighting(1), Version: "2026-01-01T00:00:00.000Z"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := alert.FromObject(alert.Sighting, sighting(1)+"@2026-01-01T00:00:00.000Z", raw, green)
	if err != nil {
		t.Fatal(err)
	}
	owners, err := router.Sighting(ctx, &e, events.Ref{Collection: store.DefaultCollectionID, ID: sighting(1)}, events.StoreLoader(st))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(owners, []string{orgOwnerA}) {
		t.Errorf("owners of S1: %v", owners)
	}
	if got := values(orgOwnerA); !slices.Equal(got, wantA) {
		t.Errorf("after a redelivery A has %q", got)
	}
	pub.Close()
}

// FuzzSighting routes arbitrary sightings whose references resolve to
// arbitrary GREEN objects: no panic, no error without a notification
// store, and only registered owners come out.
func FuzzSighting(f *testing.F) {
	f.Add(`{"type":"sighting","sighting_of_ref":"indicator--1","observed_data_refs":["observed-data--1"]}`,
		`{"type":"indicator","pattern":"[ipv4-addr:value = '198.51.100.7']"}`,
		`{"type":"observed-data","object_refs":["ipv6-addr--1"],"objects":{"0":{"type":"domain-name","value":"a.bücher.example"}}}`)
	f.Add(`{"type":"sighting","observed_data_refs":"x"}`, `null`, `{"type":"observed-data","object_refs":[1,2]}`)
	ctx := context.Background()
	reg, err := constituency.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer reg.Close()
	if _, err := reg.Add(ctx, orgOwnerA, "198.51.100.0/24", "2001:db8::/32", "bücher.example"); err != nil {
		f.Fatal(err)
	}
	router := &events.ConstituencyRouter{Registry: reg, TTL: time.Hour, Visible: memberVisible}
	f.Fuzz(func(t *testing.T, sighting, of, data string) {
		green := sharing.Label{TLP: sharing.TLPGreen}
		load := func(_ context.Context, r events.Ref) (json.RawMessage, sharing.Label, error) {
			switch {
			case strings.HasPrefix(r.ID, "observed-data--"):
				return json.RawMessage(data), green, nil
			case strings.HasPrefix(r.ID, "ipv6-addr--"):
				return json.RawMessage(`{"type":"ipv6-addr","value":"2001:db8::5"}`), green, nil
			}
			return json.RawMessage(of), green, nil
		}
		e := alert.Event{ID: "sighting--1@v", Kind: alert.Sighting, Object: json.RawMessage(sighting)}
		owners, err := router.Sighting(ctx, &e, events.Ref{Collection: "c", ID: "sighting--1"}, load)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range owners {
			if o != orgOwnerA {
				t.Fatalf("owner %q", o)
			}
		}
	})
}
