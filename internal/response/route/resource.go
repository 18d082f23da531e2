package route

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Kind says what a Resource is.
type Kind uint8

// The kinds of registered resource.
const (
	// KindPrefix is an IPv4 or IPv6 netblock.
	KindPrefix Kind = iota + 1
	// KindASN is an autonomous system number.
	KindASN
	// KindDomain is a domain name together with all its subdomains.
	KindDomain
)

// String returns "prefix", "asn" or "domain".
func (k Kind) String() string {
	switch k {
	case KindPrefix:
		return "prefix"
	case KindASN:
		return "asn"
	case KindDomain:
		return "domain"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Resource is something an organisation owns, in canonical form: exactly
// one of Prefix, ASN and Domain is set, according to Kind.
type Resource struct {
	Kind Kind
	// Prefix is masked (10.1.2.3/8 becomes 10.0.0.0/8); IPv4 blocks
	// written as IPv4-mapped IPv6 (::ffff:10.0.0.0/104) are stored as IPv4.
	Prefix netip.Prefix
	// ASN is 1..4294967295 (AS0 is reserved and rejected).
	ASN uint32
	// Domain is lower case ASCII, IDN labels in punycode, no trailing dot.
	Domain string
}

// String returns the canonical text of r: "192.0.2.0/24", "AS64500",
// "example.org". ParseResource(r.String()) returns r.
func (r Resource) String() string {
	switch r.Kind {
	case KindPrefix:
		return r.Prefix.String()
	case KindASN:
		return "AS" + strconv.FormatUint(uint64(r.ASN), 10)
	case KindDomain:
		return r.Domain
	}
	return ""
}

// ParseResource parses a registered resource: an IPv4/IPv6 CIDR block (a
// bare address is a /32 or /128), "AS<number>" (case-insensitive, also
// "ASN<number>") or a domain name, which covers its subdomains. Domain
// names are normalised (case, trailing dot, IDN to punycode). Errors wrap
// errkind.Invalid and quote s.
func ParseResource(s string) (Resource, error) {
	r, err := parseResource(strings.TrimSpace(s))
	if err != nil {
		return Resource{}, fmt.Errorf("resource %q: %w: %w", s, errkind.Invalid, err)
	}
	return r, nil
}

func parseResource(s string) (Resource, error) {
	if s == "" {
		return Resource{}, fmt.Errorf("empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Resource{}, fmt.Errorf("not a CIDR block: %w", err)
		}
		return Resource{Kind: KindPrefix, Prefix: canonPrefix(p)}, nil
	}
	if strings.Contains(s, ":") || looksNumeric(s) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return Resource{}, fmt.Errorf("not an IP address: %w", err)
		}
		if a.Zone() != "" {
			return Resource{}, fmt.Errorf("IPv6 zone not allowed")
		}
		a = a.Unmap()
		return Resource{Kind: KindPrefix, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if n, ok, err := parseASN(s); ok {
		if err != nil {
			return Resource{}, err
		}
		return Resource{Kind: KindASN, ASN: n}, nil
	}
	if strings.HasPrefix(s, "*.") {
		return Resource{}, fmt.Errorf("wildcards are implicit: register %q, which covers its subdomains", s[2:])
	}
	d, err := normDomain(s)
	if err != nil {
		return Resource{}, err
	}
	return Resource{Kind: KindDomain, Domain: d}, nil
}

// canonPrefix masks p and turns an IPv4-mapped IPv6 block into IPv4.
func canonPrefix(p netip.Prefix) netip.Prefix {
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// looksNumeric reports whether s holds only digits and dots, so that a
// malformed IPv4 address is reported as such rather than as a domain.
func looksNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// parseASN recognises "AS<n>" and "ASN<n>"; ok is false when s does not
// look like an ASN at all (for instance the domain "asia.example").
func parseASN(s string) (n uint32, ok bool, err error) {
	if len(s) < 3 || !strings.EqualFold(s[:2], "as") {
		return 0, false, nil
	}
	d := s[2:]
	if len(d) > 1 && (d[0] == 'n' || d[0] == 'N') {
		d = d[1:]
	}
	if d == "" || d[0] < '0' || d[0] > '9' {
		return 0, false, nil
	}
	if strings.Contains(d, ".") && !looksNumeric(d) {
		return 0, false, nil // a domain such as as1.example
	}
	if strings.Contains(d, ".") {
		return 0, true, fmt.Errorf("asdot notation not supported: write the ASN as a plain number")
	}
	v, perr := strconv.ParseUint(d, 10, 32)
	if perr != nil {
		if looksNumeric(d) {
			return 0, true, fmt.Errorf("AS number out of range 1..4294967295")
		}
		return 0, false, nil // a domain such as as1x
	}
	if v == 0 {
		return 0, true, fmt.Errorf("AS0 is reserved")
	}
	return uint32(v), true, nil
}
