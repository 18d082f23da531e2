package pattern

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchWorld is a synthetic but realistically shaped workload: indicator
// values (addresses, domains, SHA-256 hashes, URLs) and telemetry whose
// values are mostly benign (drawn with a Zipf distribution from a large
// pool) with about 1% drawn from the indicator values, again Zipf-shaped
// so that a few indicators are seen often and most never.
type benchWorld struct {
	ips, doms, hashes, urls []string
}

func newBenchWorld(r *rand.Rand, n int) *benchWorld {
	w := &benchWorld{}
	for i := range n {
		w.ips = append(w.ips, fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+i%254))
		w.doms = append(w.doms, fmt.Sprintf("x%d-%x.example", i, r.Uint32()))
		w.hashes = append(w.hashes, fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64()))
		w.urls = append(w.urls, fmt.Sprintf("http://x%d.example/%x/p.php", i, r.Uint32()))
	}
	return w
}

// benchPatternSet returns n patterns: about a third use FOLLOWEDBY, WITHIN
// or REPEATS; the rest are equality, IN, AND/OR compounds, CIDR blocks,
// subdomain LIKEs, regular expressions and negations, in roughly the
// proportions of real feeds (mostly equality).
func benchPatternSet(r *rand.Rand, w *benchWorld, n int) []*Pattern {
	atom := func() string {
		switch r.IntN(20) {
		case 0, 1, 2, 3, 4:
			return "[ipv4-addr:value = '" + pick(r, w.ips) + "']"
		case 5, 6, 7, 8:
			return "[domain-name:value = '" + pick(r, w.doms) + "']"
		case 9, 10, 11:
			return "[file:hashes.'SHA-256' = '" + pick(r, w.hashes) + "']"
		case 12, 13:
			return "[url:value = '" + pick(r, w.urls) + "']"
		case 14:
			return "[network-traffic:dst_ref.value = '" + pick(r, w.ips) + "' AND network-traffic:dst_port = 443]"
		case 15:
			return "[domain-name:value IN ('" + pick(r, w.doms) + "', '" + pick(r, w.doms) + "', '" + pick(r, w.doms) + "')]"
		case 16:
			return "[file:hashes.'SHA-256' = '" + pick(r, w.hashes) + "' OR file:name = 'x" + fmt.Sprint(r.IntN(1000)) + ".exe']"
		case 17:
			switch r.IntN(8) {
			case 0:
				return "[domain-name:value MATCHES '^x" + fmt.Sprint(r.IntN(100000)) + "-']"
			case 1: // unanchored: evaluated on every URL
				return "[url:value MATCHES '/" + fmt.Sprintf("%x", r.Uint32()) + "/p\\\\.php$']"
			}
			return "[domain-name:value LIKE '%." + pick(r, w.doms) + "']"
		case 18:
			ip := pick(r, w.ips)
			var a, b, c, d int
			fmt.Sscanf(ip, "%d.%d.%d.%d", &a, &b, &c, &d)
			return fmt.Sprintf("[ipv4-addr:value ISSUBSET '%d.%d.%d.0/24']", a, b, c)
		default:
			return "[network-traffic:dst_ref.value = '" + pick(r, w.ips) + "' AND network-traffic:dst_port != 80]"
		}
	}
	var out []*Pattern
	for len(out) < n {
		var src string
		if len(out)%3 == 0 {
			switch r.IntN(4) {
			case 0:
				src = "(" + atom() + " FOLLOWEDBY " + atom() + ") WITHIN 300 SECONDS"
			case 1:
				src = atom() + " REPEATS 3 TIMES WITHIN 3600 SECONDS"
			case 2:
				src = "(" + atom() + " AND " + atom() + ") WITHIN 600 SECONDS"
			default:
				src = atom() + " FOLLOWEDBY " + atom()
			}
		} else {
			src = atom()
		}
		p, err := Parse(src)
		if err != nil {
			panic(fmt.Sprintf("%s: %v", src, err))
		}
		out = append(out, p)
	}
	return out
}

