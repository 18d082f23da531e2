package incident

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// K is the smallest bucket the anonymised statistics show: a sector ×
// month count, or the quantiles of a month, over fewer than K cases would
// help re-identify the reporters and is suppressed.
const K = 3

// CaseMetrics are the cycle times of one case, in seconds from the report
// (nil while not reached).
type CaseMetrics struct {
	CaseID string `json:"case_id"`
	Month  string `json:"month"`
	State  State  `json:"state"`
	// TimeToTriage: report until the first move to triage.
	TimeToTriage *float64 `json:"time_to_triage,omitempty"`
	// TimeToAdvisory: report until the first advisory linked (an export or
	// a linked report).
	TimeToAdvisory *float64 `json:"time_to_advisory,omitempty"`
	// TimeToAcknowledged: report until the last affected organisation
	// acknowledged (nil until all did).
	TimeToAcknowledged *float64 `json:"time_to_acknowledged,omitempty"`
	Affected           int      `json:"affected"`
	Acknowledged       int      `json:"acknowledged"`
}

// Quantiles summarise one cycle time over a month's cases, in seconds
// (nearest-rank percentiles).
type Quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
}

// MonthStats aggregate a month (of the report time, UTC).
type MonthStats struct {
	Month string `json:"month"`
	// Cases is the number of cases reported (0 and Suppressed when fewer
	// than K).
	Cases      int  `json:"cases"`
	Suppressed bool `json:"suppressed,omitempty"`
	// Quantiles are omitted when fewer than K cases reached the point.
	TimeToTriage       *Quantiles `json:"time_to_triage,omitempty"`
	TimeToAdvisory     *Quantiles `json:"time_to_advisory,omitempty"`
	TimeToAcknowledged *Quantiles `json:"time_to_acknowledged,omitempty"`
}

// SectorCount is an anonymised count of cases per sector and month.
// Sectors with fewer than K cases in a month are pooled as "other" (with,
// if the pool is still below K, the smallest shown sectors, so that no
// small count can be computed back from the month's total).
type SectorCount struct {
	Month  string `json:"month"`
	Sector string `json:"sector"`
	Count  int    `json:"count"`
}

// Dashboard is the JSON of the cycle metrics.
type Dashboard struct {
	K int `json:"k"`
	// Cases are the per-case metrics of the cases the caller may see.
	Cases   []CaseMetrics `json:"cases"`
	Months  []MonthStats  `json:"months"`
	Sectors []SectorCount `json:"sectors"`
}

// OtherSector names the pooled small sectors.
const OtherSector = "other"

// Measure computes a case's cycle times.
func Measure(c *Case) CaseMetrics {
	m := CaseMetrics{CaseID: c.ID, Month: c.Reported.UTC().Format("2006-01"), State: c.State, Affected: len(c.Affected)}
	since := func(t time.Time) *float64 {
		d := t.Sub(c.Reported).Seconds()
		return &d
	}
	for _, e := range c.Timeline {
		if e.Kind == "transition" && strings.HasSuffix(e.Detail, "-> "+string(StateTriage)) {
			m.TimeToTriage = since(e.At)
			break
		}
	}
	var adv time.Time
	for _, l := range c.Links {
		if l.Kind == LinkAdvisory && (adv.IsZero() || l.At.Before(adv)) {
			adv = l.At
		}
	}
	if !adv.IsZero() {
		m.TimeToAdvisory = since(adv)
	}
	var last time.Time
	for _, org := range c.Affected {
		i := slices.IndexFunc(c.Acks, func(a Ack) bool { return a.Org == org })
		if i < 0 {
			continue
		}
		m.Acknowledged++
		if c.Acks[i].At.After(last) {
			last = c.Acks[i].At
		}
	}
	if m.Affected > 0 && m.Acknowledged == m.Affected {
		m.TimeToAcknowledged = since(last)
	}
	return m
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func quantiles(v []float64) *Quantiles {
	if len(v) < K {
		return nil
	}
	slices.Sort(v)
	return &Quantiles{N: len(v), P50: percentile(v, 50), P90: percentile(v, 90)}
}

// Aggregate computes the dashboard over cases (merged duplicates are not
// counted); per-case metrics are included for the cases p may see.
func Aggregate(p sharing.Principal, cases []Case) Dashboard {
	d := Dashboard{K: K, Cases: []CaseMetrics{}, Months: []MonthStats{}, Sectors: []SectorCount{}}
	type month struct {
		n             int
		tri, adv, ack []float64
		sectors       map[string]int
	}
	months := map[string]*month{}
	for i := range cases {
		c := &cases[i]
		if c.MergedInto != "" {
			continue
		}
		m := Measure(c)
		if Authorize(p, c, ActView) == nil {
			d.Cases = append(d.Cases, m)
		}
		mo := months[m.Month]
		if mo == nil {
			mo = &month{sectors: map[string]int{}}
			months[m.Month] = mo
		}
		mo.n++
		sector := c.Sector
		if sector == "" {
			sector = "unknown"
		}
		mo.sectors[sector]++
		if m.TimeToTriage != nil {
			mo.tri = append(mo.tri, *m.TimeToTriage)
		}
		if m.TimeToAdvisory != nil {
			mo.adv = append(mo.adv, *m.TimeToAdvisory)
		}
		if m.TimeToAcknowledged != nil {
			mo.ack = append(mo.ack, *m.TimeToAcknowledged)
		}
	}
	names := make([]string, 0, len(months))
	for k := range months {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		mo := months[name]
		if mo.n < K {
			d.Months = append(d.Months, MonthStats{Month: name, Suppressed: true})
			continue
		}
		d.Months = append(d.Months, MonthStats{Month: name, Cases: mo.n,
			TimeToTriage: quantiles(mo.tri), TimeToAdvisory: quantiles(mo.adv), TimeToAcknowledged: quantiles(mo.ack)})
		d.Sectors = append(d.Sectors, sectorCounts(name, mo.sectors)...)
	}
	return d
}

// sectorCounts applies the suppression rule to one month's counts (whose
// total is at least K).
func sectorCounts(month string, counts map[string]int) []SectorCount {
	var shown []SectorCount
	other := 0
	for s, n := range counts {
		if n < K || s == OtherSector {
			other += n
		} else {
			shown = append(shown, SectorCount{Month: month, Sector: s, Count: n})
		}
	}
	// Smallest first, then by name, for the secondary suppression.
	slices.SortFunc(shown, func(a, b SectorCount) int {
		if a.Count != b.Count {
			return a.Count - b.Count
		}
		return strings.Compare(a.Sector, b.Sector)
	})
	for other > 0 && other < K && len(shown) > 0 {
		other += shown[0].Count
		shown = shown[1:]
	}
	slices.SortFunc(shown, func(a, b SectorCount) int { return strings.Compare(a.Sector, b.Sector) })
	if other > 0 {
		shown = append(shown, SectorCount{Month: month, Sector: OtherSector, Count: other})
	}
	return shown
}

// Metrics computes the dashboard for p over every stored case.
func (cs *Cases) Metrics(ctx context.Context, p sharing.Principal) (Dashboard, error) {
	all, err := cs.all(ctx)
	if err != nil {
		return Dashboard{}, err
	}
	return Aggregate(p, all), nil
}
