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
	"strings"
	"sync"
	"time"
	"unsafe"

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

// Options configure an Index.
type Options struct {
	// Logger receives debug messages about indicators skipped; nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock used for events without a time (time.Now when nil).
	Now func() time.Time
	// Workers bounds the goroutines MatchReader filters Zeek TSV records
	// with (GOMAXPROCS when 0; 1 reads on the calling goroutine only).
	Workers int
}

// span is a string in Index.text.
type span struct{ off, n uint32 }

// meta is what the index keeps of one indicator (56 bytes, no pointer).
// The id is kept as its 16-byte UUID when it is "indicator--<uuid>"
// (Index.xids holds other ids), and the pattern text only when it cannot
// be re-derived from the indicator's single key (key >= 0).
type meta struct {
	id          [16]byte
	from, until int64 // Unix nanoseconds; 0 for no bound
	mod, pat    span
	key         int32 // the atom the pattern derives from, or -1
	flags       uint8
}

const (
	flagLive    uint8 = 1 << iota
	flagUUID          // id holds the UUID
	flagComplex       // evaluated with the general evaluator (Index.pats)
	flagSubs          // the pattern is subsPattern of the key's domain
)

func (m *meta) valid(t int64) bool {
	return (m.from == 0 || m.from <= t) && (m.until == 0 || t < m.until)
}

// Index is a live index of indicators. Its methods are safe for concurrent
// use: Match takes a read lock, Add and Remove take the write lock for a
// few table operations only (no rebuild ever happens), so matching goes on
// while indicators stream in.
//
// Atomic keys live in a compact store (see atom.go): values interned in
// one byte arena, an open-addressing table of uint32 atom numbers, and
// per-indicator metadata in a slice of pointer-free structs; the full
// Hit (id and pattern text) is materialised only when an event hits.
type Index struct {
	log     *slog.Logger
	now     func() time.Time
	workers int

	mu     sync.RWMutex // guards the following
	atoms  *atoms
	text   []byte // ids, modified timestamps and patterns of metas
	metas  []meta
	free   []int32 // removed metas
	byUUID map[[16]byte]int32
	byXID  map[string]int32
	xids   map[int32]string // ids that are not indicator--<uuid>
	// gone holds the modified of revoked indicators: older and equal
	// versions arriving later are ignored.
	gone   map[string]string
	pats   map[int32]*pattern.Pattern // flagComplex indicators
	pfx    [3]*bart.Table[[]int32]    // by telemetry.Role
	npfx   [3]int
	always []int32
	live   int // indicators with a meta
	plain  int // plain-list indicators
}

// New returns an empty index.
func New(opts Options) *Index {
	x := &Index{log: opts.Logger, now: opts.Now, atoms: newAtoms(), byUUID: map[[16]byte]int32{},
		byXID: map[string]int32{}, xids: map[int32]string{}, gone: map[string]string{}, pats: map[int32]*pattern.Pattern{}}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if x.now == nil {
		x.now = time.Now
	}
	x.workers = opts.Workers
	if x.workers <= 0 {
		x.workers = runtime.GOMAXPROCS(0)
	}
	for r := range x.pfx {
		x.pfx[r] = new(bart.Table[[]int32])
	}
	return x
}

// Len returns the number of indicators in the index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.live + x.plain
}

// MemoryBytes returns the memory held by the index's tables (not counting
// the prefix tables and the parsed patterns of complex indicators).
func (x *Index) MemoryBytes() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.atoms.bytes() + cap(x.text) + cap(x.metas)*int(unsafe.Sizeof(meta{}))
}

// prepared is an indicator parsed and compiled, ready to insert.
type prepared struct {
	ind Indicator
	c   compiled
	p   *pattern.Pattern // nil for atomic patterns
	// derived is true when the pattern text is keyPattern of its one key,
	// or subsPattern of its first key (subs).
	derived, subs bool
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
	c := compile(p)
	pr := prepared{ind: ind, c: c}
	if !c.atomic {
		pr.p = p
	} else if len(c.keys) == 1 && c.keys[0].slot != slotPrefix {
		tag, v := c.keys[0].atom()
		pr.derived = keyPattern(tag, v) == ind.Pattern
	} else if k := c.keys; len(k) == 2 && k[0].slot == slotExact && k[0].kind == telemetry.KindDomain &&
		k[1].slot == slotSuffix && k[0].s == k[1].s && subsPattern(k[0].s) == ind.Pattern {
		pr.derived, pr.subs = true, true
	}
	return pr, nil
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
	x.addLocked(&p)
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
	x.mu.Lock()
	if x.live == 0 && x.plain == 0 && len(inds) > 0 {
		x.atoms.reserve(len(inds), 12) // the arena grows as needed
		x.metas = slices.Grow(x.metas, len(inds))
		x.text = slices.Grow(x.text, len(inds)*len(inds[0].Modified))
		if _, ok := parseUUIDID(inds[0].ID); ok {
			x.byUUID = make(map[[16]byte]int32, len(inds))
		} else {
			x.byXID = make(map[string]int32, len(inds))
			x.xids = make(map[int32]string, len(inds))
		}
	}
	x.mu.Unlock()
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
		for i := range batch {
			if es[i] != nil {
				errs = append(errs, es[i])
			}
		}
		for c := 0; c < len(batch); c += chunk {
			x.mu.Lock()
			for i := c; i < min(c+chunk, len(batch)); i++ {
				if es[i] == nil {
					x.addLocked(&ps[i])
				}
			}
			x.mu.Unlock()
		}
		clear(ps)
	}
	return errs
}

