package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// TestReferencedLabelsLeak: a value an object names through another
// object (an observed-data's SCO, a sighting's indicator or observed-data)
// reaches its owner only if the owner may see both the referring object
// and the object the value was read from, as stored. The referenced
// objects are stored without events (as before alerting ran), so only the
// GREEN referring objects, published, could tell B; B owns every value
// and is outside the AMBER distribution (A's). Negative cases: a GREEN
// observed-data of an AMBER SCO, a GREEN sighting of a RED indicator, a
// GREEN sighting of an AMBER observed-data of a GREEN SCO, a GREEN
// sighting of a GREEN observed-data of an AMBER SCO, a GREEN sighting of
// an indicator that is not stored. Positive controls: the same with GREEN
// referenced objects, and an AMBER SCO whose distribution names B. B's
// constituency-only sighting rule fires for the positive sightings only.
func TestReferencedLabelsLeak(t *testing.T) {
	ctx := context.Background()
	h := newIntelHub(t, map[string][]string{orgOwnerB: {"198.51.100.0/24", "b.example"}})
	for _, r := range []alert.Rule{
		{ID: "notes-b", Org: orgOwnerB, Kinds: []alert.Kind{alert.Notification}, Target: alert.Target{Channel: "test"}},
		{ID: "mine-b", Org: orgOwnerB, Kinds: []alert.Kind{alert.Sighting}, ConstituencyOnly: true, Target: alert.Target{Channel: "test"}},
	} {
		if err := h.d.PutRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	router := h.deliver(t, h.b)
	pub := events.NewPublisher(h.b, nil, testLog(t))
	defer pub.Close()

	id := func(typ string, n int) string { return fmt.Sprintf("%s--00000000-0000-4000-8000-%012d", typ, n) }
	var (
		scoAmber   = id("ipv4-addr", 1) // AMBER for A: 198.51.100.1
		scoGreen   = id("ipv4-addr", 2) // 198.51.100.2
		scoAmberB  = id("ipv4-addr", 3) // AMBER for B: 198.51.100.3
		scoGreen4  = id("ipv4-addr", 4) // 198.51.100.4, in the AMBER observed-data
		indRed     = id("indicator", 5) // www.b.example
		indGreen   = id("indicator", 6) // mail.b.example
		odAmber    = id("observed-data", 7)
		odGreen    = id("observed-data", 8)  // of scoGreen
		odOfAmber  = id("observed-data", 9)  // GREEN, of scoAmber
		odOfGreen  = id("observed-data", 10) // GREEN, of scoGreen
		odOfAmberB = id("observed-data", 11) // GREEN, of scoAmberB
		missing    = id("indicator", 12)
	)
	green := sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgOwnerC}
	amberA := sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: orgOwnerC, Orgs: []string{orgOwnerA}}
	amberB := sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: orgOwnerC, Orgs: []string{orgOwnerB}}
	red := sharing.Label{TLP: sharing.TLPRed, ProducerOrg: orgOwnerC, Users: []string{"someone"}}
	sco := func(id, v string) string {
		return `{"type":"ipv4-addr","spec_version":"2.1","id":"` + id + `","value":"` + v + `"}`
	}
	od := func(id string, refs ...string) string {
		r, _ := json.Marshal(refs)
		return `{"type":"observed-data","spec_version":"2.1","id":"` + id + `",` + ts + `,"first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"object_refs":` + string(r) + `}`
	}
	sighting := func(n int, of string, data ...string) (string, string) {
		s := id("sighting", n)
		raw := `{"type":"sighting","spec_version":"2.1","id":"` + s + `",` + ts + `,"sighting_of_ref":"` + of + `"`
		if len(data) > 0 {
			r, _ := json.Marshal(data)
			raw += `,"observed_data_refs":` + string(r)
		}
		return s, raw + `}`
	}

	// The referenced objects, stored without events.
	for _, set := range []struct {
		l    sharing.Label
		objs []string
	}{
		{amberA, []string{sco(scoAmber, "198.51.100.1"), od(odAmber, scoGreen4)}},
		{amberB, []string{sco(scoAmberB, "198.51.100.3")}},
		{red, []string{indicator(indRed, `[domain-name:value = 'www.b.example']`, "2026-01-01T00:00:00.000Z")}},
		{green, []string{sco(scoGreen, "198.51.100.2"), sco(scoGreen4, "198.51.100.4"), od(odGreen, scoGreen),
			indicator(indGreen, `[domain-name:value = 'mail.b.example']`, "2026-01-01T00:00:00.000Z")}},
	} {
		if _, err := h.st.Add(ctx, store.DefaultCollectionID, records(t, set.l, set.objs...), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The GREEN referring objects, published.
	s1, sRed := sighting(1, indRed)
	s2, sGreen := sighting(2, indGreen)
	s3, sOdAmber := sighting(3, missing, odAmber)
	s4, sOdGreen := sighting(4, missing, odGreen)
	s5, sOdOfAmber := sighting(5, missing, odOfAmber)
	s6, sMissing := sighting(6, missing)
	h.add(t, pub, records(t, green,
		od(odOfAmber, scoAmber), od(odOfGreen, scoGreen), od(odOfAmberB, scoAmberB),
		sRed, sGreen, sOdAmber, sOdGreen, sOdOfAmber, sMissing))
	// A marker: delivered once the consumer went past every event above.
	if err := h.d.PutRule(ctx, alert.Rule{ID: "findings-b", Org: orgOwnerB, Kinds: []alert.Kind{alert.Finding}, Target: alert.Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	pub.Findings(ctx, []vulndb.Finding{{Org: orgOwnerB, Asset: "web", SBOMVersion: 1, Vulnerability: "CVE-2026-0001", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH"}})

	want := []string{
		"intel 198.51.100.2 " + odOfGreen + " " + scoGreen,
		"intel 198.51.100.3 " + odOfAmberB + " " + scoAmberB,
		"sighting 198.51.100.2 " + s4,
		"sighting mail.b.example " + s2,
	}
	got := func() []string {
		ns, err := h.notes.List(ctx, sharing.Access{Clauses: []sharing.Clause{{}}}, notify.Filter{OrgID: orgOwnerB})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range ns {
			s := n.Source + " " + n.Observation
			if n.Source == events.IntelSource {
				s += " " + n.Fields["object"] + " " + n.Fields["observed"]
			} else {
				s += " " + n.Fields["sighting"]
			}
			out = append(out, s)
		}
		sort.Strings(out)
		return out
	}
	kinds := func() map[alert.Kind][]string {
		m := map[alert.Kind][]string{}
		for _, a := range h.out.alerts(orgOwnerB) {
			m[a.Kind] = append(m[a.Kind], a.Event)
		}
		return m
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(kinds()[alert.Finding]) == 0 || len(got()) < len(want) {
		if time.Now().After(deadline) {
			t.Fatalf("B's notifications %q, alerts %v", got(), kinds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // anything leaking would be there now
	if g := got(); !slices.Equal(g, want) {
		t.Errorf("B's notifications:\n got %q\nwant %q", g, want)
	}
	var sightings []string
	for _, ev := range kinds()[alert.Sighting] {
		sightings = append(sightings, ev[:len(s1)])
	}
	sort.Strings(sightings)
	if w := []string{s2, s4}; !slices.Equal(sightings, w) {
		t.Errorf("B's constituency sighting alerts %v, want %v (never %s, %s, %s, %s)", sightings, w, s1, s3, s5, s6)
	}
	if n := len(kinds()[alert.Notification]); n != len(want) {
		t.Errorf("B has %d notification alerts, want %d", n, len(want))
	}

	// A referenced object that cannot be read names nothing.
	_, raw := sighting(7, indGreen)
	e, err := alert.FromObject(alert.Sighting, id("sighting", 7)+"@v", json.RawMessage(raw), green)
	if err != nil {
		t.Fatal(err)
	}
	failing := func(context.Context, events.Ref) (json.RawMessage, sharing.Label, error) {
		return nil, sharing.Label{}, fmt.Errorf("disk on fire")
	}
	if owners, err := router.Sighting(ctx, &e, events.Ref{Collection: store.DefaultCollectionID, ID: id("sighting", 7)}, failing); err != nil || len(owners) != 0 {
		t.Errorf("a sighting whose indicator cannot be read: owners %v, %v", owners, err)
	}
	if g := got(); !slices.Equal(g, want) {
		t.Errorf("after an unreadable reference B has %q", g)
	}
}
