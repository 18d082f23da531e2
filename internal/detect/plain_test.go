package detect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestClassifyPlain(t *testing.T) {
	tests := []struct {
		in   string
		want Plain
		ok   bool
	}{
		{"203.0.113.7", Plain{Kind: telemetry.KindIPv4, Value: "203.0.113.7"}, true},
		{"2001:DB8::1", Plain{Kind: telemetry.KindIPv6, Value: "2001:db8::1"}, true},
		{"::ffff:10.0.0.1", Plain{Kind: telemetry.KindIPv4, Value: "10.0.0.1"}, true},
		{"10.1.2.3/8", Plain{Kind: telemetry.KindIPv4, Prefix: netip.MustParsePrefix("10.0.0.0/8")}, true},
		{"182.253.20.66:449", Plain{Kind: telemetry.KindIPv4, Value: "182.253.20.66", Port: 449}, true},
		{"Evil.Example.", Plain{Kind: telemetry.KindDomain, Value: "evil.example"}, true},
		{"xn--80ak6aa92e.com", Plain{Kind: telemetry.KindDomain, Value: "xn--80ak6aa92e.com"}, true},
		{"evil.example/gate.php", Plain{Kind: telemetry.KindURL, Value: "http://evil.example/gate.php"}, true},
		{"HTTPS://Evil.Example:443/x", Plain{Kind: telemetry.KindURL, Value: "https://evil.example/x"}, true},
		{"Phish@Evil.Example", Plain{Kind: telemetry.KindEmail, Value: "phish@evil.example"}, true},
		{"D41D8CD98F00B204E9800998ECF8427E", Plain{Kind: telemetry.KindMD5, Value: "d41d8cd98f00b204e9800998ecf8427e"}, true},
		{strings.Repeat("a", 40), Plain{Kind: telemetry.KindSHA1, Value: strings.Repeat("a", 40)}, true},
		{strings.Repeat("b", 64), Plain{Kind: telemetry.KindSHA256, Value: strings.Repeat("b", 64)}, true},
		{strings.Repeat("c", 128), Plain{Kind: telemetry.KindSHA512, Value: strings.Repeat("c", 128)}, true},
		{"1541117142.680642", Plain{}, false}, // numeric last label: not a domain
		{"localhost", Plain{}, false},
		{"/gate.php", Plain{}, false},
		{"(a|b)\\.example", Plain{}, false},
		{"1.2.3.4:99999", Plain{}, false},
	}
	for _, tt := range tests {
		got, ok := ClassifyPlain(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ClassifyPlain(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPlainID(t *testing.T) {
	// python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "kizuna:plain:[domain-name:value = '"'"'bad.example'"'"']"))'
	if got, want := PlainID("[domain-name:value = 'bad.example']"), "indicator--604967cd-ff4a-5cbe-8b07-c6df13df0849"; got != want {
		t.Errorf("PlainID = %s, want %s", got, want)
	}
}

// TestReadPlainList reads a list in the style of Maltrail and IPsum and
// matches events against it: ids and patterns derived from the values.
func TestReadPlainList(t *testing.T) {
	list := "# Maltrail-style trail file\n\nevil.example\n# comment\n203.0.113.7\t5\n198.51.100.0/24 # block\n" +
		"EVIL.example\n182.253.20.66:449\nnot a value\n/path-only\nphish@evil.example\n"
	x := New(Options{})
	st, err := ReadPlainList(strings.NewReader(list), x)
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 11 || st.Values != 5 || st.Duplicates != 1 || st.Skipped != 2 || len(st.Examples) != 2 || x.Len() != 5 {
		t.Fatalf("stats %+v, %d indicators", st, x.Len())
	}
	if st.Examples[0] != `line 9: "not"` {
		t.Errorf("example %q", st.Examples[0])
	}
	check := func(ev *telemetry.Event, pattern string) {
		t.Helper()
		hits := x.Match(ev)
		if len(hits) != 1 || hits[0].Pattern != pattern || hits[0].IndicatorID != PlainID(pattern) {
			t.Errorf("hits %+v, want one of %s", hits, pattern)
		}
	}
	check(event(t0, obs(telemetry.KindDomain, "Evil.Example")), "[domain-name:value = 'evil.example']")
	check(event(t0, dst("203.0.113.7")), "[ipv4-addr:value = '203.0.113.7']")
	check(event(t0, obs(telemetry.KindIPv4, "198.51.100.9")), "[ipv4-addr:value ISSUBSET '198.51.100.0/24']")
	check(event(t0, dst("182.253.20.66"), obs(telemetry.KindDstPort, "449")), "[network-traffic:dst_ref.value = '182.253.20.66' AND network-traffic:dst_port = 449]")
	check(event(t0, obs(telemetry.KindEmail, "phish@evil.example")), "[email-addr:value = 'phish@evil.example']")
	if hits := x.Match(event(t0, dst("182.253.20.66"), obs(telemetry.KindDstPort, "80"))); len(hits) != 0 {
		t.Errorf("address:port matched another port: %+v", hits)
	}
	if hits := x.Match(event(t0, obs(telemetry.KindDomain, "www.evil.example"))); len(hits) != 0 {
		t.Errorf("a plain domain matched a subdomain: %+v", hits)
	}
	if added, err := x.AddPlain("evil.example"); added || err != nil {
		t.Errorf("AddPlain of a duplicate: %v, %v", added, err)
	}
	if _, err := x.AddPlain("???"); !errors.Is(err, errkind.Invalid) {
		t.Errorf("AddPlain(???) error %v, want errkind.Invalid", err)
	}
}

// TestIndexMemoryBytes checks the footprint of 100,000 atomic STIX
// indicators as the index counts it (the benchmark measures the heap).
func TestIndexMemoryBytes(t *testing.T) {
	inds := synthetic(100_000)
	x := New(Options{})
	if errs := x.AddBatch(inds); len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if per := x.MemoryBytes() / len(inds); per > 200 {
		t.Errorf("%d bytes per indicator, want at most 200", per)
	}
}

// TestPatternTextKept checks that a hit carries the indicator's pattern
// text exactly, whether the index re-derives it from the key (one-key
// patterns, a domain and its subdomains) or keeps it (other spellings),
// and that Remove finds the keys of each.
func TestPatternTextKept(t *testing.T) {
	pats := []string{
		"[domain-name:value = 'evil.example']",
		"[domain-name:value = 'evil.example' OR domain-name:value LIKE '%.evil.example']",
		"[domain-name:value='evil.example']",
		"[domain-name:value = 'Evil.Example']",
		"[domain-name:value LIKE '%.evil.example']",
		"[network-traffic:dst_ref.value = '203.0.113.5']",
		"[ipv6-addr:value = '2001:db8::5']",
		"[file:name = 'it''s']",
		"[file:name = 'it\\'s']",
	}
	evs := []*telemetry.Event{
		event(t0, obs(telemetry.KindDomain, "evil.example"), dst("203.0.113.5"), obs(telemetry.KindIPv6, "2001:db8::5"), obs(telemetry.KindFileName, "it's")),
		event(t0, obs(telemetry.KindDomain, "www.evil.example")),
	}
	for i, p := range pats {
		x := New(Options{})
		id := fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", i)
		if err := x.Add(Indicator{ID: id, Modified: "2018-01-01T00:00:00Z", Pattern: p}); err != nil {
			if i == 7 {
				continue // '' is not an escape in STIX: a parse error is right
			}
			t.Fatalf("%s: %v", p, err)
		}
		n := 0
		for _, ev := range evs {
			for _, h := range x.Match(ev) {
				n++
				if h.Pattern != p || h.IndicatorID != id {
					t.Errorf("%s: hit %+v", p, h)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no hit", p)
		}
		if !x.Remove(id) || x.Len() != 0 {
			t.Errorf("%s: Remove failed", p)
		}
		for _, ev := range evs {
			if hits := x.Match(ev); len(hits) != 0 {
				t.Errorf("%s: hit after Remove: %+v", p, hits)
			}
		}
	}
}
