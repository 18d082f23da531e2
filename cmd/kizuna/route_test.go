package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// routeConstituency is the test constituency: nested IPv4 and IPv6
// blocks, co-owners of one block, an AS-only carrier and IDN domains.
var routeConstituency = map[string][]string{
	"Provider": {"192.0.2.0/24", "2001:DB8::/32"},
	"Customer": {"192.0.2.64/26", "2001:db8:1::/48", "mail.Bücher.example"},
	"CoOwner":  {"192.0.2.127/26"},
	"Leaf":     {"192.0.2.96/28"},
	"Carrier":  {"AS64500"},
	"Shop":     {"XN--BCHER-KVA.example."},
	"Outsider": {"10.0.0.0/8", "example.net"},
}

// routeAnnouncements is the prefix-to-ASN table, as a pyasn dump.
const routeAnnouncements = `; pyasn ipasn dump
192.0.2.0/25	64500
203.0.113.0/24	64500
203.0.113.128/25	64501
198.51.100.0/24	64500
2001:db8:ffff::/48	64500
`

// setupRoute creates the organisations, registers the constituency and
// writes the ASN table in both formats; it returns the data directory.
func setupRoute(t *testing.T) (dir, dump, csv string) {
	t.Helper()
	dir = t.TempDir()
	for _, org := range slices.Sorted(maps.Keys(routeConstituency)) {
		kzOK(t, "org", "create", "--data", dir, "--name", org, "--sector", "it", "--type", "sme")
		kzOK(t, append([]string{"constituency", "add", "--data", dir, "--org", org}, routeConstituency[org]...)...)
	}
	dump = filepath.Join(dir, "ipasn.dat")
	csv = filepath.Join(dir, "asn.csv")
	var c strings.Builder
	c.WriteString("prefix,asn\n")
	for _, l := range strings.Split(routeAnnouncements, "\n")[1:] {
		if f := strings.Fields(l); len(f) == 2 {
			fmt.Fprintf(&c, "%s,AS%s\n", f[0], f[1])
		}
	}
	for name, body := range map[string]string{dump: routeAnnouncements, csv: c.String()} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, dump, csv
}

// routed parses `kizuna route` output.
func routed(t *testing.T, stdout string) []routeLine {
	t.Helper()
	var out []routeLine
	for l := range strings.Lines(stdout) {
		var r routeLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		if r.Owners == nil {
			t.Fatalf("output line %q: owners is not a list", l)
		}
		out = append(out, r)
	}
	return out
}

