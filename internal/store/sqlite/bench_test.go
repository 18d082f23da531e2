package sqlite

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Benchmarks. Sizes are controlled by environment variables so that
// `go test ./...` stays fast:
//
//	KIZUNA_BENCH_N   objects in the collection the query benchmarks read
//	                 (default 100000; the project target is 1000000)
//	KIZUNA_BENCH_DIR where the populated databases are cached between runs
//	                 (default $TMPDIR/kizuna-bench)
//
// BenchmarkAdd's object count is b.N: -benchtime=1000000x adds a million.

// template is one object to clone with fresh ids.
type template struct {
	typ, id, spec, version string
	raw                    []byte
}

// templates returns ATT&CK objects from the shared data (when present)
// plus synthetic indicators, so about 10% of generated objects are
// indicators.
func templates(tb testing.TB) []template {
	tb.Helper()
	var out []template
	path := filepath.Join(realdata.RepoRoot(tb), "..", "shared", "data", "stix", "enterprise-attack-18.1-derived-stix21.json.gz")
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		var bundle struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.NewDecoder(zr).Decode(&bundle); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		for _, raw := range bundle.Objects {
			o, err := stix.Parse(raw)
			if err != nil || o.Version() == "" {
				continue
			}
			out = append(out, template{o.Type, o.ID, o.SpecVersion, o.Version(), o.Raw})
		}
	} else {
		// Synthetic ATT&CK-like attack-patterns when the data is absent.
		for i := range 200 {
			id := fmt.Sprintf("attack-pattern--%08d-0000-4000-8000-000000000000", i)
			raw := fmt.Sprintf(`{"type":"attack-pattern","spec_version":"2.1","id":%q,"created":"2020-01-14T17:18:32.126Z","modified":"2024-04-16T12:00:00.000Z","name":"Technique %d","description":"%s","kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"defense-evasion"}],"external_references":[{"source_name":"mitre-attack","url":"https://attack.mitre.org/techniques/T%04d","external_id":"T%04d"}],"x_mitre_platforms":["Windows","Linux"],"x_mitre_version":"1.2"}`,
				id, i, strings.Repeat("Adversaries may abuse this technique to evade defenses. ", 12), i, i)
			out = append(out, template{"attack-pattern", id, "2.1", "2024-04-16T12:00:00.000Z", []byte(raw)})
		}
	}
	n := max(len(out)/9, 1)
	for i := range n {
		id := fmt.Sprintf("indicator--%08d-1111-4000-8000-000000000000", i)
		raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-05-01T10:00:00.000Z","modified":"2024-05-01T10:00:00.000Z","name":"C2 %d","indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '203.0.113.%d'] OR [domain-name:value = 'c2-%d.example.net']","pattern_type":"stix","valid_from":"2024-05-01T10:00:00Z","labels":["c2"]}`,
			id, i, i%256, i)
		out = append(out, template{"indicator", id, "2.1", "2024-05-01T10:00:00.000Z", []byte(raw)})
	}
	return out
}

// gen makes object n from the templates with a fresh id and a varied
// sharing label.
type gen struct {
	tpl []template
	r   *rand.Rand
}

var benchOrgs = func() []string {
	out := make([]string, 20)
	for i := range out {
		out[i] = fmt.Sprintf("identity--%08d-0000-4000-8000-00000000beef", i)
	}
	return out
}()

func (g *gen) record(n int) store.Record {
	t := g.tpl[n%len(g.tpl)]
	id := fmt.Sprintf("%s--%08x-%04x-4%03x-8%03x-%012x", t.typ, n, n>>16&0xffff, n&0xfff, (n>>12)&0xfff, uint64(n)*2654435761)
	raw := bytes.Replace(t.raw, []byte(t.id), []byte(id), 1)
	o := &stix.Object{ID: id, Type: t.typ, SpecVersion: t.spec, Modified: t.version, Raw: raw}
	l := sharing.Label{ProducerOrg: benchOrgs[g.r.IntN(len(benchOrgs))]}
	l.ProducerUser = "user-" + strconv.Itoa(g.r.IntN(100))
	switch p := g.r.IntN(20); {
	case p < 4:
		l.TLP = sharing.TLPClear
	case p < 12:
		l.TLP = sharing.TLPGreen
	case p < 16:
		l.TLP = sharing.TLPAmber
		l.Orgs = []string{benchOrgs[g.r.IntN(len(benchOrgs))], benchOrgs[g.r.IntN(len(benchOrgs))]}
	case p < 17:
		l.TLP = sharing.TLPAmberStrict
		l.Orgs = []string{benchOrgs[g.r.IntN(len(benchOrgs))]}
	case p < 18:
		l.TLP = sharing.TLPRed
		l.Users = []string{"user-" + strconv.Itoa(g.r.IntN(100))}
	default:
		l.TLP = sharing.TLPNone
	}
	return store.Record{Object: o, Label: l}
}

