package detect

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// event builds an event from kind/role/value triples.
func event(t0 time.Time, obs ...telemetry.Observable) *telemetry.Event {
	ev := &telemetry.Event{Source: "test", Line: 1, Time: t0}
	for _, o := range obs {
		ev.Add(o.Kind, o.Role, o.Kind.String(), o.Value)
	}
	return ev
}

func obs(k telemetry.Kind, v string) telemetry.Observable {
	return telemetry.Observable{Kind: k, Value: v}
}

func dst(v string) telemetry.Observable {
	return telemetry.Observable{Kind: telemetry.KindIPv4, Role: telemetry.RoleDst, Value: v}
}

func ids(hits []Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.IndicatorID)
	}
	slices.Sort(out)
	return out
}

var t0 = time.Date(2018, 11, 2, 0, 0, 0, 0, time.UTC)

func TestMatchKinds(t *testing.T) {
	x := New(Options{})
	inds := map[string]string{
		"ip":       "[ipv4-addr:value = '203.0.113.7']",
		"ip6":      "[ipv6-addr:value = '2001:db8::1']",
		"cidr":     "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
		"cidr-eq":  "[ipv4-addr:value = '192.0.2.0/28']",
		"dstref":   "[network-traffic:dst_ref.value = '203.0.113.9']",
		"domain":   "[domain-name:value = 'evil.example']",
		"sub":      "[domain-name:value = 'bad.example' OR domain-name:value LIKE '%.bad.example']",
		"url":      "[url:value = 'http://evil.example/gate.php']",
		"email":    "[email-addr:value = 'phish@evil.example']",
		"md5":      "[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']",
		"sha256":   "[file:hashes.'SHA-256' IN ('0000000000000000000000000000000000000000000000000000000000000000', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')]",
		"x509":     "[x509-certificate:hashes.'SHA-1' = '0123456789abcdef0123456789abcdef01234567']",
		"ja3":      "[network-traffic:extensions.'x-tls-ext'.ja3 = '6734f37431670b3ab4292b8f60f29984']",
		"ua":       "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'EvilBot/1.0']",
		"port":     "[network-traffic:dst_port = 4444]",
		"mutex":    "[mutex:name = 'Global\\\\xyz']",
		"regkey":   "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\Software\\\\Evil']",
		"complex":  "[network-traffic:dst_ref.value = '203.0.113.50' AND network-traffic:dst_port = 447]",
		"followed": "[domain-name:value = 'a.example'] AND [ipv4-addr:value = '203.0.113.60']",
		"nokey":    "[domain-name:value MATCHES '^zz[0-9]+\\\\.example$']",
	}
	for id, p := range inds {
		if err := x.Add(Indicator{ID: "indicator--" + id, Modified: "2018-01-01T00:00:00Z", Pattern: p}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	tests := []struct {
		name string
		ev   *telemetry.Event
		want []string
	}{
		{"ipv4", event(t0, dst("203.0.113.7")), []string{"ip"}},
		{"ipv6 any case", event(t0, obs(telemetry.KindIPv6, "2001:DB8:0::1")), []string{"ip6"}},
		{"cidr", event(t0, obs(telemetry.KindIPv4, "198.51.100.200")), []string{"cidr"}},
		{"cidr written with =", event(t0, obs(telemetry.KindIPv4, "192.0.2.15")), []string{"cidr-eq"}},
		{"cidr edge", event(t0, obs(telemetry.KindIPv4, "192.0.2.16")), nil},
		{"dst_ref wants the responder", event(t0, dst("203.0.113.9")), []string{"dstref"}},
		{"dst_ref not the originator", event(t0, telemetry.Observable{Kind: telemetry.KindIPv4, Role: telemetry.RoleSrc, Value: "203.0.113.9"}), nil},
		{"domain case-insensitive", event(t0, obs(telemetry.KindDomain, "EVIL.example.")), []string{"domain"}},
		{"subdomain rule parent", event(t0, obs(telemetry.KindDomain, "bad.example")), []string{"sub"}},
		{"subdomain rule child", event(t0, obs(telemetry.KindDomain, "x.y.bad.example")), []string{"sub"}},
		{"not a subdomain", event(t0, obs(telemetry.KindDomain, "notbad.example")), nil},
		{"exact domain has no subdomain rule", event(t0, obs(telemetry.KindDomain, "www.evil.example")), nil},
		{"url normalised", event(t0, obs(telemetry.KindURL, "HTTP://Evil.Example:80/gate.php#x")), []string{"url"}},
		{"url path case kept", event(t0, obs(telemetry.KindURL, "http://evil.example/GATE.php")), nil},
		{"email", event(t0, obs(telemetry.KindEmail, "Phish <PHISH@evil.example>")), []string{"email"}},
		{"md5 lowercase", event(t0, obs(telemetry.KindMD5, "d41d8cd98f00b204e9800998ecf8427e")), []string{"md5"}},
		{"sha256 in set", event(t0, obs(telemetry.KindSHA256, "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")), []string{"sha256"}},
		{"x509", event(t0, obs(telemetry.KindX509SHA1, "01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67")), []string{"x509"}},
		{"ja3", event(t0, obs(telemetry.KindJA3, "6734f37431670b3ab4292b8f60f29984")), []string{"ja3"}},
		{"user agent", event(t0, obs(telemetry.KindUserAgent, "EvilBot/1.0")), []string{"ua"}},
		{"port", event(t0, obs(telemetry.KindDstPort, "4444")), []string{"port"}},
		{"mutex", event(t0, obs(telemetry.KindMutex, `Global\xyz`)), []string{"mutex"}},
		{"registry key", event(t0, obs(telemetry.KindRegistryKey, `HKEY_LOCAL_MACHINE\Software\Evil`)), []string{"regkey"}},
		{"complex confirmed", event(t0, dst("203.0.113.50"), obs(telemetry.KindDstPort, "447")), []string{"complex"}},
		{"complex candidate rejected", event(t0, dst("203.0.113.50"), obs(telemetry.KindDstPort, "443")), nil},
		{"observation AND needs two sightings", event(t0, obs(telemetry.KindDomain, "a.example"), obs(telemetry.KindIPv4, "203.0.113.60")), nil},
		{"pattern without keys evaluated", event(t0, obs(telemetry.KindDomain, "zz42.example")), []string{"nokey"}},
		{"nothing", event(t0, obs(telemetry.KindIPv4, "10.0.0.1"), obs(telemetry.KindDomain, "example.org")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := x.Match(tt.ev)
			var want []string
			for _, w := range tt.want {
				want = append(want, "indicator--"+w)
			}
			if got := ids(hits); !slices.Equal(got, want) {
				t.Errorf("hits %v, want %v", got, want)
			}
			for _, h := range hits {
				if h.Pattern != inds[h.IndicatorID[len("indicator--"):]] {
					t.Errorf("hit pattern %q", h.Pattern)
				}
				if h.Kind != telemetry.KindInvalid && (h.Value == "" || h.Field == "") {
					t.Errorf("hit without observable: %+v", h)
				}
			}
		})
	}
}

func TestValidityVersionsRevocation(t *testing.T) {
	x := New(Options{Now: func() time.Time { return t0 }})
	id := "indicator--a"
	day := 24 * time.Hour
	add := func(mod, pat string, from, until time.Time, revoked bool) {
		t.Helper()
		if err := x.Add(Indicator{ID: id, Modified: mod, Pattern: pat, ValidFrom: from, ValidUntil: until, Revoked: revoked}); err != nil {
			t.Fatal(err)
		}
	}
	ipEv := func(ip string, at time.Time) *telemetry.Event { return event(at, obs(telemetry.KindIPv4, ip)) }
	hit := func(ev *telemetry.Event) bool { return len(x.Match(ev)) == 1 }

	add("2018-01-01T00:00:00Z", "[ipv4-addr:value = '203.0.113.1']", t0.Add(-day), t0.Add(day), false)
	steps := []struct {
		name string
		ev   *telemetry.Event
		want bool
	}{
		{"inside window", ipEv("203.0.113.1", t0), true},
		{"before valid_from", ipEv("203.0.113.1", t0.Add(-2*day)), false},
		{"at valid_until (exclusive)", ipEv("203.0.113.1", t0.Add(day)), false},
		{"no time: the clock", ipEv("203.0.113.1", time.Time{}), true},
	}
	for _, s := range steps {
		if got := hit(s.ev); got != s.want {
			t.Errorf("%s: hit %v, want %v", s.name, got, s.want)
		}
	}
	// a newer version replaces the pattern
	add("2018-02-01T00:00:00Z", "[ipv4-addr:value = '203.0.113.2']", time.Time{}, time.Time{}, false)
	if hit(ipEv("203.0.113.1", t0)) || !hit(ipEv("203.0.113.2", t0)) {
		t.Error("newer version did not replace the older")
	}
	// an older version arriving late is ignored
	add("2018-01-15T00:00:00Z", "[ipv4-addr:value = '203.0.113.3']", time.Time{}, time.Time{}, false)
	if hit(ipEv("203.0.113.3", t0)) || !hit(ipEv("203.0.113.2", t0)) {
		t.Error("older version replaced the newer")
	}
	// revocation removes it; older versions stay out
	add("2018-03-01T00:00:00Z", "", time.Time{}, time.Time{}, true)
	if hit(ipEv("203.0.113.2", t0)) || x.Len() != 0 {
		t.Error("revoked indicator still matches")
	}
	add("2018-02-15T00:00:00Z", "[ipv4-addr:value = '203.0.113.2']", time.Time{}, time.Time{}, false)
	if hit(ipEv("203.0.113.2", t0)) {
		t.Error("version older than the revocation came back")
	}
	// Remove
	if err := x.Add(Indicator{ID: "indicator--b", Modified: "2018-01-01T00:00:00Z", Pattern: "[domain-name:value LIKE '%.evil.example']"}); err != nil {
		t.Fatal(err)
	}
	if !x.Remove("indicator--b") || x.Remove("indicator--b") {
		t.Error("Remove reported wrongly")
	}
	if len(x.Match(event(t0, obs(telemetry.KindDomain, "a.evil.example")))) != 0 {
		t.Error("removed indicator still matches")
	}
}

func TestAddErrors(t *testing.T) {
	x := New(Options{})
	for _, ind := range []Indicator{
		{ID: "indicator--x", Pattern: "[ipv4-addr:value = "},
		{ID: "indicator--y", Pattern: "alert tcp any any", PatternType: "snort"},
		{Pattern: "[ipv4-addr:value = '1.2.3.4']"},
	} {
		if err := x.Add(ind); !errors.Is(err, errkind.Invalid) {
			t.Errorf("%+v: error %v, want errkind.Invalid", ind, err)
		}
	}
	errs := x.AddBatch([]Indicator{{ID: "indicator--ok", Pattern: "[ipv4-addr:value = '1.2.3.4']"}, {ID: "indicator--bad", Pattern: "["}})
	if len(errs) != 1 || x.Len() != 1 {
		t.Errorf("AddBatch: %v errors, %d indicators", errs, x.Len())
	}
}

// TestConcurrentAddMatch runs matching while indicators stream in and out
// (run it with -race).
func TestConcurrentAddMatch(t *testing.T) {
	x := New(Options{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Go(func() {
			ev := event(t0, dst("10.0.0.5"), obs(telemetry.KindDomain, "a.b.example"))
			for {
				select {
				case <-stop:
					return
				default:
					x.Match(ev)
				}
			}
		})
	}
	for i := 0; i < 2000; i++ {
		id := fmt.Sprintf("indicator--%d", i)
		p := fmt.Sprintf("[ipv4-addr:value ISSUBSET '10.%d.0.0/16' OR domain-name:value LIKE '%%.b%d.example']", i%256, i)
		if err := x.Add(Indicator{ID: id, Modified: "2018-01-01T00:00:00Z", Pattern: p}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			x.Remove(id)
		}
	}
	close(stop)
	wg.Wait()
	if got := len(x.Match(event(t0, dst("10.0.0.5")))); got != 5 { // i = 256, 512, ..., 1792 with i%3 != 0: 256,512,1024,1280,1792
		t.Errorf("%d hits, want 5", got)
	}
}
