package route

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// label is a domain label in the two spellings a test writes it in.
type label struct{ uni, ascii string }

var (
	leakLabels = []label{
		{"a", "a"}, {"b", "b"}, {"www", "www"}, {"mail", "mail"}, {"cdn-1", "cdn-1"},
		{"bücher", "xn--bcher-kva"}, {"münchen", "xn--mnchen-3ya"},
		{"пример", "xn--e1afmkfd"}, {"日本", "xn--wgv71a"}, {"例え", "xn--r8jz45g"},
	}
	leakTLDs = []label{{"example", "example"}, {"рф", "xn--p1ai"}, {"jp", "jp"}}
)

// world is a random constituency with the facts the oracle needs, kept in
// canonical form independently of the parsers under test.
type world struct {
	regs     []Registration
	texts    []string // the registrations as written (Unicode or ASCII, any case)
	asnTable map[netip.Prefix]uint32
	asn      *ASNTable
}

func randPrefix(r *rand.Rand, within netip.Prefix, minBits, maxBits int) netip.Prefix {
	bits := minBits + r.IntN(maxBits-minBits+1)
	return netip.PrefixFrom(randAddr(r, within), bits).Masked()
}

// randAddr returns a random address inside p.
func randAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func randDomain(r *rand.Rand, depth int) (canon, written string) {
	var c, w []string
	for range depth {
		l := leakLabels[r.IntN(len(leakLabels))]
		c = append(c, l.ascii)
		w = append(w, spell(r, l))
	}
	t := leakTLDs[r.IntN(len(leakTLDs))]
	return strings.Join(append(c, t.ascii), "."), strings.Join(append(w, spell(r, t)), ".")
}

// spell writes a label in one of its spellings.
func spell(r *rand.Rand, l label) string {
	switch r.IntN(3) {
	case 0:
		return l.uni
	case 1:
		return strings.ToUpper(l.uni)
	}
	return l.ascii
}

var (
	v4Space = netip.MustParsePrefix("10.0.0.0/10")
	v6Space = netip.MustParsePrefix("2001:db8::/36")
)

func newWorld(r *rand.Rand, orgs, n int) *world {
	w := &world{asnTable: make(map[netip.Prefix]uint32), asn: new(ASNTable)}
	// Announcements: nested, by 30 ASes (AS0 marks unrouted space).
	for range n / 2 {
		p := randPrefix(r, v4Space, 13, 26)
		if r.IntN(3) == 0 {
			p = randPrefix(r, v6Space, 38, 64)
		}
		as := uint32(r.IntN(31))
		w.asnTable[p] = as
		w.asn.Add(p, as)
	}
	announced := make([]netip.Prefix, 0, len(w.asnTable))
	for p := range w.asnTable {
		announced = append(announced, p)
	}
	slices.SortFunc(announced, netip.Prefix.Compare)
	for range n {
		owner := Owner(fmt.Sprintf("org%02d", r.IntN(orgs)))
		var text string
		var res Resource
		switch k := r.IntN(10); {
		case k < 4: // IPv4, often nested in an announcement or another block
			base := v4Space
			if r.IntN(2) == 0 {
				base = announced[r.IntN(len(announced))]
				if !base.Addr().Is4() {
					base = v4Space
				}
			}
			p := randPrefix(r, base, max(base.Bits(), 16), 32)
			res, text = Resource{Kind: KindPrefix, Prefix: p}, p.String()
		case k < 6:
			p := randPrefix(r, v6Space, 44, 128)
			res, text = Resource{Kind: KindPrefix, Prefix: p}, strings.ToUpper(p.String())
		case k < 7:
			as := uint32(1 + r.IntN(30))
			res, text = Resource{Kind: KindASN, ASN: as}, fmt.Sprintf("AS%d", as)
		default:
			depth := 1 + r.IntN(2)
			if r.IntN(20) == 0 {
				depth = 0 // a whole TLD, as a national registry might
			}
			c, written := randDomain(r, depth)
			if r.IntN(2) == 0 {
				written += "."
			}
			res, text = Resource{Kind: KindDomain, Domain: c}, written
		}
		w.regs = append(w.regs, Registration{Owner: owner, Resource: res})
		w.texts = append(w.texts, text)
	}
	return w
}

