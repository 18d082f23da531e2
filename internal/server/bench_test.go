package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// benchObjects is the collection size of the HTTP benchmarks:
// $KIZUNA_BENCH_OBJECTS, default 100,000.
func benchObjects(b *testing.B) int {
	if v := os.Getenv("KIZUNA_BENCH_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("KIZUNA_BENCH_OBJECTS=%q: want an integer >= 1000", v)
		}
		return n
	}
	return 100_000
}

// benchServer seeds a store with n objects (a third indicators, the rest
// malware, tools and notes; half GREEN, a quarter AMBER of another
// organisation, a quarter CLEAR) straight through the store, and serves it.
func benchServer(b *testing.B, n int, opts ...fixtureOpt) (baseURL, token string, added []time.Time) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	if err := st.CreateOrg(ctx, store.Org{ID: orgBeta, Name: "beta", Type: "academia", Created: now}); err != nil {
		b.Fatal(err)
	}
	uid := "user--00000000-0000-4000-9000-000000000001"
	if err := st.CreateUser(ctx, store.User{ID: uid, OrgID: orgBeta, Name: "bob", Role: sharing.RoleMember, Created: now}); err != nil {
		b.Fatal(err)
	}
	token, hash, err := auth.NewToken()
	if err != nil {
		b.Fatal(err)
	}
	if err := st.CreateToken(ctx, store.Token{ID: "t1", UserID: uid, Hash: hash, Created: now}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	const batch = 5000
	recs := make([]store.Record, 0, batch)
	for i := 0; i < n; i++ {
		var raw string
		tlp := sharing.TLPGreen
		switch i % 4 {
		case 1:
			tlp = sharing.TLPAmber
		case 3:
			tlp = sharing.TLPClear
		}
		switch i % 3 {
		case 0:
			raw = indicator(i, "2024-01-01T00:00:00.000Z", sharing.MarkingID(tlp))
		case 1:
			raw = malware(i, sharing.MarkingID(tlp))
		default:
			raw = fmt.Sprintf(`{"type":"note","spec_version":"2.1","id":"note--00000000-0000-4000-b000-%012d","created":"2024-03-01T00:00:00.000Z","modified":"2024-03-01T00:00:00.000Z","content":"benchmark note %d with some text to give it a realistic size","object_refs":["%s"],"object_marking_refs":["%s"]}`, i, i, indicatorID(i), sharing.MarkingID(tlp))
		}
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		producer := orgAcme
		if tlp != sharing.TLPAmber {
			producer = orgBeta
		}
		recs = append(recs, store.Record{Object: o, Label: sharing.Label{TLP: tlp, ProducerOrg: producer}})
		if len(recs) == batch || i == n-1 {
			res, err := st.Add(ctx, store.DefaultCollectionID, recs, "")
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
				added = append(added, r.DateAdded)
			}
			recs = recs[:0]
		}
	}
	b.Logf("seeded %d objects in %v", n, time.Since(start).Round(time.Millisecond))
	cfg := Config{
		Listen: "127.0.0.1:0", InsecureHTTP: true, Store: st, Policy: sharing.NewPolicy(sharing.TLPAmber),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv.URL(), token, added
}

// BenchmarkTAXIIOverHTTP measures, over real HTTP and SQLite, as an
// authenticated member who sees three quarters of the collection:
//   - paging: following next with limit=1000 (objects/s);
//   - filtered-get: GET objects/?match[type]=indicator&added_after=T&limit=100
//     at random T (latency percentiles).
func BenchmarkTAXIIOverHTTP(b *testing.B) {
	n := benchObjects(b)
	base, token, added := benchServer(b, n)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(path string) (objects int, more bool, next string) {
		rq, _ := http.NewRequest("GET", base+path, nil)
		rq.Header.Set("Authorization", "Bearer "+token)
		rq.Header.Set("Accept", taxii.MediaTAXII)
		resp, err := client.Do(rq)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			body, _ := io.ReadAll(resp.Body)
			b.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var env struct {
			More    bool              `json:"more"`
			Next    string            `json:"next"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
			b.Fatal(err)
		}
		return len(env.Objects), env.More, env.Next
	}
	objects := "/taxii2/hub/collections/" + store.DefaultCollectionID + "/objects/"

	b.Run("paging", func(b *testing.B) {
		total, next := 0, ""
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			q := "?limit=1000"
			if next != "" {
				q += "&next=" + url.QueryEscape(next)
			}
			got, more, nx := get(objects + q)
			total += got
			next = nx
			if !more {
				next = ""
			}
		}
		b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
	})

	b.Run("filtered-get", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			after := added[rng.IntN(len(added))]
			q := "?match[type]=indicator&limit=100&added_after=" + url.QueryEscape(taxii.FormatTimestamp(after))
			t0 := time.Now()
			get(objects + q)
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		slices.Sort(lat)
		pct := func(p float64) float64 {
			return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	})
}
