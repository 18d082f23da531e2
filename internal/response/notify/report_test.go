package notify

import (
	"context"
	"slices"
	"testing"
)

// TestRouteReports: reports outside a feed (sightings) go to the most
// specific owner only, are stored once per key, and allow filters owners
// per report.
func TestRouteReports(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tab := testTable(t)
	reports := []Report{
		{Value: "192.0.2.70", Field: "sighting_of_ref", Key: "sighting--1@v1", Fields: map[string]string{"count": "2"}},
		{Value: "192.0.2.7", Field: "sighting_of_ref", Key: "sighting--1@v1"},
		{Value: "2001:db8::9", Field: "observed_data_refs", Key: "sighting--1@v1"},
		{Value: "www.xn--bcher-kva.example", Field: "observed_data_refs", Key: "sighting--1@v1"},
		{Value: "198.51.100.1", Key: "sighting--1@v1"}, // nobody's
		{Value: "not an address!", Key: "sighting--1@v1"},
	}
	noShop := func(org string, _ int) bool { return org != orgShop }
	got, n, err := s.Route(ctx, tab, "sighting", reports, analyst, noShop)
	if err != nil || n != 3 {
		t.Fatalf("%d new, %v", n, err)
	}
	var owners []string
	for _, n := range got {
		owners = append(owners, n.OrgID+" "+n.Observation+" "+n.Matched)
		if n.Source != "sighting" || !slices.Equal(n.Label().Orgs, []string{n.OrgID}) {
			t.Errorf("notification %+v", n)
		}
	}
	want := []string{
		orgCust + " 192.0.2.70 192.0.2.64/26",
		orgProv + " 192.0.2.7 192.0.2.0/24",
		orgProv + " 2001:db8::9 2001:db8::/32",
	}
	if !slices.Equal(owners, want) {
		t.Errorf("got %q\nwant %q", owners, want)
	}
	if got[0].Fields["count"] != "2" {
		t.Errorf("fields %v", got[0].Fields)
	}
	again, n, err := s.Route(ctx, tab, "sighting", reports, analyst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(again) != 4 || again[0].OrgID != orgShop {
		t.Errorf("a redelivery stored %d (%+v), want only the shop's notification it was refused before", n, again)
	}
	for i, old := range again[1:] { // returned again, as stored
		if old.ID != got[i].ID || old.Observation != got[i].Observation || old.Fields["count"] != got[i].Fields["count"] {
			t.Errorf("stored notification %d came back as %+v, want %+v", i, old, got[i])
		}
	}
	reports[0].Key = "sighting--2@v1"
	if ns, n, err := s.Route(ctx, tab, "sighting", reports[:1], analyst, nil); err != nil || n != 1 || len(ns) != 1 {
		t.Errorf("another sighting of the same value: %v, %d, %v", ns, n, err)
	}
	// allow decides per report: the owner of one value but not of another.
	for i := range reports {
		reports[i].Key = "sighting--3@v1"
	}
	onlySecond := func(_ string, i int) bool { return i == 1 }
	if ns, n, err := s.Route(ctx, tab, "sighting", reports[:2], analyst, onlySecond); err != nil || n != 1 || len(ns) != 1 || ns[0].Observation != "192.0.2.7" {
		t.Errorf("allow refusing the first report: %+v, %d, %v", ns, n, err)
	}
	if _, _, err := s.Route(ctx, tab, "", reports, analyst, nil); err == nil {
		t.Error("an empty source was accepted")
	}
}
