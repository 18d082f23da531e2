// Package detect matches telemetry against STIX indicators.
//
// An Index holds indicators compiled for the fast path: the comparisons
// real feeds are made of (addresses and CIDR blocks, domain names with
// optional subdomain rules, URLs, e-mail addresses, file hashes, JA3 and
// certificate fingerprints, user agents, ports, protocols, registry keys,
// mutexes) become entries of hash maps and prefix tables, so that an
// event is matched by a few lookups whatever the number of indicators.
// Other patterns are evaluated with the general evaluator of package
// pattern, only on the events that hit one of their candidate keys.
//
// Indicators carry their validity window (valid_from, valid_until, tested
// against the event's time), revocation and versions (a newer modified
// replaces the older). The index is updated live with Add and Remove while
// other goroutines match.
//
// The fast path compares values in canonical form (see
// telemetry.Normalize): domain names, e-mail addresses and hashes without
// regard to case, addresses as addresses, URLs normalised, and an address
// value written as a CIDR block ("[ipv4-addr:value = '10.0.0.0/8']") as
// the block. For indicators written in canonical form it agrees with the
// general evaluator; docs/detect.md lists the differences.
package detect

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gaissmai/bart"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/pattern"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Indicator is what the index needs of a STIX indicator.
type Indicator struct {
	ID string
	// Modified orders the versions of one indicator (a STIX timestamp;
	// Created when the object has no modified).
	Modified string
	// Pattern is the STIX pattern; PatternType must be "stix" or empty.
	Pattern     string
	PatternType string
	// ValidFrom and ValidUntil bound when the indicator applies (zero for
	// no bound); an event matches when ValidFrom <= time < ValidUntil.
	ValidFrom, ValidUntil time.Time
	// Revoked withdraws the indicator (and every older version).
	Revoked bool
}

// IndicatorFromObject extracts an Indicator from a STIX indicator object.
// Errors wrap errkind.Invalid.
func IndicatorFromObject(o *stix.Object) (Indicator, error) {
	if o.Type != "indicator" {
		return Indicator{}, fmt.Errorf("%w: %s: not an indicator", errkind.Invalid, o.ID)
	}
	ind := Indicator{ID: o.ID, Modified: o.Modified, Revoked: o.Revoked}
	if ind.Modified == "" {
		ind.Modified = o.Created
	}
	ind.Pattern, _ = o.Props["pattern"].(string)
	ind.PatternType, _ = o.Props["pattern_type"].(string)
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"valid_from", &ind.ValidFrom}, {"valid_until", &ind.ValidUntil}} {
		s, ok := o.Props[p.name].(string)
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Indicator{}, fmt.Errorf("%w: %s: %s: invalid timestamp %q", errkind.Invalid, o.ID, p.name, s)
		}
		*p.dst = t.UTC()
	}
	return ind, nil
}

// Hit is one indicator matched by one event.
type Hit struct {
	IndicatorID string
	Pattern     string
	// Kind, Field and Value name the observable of the event that hit the
	// indicator's key; for a pattern evaluated on every event (one
	// without keys) Kind is KindInvalid and Field and Value are empty.
	Kind  telemetry.Kind
	Field string
	Value string
}

// entry is one indicator version in the index.
type entry struct {
	id, modified, pattern string
	from, until           int64 // Unix nanoseconds; 0 for no bound
	// p is the parsed pattern of non-atomic indicators (nil for atomic
	// ones, whose keys say everything).
	p *pattern.Pattern
}

func (e *entry) valid(t int64) bool {
	return (e.from == 0 || e.from <= t) && (e.until == 0 || t < e.until)
}

// postings lists the entries of one key. Most keys have a single entry,
// kept inline so that it costs no allocation.
type postings struct {
	one  *entry
	more []*entry
}

func (ps postings) len() int {
	if ps.one == nil {
		return 0
	}
	return 1 + len(ps.more)
}

func (ps postings) contains(e *entry) bool {
	return ps.one == e || slices.Contains(ps.more, e)
}

func (ps postings) with(e *entry) postings {
	if ps.one == nil {
		return postings{one: e}
	}
	if ps.contains(e) {
		return ps
	}
	ps.more = append(ps.more, e)
	return ps
}

func (ps postings) without(e *entry) postings {
	if ps.one == e {
		if len(ps.more) == 0 {
			return postings{}
		}
		return postings{one: ps.more[0], more: slices.Clone(ps.more[1:])}
	}
	if i := slices.Index(ps.more, e); i >= 0 {
		ps.more = slices.Delete(slices.Clone(ps.more), i, i+1)
	}
	return ps
}

