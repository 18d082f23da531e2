package detect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// Value pools shared by the random indicators and events, so that they hit
// each other often. Values are in canonical form (see telemetry.Normalize):
// on canonical values the fast path and the general evaluator must agree.
var pools = map[telemetry.Kind][]string{
	telemetry.KindIPv4:        {"10.0.0.1", "10.0.0.2", "10.0.1.1", "192.168.5.5", "203.0.113.7"},
	telemetry.KindIPv6:        {"2001:db8::1", "2001:db8::2", "fe80::1"},
	telemetry.KindDomain:      {"example.com", "a.example.com", "b.a.example.com", "evil.org", "x.evil.org", "example.com.evil.org"},
	telemetry.KindURL:         {"http://example.com/", "http://evil.org/gate.php", "https://evil.org/x?y=1"},
	telemetry.KindEmail:       {"a@example.com", "b@evil.org"},
	telemetry.KindMD5:         {"d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661"},
	telemetry.KindSHA1:        {"da39a3ee5e6b4b0d3255bfef95601890afd80709", "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"},
	telemetry.KindSHA256:      {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	telemetry.KindSHA512:      {strings.Repeat("ab", 64)},
	telemetry.KindFileName:    {"a.exe", "Invoice.doc"},
	telemetry.KindX509SHA1:    {"0123456789abcdef0123456789abcdef01234567"},
	telemetry.KindX509SHA256:  {strings.Repeat("0f", 32)},
	telemetry.KindJA3:         {"6734f37431670b3ab4292b8f60f29984", "72a589da586844d7f0818ce684948eea"},
	telemetry.KindJA3S:        {"623de93db17d313345d7ea481e7443cf"},
	telemetry.KindUserAgent:   {"Mozilla/5.0", "curl/7.1"},
	telemetry.KindDstPort:     {"80", "443", "4444"},
	telemetry.KindSrcPort:     {"49152", "53"},
	telemetry.KindProtocol:    {"tcp", "udp"},
	telemetry.KindRegistryKey: {`HKEY_LOCAL_MACHINE\Run`, `HKCU\x`},
	telemetry.KindMutex:       {"m1", `Global\x`},
}

var cidrs = map[telemetry.Kind][]string{
	telemetry.KindIPv4: {"10.0.0.0/24", "10.0.0.0/8", "192.168.0.0/16", "203.0.113.7/32", "10.0.1.0/24", "0.0.0.0/0"},
	telemetry.KindIPv6: {"2001:db8::/32", "fe80::/10", "2001:db8::2/128"},
}

var suffixes = []string{"example.com", "evil.org", "a.example.com", "org"}

func allKinds() []telemetry.Kind {
	var ks []telemetry.Kind
	for k := range pools {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func literal(k telemetry.Kind, v string) string {
	if k == telemetry.KindDstPort || k == telemetry.KindSrcPort {
		return v
	}
	return quote(v)
}

// randomComparison returns one comparison the fast path represents.
func randomComparison(r *rand.Rand) string {
	k := pick(r, allKinds())
	path := k.Path()
	isIP := k == telemetry.KindIPv4 || k == telemetry.KindIPv6
	if isIP && r.IntN(3) == 0 {
		path = pick(r, []string{"network-traffic:dst_ref.value", "network-traffic:src_ref.value"})
	}
	switch n := r.IntN(10); {
	case isIP && n < 3:
		return path + " ISSUBSET " + quote(pick(r, cidrs[k]))
	case k == telemetry.KindDomain && n < 4:
		return path + " LIKE " + quote("%."+pick(r, suffixes))
	case n < 6:
		var vals []string
		for range 1 + r.IntN(3) {
			vals = append(vals, literal(k, pick(r, pools[k])))
		}
		return path + " IN (" + strings.Join(vals, ", ") + ")"
	}
	return path + " = " + literal(k, pick(r, pools[k]))
}

// randomAtomic returns "[c1 OR c2 ...]".
func randomAtomic(r *rand.Rand) string {
	var cs []string
	for range 1 + r.IntN(3) {
		cs = append(cs, randomComparison(r))
	}
	return "[" + strings.Join(cs, " OR ") + "]"
}

// randomComplex returns patterns the index answers through candidate keys
// and the evaluator.
func randomComplex(r *rand.Rand) string {
	switch r.IntN(5) {
	case 0:
		return fmt.Sprintf("[network-traffic:dst_ref.value = %s AND network-traffic:dst_port = %s]",
			quote(pick(r, pools[telemetry.KindIPv4])), pick(r, pools[telemetry.KindDstPort]))
	case 1:
		return fmt.Sprintf("[file:hashes.MD5 = %s AND file:name = %s]",
			quote(pick(r, pools[telemetry.KindMD5])), quote(pick(r, pools[telemetry.KindFileName])))
	case 2:
		return randomAtomic(r) + " OR " + randomAtomic(r)
	case 3:
		return fmt.Sprintf("[domain-name:value MATCHES %s]", quote("^"+pick(r, []string{"a", "x", "evil"})+`\.`))
	}
	return fmt.Sprintf("[ipv4-addr:value NOT = %s]", quote(pick(r, pools[telemetry.KindIPv4])))
}

func randomEvent(r *rand.Rand) *telemetry.Event {
	ev := &telemetry.Event{Source: "random", Line: 1, Time: t0}
	for range r.IntN(7) {
		k := pick(r, allKinds())
		role := telemetry.RoleNone
		if k == telemetry.KindIPv4 || k == telemetry.KindIPv6 {
			role = telemetry.Role(r.IntN(3))
		}
		ev.Add(k, role, "f", pick(r, pools[k]))
	}
	return ev
}

// TestFastPathAgreesWithEvaluator is the property of issue #3: on random
// indicators and random events, the index answers exactly what the
// general evaluator answers on the event's observed-data.
func TestFastPathAgreesWithEvaluator(t *testing.T) {
	seed := uint64(20181102)
	r := rand.New(rand.NewPCG(seed, seed))
	x := New(Options{})
	type ind struct {
		id  string
		src string
		p   *pattern.Pattern
	}
	var inds []ind
	atomic := 0
	for i := range 400 {
		src := randomAtomic(r)
		if i%4 == 3 {
			src = randomComplex(r)
		}
		p, err := pattern.Parse(src)
		if err != nil {
			t.Fatalf("generated pattern %s: %v", src, err)
		}
		id := fmt.Sprintf("indicator--%04d", i)
		if err := x.Add(Indicator{ID: id, Modified: "2018-01-01T00:00:00Z", Pattern: src}); err != nil {
			t.Fatal(err)
		}
		if compile(p).atomic {
			atomic++
		}
		inds = append(inds, ind{id, src, p})
	}
	if atomic < 250 {
		t.Fatalf("only %d of the generated indicators compiled as atomic", atomic)
	}
	hitsTotal := 0
	for range 1500 {
		ev := randomEvent(r)
		got := ids(x.Match(ev))
		obs := Observations(ev)
		var want []string
		for _, in := range inds {
			ok, err := in.p.Match(obs)
			if err != nil {
				t.Fatalf("evaluator on %s: %v", in.src, err)
			}
			if ok {
				want = append(want, in.id)
			}
		}
		hitsTotal += len(want)
		if !slices.Equal(got, want) {
			for _, in := range inds {
				g, w := slices.Contains(got, in.id), slices.Contains(want, in.id)
				if g != w {
					t.Errorf("pattern %s on event %+v: fast path %v, evaluator %v", in.src, ev.Observables, g, w)
				}
			}
			t.FailNow()
		}
	}
	if hitsTotal < 1000 {
		t.Errorf("only %d hits: the generators rarely meet", hitsTotal)
	}
	t.Logf("seed %d: %d indicators (%d atomic), 1500 events, %d hits, all agree", seed, len(inds), atomic, hitsTotal)
}
