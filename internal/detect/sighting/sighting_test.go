package sighting

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

const (
	ind1 = "indicator--00000000-0000-4000-8000-000000000001"
	ind2 = "indicator--00000000-0000-4000-8000-000000000002"
	org1 = "identity--00000000-0000-4000-8000-000000000001"
	org2 = "identity--00000000-0000-4000-8000-000000000002"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowBoundaries(t *testing.T) {
	a := New(time.Hour)
	// 10:00:00 opens a window, 10:59:59.999 is still in it, 11:00 opens the next.
	a.Add(ind1, org1, at("2026-03-01T10:30:00Z"))
	a.Add(ind1, org1, at("2026-03-01T10:00:00Z"))
	a.Add(ind1, org1, at("2026-03-01T10:59:59.999Z"))
	a.Add(ind1, org1, at("2026-03-01T11:00:00Z"))
	a.Add(ind1, org1, at("2026-03-01T09:59:59.999Z"))
	got := a.Aggregates()
	want := []Aggregate{
		{ind1, org1, at("2026-03-01T09:00:00Z"), 1, at("2026-03-01T09:59:59.999Z"), at("2026-03-01T09:59:59.999Z")},
		{ind1, org1, at("2026-03-01T10:00:00Z"), 3, at("2026-03-01T10:00:00Z"), at("2026-03-01T10:59:59.999Z")},
		{ind1, org1, at("2026-03-01T11:00:00Z"), 1, at("2026-03-01T11:00:00Z"), at("2026-03-01T11:00:00Z")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d aggregates, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.IndicatorID != w.IndicatorID || g.OrgID != w.OrgID || !g.Window.Equal(w.Window) || g.Count != w.Count ||
			!g.FirstSeen.Equal(w.FirstSeen) || !g.LastSeen.Equal(w.LastSeen) {
			t.Errorf("aggregate %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestSeparateIndicatorsAndOrgs(t *testing.T) {
	a := New(0)
	if a.Window() != DefaultWindow {
		t.Fatalf("default window %v, want %v", a.Window(), DefaultWindow)
	}
	ts := at("2026-03-01T10:15:00+02:00") // 08:15 UTC
	for range 3 {
		a.Add(ind1, org1, ts)
	}
	a.Add(ind2, org1, ts)
	a.Add(ind1, org2, ts.Add(time.Minute))
	if a.Len() != 3 {
		t.Fatalf("Len = %d, want 3", a.Len())
	}
	got := a.Aggregates()
	counts := []int{3, 1, 1}
	orgs := []string{org1, org2, org1}
	inds := []string{ind1, ind1, ind2}
	for i, g := range got {
		if g.Count != counts[i] || g.OrgID != orgs[i] || g.IndicatorID != inds[i] {
			t.Errorf("aggregate %d = %+v, want %s/%s count %d", i, g, inds[i], orgs[i], counts[i])
		}
		if !g.Window.Equal(at("2026-03-01T08:00:00Z")) || g.Window.Location() != time.UTC {
			t.Errorf("aggregate %d window %v, want 08:00 UTC", i, g.Window)
		}
	}
}

func TestWindowLengths(t *testing.T) {
	a := New(15 * time.Minute)
	a.Add(ind1, org1, at("2026-03-01T10:14:59Z"))
	a.Add(ind1, org1, at("2026-03-01T10:15:00Z"))
	a.Add(ind1, org1, at("2026-03-01T10:29:00Z"))
	got := a.Aggregates()
	if len(got) != 2 || got[0].Count != 1 || got[1].Count != 2 || !got[1].Window.Equal(at("2026-03-01T10:15:00Z")) {
		t.Fatalf("aggregates = %+v, want 1 hit at 10:00 and 2 at 10:15", got)
	}
	d := New(24 * time.Hour)
	d.Add(ind1, org1, at("2026-03-01T23:59:59Z"))
	d.Add(ind1, org1, at("2026-03-02T00:00:00Z"))
	if d.Len() != 2 {
		t.Fatalf("daily windows: %d aggregates, want 2 (midnight UTC boundary)", d.Len())
	}
}

func TestObject(t *testing.T) {
	g := Aggregate{IndicatorID: ind1, OrgID: org1, Window: at("2026-03-01T10:00:00Z"), Count: 7,
		FirstSeen: at("2026-03-01T10:00:01.5Z"), LastSeen: at("2026-03-01T10:42:00Z")}
	const amber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	raw, err := g.Object(ObjectOptions{Now: at("2026-03-02T00:00:00Z"), MarkingRefs: []string{amber},
		NewID: func() string { return "00000000-0000-4000-8000-0000000000aa" }})
	if err != nil {
		t.Fatal(err)
	}
	o, err := stix.Parse(raw)
	if err != nil {
		t.Fatalf("not a STIX object: %v: %s", err, raw)
	}
	if errs := stix.Validate(o); len(errs) > 0 {
		t.Fatalf("invalid sighting: %v: %s", errs, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "sighting", "id": "sighting--00000000-0000-4000-8000-0000000000aa",
		"created": "2026-03-02T00:00:00.000Z", "created_by_ref": org1, "sighting_of_ref": ind1,
		"count": 7.0, "first_seen": "2026-03-01T10:00:01.500Z", "last_seen": "2026-03-01T10:42:00.000Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if w, _ := m["where_sighted_refs"].([]any); len(w) != 1 || w[0] != org1 {
		t.Errorf("where_sighted_refs = %v, want [%s]", m["where_sighted_refs"], org1)
	}
	if mk, _ := m["object_marking_refs"].([]any); len(mk) != 1 || mk[0] != amber {
		t.Errorf("object_marking_refs = %v, want [%s]", m["object_marking_refs"], amber)
	}

	g.Count = MaxCount + 5
	raw, err = g.Object(ObjectOptions{Now: at("2026-03-02T00:00:00Z"), HideOrg: true})
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	_ = json.Unmarshal(raw, &m)
	if m["count"] != float64(MaxCount) {
		t.Errorf("count = %v, want capped at %d", m["count"], MaxCount)
	}
	if _, ok := m["where_sighted_refs"]; ok {
		t.Errorf("HideOrg kept where_sighted_refs: %s", raw)
	}
	if id, _ := m["id"].(string); len(id) != len("sighting--")+36 || id[len("sighting--")+14] != '4' {
		t.Errorf("random id %q is not a version 4 UUID", id)
	}

	if _, err := (Aggregate{IndicatorID: ind1}).Object(ObjectOptions{Now: time.Now()}); !errors.Is(err, errkind.Invalid) {
		t.Errorf("incomplete aggregate: err = %v, want errkind.Invalid", err)
	}
}
