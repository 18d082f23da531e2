package route

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gaissmai/bart"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Owner names the organisation a resource is registered to.
type Owner string

// Registration says that Owner owns Resource.
type Registration struct {
	Owner    Owner
	Resource Resource
}

// Mode decides who is notified when registrations overlap.
type Mode uint8

const (
	// MostSpecific notifies only the owners of the most specific matching
	// registration: the longest prefix (an AS counts with the length of the
	// announced prefix the address falls in), the longest domain suffix.
	// When several organisations register the very same resource, all of
	// them are notified. This is what national CERTs usually do: the
	// customer who registered 192.0.2.0/26 is told, not its provider
	// holding 192.0.2.0/24. It is the default.
	MostSpecific Mode = iota
	// AllCovering notifies every owner of a matching registration: all the
	// covering prefixes, the origin AS and all the parent domains.
	AllCovering
)

// String returns "most-specific" or "all-covering".
func (m Mode) String() string {
	if m == AllCovering {
		return "all-covering"
	}
	return "most-specific"
}

// Options configure New.
type Options struct {
	// Mode decides who is notified of overlapping registrations.
	Mode Mode
	// ASN maps addresses to origin ASes so that AS registrations match
	// addresses; without it AS registrations match nothing. It must not
	// be changed after New.
	ASN *ASNTable
}

// Hit is one reason an observation is routed to an owner.
type Hit struct {
	Owner Owner
	// Resource is the registration that matched.
	Resource Resource
	// Via is, for an AS registration, the announced prefix the observation
	// falls in; otherwise it is the zero Prefix.
	Via netip.Prefix
}

// Specificity orders hits by how specific the registration is for the
// observation: the prefix length of a block, the announced prefix's length
// for an AS, the number of labels of a domain. The most specific hit
// decides an observation's owner.
func (h Hit) Specificity() int {
	switch h.Resource.Kind {
	case KindPrefix:
		return h.Resource.Prefix.Bits()
	case KindASN:
		return h.Via.Bits()
	default:
		return strings.Count(h.Resource.Domain, ".") + 1
	}
}

// entry is the precomputed answer for a prefix or a domain.
type entry struct {
	owners []Owner // sorted, unique
	hits   []Hit   // sorted by owner, then resource
}

// Table routes observations to owners. It is an immutable snapshot: build
// a new one with New when registrations or the ASN table change (see
// Live). Its methods are safe for concurrent use.
type Table struct {
	mode Mode
	// ip holds every registered prefix and every announced prefix that
	// matters to a registered AS, each with the answer for the addresses
	// whose longest match it is.
	ip bart.Table[*entry]
	// dom holds, for every registered domain, the answer for it and its
	// subdomains that register nothing more specific.
	dom map[string]*entry

	// What a CIDR observation needs to be answered at lookup time.
	direct    bart.Table[[]Registration]
	asn       *ASNTable
	asnOwners map[uint32][]Registration

	regs int
}