// Options configure an Index.
type Options struct {
	// Logger receives debug messages about indicators skipped; nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock used for events without a time (time.Now when nil).
	Now func() time.Time
}

// Index is a live index of indicators. Its methods are safe for concurrent
// use: Match takes a read lock, Add and Remove take the write lock for a
// few map operations only (no rebuild ever happens), so matching goes on
// while indicators stream in.
type Index struct {
	log *slog.Logger
	now func() time.Time

	mu sync.RWMutex // guards the following
	// byID holds the current version of each indicator.
	byID map[string]*entry
	// gone holds the modified of revoked indicators: older and equal
	// versions arriving later are ignored.
	gone   map[string]string
	exact  [telemetry.NumKinds]map[string]postings
	ip     [3]map[netip.Addr]postings // by telemetry.Role
	pfx    [3]*bart.Table[postings]   // by telemetry.Role
	npfx   [3]int
	suffix map[string]postings
	always []*entry
}

// New returns an empty index.
func New(opts Options) *Index {
	x := &Index{log: opts.Logger, now: opts.Now, byID: map[string]*entry{}, gone: map[string]string{},
		suffix: map[string]postings{}}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.now == nil {
		x.now = time.Now
	}
	for k := range x.exact {
		x.exact[k] = map[string]postings{}
	}
	for r := range x.ip {
		x.ip[r] = map[netip.Addr]postings{}
		x.pfx[r] = new(bart.Table[postings])
	}
	return x
}

// Len returns the number of indicators in the index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// prepared is an indicator parsed and compiled, ready to insert.
type prepared struct {
	ind Indicator
	e   *entry
	c   compiled
}

func prepare(ind Indicator) (prepared, error) {
	if ind.ID == "" {
		return prepared{}, fmt.Errorf("%w: indicator without id", errkind.Invalid)
	}
	if ind.Revoked {
		return prepared{ind: ind}, nil
	}
	if ind.PatternType != "" && ind.PatternType != "stix" {
		return prepared{}, fmt.Errorf("%w: %s: pattern_type %q is not supported (only stix)", errkind.Invalid, ind.ID, ind.PatternType)
	}
	p, err := pattern.Parse(ind.Pattern)
	if err != nil {
		return prepared{}, fmt.Errorf("%w: %s: pattern: %w", errkind.Invalid, ind.ID, err)
	}
	e := &entry{id: ind.ID, modified: ind.Modified, pattern: ind.Pattern}
	if !ind.ValidFrom.IsZero() {
		e.from = ind.ValidFrom.UnixNano()
	}
	if !ind.ValidUntil.IsZero() {
		e.until = ind.ValidUntil.UnixNano()
	}
	c := compile(p)
	if !c.atomic {
		e.p = p
	}
	return prepared{ind: ind, e: e, c: c}, nil
}

// Add adds an indicator version: a newer version (by Modified) replaces
// the current one, an older or equal one is ignored, and a revoked one
// removes the indicator for good (later arrivals of older versions are
// ignored). Errors wrap errkind.Invalid (an unparsable pattern, a pattern
// type other than stix).
func (x *Index) Add(ind Indicator) error {
	p, err := prepare(ind)
	if err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(p)
	return nil
}

// AddBatch adds many indicators: their patterns are parsed in parallel
// (GOMAXPROCS workers) before the lock is taken, and they are inserted in
// chunks, so that concurrent matching is never held up for long. Into an
// empty index the tables are allocated at the size the batch needs. It
// returns the errors of the indicators it skipped.
func (x *Index) AddBatch(inds []Indicator) []error {
	const chunk = 4096
	workers := max(1, runtime.GOMAXPROCS(0))
	var errs []error
	ps := make([]prepared, min(chunk*workers, len(inds)))
	es := make([]error, len(ps))
	for start := 0; start < len(inds); start += len(ps) {
		batch := inds[start:min(start+len(ps), len(inds))]
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(batch); i += workers {
					ps[i], es[i] = prepare(batch[i])
				}
			})
		}
		wg.Wait()
		if start == 0 && len(inds) > len(ps) {
			x.presize(ps[:len(batch)], len(inds))
		}
		for i := range batch {
			if es[i] != nil {
				errs = append(errs, es[i])
			}
		}
		for c := 0; c < len(batch); c += chunk {
			x.mu.Lock()
			for i := c; i < min(c+chunk, len(batch)); i++ {
				if es[i] == nil {
					x.addLocked(ps[i])
				}
			}
			x.mu.Unlock()
		}
		clear(ps)
	}
	return errs
}

