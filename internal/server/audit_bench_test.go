package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// BenchmarkAuditOverhead measures TAXII paging (limit=1000) and POST (100
// indicators per request) over real HTTP and SQLite, without and with the
// audit trail, side by side: two servers over stores of 20,000 objects
// (2,000 with -short), the same requests alternated between them.
func BenchmarkAuditOverhead(b *testing.B) {
	n := 20_000
	if testing.Short() {
		n = 2_000
	}
	type target struct{ base, token string }
	targets := map[string]target{}
	for _, mode := range []string{"off", "on"} {
		var opts []fixtureOpt
		if mode == "on" {
			tr, err := audit.Open(context.Background(), b.TempDir(), audit.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { tr.Close() })
			opts = append(opts, func(c *Config) { c.Audit = tr })
		}
		base, token, _ := benchServer(b, n, opts...)
		targets[mode] = target{base, token}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	do := func(b *testing.B, t target, method, path string, body []byte) *http.Response {
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(string(body))
		}
		rq, _ := http.NewRequest(method, t.base+path, rd)
		rq.Header.Set("Authorization", "Bearer "+t.token)
		rq.Header.Set("Accept", taxii.MediaTAXII)
		if body != nil {
			rq.Header.Set("Content-Type", taxii.MediaTAXII)
		}
		resp, err := client.Do(rq)
		if err != nil {
			b.Fatal(err)
		}
		return resp
	}
	objects := "/taxii2/hub/collections/" + store.DefaultCollectionID + "/objects/"
	// Each iteration makes the same request to both servers, alternating
	// which goes first, so both see the same machine load; the metrics are
	// the summed time of each and the overhead in per cent.
	pair := func(b *testing.B, req func(b *testing.B, t target) int) {
		var dur [2]time.Duration
		objs := 0
		i := 0
		for b.Loop() {
			for k := range 2 {
				m := (i + k) % 2
				t0 := time.Now()
				n := req(b, targets[[]string{"off", "on"}[m]])
				dur[m] += time.Since(t0)
				if m == 0 {
					objs += n
				}
			}
			i++
		}
		b.ReportMetric(float64(objs)/dur[0].Seconds(), "objects/s-off")
		b.ReportMetric(float64(objs)/dur[1].Seconds(), "objects/s-on")
		b.ReportMetric(100*(dur[1].Seconds()/dur[0].Seconds()-1), "overhead-%")
	}
	next := map[string]string{}
	b.Run("paging", func(b *testing.B) {
		pair(b, func(b *testing.B, t target) int {
			q := "?limit=1000"
			if nx := next[t.base]; nx != "" {
				q += "&next=" + url.QueryEscape(nx)
			}
			resp := do(b, t, http.MethodGet, objects+q, nil)
			var env struct {
				More    bool   `json:"more"`
				Next    string `json:"next"`
				Objects []any  `json:"objects"`
			}
			decodeBody(b, resp, &env)
			next[t.base] = env.Next
			if !env.More {
				next[t.base] = ""
			}
			return len(env.Objects)
		})
	})
	seq := map[string]int{}
	b.Run("post", func(b *testing.B) {
		green := sharing.MarkingID(sharing.TLPGreen)
		pair(b, func(b *testing.B, t target) int {
			objs := make([]string, 100)
			for i := range objs {
				seq[t.base]++
				objs[i] = indicator(10_000_000+seq[t.base], "2026-01-01T00:00:00.000Z", green)
			}
			resp := do(b, t, http.MethodPost, objects, envelope(objs...))
			var st struct {
				SuccessCount int `json:"success_count"`
			}
			decodeBody(b, resp, &st)
			return st.SuccessCount
		})
	})
}

func decodeBody(b *testing.B, resp *http.Response, v any) {
	b.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		b.Fatal(fmt.Errorf("%w: %s", err, body))
	}
}