// oracle routes o by brute force over the registrations.
func (w *world) oracle(o Observation, mode Mode) []Owner {
	set := map[Owner]bool{}
	switch o.Kind {
	case ObsAddr, ObsPrefix:
		p := o.Prefix
		if o.Kind == ObsAddr {
			p = netip.PrefixFrom(o.Addr, o.Addr.BitLen())
		}
		covers := func(q netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }
		// Direct registrations covering the whole of p.
		best := -1
		for _, rg := range w.regs {
			if rg.Resource.Kind == KindPrefix && covers(rg.Resource.Prefix) {
				best = max(best, rg.Resource.Prefix.Bits())
			}
		}
		// The origin AS: the longest covering announcement, if no other
		// AS announces a part of p.
		asBits, origin := -1, uint32(0)
		for q, as := range w.asnTable {
			if covers(q) && q.Bits() > asBits {
				asBits, origin = q.Bits(), as
			}
		}
		for q, as := range w.asnTable {
			if asBits >= 0 && q.Bits() > p.Bits() && p.Contains(q.Addr()) && as != origin {
				asBits = -1
			}
		}
		asOwned := false
		for _, rg := range w.regs {
			if asBits >= 0 && rg.Resource.Kind == KindASN && rg.Resource.ASN == origin {
				asOwned = true
			}
		}
		if !asOwned {
			asBits = -1
		}
		for _, rg := range w.regs {
			switch rg.Resource.Kind {
			case KindPrefix:
				q := rg.Resource.Prefix
				if covers(q) && (mode == AllCovering || q.Bits() == best && best >= asBits) {
					set[rg.Owner] = true
				}
			case KindASN:
				if asBits >= 0 && rg.Resource.ASN == origin && (mode == AllCovering || asBits >= best) {
					set[rg.Owner] = true
				}
			}
		}
	case ObsDomain:
		best := -1
		for _, rg := range w.regs {
			d := rg.Resource.Domain
			if rg.Resource.Kind == KindDomain && (o.Domain == d || strings.HasSuffix(o.Domain, "."+d)) {
				best = max(best, len(d))
			}
		}
		for _, rg := range w.regs {
			d := rg.Resource.Domain
			if rg.Resource.Kind == KindDomain && (o.Domain == d || strings.HasSuffix(o.Domain, "."+d)) &&
				(mode == AllCovering || len(d) == best) {
				set[rg.Owner] = true
			}
		}
	}
	var out []Owner
	for o := range set {
		out = append(out, o)
	}
	slices.Sort(out)
	return out
}

// randObservation returns an observation as written in a feed and its
// canonical form.
func (w *world) randObservation(r *rand.Rand) (string, Observation) {
	switch k := r.IntN(10); {
	case k < 6:
		var a netip.Addr
		switch r.IntN(3) {
		case 0:
			rg := w.regs[r.IntN(len(w.regs))]
			if rg.Resource.Kind != KindPrefix {
				a = randAddr(r, v4Space)
			} else {
				a = randAddr(r, rg.Resource.Prefix)
			}
		case 1:
			for p := range w.asnTable {
				a = randAddr(r, p)
				break
			}
		default:
			a = randAddr(r, v6Space)
		}
		o := Observation{Kind: ObsAddr, Addr: a}
		switch r.IntN(4) {
		case 0:
			if a.Is4() {
				return "::ffff:" + a.String(), o
			}
			return "[" + a.String() + "]:443", o
		case 1:
			return "http://" + netip.AddrPortFrom(a, 8080).String() + "/x", o
		}
		return a.String(), o
	case k < 7:
		p := randPrefix(r, v4Space, 12, 32)
		if r.IntN(2) == 0 {
			p = randPrefix(r, v6Space, 40, 128)
		}
		return p.String(), Observation{Kind: ObsPrefix, Prefix: p}
	default:
		c, written := randDomain(r, 1+r.IntN(3))
		o := Observation{Kind: ObsDomain, Domain: c}
		switch r.IntN(5) {
		case 0:
			return "https://user@" + written + ":8443/path?q=1", o
		case 1:
			return "abuse@" + written, o
		case 2:
			return written + ".", o
		case 3:
			return written + ":25", o
		}
		return written, o
	}
}

// TestNoLeak routes random observations through random constituencies
// with overlapping IPv4/IPv6 blocks, ASes and IDN domains, and checks every
// answer against a brute-force oracle: an organisation is notified if and
// only if it owns the resource (under the table's overlap mode).
func TestNoLeak(t *testing.T) {
	seeds := 12
	obs := 3000
	if testing.Short() {
		seeds, obs = 3, 1000
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0x6b697a756e61))
			w := newWorld(r, 25, 400)
			var regs []Registration
			for i, text := range w.texts {
				res, err := ParseResource(text)
				if err != nil {
					t.Fatal(err)
				}
				if res != w.regs[i].Resource {
					t.Fatalf("ParseResource(%q) = %s, want %s", text, res, w.regs[i].Resource)
				}
				regs = append(regs, Registration{Owner: w.regs[i].Owner, Resource: res})
			}
			for _, mode := range []Mode{MostSpecific, AllCovering} {
				tab, err := New(regs, Options{Mode: mode, ASN: w.asn})
				if err != nil {
					t.Fatal(err)
				}
				routed := 0
				for range obs {
					text, want := w.randObservation(r)
					o, err := ParseObservation(text)
					if err != nil {
						t.Fatalf("ParseObservation(%q): %v", text, err)
					}
					if o != want {
						t.Fatalf("ParseObservation(%q) = %s, want %s", text, o, want)
					}
					got := tab.Route(text)
					exp := w.oracle(want, mode)
					if !slices.Equal(got, exp) {
						t.Fatalf("%s: Route(%q) = %v, oracle %v", mode, text, got, exp)
					}
					for _, h := range tab.Hits(o) {
						if !slices.Contains(exp, h.Owner) {
							t.Fatalf("%s: hit %+v for %q not owned", mode, h, text)
						}
					}
					if len(got) > 0 {
						routed++
					}
				}
				// The test means something only if many observations have
				// owners and many have none.
				if routed < obs/5 || routed > obs*9/10 {
					t.Fatalf("%s: %d of %d observations routed: the world is degenerate", mode, routed, obs)
				}
			}
		})
	}
}
