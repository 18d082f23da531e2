package route

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Observation is a value to route, reduced to what routing looks at:
// an address, a block or a domain name. Exactly one of Addr, Prefix and
// Domain is valid, according to Kind (KindPrefix covers both Addr and
// Prefix: Addr is valid when the observation is a single address).
type Observation struct {
	Kind KindObs
	// Addr is an unmapped address without zone.
	Addr netip.Addr
	// Prefix is a masked block.
	Prefix netip.Prefix
	// Domain is in the canonical form of NormalizeDomain.
	Domain string
}

// KindObs says what an Observation is.
type KindObs uint8

// The kinds of observation.
const (
	// ObsAddr is a single IPv4 or IPv6 address.
	ObsAddr KindObs = iota + 1
	// ObsPrefix is a CIDR block.
	ObsPrefix
	// ObsDomain is a domain name.
	ObsDomain
)

// String returns the canonical text of o.
func (o Observation) String() string {
	switch o.Kind {
	case ObsAddr:
		return o.Addr.String()
	case ObsPrefix:
		return o.Prefix.String()
	case ObsDomain:
		return o.Domain
	}
	return ""
}

// ParseObservation extracts what to route from a value as found in
// intelligence and feeds: an IP address ("192.0.2.7", "2001:db8::1",
// "[2001:db8::1]"), a CIDR block, a domain name (IDN allowed), a URL (its
// host: "https://user@www.example.org:8443/path"), an e-mail address (its
// domain) or host:port ("192.0.2.7:23", "[2001:db8::1]:443",
// "example.org:443"). Surrounding space is ignored. Errors wrap
// errkind.Invalid and quote the value.
func ParseObservation(s string) (Observation, error) {
	o, err := parseObservation(s)
	if err != nil {
		return Observation{}, fmt.Errorf("observation %q: %w: %w", s, errkind.Invalid, err)
	}
	return o, nil
}

var errEmpty = errors.New("empty value")

func parseObservation(s string) (Observation, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Observation{}, errEmpty
	}
	// The common case first: a bare address (tried only on what can be
	// one, since a failed ParseAddr allocates its error).
	if mayBeAddr(s) {
		if a, err := netip.ParseAddr(s); err == nil {
			return addrObs(a), nil
		}
	}
	if i := strings.Index(s, "://"); i >= 0 {
		return hostObs(urlHost(s[i+3:]))
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return hostObs(s[i+1:])
	}
	if strings.IndexByte(s, '/') >= 0 {
		if p, err := netip.ParsePrefix(s); err == nil {
			return Observation{Kind: ObsPrefix, Prefix: canonPrefix(p)}, nil
		}
		// A URL without scheme: "example.org/path".
		return hostObs(urlHost(s))
	}
	return hostObs(s)
}

// urlHost returns the authority's host[:port] of the part of a URL after
// "scheme://".
func urlHost(s string) string {
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// hostObs parses host, [v6], host:port or [v6]:port.
func hostObs(h string) (Observation, error) {
	if h == "" {
		return Observation{}, errors.New("no host")
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return Observation{}, errors.New("unclosed '[' in host")
		}
		rest := h[end+1:]
		if rest != "" && !validPort(rest) {
			return Observation{}, fmt.Errorf("bad port %q", rest)
		}
		a, err := netip.ParseAddr(h[1:end])
		if err != nil {
			return Observation{}, fmt.Errorf("not an IP address in brackets: %w", err)
		}
		return addrObs(a), nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if strings.IndexByte(h[:i], ':') >= 0 {
			a, err := netip.ParseAddr(h)
			if err != nil {
				return Observation{}, fmt.Errorf("not an IP address: %w", err)
			}
			return addrObs(a), nil
		}
		if !validPort(h[i:]) {
			return Observation{}, fmt.Errorf("bad port %q", h[i:])
		}
		h = h[:i]
	}
	if looksNumeric(h) {
		if a, err := netip.ParseAddr(h); err == nil {
			return addrObs(a), nil
		}
		return Observation{}, fmt.Errorf("not an IP address: %q", h)
	}
	d, err := normDomain(h)
	if err != nil {
		return Observation{}, err
	}
	return Observation{Kind: ObsDomain, Domain: d}, nil
}

// mayBeAddr reports whether s could be an IP address: digits and dots, or
// containing a colon.
func mayBeAddr(s string) bool {
	return looksNumeric(s) || strings.IndexByte(s, ':') >= 0
}

// validPort reports whether p is ":" followed by 1 to 5 digits.
func validPort(p string) bool {
	if len(p) < 2 || len(p) > 6 || p[0] != ':' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func addrObs(a netip.Addr) Observation {
	return Observation{Kind: ObsAddr, Addr: a.WithZone("").Unmap()}
}
