package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Address ranges a webhook may not reach unless the operator allows
// private targets (server-side request forgery: a rule must not make the
// hub call its own services, its network's or a cloud metadata endpoint).
var (
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")     // RFC 791 "this network"
	sharedSpace  = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598 carrier-grade NAT (also some cloud metadata)
	broadcast    = netip.MustParseAddr("255.255.255.255") // limited broadcast
	siteLocal6   = netip.MustParsePrefix("fec0::/10")     // deprecated IPv6 site-local
	nat64        = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052 NAT64: the embedded IPv4 address decides
	ipv4Compat6  = netip.MustParsePrefix("::/96")         // deprecated IPv4-compatible IPv6
	benchmarking = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544 network benchmarking, never on the Internet
	reserved4    = netip.MustParsePrefix("240.0.0.0/4")   // RFC 1112 reserved
	sixToFour    = netip.MustParsePrefix("2002::/16")     // 6to4: tunnels to an embedded IPv4 address
)

// Refusal returns why a webhook may not reach the address a — "loopback",
// "private", "link-local" (which includes the cloud metadata address
// 169.254.169.254), "unspecified", "multicast" or another reserved range —
// or "" when it may. IPv4-mapped, IPv4-compatible and NAT64 IPv6
// addresses, and 6to4 ones, are also judged by the IPv4 address they embed.
func Refusal(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		var v4 netip.Addr
		switch {
		case nat64.Contains(a), ipv4Compat6.Contains(a) && !a.IsUnspecified() && !a.IsLoopback():
			v4 = netip.AddrFrom4([4]byte(b[12:]))
		case sixToFour.Contains(a):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if r := Refusal(v4); r != "" {
				return r + " (IPv4 " + v4.String() + " embedded)"
			}
		}
	}
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified(), thisNetwork.Contains(a):
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		if a == netip.AddrFrom4([4]byte{169, 254, 169, 254}) {
			return "link-local (cloud metadata)"
		}
		return "link-local"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast(), a.IsLinkLocalMulticast():
		return "multicast"
	case a == broadcast:
		return "broadcast"
	case sharedSpace.Contains(a):
		return "shared address space (carrier-grade NAT)"
	case siteLocal6.Contains(a):
		return "site-local"
	case benchmarking.Contains(a), reserved4.Contains(a):
		return "reserved"
	}
	return ""
}

// RefusedError is the error of a webhook target whose address Refusal
// refuses.
type RefusedError struct {
	// Addr is the refused address, Reason what Refusal said of it.
	Addr   netip.Addr
	Reason string
}

// Error implements error.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("webhook target address %s is %s: refused (private webhook targets need serve --allow-private-webhooks)", e.Addr, e.Reason)
}

// Control is a net.Dialer Control function refusing connections to the
// addresses Refusal refuses. It sees the address actually dialled, after
// name resolution, so a name that resolves (or rebinds) to a private
// address and a redirect to one are refused too.
func Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dialling %s %q: not an address", network, address)
	}
	if r := Refusal(ap.Addr()); r != "" {
		return &RefusedError{Addr: ap.Addr().Unmap(), Reason: r}
	}
	return nil
}

// IsRefused reports whether err (a failed request, say) came from a
// refused address, and returns the refusal.
func IsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// CheckURL refuses a webhook URL whose host is a literal address Refusal
// refuses, or a localhost name (names resolving to such addresses are
// refused when dialled). The error (errkind.Invalid) names the URL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: webhook URL %q: %v", errkind.Invalid, raw, err)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: webhook URL %q: %s is loopback: refused (private webhook targets need serve --allow-private-webhooks)", errkind.Invalid, u.Redacted(), host)
	}
	if i := strings.IndexByte(host, '%'); i >= 0 { // zone of a link-local IPv6 address
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return nil // a name: checked when dialled
	}
	if r := Refusal(a); r != "" {
		return fmt.Errorf("%w: webhook URL %q: address %s is %s: refused (private webhook targets need serve --allow-private-webhooks)", errkind.Invalid, u.Redacted(), a.Unmap(), r)
	}
	return nil
}
