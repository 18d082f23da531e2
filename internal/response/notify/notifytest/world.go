// Package notifytest builds random constituencies and scan feeds for the
// notification leak tests (package notify, the CLI and the HTTP API), with
// an oracle that decides owners by a linear scan of the registrations,
// independent of package route's tables.
package notifytest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// idn are IDN labels with their ASCII forms (UTS #46, computed once with
// golang.org/x/net/idna).
var idn = [][2]string{
	{"bücher", "xn--bcher-kva"}, {"münchen", "xn--mnchen-3ya"}, {"例え", "xn--r8jz45g"},
	{"faß", "xn--fa-hia"}, {"ελλάδα", "xn--hxakic4aa"}, {"пример", "xn--e1afmkfd"},
}

// Registration is a resource an organisation registers, as written (Text)
// and in the oracle's terms.
type Registration struct {
	Org  int
	Text string
	// One of Prefix, ASN or Domain (ASCII, lowercase) is set.
	Prefix netip.Prefix
	ASN    uint32
	Domain string
}

// Announcement is an entry of the prefix-to-ASN table.
type Announcement struct {
	Prefix netip.Prefix
	ASN    uint32
}

// Row is a row of the scan feed: the values as written and their oracle
// forms.
type Row struct {
	Line     int
	IP       string
	Host     string // as written (Unicode or ASCII, any case)
	HostASCI string // lowercase ASCII form
	Port     int
}

// World is a random constituency and feed.
type World struct {
	// Orgs are the organisation names, Org index = position.
	Orgs          []string
	Registrations []Registration
	Announcements []Announcement
	Rows          []Row
}

// Expected is a notification the oracle expects.
type Expected struct {
	Org   int
	Value string // as written in the feed
	Line  int
}

// New builds a world from seed: orgs organisations and rows feed rows,
// with nested IPv4/IPv6 blocks (some registered by two organisations),
// ASes whose announcements nest and take addresses from each other, and
// IDN domains with registered subdomains.
func New(seed uint64, orgs, rows int) *World {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := &World{}
	for i := range orgs {
		w.Orgs = append(w.Orgs, fmt.Sprintf("org-%d-%d", seed%1000, i))
	}
	v4 := func(bits int) netip.Prefix {
		a := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))})
		return netip.PrefixFrom(a, bits).Masked()
	}
	v6 := func(bits int) netip.Prefix {
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(r.IntN(4)), byte(r.IntN(2)), byte(r.IntN(4))}
		return netip.PrefixFrom(netip.AddrFrom16(b), bits).Masked()
	}
	for range 6 * orgs {
		org := r.IntN(orgs)
		switch k := r.IntN(10); {
		case k < 4:
			p := v4(16 + 2*r.IntN(7)) // /16 ... /28
			w.Registrations = append(w.Registrations, Registration{Org: org, Text: p.String(), Prefix: p})
		case k < 6:
			p := v6(32 + 8*r.IntN(4)) // /32 ... /56
			w.Registrations = append(w.Registrations, Registration{Org: org, Text: strings.ToUpper(p.String()), Prefix: p})
		case k < 7:
			as := uint32(64500 + r.IntN(4))
			w.Registrations = append(w.Registrations, Registration{Org: org, Text: "AS" + strconv.Itoa(int(as)), ASN: as})
		default:
			l := idn[r.IntN(len(idn))]
			text, domain := l[0]+".example", l[1]+".example"
			if r.IntN(2) == 0 {
				sub := []string{"shop", "mail", "vpn"}[r.IntN(3)]
				text, domain = sub+"."+text, sub+"."+domain
			}
			if r.IntN(2) == 0 {
				text = strings.ToUpper(domain)
			}
			w.Registrations = append(w.Registrations, Registration{Org: org, Text: text, Domain: domain})
		}
		if r.IntN(8) == 0 { // the very same resource, another owner
			x := w.Registrations[len(w.Registrations)-1]
			x.Org = r.IntN(orgs)
			w.Registrations = append(w.Registrations, x)
		}
	}
	for range 12 {
		as := uint32(64500 + r.IntN(5)) // 64504 is nobody's: it takes addresses away
		p := v4(16 + 2*r.IntN(5))
		if r.IntN(3) == 0 {
			p = v6(32 + 8*r.IntN(3))
		}
		if !slices.ContainsFunc(w.Announcements, func(a Announcement) bool { return a.Prefix == p }) {
			w.Announcements = append(w.Announcements, Announcement{Prefix: p, ASN: as})
		}
	}
	for i := range rows {
		row := Row{Line: i + 2, Port: 1000 + i}
		if r.IntN(2) == 0 {
			row.IP = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(256))}).String()
		} else {
			b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(r.IntN(4)), byte(r.IntN(2)), byte(r.IntN(4)), 15: byte(r.IntN(256))}
			row.IP = netip.AddrFrom16(b).String()
		}
		if r.IntN(3) > 0 {
			l := idn[r.IntN(len(idn))]
			host, ascii := "h"+strconv.Itoa(i)+"."+l[0]+".example", "h"+strconv.Itoa(i)+"."+l[1]+".example"
			if r.IntN(2) == 0 {
				sub := []string{"shop", "mail", "vpn", "www"}[r.IntN(4)]
				host, ascii = "h"+strconv.Itoa(i)+"."+sub+"."+l[0]+".example", "h"+strconv.Itoa(i)+"."+sub+"."+l[1]+".example"
			}
			if r.IntN(3) == 0 {
				host = strings.ToUpper(ascii)
			}
			row.Host, row.HostASCI = host, ascii
		}
		w.Rows = append(w.Rows, row)
	}
	return w
}

