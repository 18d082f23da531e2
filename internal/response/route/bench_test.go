package route

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// reportRate reports observations per second of wall time and, since the
// machine is shared, per second of the process's CPU time (cpu0 is
// cpuTime() at the start; with RunParallel the CPU time of all workers
// counts).
func reportRate(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "obs/cpu-s")
	}
}

// benchWorld is 100,000 registrations — 50,000 IPv4 blocks, 20,000 IPv6
// blocks, 30,000 domains, over 5,000 organisations — a 60,000-prefix
// prefix-to-ASN table with 500 registered ASes, and 1<<20 observation
// values: 45% IPv4 addresses, 15% IPv6, 30% domain names, 10% URLs and
// e-mail addresses; about half of them have an owner.
type benchWorld struct {
	regs   []Registration
	asn    *ASNTable
	values []string
}

var benchOnce = sync.OnceValue(func() *benchWorld {
	r := rand.New(rand.NewPCG(1, 2))
	w := &benchWorld{asn: new(ASNTable)}
	v4 := netip.MustParsePrefix("0.0.0.0/1")
	v6 := netip.MustParsePrefix("2000::/8")
	var blocks []netip.Prefix
	org := func() Owner { return Owner(fmt.Sprintf("org%04d", r.IntN(5000))) }
	for range 60000 {
		p := randPrefix(r, v4, 12, 24)
		w.asn.Add(p, uint32(1+r.IntN(20000)))
	}
	for as := range 500 {
		w.regs = append(w.regs, Registration{Owner: org(), Resource: Resource{Kind: KindASN, ASN: uint32(1 + as*40)}})
	}
	for range 50000 {
		p := randPrefix(r, v4, 8, 32)
		blocks = append(blocks, p)
		w.regs = append(w.regs, Registration{Owner: org(), Resource: Resource{Kind: KindPrefix, Prefix: p}})
	}
	for range 20000 {
		p := randPrefix(r, v6, 24, 64)
		blocks = append(blocks, p)
		w.regs = append(w.regs, Registration{Owner: org(), Resource: Resource{Kind: KindPrefix, Prefix: p}})
	}
	var domains []string
	for i := range 30000 - 500 {
		d := fmt.Sprintf("org%d.example%d.test", i, i%50)
		domains = append(domains, d)
		w.regs = append(w.regs, Registration{Owner: org(), Resource: Resource{Kind: KindDomain, Domain: d}})
	}
	for range 1 << 20 {
		var v string
		switch k := r.IntN(100); {
		case k < 45:
			if r.IntN(2) == 0 {
				v = randAddr(r, blocks[r.IntN(50000)]).String()
			} else {
				v = randAddr(r, netip.MustParsePrefix("0.0.0.0/0")).String()
			}
		case k < 60:
			if r.IntN(2) == 0 {
				v = randAddr(r, blocks[50000+r.IntN(20000)]).String()
			} else {
				v = randAddr(r, netip.MustParsePrefix("::/0")).String()
			}
		case k < 90:
			if r.IntN(2) == 0 {
				v = "host" + fmt.Sprint(r.IntN(100)) + "." + domains[r.IntN(len(domains))]
			} else {
				v = fmt.Sprintf("www.nobody%d.example.test", r.IntN(1e6))
			}
		case k < 95:
			v = "https://www." + domains[r.IntN(len(domains))] + "/login?next=/"
		default:
			v = "abuse@" + domains[r.IntN(len(domains))]
		}
		w.values = append(w.values, v)
	}
	return w
})

func benchTable(b *testing.B, mode Mode) *Table {
	w := benchOnce()
	tab, err := New(w.regs, Options{Mode: mode, ASN: w.asn})
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

// BenchmarkRoute measures Route (parse the value, look it up) on one core.
func BenchmarkRoute(b *testing.B) {
	for _, mode := range []Mode{MostSpecific, AllCovering} {
		b.Run(mode.String(), func(b *testing.B) {
			tab := benchTable(b, mode)
			values := benchOnce().values
			routed := 0
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				if tab.Route(values[i&(1<<20-1)]) != nil {
					routed++
				}
			}
			reportRate(b, cpu0)
			b.ReportMetric(float64(routed)/float64(b.N), "routed/op")
		})
	}
}

// BenchmarkAppendOwners measures the lookup alone, on parsed observations,
// without allocating.
func BenchmarkAppendOwners(b *testing.B) {
	tab := benchTable(b, MostSpecific)
	values := benchOnce().values
	obs := make([]Observation, len(values))
	for i, v := range values {
		obs[i], _ = ParseObservation(v)
	}
	var dst []Owner
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		dst = tab.AppendOwners(dst[:0], obs[i&(1<<20-1)])
	}
	reportRate(b, cpu0)
}

// BenchmarkRouteParallel measures Route from GOMAXPROCS goroutines sharing
// one table.
func BenchmarkRouteParallel(b *testing.B) {
	tab := benchTable(b, MostSpecific)
	values := benchOnce().values
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1 << 20)
		for pb.Next() {
			tab.Route(values[i&(1<<20-1)])
			i++
		}
	})
	reportRate(b, cpu0)
}

// BenchmarkNew measures building the 100,000-registration table, what a
// change of registrations costs.
func BenchmarkNew(b *testing.B) {
	w := benchOnce()
	for b.Loop() {
		if _, err := New(w.regs, Options{ASN: w.asn}); err != nil {
			b.Fatal(err)
		}
	}
}
