package detect

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// slot says which table a key lives in.
type slot uint8

const (
	slotExact  slot = iota // exact[kind][value]
	slotIP                 // ip[role][addr]
	slotPrefix             // pfx[role] contains the address
	slotSuffix             // a proper domain suffix (LIKE '%.example.com')
)

// key is one way an event can select an indicator.
type key struct {
	slot slot
	kind telemetry.Kind
	role telemetry.Role // for slotIP and slotPrefix: RoleNone means any address
	s    string
	addr netip.Addr
	pfx  netip.Prefix
}

// Paths through network-traffic to the addresses at either end.
var rolePaths = map[string]telemetry.Role{
	"network-traffic:src_ref.value": telemetry.RoleSrc,
	"network-traffic:dst_ref.value": telemetry.RoleDst,
}

// compiled is what the index keeps of a pattern.
type compiled struct {
	keys []key
	// atomic is true when the keys represent the pattern exactly: any
	// observable hitting a key matches it, no evaluation is needed.
	atomic bool
}

// compile derives the index keys of a pattern. An atomic pattern is one
// bracketed comparison expression, without qualifiers, whose comparisons
// are joined by OR and each representable as keys. Any other pattern gets
// candidate keys: a set of keys of which an event must hit at least one
// to match (nil when no such set is known: the pattern is evaluated on
// every event).
func compile(p *pattern.Pattern) compiled {
	if oc, ok := unparenObs(p.Root).(*pattern.ObservationComparison); ok {
		if keys, ok := atomicKeys(oc.Expr); ok {
			return compiled{keys: keys, atomic: true}
		}
	}
	keys, _ := obsKeys(p.Root)
	return compiled{keys: keys}
}

func unparenObs(e pattern.ObservationExpr) pattern.ObservationExpr {
	for {
		p, ok := e.(*pattern.ObservationParen)
		if !ok {
			return e
		}
		e = p.Inner
	}
}

// atomicKeys returns the keys of an OR of representable comparisons.
func atomicKeys(e pattern.ComparisonExpr) ([]key, bool) {
	switch n := e.(type) {
	case *pattern.ComparisonParen:
		return atomicKeys(n.Inner)
	case *pattern.ComparisonBinary:
		if n.Op != pattern.Or {
			return nil, false
		}
		l, ok := atomicKeys(n.Left)
		if !ok {
			return nil, false
		}
		r, ok := atomicKeys(n.Right)
		if !ok {
			return nil, false
		}
		return append(l, r...), true
	case *pattern.Comparison:
		return comparisonKeys(n)
	}
	return nil, false
}

// obsKeys returns a set of keys one of which every matching event hits.
func obsKeys(e pattern.ObservationExpr) ([]key, bool) {
	switch n := e.(type) {
	case *pattern.ObservationParen:
		return obsKeys(n.Inner)
	case *pattern.ObservationQualified:
		return obsKeys(n.Inner)
	case *pattern.ObservationComparison:
		return compKeys(n.Expr)
	case *pattern.ObservationBinary:
		l, lok := obsKeys(n.Left)
		r, rok := obsKeys(n.Right)
		if n.Op == pattern.ObsOr {
			return append(l, r...), lok && rok
		}
		return better(l, lok, r, rok)
	}
	return nil, false
}

func compKeys(e pattern.ComparisonExpr) ([]key, bool) {
	switch n := e.(type) {
	case *pattern.ComparisonParen:
		return compKeys(n.Inner)
	case *pattern.Comparison:
		return comparisonKeys(n)
	case *pattern.ComparisonBinary:
		l, lok := compKeys(n.Left)
		r, rok := compKeys(n.Right)
		if n.Op == pattern.Or {
			return append(l, r...), lok && rok
		}
		return better(l, lok, r, rok)
	}
	return nil, false
}

// better picks the more selective of two necessary key sets of an AND:
// exact keys before prefixes, then fewer keys.
func better(l []key, lok bool, r []key, rok bool) ([]key, bool) {
	switch {
	case !lok:
		return r, rok
	case !rok:
		return l, lok
	}
	if cost(r) < cost(l) {
		return r, true
	}
	return l, true
}