// parseUUIDID returns the UUID of "indicator--<uuid>" (lowercase hex).
func parseUUIDID(id string) ([16]byte, bool) {
	var u [16]byte
	const prefix = "indicator--"
	if len(id) != len(prefix)+36 || id[:len(prefix)] != prefix {
		return u, false
	}
	s := id[len(prefix):]
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return u, false
			}
			i++
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func formatUUID(prefix string, u [16]byte) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 0, len(prefix)+36)
	b = append(b, prefix...)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[c>>4], hexd[c&15])
	}
	return string(b)
}

func (x *Index) str(s span) string { return string(x.text[s.off : s.off+s.n]) }

func (x *Index) putText(s string) span {
	sp := span{off: uint32(len(x.text)), n: uint32(len(s))}
	x.text = append(x.text, s...)
	return sp
}

// find returns the meta of an indicator id.
func (x *Index) find(id string) (int32, bool) {
	if u, ok := parseUUIDID(id); ok {
		i, ok := x.byUUID[u]
		return i, ok
	}
	i, ok := x.byXID[id]
	return i, ok
}

func (x *Index) idOf(i int32) string {
	m := &x.metas[i]
	if m.flags&flagUUID != 0 {
		return formatUUID("indicator--", m.id)
	}
	return x.xids[i]
}

func (x *Index) patternOf(i int32) string {
	m := &x.metas[i]
	if m.key >= 0 {
		a := &x.atoms.ents[m.key]
		if m.flags&flagSubs != 0 {
			return subsPattern(string(x.atoms.value(a)))
		}
		return keyPattern(a.tag(), string(x.atoms.value(a)))
	}
	return x.str(m.pat)
}

func (x *Index) addLocked(p *prepared) {
	id := p.ind.ID
	if g, ok := x.gone[id]; ok && stix.CompareTimestamps(p.ind.Modified, g) <= 0 {
		x.log.Debug("detect: older version of a revoked indicator ignored", "id", id, "modified", p.ind.Modified)
		return
	}
	if cur, ok := x.find(id); ok {
		if stix.CompareTimestamps(p.ind.Modified, x.str(x.metas[cur].mod)) <= 0 {
			return // not newer
		}
		x.removeLocked(cur)
	}
	if p.ind.Revoked {
		x.gone[id] = p.ind.Modified
		return
	}
	var i int32
	if n := len(x.free); n > 0 {
		i, x.free = x.free[n-1], x.free[:n-1]
	} else {
		x.metas = append(x.metas, meta{})
		i = int32(len(x.metas) - 1)
	}
	m := meta{flags: flagLive, key: -1, mod: x.putText(p.ind.Modified)}
	if !p.ind.ValidFrom.IsZero() {
		m.from = p.ind.ValidFrom.UnixNano()
	}
	if !p.ind.ValidUntil.IsZero() {
		m.until = p.ind.ValidUntil.UnixNano()
	}
	if u, ok := parseUUIDID(id); ok {
		m.id = u
		m.flags |= flagUUID
		x.byUUID[u] = i
	} else {
		x.xids[i] = id
		x.byXID[id] = i
	}
	if !p.derived {
		m.pat = x.putText(p.ind.Pattern)
	}
	x.live++
	if p.p != nil {
		m.flags |= flagComplex
		x.pats[i] = p.p
		if len(p.c.keys) == 0 {
			x.metas[i] = m
			x.always = append(x.always, i)
			return
		}
	}
	for _, k := range p.c.keys {
		x.insertLocked(k, i)
	}
	if p.subs {
		m.flags |= flagSubs
	}
	if p.derived {
		tag, v := p.c.keys[0].atom()
		for a := x.atoms.headString(tag, v); a >= 0; a = x.atoms.ents[a].next {
			if x.atoms.ents[a].ind == i {
				m.key = a
			}
		}
	}
	x.metas[i] = m
}