// fill adds objects [from, to) in batches.
func fill(tb testing.TB, s *Store, g *gen, from, to, batch int) {
	tb.Helper()
	ctx := context.Background()
	recs := make([]store.Record, 0, batch)
	for n := from; n < to; {
		recs = recs[:0]
		for ; n < to && len(recs) < batch; n++ {
			recs = append(recs, g.record(n))
		}
		res, err := s.Add(ctx, store.DefaultCollectionID, recs, "")
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				tb.Fatalf("%s: %v", r.ID, r.Err)
			}
		}
	}
}

// memberAccess is what an ordinary member of one organisation sees.
func memberAccess() sharing.Access {
	return sharing.NewPolicy(sharing.TLPNone).Access(sharing.Principal{OrgID: benchOrgs[3], UserID: "user-7", Role: sharing.RoleMember})
}

// writtenBytes reads how many bytes the process caused to be written to
// storage (Linux /proc/self/io).
func writtenBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// cpuTime returns the process's user plus system CPU time, a steadier
// measure than wall time on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB reads the process's peak resident set size.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func BenchmarkAdd(b *testing.B) {
	for _, batch := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(context.Background(), b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			g := &gen{tpl: templates(b), r: rand.New(rand.NewPCG(1, 2))}
			b.ResetTimer()
			w0, c0 := writtenBytes(), cpuTime()
			start := time.Now()
			fill(b, s, g, 0, b.N, batch)
			b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(b.N), "cpu-µs/object")
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "objects/s")
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
			b.ReportMetric(float64(writtenBytes()-w0)/float64(b.N), "disk-B/object")
		})
	}
}

// benchStore opens a database holding n generated objects, building it
// on first use and caching it under KIZUNA_BENCH_DIR.
func benchStore(b *testing.B) (*Store, int) {
	b.Helper()
	n := 100000
	if v := os.Getenv("KIZUNA_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("KIZUNA_BENCH_N: %v", err)
		}
	}
	base := os.Getenv("KIZUNA_BENCH_DIR")
	if base == "" {
		base = filepath.Join(os.TempDir(), "kizuna-bench")
	}
	dir := filepath.Join(base, fmt.Sprintf("n%d-schema%d", n, SchemaVersion))
	marker := filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err != nil {
		os.RemoveAll(dir)
		s, err := Open(context.Background(), dir)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		fill(b, s, &gen{tpl: templates(b), r: rand.New(rand.NewPCG(1, 2))}, 0, n, 2000)
		b.Logf("built %d objects in %v (%.0f objects/s)", n, time.Since(start), float64(n)/time.Since(start).Seconds())
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, n
}

// BenchmarkQueryPaging pages through the whole collection (limit 1000)
// as an ordinary member; one op is one full pass.
func BenchmarkQueryPaging(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	acc := memberAccess()
	b.ResetTimer()
	total := 0
	c0 := cpuTime()
	start := time.Now()
	for range b.N {
		f := store.Filter{Collection: store.DefaultCollectionID, Access: acc, Limit: 1000}
		for {
			p, err := s.Query(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			total += len(p.Entries)
			if !p.More {
				break
			}
			f.Next = p.Next
		}
	}
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "objects/s")
	b.ReportMetric(float64(total)/float64(b.N), "visible/pass")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(total), "cpu-µs/object")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// BenchmarkQueryIndicatorsAddedAfter measures Query{Types:[indicator],
// AddedAfter: t, Limit: 100} with t uniformly spread over the
// collection's lifetime, reporting p50/p99 latency.
func BenchmarkQueryIndicatorsAddedAfter(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	acc := memberAccess()
	first, err := s.Manifest(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: everyoneAccess, Limit: 1, Versions: []string{"all"}})
	if err != nil || len(first.Entries) == 0 {
		b.Fatalf("empty benchmark store: %v", err)
	}
	lo := first.Entries[0].DateAdded
	var hi int64
	if err := s.r.QueryRow(`SELECT max(date_added) FROM objects`).Scan(&hi); err != nil {
		b.Fatal(err)
	}
	span := hi - lo.UnixMicro()
	r := rand.New(rand.NewPCG(3, 4))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := lo.Add(time.Duration(r.Int64N(span)) * time.Microsecond)
		start := time.Now()
		p, err := s.Query(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: acc, Types: []string{"indicator"}, AddedAfter: t, Limit: 100})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range p.Entries {
			if e.Type != "indicator" {
				b.Fatalf("got a %s", e.Type)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

var everyoneAccess = sharing.Access{Clauses: []sharing.Clause{{}}}
