package route

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// regs parses "owner resource" pairs.
func regs(t testing.TB, pairs ...string) []Registration {
	t.Helper()
	var out []Registration
	for _, p := range pairs {
		owner, res, ok := strings.Cut(p, " ")
		if !ok {
			t.Fatalf("bad pair %q", p)
		}
		r, err := ParseResource(res)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Registration{Owner: Owner(owner), Resource: r})
	}
	return out
}

func loadASN(t testing.TB, name string) *ASNTable {
	t.Helper()
	f, err := os.Open("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parse := ParseASNCSV
	if strings.HasSuffix(name, ".ipasn") {
		parse = ParseASNDump
	}
	a, _, err := parse(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// constituency is the registration set of the routing table tests:
// overlapping IPv4 and IPv6 blocks, ASes, IDN domains.
var constituency = []string{
	"isp 192.0.2.0/24",
	"campus 192.0.2.0/26",
	"lab 192.0.2.32/28",
	"lab2 192.0.2.32/28", // two owners of the same block
	"v6isp 2001:db8::/32",
	"v6cust 2001:db8:1::/48",
	"asowner AS64500",
	"asother AS64502",
	"books bücher.example",
	"cams cam1.bücher.example",
	"corp example.net",
	"corpvpn vpn.example.net",
	"ru пример.рф",
	"tld example",
}

func TestTableRoute(t *testing.T) {
	tab, err := New(regs(t, constituency...), Options{ASN: loadASN(t, "asn.csv")})
	if err != nil {
		t.Fatal(err)
	}
	all, err := New(regs(t, constituency...), Options{ASN: loadASN(t, "asn.csv"), Mode: AllCovering})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		value    string
		specific string // owners, space-separated, in MostSpecific mode
		covering string // in AllCovering mode
	}{
		// 192.0.2.0/24 is announced by AS64500 and registered by isp: equal
		// lengths, both are the most specific.
		{"192.0.2.200", "asowner isp", "asowner isp"},
		{"192.0.2.1", "campus", "asowner campus isp"},
		{"192.0.2.33", "lab lab2", "asowner campus isp lab lab2"},
		{"192.0.2.48", "campus", "asowner campus isp"},
		{"[::ffff:192.0.2.33]:80", "lab lab2", "asowner campus isp lab lab2"},
		// Only the AS is registered: 203.0.113.0/24 reaches asowner.
		{"203.0.113.9", "asowner", "asowner"},
		// 198.51.100.0/24 is AS64501 (nobody), its /25 upper half AS64502.
		{"198.51.100.1", "", ""},
		{"198.51.100.200", "asother", "asother"},
		{"198.51.100.0/24", "", ""},
		{"198.51.100.128/26", "asother", "asother"},
		// IPv6: the /48 customer beats the /32 provider and the AS.
		{"2001:db8:1::5", "v6cust", "asowner v6cust v6isp"},
		{"2001:db8:2::5", "asowner v6isp", "asowner v6isp"},
		// 2001:db8:bad::/48 is announced by AS64502: taken from AS64500.
		{"2001:db8:bad::7", "asother", "asother v6isp"},
		{"2001:db8:8000::/33", "asowner v6isp", "asowner v6isp"},
		// The lower /33 holds AS64502's /48: not wholly AS64500's.
		{"2001:db8::/33", "v6isp", "v6isp"},
		// A /31 over the AS64500 /32 that contains AS64502's /48 is not
		// wholly AS64500's; nor wholly anyone's.
		{"2001:db8::/31", "", ""},
		// A block is routed to owners of the whole block only.
		{"192.0.2.0/25", "asowner isp", "asowner isp"},
		{"192.0.2.32/27", "campus", "asowner campus isp"},
		{"100.64.0.1", "", ""},
		{"2001:db9::1", "", ""},
		// Domains: suffix on label boundaries, IDN in any spelling.
		{"bücher.example", "books", "books tld"},
		{"www.BÜCHER.example.", "books", "books tld"},
		{"xn--bcher-kva.example", "books", "books tld"},
		{"https://cam1.bücher.example/live", "cams", "books cams tld"},
		{"x.cam1.xn--bcher-kva.example:8443", "cams", "books cams tld"},
		{"notbücher.example", "tld", "tld"},
		{"admin@vpn.example.net", "corpvpn", "corp corpvpn"},
		{"vpn2.example.net", "corp", "corp"},
		{"badexample.net", "", ""},
		{"example.net.evil.test", "", ""},
		{"почта.пример.рф", "ru", "ru"},
		{"рф", "", ""},
		{"not a value", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			for _, c := range []struct {
				tab  *Table
				want string
			}{{tab, tt.specific}, {all, tt.covering}} {
				got := c.tab.Route(tt.value)
				var gs []string
				for _, o := range got {
					gs = append(gs, string(o))
				}
				if strings.Join(gs, " ") != c.want {
					t.Errorf("%s: Route(%q) = %q, want %q", c.tab.Mode(), tt.value, gs, c.want)
				}
			}
		})
	}
}

func TestTableHits(t *testing.T) {
	tab, err := New(regs(t, constituency...), Options{ASN: loadASN(t, "asn.ipasn")})
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseObservation("203.0.113.9")
	if err != nil {
		t.Fatal(err)
	}
	hits := tab.Hits(o)
	want := []Hit{{Owner: "asowner", Resource: Resource{Kind: KindASN, ASN: 64500}, Via: netip.MustParsePrefix("203.0.113.0/24")}}
	if !slices.Equal(hits, want) {
		t.Fatalf("Hits = %+v, want %+v", hits, want)
	}
	hits[0].Owner = "mutated"
	if got := tab.Route("203.0.113.9"); !slices.Equal(got, []Owner{"asowner"}) {
		t.Fatalf("mutating Hits changed the table: %v", got)
	}
	// The AS set {64502,64503} takes its first AS.
	if got := tab.Route("198.51.100.130"); !slices.Equal(got, []Owner{"asother"}) {
		t.Fatalf("Route(198.51.100.130) = %v", got)
	}
}

func TestTableWithoutASNTable(t *testing.T) {
	tab, err := New(regs(t, "asowner AS64500", "isp 192.0.2.0/24"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Route("192.0.2.1"); !slices.Equal(got, []Owner{"isp"}) {
		t.Fatalf("Route = %v, want [isp]", got)
	}
	if got := tab.Route("203.0.113.1"); got != nil {
		t.Fatalf("Route = %v, want nil", got)
	}
	if tab.Len() != 2 {
		t.Fatalf("Len = %d", tab.Len())
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		reg  Registration
		opts Options
		msg  string
	}{
		{"empty owner", Registration{Resource: Resource{Kind: KindASN, ASN: 1}}, Options{}, "empty owner"},
		{"unmasked", Registration{Owner: "a", Resource: Resource{Kind: KindPrefix, Prefix: netip.MustParsePrefix("10.1.0.0/8")}}, Options{}, "canonical"},
		{"upper domain", Registration{Owner: "a", Resource: Resource{Kind: KindDomain, Domain: "Example.org"}}, Options{}, "canonical"},
		{"as0", Registration{Owner: "a", Resource: Resource{Kind: KindASN}}, Options{}, "AS0"},
		{"no kind", Registration{Owner: "a"}, Options{}, "unknown resource kind"},
		{"bad mode", Registration{Owner: "a", Resource: Resource{Kind: KindASN, ASN: 1}}, Options{Mode: 7}, "unknown mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Registration{tt.reg}, tt.opts)
			if err == nil || !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("New: %v, want errkind.Invalid with %q", err, tt.msg)
			}
		})
	}
}

func TestASNParsers(t *testing.T) {
	tests := []struct {
		file      string
		entries   int
		malformed []int
	}{
		{"asn.csv", 6, []int{9, 10, 11}},
		{"asn.ipasn", 6, []int{9, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open("../testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			parse := ParseASNCSV
			if strings.HasSuffix(tt.file, ".ipasn") {
				parse = ParseASNDump
			}
			a, res, err := parse(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if res.Entries != tt.entries || a.Len() != tt.entries {
				t.Errorf("entries = %d (table %d), want %d", res.Entries, a.Len(), tt.entries)
			}
			var lines []int
			for _, e := range res.Errors {
				lines = append(lines, e.Line)
				if !strings.HasPrefix(e.Error(), "line ") {
					t.Errorf("error %q does not start with its line", e)
				}
			}
			if !slices.Equal(lines, tt.malformed) || res.Malformed != len(tt.malformed) {
				t.Errorf("malformed lines %v (count %d), want %v", lines, res.Malformed, tt.malformed)
			}
			as, p, ok := a.Origin(netip.MustParseAddr("198.51.100.129"))
			if !ok || as != 64502 || p.String() != "198.51.100.128/25" {
				t.Errorf("Origin(198.51.100.129) = %d %s %v", as, p, ok)
			}
		})
	}
}

func TestASNParserLimits(t *testing.T) {
	var b strings.Builder
	for range MaxLineErrors + 50 {
		b.WriteString("garbage\n")
	}
	b.WriteString("192.0.2.0/24,1\n")
	a, res, err := ParseASNCSV(context.Background(), strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if res.Malformed != MaxLineErrors+50 || len(res.Errors) != MaxLineErrors || a.Len() != 1 {
		t.Fatalf("malformed %d, kept %d, entries %d", res.Malformed, len(res.Errors), a.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	big := strings.Repeat("192.0.2.0/24,1\n", 10000)
	if _, _, err := ParseASNCSV(ctx, strings.NewReader(big)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled parse: %v", err)
	}
}

func TestLiveConcurrent(t *testing.T) {
	a, err := New(regs(t, "a 192.0.2.0/24"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(regs(t, "b 192.0.2.0/24"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(a)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				got := live.Load().Route("192.0.2.1")
				if len(got) != 1 || (got[0] != "a" && got[0] != "b") {
					t.Errorf("Route = %v", got)
					return
				}
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			live.Store(b)
		} else {
			live.Store(a)
		}
	}
	wg.Wait()
	live.Store(b)
	if got := live.Load().Route("192.0.2.1"); !slices.Equal(got, []Owner{"b"}) {
		t.Fatalf("after Store(b): %v", got)
	}
}
