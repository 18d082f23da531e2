package incident

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

func TestMetricsHandComputed(t *testing.T) {
	ctx := context.Background()
	cs, clk := openCases(t)
	march := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(t0 time.Time, d time.Duration) { clk.t = t0.Add(d) }
	type step struct {
		triage, advisory, ack time.Duration // 0: never
	}
	report := func(p sharing.Principal, t0 time.Time, sector string, s step) Case {
		t.Helper()
		at(t0, 0)
		c, err := cs.Create(ctx, p, testReport(sector), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.triage > 0 {
			at(t0, s.triage)
			if _, err := cs.Transition(ctx, analyst, c.ID, StateTriage); err != nil {
				t.Fatal(err)
			}
		}
		if s.advisory > 0 {
			at(t0, s.advisory)
			if _, err := cs.Link(ctx, analyst, c.ID, "report--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21", ""); err != nil {
				t.Fatal(err)
			}
		}
		if s.ack > 0 {
			at(t0, s.ack)
			if _, err := cs.Acknowledge(ctx, p, c.ID); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	// March: 6 cases (energy 3, health 2, finance 1) and a merged duplicate.
	c1 := report(alice, march, "energy", step{10 * time.Minute, time.Hour, 2 * time.Hour})
	report(alice, march.Add(time.Hour), "energy", step{triage: 20 * time.Minute, advisory: 2 * time.Hour})
	report(alice, march.Add(2*time.Hour), "energy", step{triage: 30 * time.Minute})
	report(bob, march.Add(3*time.Hour), "health", step{triage: 40 * time.Minute})
	report(bob, march.Add(4*time.Hour), "health", step{})
	report(bob, march.Add(5*time.Hour), "finance", step{})
	dup := report(bob, march.Add(6*time.Hour), "finance", step{})
	if _, err := cs.Merge(ctx, analyst, dup.ID, c1.ID); err != nil {
		t.Fatal(err)
	}
	// April: 2 cases, below k.
	april := time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC)
	report(bob, april, "energy", step{triage: time.Minute})
	report(bob, april, "energy", step{})
	// May: energy 3, health 1: the pool of 1 takes energy along.
	may := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)
	for range 3 {
		report(bob, may, "energy", step{})
	}
	report(bob, may, "health", step{})

	d, err := cs.Metrics(ctx, analyst)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	// c1: merged affected beta after its ack; acme acked at +2h but beta
	// has not, so not all acknowledged.
	m1 := d.Cases[0]
	if m1.CaseID != c1.ID || !reflect.DeepEqual(m1.TimeToTriage, f(600)) || !reflect.DeepEqual(m1.TimeToAdvisory, f(3600)) ||
		m1.TimeToAcknowledged != nil || m1.Affected != 2 || m1.Acknowledged != 1 {
		t.Errorf("case 1 metrics %+v", m1)
	}
	// Once beta acknowledges (at +3h), every affected organisation has.
	at(march, 3*time.Hour)
	if _, err := cs.Acknowledge(ctx, bob, c1.ID); err != nil {
		t.Fatal(err)
	}
	d, err = cs.Metrics(ctx, analyst)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Cases[0].TimeToAcknowledged; !reflect.DeepEqual(got, f(10800)) {
		t.Errorf("time to acknowledged = %v, want 10800", got)
	}
	if len(d.Cases) != 12 {
		t.Errorf("analyst sees %d case metrics, want 12 (merged duplicate excluded)", len(d.Cases))
	}
	wantMonths := []MonthStats{
		// Triage times 600, 1200, 1800, 2400: nearest-rank p50 = 2nd, p90 = 4th.
		{Month: "2026-03", Cases: 6, TimeToTriage: &Quantiles{N: 4, P50: 1200, P90: 2400}},
		{Month: "2026-04", Suppressed: true},
		{Month: "2026-05", Cases: 4},
	}
	if !reflect.DeepEqual(d.Months, wantMonths) {
		t.Errorf("months = %+v\nwant %+v", d.Months, wantMonths)
	}
	wantSectors := []SectorCount{
		{Month: "2026-03", Sector: "energy", Count: 3},
		{Month: "2026-03", Sector: OtherSector, Count: 3},
		{Month: "2026-05", Sector: OtherSector, Count: 4},
	}
	if !reflect.DeepEqual(d.Sectors, wantSectors) {
		t.Errorf("sectors = %+v\nwant %+v", d.Sectors, wantSectors)
	}
	// alice sees her organisation's cases only, and the same aggregates.
	da, err := cs.Metrics(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(da.Cases) != 3 || !reflect.DeepEqual(da.Months, d.Months) {
		t.Errorf("alice: %d cases, months %+v", len(da.Cases), da.Months)
	}
}

func TestSectorSuppression(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]int
		want []SectorCount
	}{
		{map[string]int{"a": 3, "b": 4}, []SectorCount{{"m", "a", 3}, {"m", "b", 4}}},
		{map[string]int{"a": 3, "b": 1, "c": 2}, []SectorCount{{"m", "a", 3}, {"m", OtherSector, 3}}},
		{map[string]int{"a": 5, "b": 4, "c": 1}, []SectorCount{{"m", "a", 5}, {"m", OtherSector, 5}}},
		{map[string]int{"a": 1, "b": 1, "c": 1}, []SectorCount{{"m", OtherSector, 3}}},
	} {
		if got := sectorCounts("m", tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sectorCounts(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for _, c := range sectorCounts("m", tc.in) {
			if c.Count < K {
				t.Errorf("bucket %v below k", c)
			}
		}
	}
}
