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

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// BenchmarkAuditOverhead measures TAXII paging (limit=1000) and POST (100
// indicators per request) over real HTTP and SQLite, without and with the
// audit trail, side by side ($KIZUNA_BENCH_OBJECTS objects, default
// 20,000 here). Compare the objects/s of the audit=off and audit=on pairs.
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
	seq := 0
	for _, mode := range []string{"off", "on"} {
		t := targets[mode]
		b.Run("paging/audit="+mode, func(b *testing.B) {
			total, next := 0, ""
			for b.Loop() {
				q := "?limit=1000"
				if next != "" {
					q += "&next=" + url.QueryEscape(next)
				}
				resp := do(b, t, http.MethodGet, objects+q, nil)
				var env struct {
					More    bool   `json:"more"`
					Next    string `json:"next"`
					Objects []any  `json:"objects"`
				}
				decodeBody(b, resp, &env)
				total += len(env.Objects)
				next = env.Next
				if !env.More {
					next = ""
				}
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
		})
		b.Run("post/audit="+mode, func(b *testing.B) {
			green := sharing.MarkingID(sharing.TLPGreen)
			total := 0
			for b.Loop() {
				objs := make([]string, 100)
				for i := range objs {
					seq++
					objs[i] = indicator(10_000_000+seq, "2026-01-01T00:00:00.000Z", green)
				}
				resp := do(b, t, http.MethodPost, objects, envelope(objs...))
				var st struct {
					SuccessCount int `json:"success_count"`
				}
				decodeBody(b, resp, &st)
				total += st.SuccessCount
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
		})
	}
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