// Remove removes an indicator (every version). It reports whether the
// index held it. Indicators of plain lists (AddPlain) have no version
// and cannot be removed by id.
func (x *Index) Remove(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	cur, ok := x.find(id)
	if ok {
		x.removeLocked(cur)
	}
	return ok
}

func (x *Index) removeLocked(i int32) {
	m := &x.metas[i]
	if m.flags&flagUUID != 0 {
		delete(x.byUUID, m.id)
	} else {
		delete(x.byXID, x.xids[i])
		delete(x.xids, i)
	}
	x.live--
	x.free = append(x.free, i)
	if m.flags&flagComplex != 0 {
		delete(x.pats, i)
		if j := slices.Index(x.always, i); j >= 0 {
			x.always = slices.Delete(slices.Clone(x.always), j, j+1)
		}
	}
	p, err := pattern.Parse(x.patternOf(i))
	*m = meta{key: -1}
	if err != nil {
		return // cannot happen: it parsed when added
	}
	for _, k := range compile(p).keys {
		x.deleteLocked(k, i)
	}
}

// atom returns the store tag and value of a key that is not a prefix.
// Address keys have the tag of KindIPv4 whatever the family (the text
// tells them apart).
func (k key) atom() (uint8, string) {
	switch k.slot {
	case slotIP:
		return uint8(telemetry.KindIPv4) | uint8(k.role)<<5, k.addr.String()
	case slotSuffix:
		return tagSuffix | uint8(telemetry.KindDomain), k.s
	}
	return uint8(k.kind), k.s
}

func (x *Index) insertLocked(k key, i int32) {
	if k.slot == slotPrefix {
		x.pfx[k.role].Modify(k.pfx, func(ps []int32, ok bool) ([]int32, bool) {
			if !ok {
				x.npfx[k.role]++
			}
			if slices.Contains(ps, i) {
				return ps, false
			}
			return append(slices.Clip(ps), i), false
		})
		return
	}
	tag, v := k.atom()
	x.atoms.insert(tag, v, i)
}

func (x *Index) deleteLocked(k key, i int32) {
	if k.slot == slotPrefix {
		x.pfx[k.role].Modify(k.pfx, func(ps []int32, ok bool) ([]int32, bool) {
			if !ok {
				return nil, true
			}
			if j := slices.Index(ps, i); j >= 0 {
				ps = slices.Delete(slices.Clone(ps), j, j+1)
			}
			if len(ps) == 0 {
				x.npfx[k.role]--
				return nil, true
			}
			return ps, false
		})
		return
	}
	tag, v := k.atom()
	x.atoms.remove(tag, v, i)
}

// keyPattern renders the atomic pattern of one key: "[path = 'value']",
// "[domain-name:value LIKE '%.suffix']" or, for ports, "[path = n]".
func keyPattern(tag uint8, v string) string {
	var b strings.Builder
	b.Grow(len(v) + 40)
	b.WriteByte('[')
	if tag&tagSuffix != 0 {
		b.WriteString("domain-name:value LIKE '%.")
		writeQuoted(&b, v)
		b.WriteString("']")
		return b.String()
	}
	kind, role := telemetry.Kind(tag&31), telemetry.Role(tag>>5&3)
	b.WriteString(addrPath(kind, role, strings.IndexByte(v, ':') >= 0))
	b.WriteString(" = ")
	if kind == telemetry.KindDstPort || kind == telemetry.KindSrcPort {
		b.WriteString(v)
		b.WriteByte(']')
		return b.String()
	}
	b.WriteByte('\'')
	writeQuoted(&b, v)
	b.WriteString("']")
	return b.String()
}

// subsPattern renders the pattern of a domain and its subdomains:
// "[domain-name:value = 'd' OR domain-name:value LIKE '%.d']".
func subsPattern(d string) string {
	var b strings.Builder
	b.Grow(2*len(d) + 60)
	b.WriteString("[domain-name:value = '")
	writeQuoted(&b, d)
	b.WriteString("' OR domain-name:value LIKE '%.")
	writeQuoted(&b, d)
	b.WriteString("']")
	return b.String()
}

// prefixPattern renders "[path ISSUBSET 'prefix']".
func prefixPattern(pfx netip.Prefix, role telemetry.Role) string {
	return "[" + addrPath(telemetry.KindIPv4, role, pfx.Addr().Is6()) + " ISSUBSET '" + pfx.String() + "']"
}

func addrPath(kind telemetry.Kind, role telemetry.Role, v6 bool) string {
	if kind != telemetry.KindIPv4 {
		return kind.Path()
	}
	switch {
	case role == telemetry.RoleSrc:
		return "network-traffic:src_ref.value"
	case role == telemetry.RoleDst:
		return "network-traffic:dst_ref.value"
	case v6:
		return "ipv6-addr:value"
	}
	return "ipv4-addr:value"
}

func writeQuoted(b *strings.Builder, v string) {
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
}
