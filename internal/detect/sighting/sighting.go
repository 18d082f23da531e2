// Package sighting aggregates indicator hits into STIX 2.1 sighting
// objects (STIX 2.1 section 5.2): one sighting per indicator, organisation
// and time window, with the number of hits as count and the times of the
// first and last hit as first_seen and last_seen.
//
// The package is pure: it builds objects and leaves storing them to the
// caller (the ingest pipeline).
package sighting

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// DefaultWindow is the aggregation window used when none is given.
const DefaultWindow = time.Hour

// MaxCount is the largest count a STIX 2.1 sighting may carry; hits beyond
// it are still counted in Aggregate.Count but the object says MaxCount.
const MaxCount = 999999999

// Aggregate is the hits of one indicator seen by one organisation within
// one window.
type Aggregate struct {
	IndicatorID string
	OrgID       string
	// Window is the start of the window (a multiple of the window length
	// since the Unix epoch, UTC); the window is [Window, Window+length).
	Window time.Time
	// Count is the number of hits.
	Count int
	// FirstSeen and LastSeen are the times of the earliest and latest hit.
	FirstSeen, LastSeen time.Time
}

type key struct {
	indicator, org string
	window         int64
}

// Aggregator groups hits by indicator, organisation and window. It is not
// safe for concurrent use.
type Aggregator struct {
	window time.Duration
	byKey  map[key]*Aggregate
}

// New returns an aggregator with windows of the given length
// (DefaultWindow when d <= 0).
func New(d time.Duration) *Aggregator {
	if d <= 0 {
		d = DefaultWindow
	}
	return &Aggregator{window: d, byKey: map[key]*Aggregate{}}
}

// Window returns the window length.
func (a *Aggregator) Window() time.Duration { return a.window }

// Add records one hit of indicatorID seen by orgID at t.
func (a *Aggregator) Add(indicatorID, orgID string, t time.Time) {
	t = t.UTC()
	start := t.Truncate(a.window) // Truncate works on absolute time: windows align to the epoch
	k := key{indicatorID, orgID, start.UnixNano()}
	g := a.byKey[k]
	if g == nil {
		g = &Aggregate{IndicatorID: indicatorID, OrgID: orgID, Window: start, FirstSeen: t, LastSeen: t}
		a.byKey[k] = g
	}
	g.Count++
	if t.Before(g.FirstSeen) {
		g.FirstSeen = t
	}
	if t.After(g.LastSeen) {
		g.LastSeen = t
	}
}

// Len returns the number of aggregates.
func (a *Aggregator) Len() int { return len(a.byKey) }

// Aggregates returns the aggregates ordered by indicator, organisation and
// window.
func (a *Aggregator) Aggregates() []Aggregate {
	out := make([]Aggregate, 0, len(a.byKey))
	for _, g := range a.byKey {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y Aggregate) int {
		return cmp.Or(cmp.Compare(x.IndicatorID, y.IndicatorID), cmp.Compare(x.OrgID, y.OrgID),
			x.Window.Compare(y.Window))
	})
	return out
}

// ObjectOptions shape the sighting objects.
type ObjectOptions struct {
	// Now is the created and modified time (required).
	Now time.Time
	// MarkingRefs become object_marking_refs (such as a TLP 2.0 marking).
	MarkingRefs []string
	// HideOrg leaves where_sighted_refs out, for organisations that
	// publish anonymously (the ingest pipeline replaces created_by_ref).
	HideOrg bool
	// NewID returns the UUID part of a new id (random version 4 when nil).
	NewID func() string
}

// timestamp renders t as a STIX timestamp with millisecond precision.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Object returns the STIX 2.1 sighting of the aggregate as JSON:
// sighting_of_ref the indicator, created_by_ref and where_sighted_refs the
// organisation's identity, count, first_seen and last_seen. Errors wrap
// errkind.Invalid.
func (g Aggregate) Object(opts ObjectOptions) (json.RawMessage, error) {
	if g.IndicatorID == "" || g.OrgID == "" || g.Count <= 0 || opts.Now.IsZero() {
		return nil, fmt.Errorf("%w: sighting: indicator, organisation, count and time are required", errkind.Invalid)
	}
	newID := opts.NewID
	if newID == nil {
		newID = uuid4
	}
	now := timestamp(opts.Now)
	o := map[string]any{
		"type":            "sighting",
		"spec_version":    "2.1",
		"id":              "sighting--" + newID(),
		"created":         now,
		"modified":        now,
		"created_by_ref":  g.OrgID,
		"sighting_of_ref": g.IndicatorID,
		"count":           min(g.Count, MaxCount),
		"first_seen":      timestamp(g.FirstSeen),
		"last_seen":       timestamp(g.LastSeen),
	}
	if !opts.HideOrg {
		o["where_sighted_refs"] = []string{g.OrgID}
	}
	if len(opts.MarkingRefs) > 0 {
		o["object_marking_refs"] = opts.MarkingRefs
	}
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("%w: sighting of %s: %v", errkind.Invalid, g.IndicatorID, err)
	}
	return b, nil
}

// uuid4 returns a random version 4 UUID.
func uuid4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