// New builds a Table from registrations. Duplicates are ignored; a
// registration with an empty owner or an invalid resource is an error
// (wrapping errkind.Invalid) naming its index and resource.
func New(regs []Registration, opts Options) (*Table, error) {
	t := &Table{
		mode:      opts.Mode,
		dom:       make(map[string]*entry),
		asn:       opts.ASN,
		asnOwners: make(map[uint32][]Registration),
	}
	if opts.Mode != MostSpecific && opts.Mode != AllCovering {
		return nil, fmt.Errorf("route: %w: unknown mode %d", errkind.Invalid, opts.Mode)
	}
	doms := make(map[string][]Registration)
	seen := make(map[Registration]bool, len(regs))
	for i, r := range regs {
		if r.Owner == "" {
			return nil, fmt.Errorf("route: registration %d (%s): %w: empty owner", i, r.Resource, errkind.Invalid)
		}
		if err := r.Resource.valid(); err != nil {
			return nil, fmt.Errorf("route: registration %d of %q (%s): %w: %w", i, r.Owner, r.Resource, errkind.Invalid, err)
		}
		if seen[r] {
			continue
		}
		seen[r] = true
		t.regs++
		switch r.Resource.Kind {
		case KindPrefix:
			t.direct.Modify(r.Resource.Prefix, func(old []Registration, _ bool) ([]Registration, bool) {
				return append(old, r), false
			})
		case KindASN:
			t.asnOwners[r.Resource.ASN] = append(t.asnOwners[r.Resource.ASN], r)
		case KindDomain:
			doms[r.Resource.Domain] = append(doms[r.Resource.Domain], r)
		}
	}

	// The prefixes whose answer is precomputed: the registered ones, and
	// the announced ones of a registered AS or inside one (a more specific
	// announcement by another AS takes its addresses away).
	for p := range t.direct.All() {
		t.ip.Insert(p, nil)
	}
	if len(t.asnOwners) > 0 {
		for p, as := range t.asn.All() {
			if t.asnOwners[as] != nil || t.registeredSupernet(p) {
				t.ip.Insert(p, nil)
			}
		}
	}
	var keys []netip.Prefix
	for p := range t.ip.All() {
		keys = append(keys, p)
	}
	for _, p := range keys {
		t.ip.Insert(p, t.compute(p, false))
	}

	for d := range doms {
		var hits []Hit
		if t.mode == AllCovering {
			for s := d; ; {
				for _, r := range doms[s] {
					hits = append(hits, Hit{Owner: r.Owner, Resource: r.Resource})
				}
				i := strings.IndexByte(s, '.')
				if i < 0 {
					break
				}
				s = s[i+1:]
			}
		} else {
			for _, r := range doms[d] {
				hits = append(hits, Hit{Owner: r.Owner, Resource: r.Resource})
			}
		}
		t.dom[d] = newEntry(hits)
	}
	return t, nil
}

// registeredSupernet reports whether an announced prefix strictly
// containing p belongs to a registered AS.
func (t *Table) registeredSupernet(p netip.Prefix) bool {
	for q, as := range t.asn.t.Supernets(p) {
		if q != p && t.asnOwners[as] != nil {
			return true
		}
	}
	return false
}

// compute answers for block p. When whole is set, p is an observed block
// rather than a table prefix, and an AS only owns it when no more specific
// announcement by another AS lies inside it.
func (t *Table) compute(p netip.Prefix, whole bool) *entry {
	var direct []Hit
	dbits := -1
	if t.mode == AllCovering {
		for q, rs := range t.direct.Supernets(p) {
			dbits = max(dbits, q.Bits())
			for _, r := range rs {
				direct = append(direct, Hit{Owner: r.Owner, Resource: r.Resource})
			}
		}
	} else if q, rs, ok := t.direct.LookupPrefixLPM(p); ok {
		dbits = q.Bits()
		for _, r := range rs {
			direct = append(direct, Hit{Owner: r.Owner, Resource: r.Resource})
		}
	}

	var viaAS []Hit
	abits := -1
	if q, as, ok := t.asnLPM(p); ok && t.asnOwners[as] != nil && (!whole || t.wholeOrigin(p, as)) {
		abits = q.Bits()
		for _, r := range t.asnOwners[as] {
			viaAS = append(viaAS, Hit{Owner: r.Owner, Resource: r.Resource, Via: q})
		}
	}

	switch {
	case t.mode == AllCovering || dbits == abits:
		return newEntry(append(direct, viaAS...))
	case dbits > abits:
		return newEntry(direct)
	default:
		return newEntry(viaAS)
	}
}

func (t *Table) asnLPM(p netip.Prefix) (netip.Prefix, uint32, bool) {
	if t.asn == nil {
		return netip.Prefix{}, 0, false
	}
	return t.asn.t.LookupPrefixLPM(p)
}