// benchObservations returns n observed-data over one day: network
// connections with their destination address, DNS names, files with
// hashes and URLs.
func benchObservations(r *rand.Rand, w *benchWorld, n int) []Observation {
	benign := rand.NewZipf(r, 1.1, 4, 1_000_000)
	bad := rand.NewZipf(r, 1.2, 2, uint64(len(w.ips)-1))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	refs := map[string]map[string]any{}
	out := make([]Observation, 0, n)
	for i := range n {
		hit := r.IntN(100) == 0
		k := int(bad.Uint64())
		b := benign.Uint64()
		t := t0.Add(time.Duration(r.Int64N(int64(24 * time.Hour))))
		o := Observation{ID: fmt.Sprintf("observed-data--%d", i), FirstObserved: t, LastObserved: t, NumberObserved: 1, Refs: refs}
		switch r.IntN(10) {
		case 0, 1, 2, 3:
			ip := fmt.Sprintf("10.%d.%d.%d", b>>16&255, b>>8&255, b&255)
			if hit {
				ip = w.ips[k]
			}
			id := fmt.Sprintf("ipv4-addr--%d", i)
			a := map[string]any{"type": "ipv4-addr", "id": id, "value": ip}
			refs[id] = a
			port := []int{443, 80, 53, 8080}[r.IntN(4)]
			o.Objects = []map[string]any{{"type": "network-traffic", "dst_ref": id, "dst_port": port, "protocols": []any{"tcp"}}, a}
		case 4, 5, 6:
			d := fmt.Sprintf("host%d.benign.example", b)
			if hit {
				d = w.doms[k]
			}
			o.Objects = []map[string]any{{"type": "domain-name", "value": d}}
		case 7, 8:
			h := fmt.Sprintf("%064x", b)
			if hit {
				h = w.hashes[k]
			}
			o.Objects = []map[string]any{{"type": "file", "name": fmt.Sprintf("f%d.bin", b%5000), "hashes": map[string]any{"SHA-256": h}}}
		default:
			u := fmt.Sprintf("http://host%d.benign.example/index.html", b)
			if hit {
				u = w.urls[k]
			}
			o.Objects = []map[string]any{{"type": "url", "value": u}}
		}
		out = append(out, o)
	}
	return out
}

// BenchmarkSetMatch is issue #3's target: 10,000 mixed patterns (a third
// with FOLLOWEDBY/WITHIN/REPEATS) against 100,000 observed-data in under
// 10 s. Run with -benchtime=1x (one iteration is several seconds):
//
//	go test -run '^$' -bench BenchmarkSetMatch -benchtime=3x ./internal/pattern
func BenchmarkSetMatch(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newBenchWorld(r, 20_000)
	pats := benchPatternSet(r, w, 10_000)
	obs := benchObservations(r, w, 100_000)
	b.Run("compile", func(b *testing.B) {
		for b.Loop() {
			NewSet(pats)
		}
	})
	b.Run("match", func(b *testing.B) {
		set := NewSet(pats)
		var matched, failed int
		for b.Loop() {
			matched, failed = 0, 0
			for _, res := range set.Match(obs) {
				if res.Err != nil {
					failed++
				} else {
					matched++
				}
			}
		}
		b.ReportMetric(float64(matched), "matched")
		b.ReportMetric(float64(failed), "errors")
	})
	// The same work pattern by pattern, for 100 of the patterns (the
	// loop the Set replaces; multiply by 100 for 10,000).
	b.Run("loop100", func(b *testing.B) {
		want := map[int]bool{}
		for _, res := range NewSet(pats[:100]).Match(obs) {
			want[res.Index] = res.Matched
		}
		for b.Loop() {
			for i, p := range pats[:100] {
				ok, err := p.Match(obs)
				if err == nil && ok != want[i] {
					b.Fatalf("pattern %d %s: Match %v, Set %v", i, p, ok, want[i])
				}
			}
		}
	})
}