func cost(ks []key) int {
	c := 0
	for _, k := range ks {
		c++
		switch {
		case k.slot == slotPrefix || k.slot == slotSuffix:
			c += 100
		case k.slot == slotExact && (k.kind == telemetry.KindDstPort || k.kind == telemetry.KindSrcPort || k.kind == telemetry.KindProtocol):
			c += 1000 // ports and protocols select much of the traffic
		}
	}
	return c
}

// comparisonKeys returns the keys that represent one comparison exactly,
// ok false when it has none.
func comparisonKeys(c *pattern.Comparison) ([]key, bool) {
	if c.Negated {
		return nil, false
	}
	path := c.Path.String()
	role, viaRef := rolePaths[path]
	kind := telemetry.KindOfPath(path)
	if viaRef {
		kind = telemetry.KindIPv4
	}
	if kind == telemetry.KindInvalid {
		return nil, false
	}
	isIP := kind == telemetry.KindIPv4 || kind == telemetry.KindIPv6
	switch c.Op {
	case pattern.OpEqual:
		return literalKeys(kind, role, isIP, viaRef, &c.Value)
	case pattern.OpIn:
		if c.Value.Kind != pattern.KindSet {
			return nil, false
		}
		var out []key
		for i := range c.Value.Set {
			ks, ok := literalKeys(kind, role, isIP, viaRef, &c.Value.Set[i])
			if !ok {
				return nil, false
			}
			out = append(out, ks...)
		}
		return out, true
	case pattern.OpIsSubset:
		if !isIP || c.Value.Kind != pattern.KindString {
			return nil, false
		}
		pfx, err := netip.ParsePrefix(c.Value.Str)
		if err != nil {
			return nil, false
		}
		return prefixKey(kind, role, viaRef, pfx)
	case pattern.OpLike:
		if kind != telemetry.KindDomain || c.Value.Kind != pattern.KindString {
			return nil, false
		}
		v := c.Value.Str
		switch {
		case !strings.ContainsAny(v, "%_"):
			return literalKeys(kind, role, false, false, &c.Value)
		case strings.HasPrefix(v, "%.") && !strings.ContainsAny(v[2:], "%_") && len(v) > 2 && isASCII(v):
			return []key{{slot: slotSuffix, kind: kind, s: lowerASCII(v[2:])}}, true
		}
	}
	return nil, false
}

// literalKeys returns the key of "path = literal".
func literalKeys(kind telemetry.Kind, role telemetry.Role, isIP, viaRef bool, l *pattern.Literal) ([]key, bool) {
	switch kind {
	case telemetry.KindDstPort, telemetry.KindSrcPort:
		if l.Kind != pattern.KindInt {
			return nil, false
		}
		if l.Int < 0 || l.Int > 65535 {
			return []key{}, true // no port equals it: matches nothing
		}
		return []key{{slot: slotExact, kind: kind, s: strconv.FormatInt(l.Int, 10)}}, true
	}
	if l.Kind != pattern.KindString {
		return nil, false
	}
	if isIP {
		if strings.IndexByte(l.Str, '/') >= 0 {
			// An address value may be a CIDR block (STIX 2.1 6.1, 6.2):
			// the index treats "= 'a.b.c.d/n'" as the block.
			pfx, err := netip.ParsePrefix(l.Str)
			if err != nil {
				return []key{}, true
			}
			return prefixKey(kind, role, viaRef, pfx)
		}
		a, err := netip.ParseAddr(l.Str)
		if err != nil || a.Zone() != "" {
			return []key{}, true // never equal to a normalised address
		}
		a = a.Unmap()
		if !viaRef && (a.Is4() != (kind == telemetry.KindIPv4)) {
			return []key{}, true // an IPv6 value on ipv4-addr or the reverse
		}
		return []key{{slot: slotIP, kind: kind, role: role, addr: a}}, true
	}
	v, ok := telemetry.Normalize(kind, l.Str)
	if !ok {
		return []key{}, true
	}
	return []key{{slot: slotExact, kind: kind, s: v}}, true
}

func prefixKey(kind telemetry.Kind, role telemetry.Role, viaRef bool, pfx netip.Prefix) ([]key, bool) {
	pfx = pfx.Masked()
	if !viaRef && pfx.Addr().Is4() != (kind == telemetry.KindIPv4) {
		return []key{}, true
	}
	return []key{{slot: slotPrefix, kind: kind, role: role, pfx: pfx}}, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	v, _ := telemetry.Normalize(telemetry.KindDomain, s)
	return v
}