// wholeOrigin reports whether no announcement inside block p has an
// origin other than as.
func (t *Table) wholeOrigin(p netip.Prefix, as uint32) bool {
	for _, other := range t.asn.t.Subnets(p) {
		if other != as {
			return false
		}
	}
	return true
}

func newEntry(hits []Hit) *entry {
	if len(hits) == 0 {
		return &entry{}
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Resource.String(), b.Resource.String()))
	})
	hits = slices.Compact(hits)
	e := &entry{hits: slices.Clip(hits)}
	for _, h := range hits {
		if len(e.owners) == 0 || e.owners[len(e.owners)-1] != h.Owner {
			e.owners = append(e.owners, h.Owner)
		}
	}
	e.owners = slices.Clip(e.owners)
	return e
}

func (r Resource) valid() error {
	switch r.Kind {
	case KindPrefix:
		if !r.Prefix.IsValid() || r.Prefix != canonPrefix(r.Prefix) {
			return fmt.Errorf("prefix not in canonical form (use ParseResource)")
		}
	case KindASN:
		if r.ASN == 0 {
			return fmt.Errorf("AS0 is reserved")
		}
	case KindDomain:
		if d, err := normDomain(r.Domain); err != nil || d != r.Domain {
			return fmt.Errorf("domain not in canonical form (use ParseResource)")
		}
	default:
		return fmt.Errorf("unknown resource kind %d", r.Kind)
	}
	return nil
}

// lookup returns the precomputed answer for o, or nil.
func (t *Table) lookup(o Observation) *entry {
	switch o.Kind {
	case ObsAddr:
		e, _ := t.ip.Lookup(o.Addr)
		return e
	case ObsPrefix:
		if o.Prefix.IsSingleIP() {
			e, _ := t.ip.Lookup(o.Prefix.Addr())
			return e
		}
		return t.compute(o.Prefix, true)
	case ObsDomain:
		d := o.Domain
		for {
			if e, ok := t.dom[d]; ok {
				return e
			}
			i := strings.IndexByte(d, '.')
			if i < 0 {
				return nil
			}
			d = d[i+1:]
		}
	}
	return nil
}

// Route parses value with ParseObservation and returns its owners, sorted
// and without duplicates; nil when the value cannot be parsed or nobody
// owns it. The slice is the caller's.
func (t *Table) Route(value string) []Owner {
	o, err := parseObservation(value)
	if err != nil {
		return nil
	}
	return t.AppendOwners(nil, o)
}

// AppendOwners appends the owners of o to dst and returns the extended
// slice; it does not allocate when dst has room.
//
// A block observation (a CIDR wider than one address) is routed to the
// owners of a registration covering the whole block, never to owners of
// only a part of it.
func (t *Table) AppendOwners(dst []Owner, o Observation) []Owner {
	if e := t.lookup(o); e != nil {
		dst = append(dst, e.owners...)
	}
	return dst
}

// Hits returns why o is routed to each of its owners: the matching
// registrations, sorted by owner. The slice is the caller's.
func (t *Table) Hits(o Observation) []Hit {
	if e := t.lookup(o); e != nil {
		return slices.Clone(e.hits)
	}
	return nil
}

// Mode returns the table's overlap mode.
func (t *Table) Mode() Mode { return t.mode }

// Len returns the number of distinct registrations.
func (t *Table) Len() int { return t.regs }

// Live holds the current Table for concurrent readers: Load is a single
// atomic read, and Store swaps in a table rebuilt after a change.
type Live struct {
	p atomic.Pointer[Table]
}

// NewLive returns a Live holding t.
func NewLive(t *Table) *Live {
	l := new(Live)
	l.p.Store(t)
	return l
}

// Load returns the current table.
func (l *Live) Load() *Table { return l.p.Load() }

// Store makes t the current table; readers that loaded the previous one
// keep using it until they load again.
func (l *Live) Store(t *Table) { l.p.Store(t) }