// presize allocates the tables of an empty index for total indicators,
// extrapolating the keys of a sample.
func (x *Index) presize(sample []prepared, total int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.byID) > 0 || len(sample) == 0 {
		return
	}
	var exact [telemetry.NumKinds]int
	var ip [3]int
	suffix := 0
	for _, p := range sample {
		for _, k := range p.c.keys {
			switch k.slot {
			case slotExact:
				exact[k.kind]++
			case slotIP:
				ip[k.role]++
			case slotSuffix:
				suffix++
			}
		}
	}
	scale := func(n int) int { return n * total / len(sample) * 11 / 10 }
	x.byID = make(map[string]*entry, total)
	for k, n := range exact {
		x.exact[k] = make(map[string]postings, scale(n))
	}
	for r, n := range ip {
		x.ip[r] = make(map[netip.Addr]postings, scale(n))
	}
	x.suffix = make(map[string]postings, scale(suffix))
}

func (x *Index) addLocked(p prepared) {
	id := p.ind.ID
	if g, ok := x.gone[id]; ok && stix.CompareTimestamps(p.ind.Modified, g) <= 0 {
		x.log.Debug("detect: older version of a revoked indicator ignored", "id", id, "modified", p.ind.Modified)
		return
	}
	if cur, ok := x.byID[id]; ok {
		if stix.CompareTimestamps(p.ind.Modified, cur.modified) <= 0 {
			return // not newer
		}
		x.removeLocked(cur)
	}
	if p.ind.Revoked {
		x.gone[id] = p.ind.Modified
		return
	}
	x.byID[id] = p.e
	if !p.c.atomic && len(p.c.keys) == 0 && p.e.p != nil {
		x.always = append(x.always, p.e)
		return
	}
	for _, k := range p.c.keys {
		x.insertLocked(k, p.e)
	}
}

// Remove removes an indicator (every version). It reports whether the
// index held it.
func (x *Index) Remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur, ok := x.byID[id]
	if ok {
		x.removeLocked(cur)
	}
	return ok
}

func (x *Index) removeLocked(e *entry) {
	delete(x.byID, e.id)
	p, err := pattern.Parse(e.pattern)
	if err != nil {
		return // cannot happen: it parsed when added
	}
	c := compile(p)
	if !c.atomic && len(c.keys) == 0 {
		if i := slices.Index(x.always, e); i >= 0 {
			x.always = slices.Delete(slices.Clone(x.always), i, i+1)
		}
		return
	}
	for _, k := range c.keys {
		x.deleteLocked(k, e)
	}
}

func (x *Index) insertLocked(k key, e *entry) {
	switch k.slot {
	case slotExact:
		m := x.exact[k.kind]
		m[k.s] = m[k.s].with(e)
	case slotIP:
		m := x.ip[k.role]
		m[k.addr] = m[k.addr].with(e)
	case slotPrefix:
		x.pfx[k.role].Modify(k.pfx, func(ps postings, ok bool) (postings, bool) {
			if !ok {
				x.npfx[k.role]++
			}
			return ps.with(e), false
		})
	case slotSuffix:
		x.suffix[k.s] = x.suffix[k.s].with(e)
	}
}

func (x *Index) deleteLocked(k key, e *entry) {
	switch k.slot {
	case slotExact:
		m := x.exact[k.kind]
		if ps := m[k.s].without(e); ps.len() == 0 {
			delete(m, k.s)
		} else {
			m[k.s] = ps
		}
	case slotIP:
		m := x.ip[k.role]
		if ps := m[k.addr].without(e); ps.len() == 0 {
			delete(m, k.addr)
		} else {
			m[k.addr] = ps
		}
	case slotPrefix:
		x.pfx[k.role].Modify(k.pfx, func(ps postings, ok bool) (postings, bool) {
			if !ok {
				return postings{}, true
			}
			ps = ps.without(e)
			if ps.len() == 0 {
				x.npfx[k.role]--
				return postings{}, true
			}
			return ps, false
		})
	case slotSuffix:
		if ps := x.suffix[k.s].without(e); ps.len() == 0 {
			delete(x.suffix, k.s)
		} else {
			x.suffix[k.s] = ps
		}
	}
}
