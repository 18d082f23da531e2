package detect

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

var maltrailOnce struct {
	sync.Once
	inds []Indicator
}

func loadMaltrail(b *testing.B) []Indicator {
	data := realdata.Path(b, "")
	maltrailOnce.Do(func() {
		maltrailOnce.inds, _ = maltrailIndicators(b, filepath.Join(data, "ioc", "maltrail.tar.gz"))
		maltrailOnce.inds = append(maltrailOnce.inds, ipsumIndicators(b, filepath.Join(data, "ioc", "ipsum", "ipsum.txt"))...)
	})
	return maltrailOnce.inds
}

// BenchmarkBuildMaltrail builds the index of the Maltrail trails and IPsum
// (1.88M indicators, patterns parsed and compiled).
//
// It also reports the live heap of the last index built per indicator.
func BenchmarkBuildMaltrail(b *testing.B) {
	inds := loadMaltrail(b)
	b.ReportAllocs()
	var x *Index
	before := heapAfterGC()
	for b.Loop() {
		x = New(Options{})
		x.AddBatch(inds)
	}
	b.ReportMetric(float64(len(inds))*float64(b.N)/b.Elapsed().Seconds(), "indicators/s")
	b.ReportMetric(float64(heapAfterGC()-before)/float64(len(inds)), "heap-bytes/indicator")
	runtime.KeepAlive(x)
}