// ASNCSV is the prefix-to-ASN table as CSV "prefix,asn".
func (w *World) ASNCSV() string {
	var b strings.Builder
	for _, a := range w.Announcements {
		fmt.Fprintf(&b, "%s,%d\n", a.Prefix, a.ASN)
	}
	return b.String()
}

// FeedCSV is the scan feed: header "ip,hostname,port".
func (w *World) FeedCSV() string {
	var b strings.Builder
	b.WriteString("ip,hostname,port\n")
	for _, row := range w.Rows {
		fmt.Fprintf(&b, "%s,%s,%d\n", row.IP, row.Host, row.Port)
	}
	return b.String()
}

// Mapping are the FIELD=COLUMN pairs of the feed.
var Mapping = []string{"value=ip", "value=hostname", "port=port"}

// OwnersOfAddr returns the organisations owning an address under the
// most-specific rule, by a linear scan: the longest registered prefix
// covering it, or an AS registration counted with the length of the
// longest announced prefix covering the address when that prefix's origin
// is the AS; equal lengths share.
func (w *World) OwnersOfAddr(a netip.Addr) []int {
	origin, originBits := uint32(0), -1
	for _, an := range w.Announcements {
		if an.Prefix.Contains(a) && an.Prefix.Bits() > originBits {
			origin, originBits = an.ASN, an.Prefix.Bits()
		}
	}
	best, owners := -1, []int(nil)
	for _, reg := range w.Registrations {
		spec := -1
		switch {
		case reg.Prefix.IsValid() && reg.Prefix.Contains(a):
			spec = reg.Prefix.Bits()
		case reg.ASN != 0 && originBits >= 0 && reg.ASN == origin:
			spec = originBits
		}
		best, owners = consider(best, owners, spec, reg.Org)
	}
	return owners
}

// OwnersOfDomain returns the owners of a lowercase ASCII domain: the
// registrations that equal it or are a parent, with the most labels.
func (w *World) OwnersOfDomain(d string) []int {
	best, owners := -1, []int(nil)
	for _, reg := range w.Registrations {
		spec := -1
		if reg.Domain != "" && (d == reg.Domain || strings.HasSuffix(d, "."+reg.Domain)) {
			spec = strings.Count(reg.Domain, ".") + 1
		}
		best, owners = consider(best, owners, spec, reg.Org)
	}
	return owners
}

func consider(best int, owners []int, spec, org int) (int, []int) {
	switch {
	case spec < 0 || spec < best:
	case spec > best:
		best, owners = spec, []int{org}
	case !slices.Contains(owners, org):
		owners = append(owners, org)
	}
	return best, owners
}

// Expected returns the notifications the feed must produce: per row, each
// owner once, for the first value (ip, then hostname) it owns.
func (w *World) Expected() []Expected {
	var out []Expected
	for _, row := range w.Rows {
		var notified []int
		add := func(owners []int, value string) {
			for _, o := range owners {
				if !slices.Contains(notified, o) {
					notified = append(notified, o)
					out = append(out, Expected{Org: o, Value: value, Line: row.Line})
				}
			}
		}
		add(w.OwnersOfAddr(netip.MustParseAddr(row.IP)), row.IP)
		if row.Host != "" {
			add(w.OwnersOfDomain(row.HostASCI), row.Host)
		}
	}
	return out
}

// ExpectedFor returns the expected notifications of one organisation as
// "line value" strings, sorted.
func (w *World) ExpectedFor(org int) []string {
	var out []string
	for _, e := range w.Expected() {
		if e.Org == org {
			out = append(out, strconv.Itoa(e.Line)+" "+e.Value)
		}
	}
	slices.Sort(out)
	return out
}
