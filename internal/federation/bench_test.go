package federation

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// benchN is the number of objects of BenchmarkPull (KIZUNA_BENCH_N,
// default 100,000).
func benchN(b *testing.B) int {
	if v := os.Getenv("KIZUNA_BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("KIZUNA_BENCH_N=%q", v)
		}
		return n
	}
	return 100_000
}

// fillHub stores n TLP:GREEN indicators (about 420 bytes each) straight
// into a hub's store, in batches of 5,000.
func fillHub(b testing.TB, h *testHub, n int) {
	ctx := context.Background()
	recs := make([]store.Record, 0, 5000)
	for i := 0; i < n; i++ {
		raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-2222-4222-8222-000000000000","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench %d","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["%s"]}`,
			i, i, i>>16&255, i>>8&255, i&255, sharing.TLP2Green)
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, store.Record{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: h.member.OrgID, ProducerUser: h.member.UserID}})
		if len(recs) == cap(recs) || i == n-1 {
			if _, err := h.st.Add(ctx, store.DefaultCollectionID, recs, ""); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// BenchmarkPull measures hub-to-hub federation end to end: one hub pulls a
// whole collection from another over HTTP on loopback (the partner's TAXII
// server paging with limit=1000, the client following next, every object
// parsed, validated, classified and stored through ingest.Pipeline.Submit).
// Both hubs run in this process. KIZUNA_BENCH_N sets the object count. The
// garbage collector runs at GOGC 200 unless GOGC is set, as in kizuna feed
// run. Besides objects/s it reports the CPU time of the process (both
// hubs) per object, which a busy machine inflates far less than the
// elapsed time.
func BenchmarkPull(b *testing.B) {
	n := benchN(b)
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	x := newTestHub(b, "x")
	fillHub(b, x, n)
	b.ResetTimer()
	var total, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		y := newTestHub(b, "y")
		y.feedTo(x, "x", Pull, "")
		s := y.syncer()
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		rep, err := s.Run(context.Background(), "x")
		total += time.Since(start)
		cpu += cpuTime() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		if rep.Pulled != int64(n) {
			b.Fatalf("pulled %d, want %d", rep.Pulled, n)
		}
	}
	objects := float64(n) * float64(b.N)
	b.ReportMetric(objects/total.Seconds(), "objects/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/objects, "cpu-us/object")
	}
}