// BenchmarkMatchTrickbot matches the Trickbot Zeek events (conn, dns,
// http, ssl, files, x509) against the Maltrail and IPsum index.
func BenchmarkMatchTrickbot(b *testing.B) {
	inds := loadMaltrail(b)
	x := New(Options{})
	x.AddBatch(inds)
	var evs []*telemetry.Event
	obsCount := 0
	for _, name := range []string{"conn", "dns", "http", "ssl", "files", "x509"} {
		path := filepath.Join(realdata.Path(b, ""), "telemetry", "trickbot-zeek", "zeek", name+".log")
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r, err := telemetry.Open(f, path, telemetry.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			evs = append(evs, ev)
			obsCount += len(ev.Observables)
		}
		f.Close()
	}
	runtime.GC() // the build's garbage is not the matcher's
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		x.Match(evs[n%len(evs)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(obsCount)/float64(len(evs)), "observables/event")
}

// BenchmarkLookupAtomic measures single atomic lookups (one observable
// per event) against the Maltrail and IPsum index: misses, exact hits and
// subdomain-rule hits.
func BenchmarkLookupAtomic(b *testing.B) {
	inds := loadMaltrail(b)
	x := New(Options{})
	x.AddBatch(inds)
	cases := []struct {
		name string
		ev   *telemetry.Event
	}{
		{"ipv4-miss", event(t0, obs(telemetry.KindIPv4, "10.1.2.3"))},
		{"ipv4-hit", event(t0, obs(telemetry.KindIPv4, "190.145.74.84"))},
		{"domain-miss", event(t0, obs(telemetry.KindDomain, "www.example.org"))},
		{"domain-subdomain-hit", event(t0, obs(telemetry.KindDomain, "www.myexternalip.com"))},
		{"url-miss", event(t0, obs(telemetry.KindURL, "http://www.example.org/index.html"))},
	}
	runtime.GC()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				x.Match(c.ev)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkBuild1M builds an index of one million synthetic atomic
// indicators (IPv4 addresses and domain names).
func BenchmarkBuild1M(b *testing.B) {
	inds := make([]Indicator, 1_000_000)
	for i := range inds {
		p := fmt.Sprintf("[domain-name:value = 'd%d.example']", i)
		if i%2 == 0 {
			p = fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", i>>16&255, i>>8&255, i&255)
		}
		inds[i] = Indicator{ID: fmt.Sprintf("indicator--%d", i), Modified: "2026-01-01T00:00:00Z", Pattern: p}
	}
	b.ReportAllocs()
	for b.Loop() {
		x := New(Options{})
		x.AddBatch(inds)
	}
	b.ReportMetric(float64(len(inds))*float64(b.N)/b.Elapsed().Seconds(), "indicators/s")
}

// synthetic1M returns one million atomic indicators (synthetic).
func synthetic1M() []Indicator { return synthetic(1_000_000) }

// synthetic returns n atomic indicators with UUID ids: half IPv4
// addresses, half domain names.
func synthetic(n int) []Indicator {
	inds := make([]Indicator, n)
	for i := range inds {
		p := fmt.Sprintf("[domain-name:value = 'd%d.example']", i)
		if i%2 == 0 {
			p = fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", i>>16&255, i>>8&255, i&255)
		}
		inds[i] = Indicator{ID: fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", i, i), Modified: "2026-01-01T00:00:00Z", Pattern: p}
	}
	return inds
}

// heapAfterGC returns the live heap after two collections.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkIndexMemory1M builds the index of one million STIX indicators
// (AddBatch) and of one million plain-list values (ReadPlainList), and
// reports the live heap the index holds per indicator (runtime.MemStats
// before and after, the input kept alive in both) and the build time.
func BenchmarkIndexMemory1M(b *testing.B) {
	b.Run("stix", func(b *testing.B) {
		var x *Index
		var perInd float64
		b.StopTimer()
		for range b.N {
			inds := synthetic1M()
			before := heapAfterGC()
			x = New(Options{})
			b.StartTimer()
			x.AddBatch(inds)
			b.StopTimer()
			perInd = float64(heapAfterGC()-before) / 1e6
			runtime.KeepAlive(inds) // live in both measures: the difference is the index
		}
		runtime.KeepAlive(x)
		b.ReportMetric(perInd, "bytes/indicator")
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/build")
	})
	b.Run("plain", func(b *testing.B) {
		var list bytes.Buffer
		for i := range 1_000_000 {
			if i%2 == 0 {
				fmt.Fprintf(&list, "10.%d.%d.%d\n", i>>16&255, i>>8&255, i&255)
			} else {
				fmt.Fprintf(&list, "d%d.example\n", i)
			}
		}
		var x *Index
		var perInd float64
		b.StopTimer()
		for range b.N {
			before := heapAfterGC()
			x = New(Options{})
			b.StartTimer()
			if _, err := ReadPlainList(bytes.NewReader(list.Bytes()), x); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			perInd = float64(heapAfterGC()-before) / 1e6
		}
		runtime.KeepAlive(x)
		b.ReportMetric(perInd, "bytes/indicator")
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/build")
	})
}

// BenchmarkMatchReaderZeekDNS matches the zed-sample-data Zeek DNS log
// (53,615 records, decompressed in memory) against one million plain-list
// domains with MatchReader, on one worker (events/s per core) and on
// GOMAXPROCS workers.
func BenchmarkMatchReaderZeekDNS(b *testing.B) {
	path := filepath.Join(realdata.Path(b, ""), "telemetry", "zed-sample-data", "zeek-default", "dns.log.gz")
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	log, err := io.ReadAll(zr)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	var list bytes.Buffer
	for i := range 1_000_000 {
		fmt.Fprintf(&list, "d%d.example\n", i)
	}
	list.WriteString("mydomain.com\nwhatismyipaddress.com\n") // queried in the log
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			x := New(Options{Workers: workers})
			if _, err := ReadPlainList(bytes.NewReader(list.Bytes()), x); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			b.SetBytes(int64(len(log)))
			b.ReportAllocs()
			events, hits := 0, 0
			for b.Loop() {
				r, err := telemetry.Open(bytes.NewReader(log), "dns.log", telemetry.Options{})
				if err != nil {
					b.Fatal(err)
				}
				err = x.MatchReader(context.Background(), r, func(_ *telemetry.Event, hs []Hit) error {
					hits += len(hs)
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				events += r.Stats().Events
			}
			if hits == 0 {
				b.Fatal("no hit")
			}
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