func TestRouteCLI(t *testing.T) {
	dir, dump, csv := setupRoute(t)
	type want struct {
		value          string
		mostSpecific   string // owners, comma-separated
		allCovering    string
		withoutASNTabl string
	}
	cases := []want{
		{"192.0.2.70", "CoOwner,Customer", "Carrier,CoOwner,Customer,Provider", "CoOwner,Customer"},
		{"192.0.2.100", "Leaf", "Carrier,CoOwner,Customer,Leaf,Provider", "Leaf"},
		{"192.0.2.10", "Carrier", "Carrier,Provider", "Provider"}, // announced /25 beats the registered /24
		{"192.0.2.200", "Provider", "Provider", "Provider"},
		{"203.0.113.5", "Carrier", "Carrier", ""},
		{"203.0.113.200", "", "", ""}, // more specific announcement by AS64501
		{"198.51.100.9:8080", "Carrier", "Carrier", ""},
		{"2001:db8:1::5", "Customer", "Customer,Provider", "Customer"},
		{"[2001:DB8:FFFF::1]:443", "Carrier", "Carrier,Provider", "Provider"},
		{"2001:db9::1", "", "", ""},
		{"https://www.bücher.example/x", "Shop", "Shop", "Shop"},
		{`{"value":"user@MAIL.xn--bcher-kva.example"}`, "Customer", "Customer,Shop", "Customer"},
		{"xn--bcher-kva.example.evil.test", "", "", ""},
		{"badbücher.example", "", "", ""},
		{"192.0.2.64/27", "CoOwner,Customer", "Carrier,CoOwner,Customer,Provider", "CoOwner,Customer"},
		{"192.0.2.0/23", "", "", ""}, // nobody owns the whole block
		{"8.8.8.8", "", "", ""},
		{"10.1.2.3", "Outsider", "Outsider", "Outsider"},
	}
	malformed := []string{"not a value!!", `{"value": 5}`, "{bad json"}
	var in strings.Builder
	in.WriteString("# observations\n\n")
	line := map[string]int{}
	n := 2
	for i, c := range cases {
		if i < len(malformed) {
			in.WriteString(malformed[i] + "\n")
			n++
		}
		in.WriteString(c.value + "\n")
		n++
		line[c.value] = n
	}
	file := filepath.Join(t.TempDir(), "obs.txt")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	check := func(name string, r cliResult, pick func(want) string) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		got := routed(t, r.stdout)
		if len(got) != len(cases) {
			t.Fatalf("%s: %d output lines, want %d:\n%s", name, len(got), len(cases), r.stdout)
		}
		for i, c := range cases {
			value := c.value
			if strings.HasPrefix(value, "{") {
				value = "user@MAIL.xn--bcher-kva.example"
			}
			if got[i].Value != value || got[i].Line != line[c.value] {
				t.Errorf("%s: line %d is %q at %d, want %q at %d", name, i, got[i].Value, got[i].Line, value, line[c.value])
			}
			if g, w := strings.Join(got[i].Owners, ","), pick(c); g != w {
				t.Errorf("%s: %s routed to [%s], want [%s]", name, c.value, g, w)
			}
		}
		for i := range malformed {
			if want := fmt.Sprintf(":%d: ", 3+2*i); !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks the malformed line %q (%s):\n%s", name, malformed[i], want, r.stderr)
			}
		}
		if !strings.Contains(r.stderr, fmt.Sprintf("%d observations", len(cases))) || !strings.Contains(r.stderr, "3 malformed lines") {
			t.Errorf("%s: summary: %s", name, r.stderr)
		}
	}
	ms := kz(t, "route", "--data", dir, "--asn-table", dump, file)
	check("most-specific", ms, func(w want) string { return w.mostSpecific })
	// owner and matched (the contract's fields): the organisation and the
	// registration that decided, null when nobody owns the value.
	decided := map[string][2]string{
		"192.0.2.100":                     {"Leaf", "192.0.2.96/28"},
		"192.0.2.10":                      {"Carrier", "AS64500"},
		"192.0.2.200":                     {"Provider", "192.0.2.0/24"},
		"192.0.2.70":                      {"CoOwner", "192.0.2.64/26"},
		"2001:db8:1::5":                   {"Customer", "2001:db8:1::/48"},
		"https://www.bücher.example/x":    {"Shop", "xn--bcher-kva.example"},
		"user@MAIL.xn--bcher-kva.example": {"Customer", "mail.xn--bcher-kva.example"},
		"203.0.113.200":                   {},
		"8.8.8.8":                         {},
	}
	seen := 0
	for l := range strings.Lines(ms.stdout) {
		var r struct {
			Value   string  `json:"value"`
			Owner   *string `json:"owner"`
			Matched *string `json:"matched"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		w, ok := decided[r.Value]
		if !ok {
			continue
		}
		seen++
		deref := func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		}
		if deref(r.Owner) != w[0] || deref(r.Matched) != w[1] || (w[0] == "") != (r.Owner == nil) {
			t.Errorf("%s: owner %q matched %q, want %q and %q", r.Value, deref(r.Owner), deref(r.Matched), w[0], w[1])
		}
		if w[0] == "" && !strings.Contains(l, `"owner":null`) {
			t.Errorf("%s: unowned value without \"owner\":null: %s", r.Value, l)
		}
	}
	if seen != len(decided) {
		t.Errorf("checked owner/matched of %d values, want %d", seen, len(decided))
	}
	check("all-covering", kzIn(t, in.String(), "route", "--data", dir, "--asn-table", csv, "--all-covering", "-"), func(w want) string { return w.allCovering })
	check("no ASN table", kz(t, "route", "--data", dir, file), func(w want) string { return w.withoutASNTabl })

	// Bad invocations.
	checkFailure(t, kz(t, "route", "--data", dir), 2, "FILE")
	checkFailure(t, kz(t, "route", "--data", dir, "--asn-format", "xml", file), 2, "--asn-format")
	checkFailure(t, kz(t, "route", "--data", dir, filepath.Join(dir, "missing.txt")), 1, "missing.txt")
	checkFailure(t, kz(t, "route", "--data", dir, "--asn-table", filepath.Join(dir, "missing.csv"), file), 1, "missing.csv")
	// A malformed ASN table line is reported, not fatal.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("203.0.113.0/24,64500\nnot-a-prefix,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := kzIn(t, "203.0.113.1\n", "route", "--data", dir, "--asn-table", bad, "-")
	if r.code != 0 || !strings.Contains(r.stderr, "bad.csv:2: ") || !strings.Contains(r.stdout, `"owners":["Carrier"]`) {
		t.Errorf("malformed ASN table: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRouteNoLeak routes random observations and checks each answer
// against a brute-force oracle of who registered a covering resource: in
// all-covering mode the owners are exactly the covering organisations; in
// the default mode a non-empty subset of them (empty when nobody covers
// the value). No organisation is ever told about what it did not register.
func TestRouteNoLeak(t *testing.T) {
	dir, dump, _ := setupRoute(t)

	// The oracle's view of the constituency, written independently.
	type pfx struct {
		org string
		p   netip.Prefix
	}
	prefixes := []pfx{
		{"Provider", netip.MustParsePrefix("192.0.2.0/24")}, {"Provider", netip.MustParsePrefix("2001:db8::/32")},
		{"Customer", netip.MustParsePrefix("192.0.2.64/26")}, {"Customer", netip.MustParsePrefix("2001:db8:1::/48")},
		{"CoOwner", netip.MustParsePrefix("192.0.2.64/26")}, {"Leaf", netip.MustParsePrefix("192.0.2.96/28")},
		{"Outsider", netip.MustParsePrefix("10.0.0.0/8")},
	}
	announced := []struct {
		p  netip.Prefix
		as int
	}{
		{netip.MustParsePrefix("192.0.2.0/25"), 64500}, {netip.MustParsePrefix("203.0.113.0/24"), 64500},
		{netip.MustParsePrefix("203.0.113.128/25"), 64501}, {netip.MustParsePrefix("198.51.100.0/24"), 64500},
		{netip.MustParsePrefix("2001:db8:ffff::/48"), 64500},
	}
	domains := map[string]string{"xn--bcher-kva.example": "Shop", "mail.xn--bcher-kva.example": "Customer", "example.net": "Outsider"}
	coveringAddr := func(a netip.Addr) []string {
		var out []string
		for _, x := range prefixes {
			if x.p.Contains(a) {
				out = append(out, x.org)
			}
		}
		best := -1
		for _, x := range announced {
			if x.p.Contains(a) && x.p.Bits() > best {
				best = x.p.Bits()
				if x.as == 64500 {
					out = append(out, "Carrier")
				} else {
					out = slices.DeleteFunc(out, func(s string) bool { return s == "Carrier" })
				}
			}
		}
		return out
	}
	coveringDomain := func(d string) []string {
		var out []string
		for reg, org := range domains {
			if d == reg || strings.HasSuffix(d, "."+reg) {
				out = append(out, org)
			}
		}
		return out
	}

	rng := rand.New(rand.NewPCG(6, 4))
	v4 := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.0.3.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("10.0.0.0/30")}
	v6 := []string{"2001:db8::", "2001:db8:1::", "2001:db8:ffff::", "2001:db8:fffe::", "2001:db9::"}
	labels := []string{"", "www.", "a.b.", "mail.", "MAIL.", "x-mail."}
	// Each spelling with its ASCII form.
	zones := [][2]string{{"bücher.example", "xn--bcher-kva.example"}, {"XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example"},
		{"badbücher.example", "xn--badbcher-n2a.example"}, {"example.net", "example.net"}, {"example.org", "example.org"},
		{"bücher.example.net", "xn--bcher-kva.example.net"}}
	var in strings.Builder
	var oracle [][]string
	for range 600 {
		var value string
		var cover []string
		switch rng.IntN(3) {
		case 0:
			p := v4[rng.IntN(len(v4))]
			b := p.Addr().As4()
			b[3] = byte(rng.IntN(256)) & byte(0xff>>(p.Bits()-24))
			a := netip.AddrFrom4(b)
			value, cover = a.String(), coveringAddr(a)
			if rng.IntN(3) == 0 {
				value = "http://" + value + ":8080/p"
			}
		case 1:
			a := netip.MustParseAddr(v6[rng.IntN(len(v6))])
			b := a.As16()
			b[6], b[15] = byte(rng.IntN(3)), byte(rng.IntN(256))
			a = netip.AddrFrom16(b)
			value, cover = a.String(), coveringAddr(a)
			if rng.IntN(3) == 0 {
				value = "[" + value + "]:443"
			}
		default:
			l, z := labels[rng.IntN(len(labels))], zones[rng.IntN(len(zones))]
			value, cover = l+z[0], coveringDomain(strings.ToLower(l)+z[1])
			if rng.IntN(3) == 0 {
				value = "someone@" + value
			}
		}
		if rng.IntN(2) == 0 {
			b, _ := json.Marshal(map[string]string{"value": value})
			in.Write(b)
		} else {
			in.WriteString(value)
		}
		in.WriteByte('\n')
		slices.Sort(cover)
		oracle = append(oracle, slices.Compact(cover))
	}

	var ownedSome, nested int
	for _, mode := range []string{"most-specific", "all-covering"} {
		args := []string{"route", "--data", dir, "--asn-table", dump, "-"}
		if mode == "all-covering" {
			args = append(args, "--all-covering")
		}
		r := kzIn(t, in.String(), args...)
		if r.code != 0 || !strings.Contains(r.stderr, ", 0 malformed lines") {
			t.Fatalf("%s: exit %d, stderr %q", mode, r.code, r.stderr)
		}
		got := routed(t, r.stdout)
		if len(got) != len(oracle) {
			t.Fatalf("%s: %d lines, want %d", mode, len(got), len(oracle))
		}
		for i, g := range got {
			want := oracle[i]
			for _, o := range g.Owners {
				if !slices.Contains(want, o) {
					t.Errorf("%s: LEAK: %q (line %d) routed to %s, which registered nothing covering it (covering: %v)", mode, g.Value, g.Line, o, want)
				}
			}
			if (len(g.Owners) == 0) != (len(want) == 0) {
				t.Errorf("%s: %q routed to %v, covering owners %v", mode, g.Value, g.Owners, want)
			}
			if mode == "all-covering" && !slices.Equal(g.Owners, want) {
				t.Errorf("all-covering: %q routed to %v, want %v", g.Value, g.Owners, want)
			}
			if mode == "most-specific" {
				if len(want) > 0 {
					ownedSome++
				}
				if len(want) > 1 {
					nested++
				}
			}
		}
	}
	// The sample must exercise both owned and overlapping values.
	if ownedSome < 200 || nested < 50 {
		t.Fatalf("weak sample: %d owned values, %d with overlapping owners", ownedSome, nested)
	}
}
