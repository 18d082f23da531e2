package fetch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/csaf/fetch/fetchtest"
)

// BenchmarkSync reads a provider of 100 advisories over HTTPS on loopback:
// full (every advisory downloaded, hashes and signature checked,
// validated) and incremental (nothing changed: the lists answer 304).
func BenchmarkSync(b *testing.B) {
	s := fetchtest.NewStatic(b, fetchtest.ROLIE)
	for i := range 100 {
		s.Publish(b, fetchtest.Advisory(b, fmt.Sprintf("BENCH-%03d", i), "WHITE", 1, t0.Add(time.Duration(i)*time.Minute)))
	}
	c := fetch.New(fetch.Options{InsecureSkipVerify: true})
	none := func(context.Context, []fetch.Document) (map[string]error, error) { return nil, nil }
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			rep, err := c.Sync(context.Background(), s.URL, nil, none)
			if err != nil || rep.Fetched != 100 {
				b.Fatal(err, rep)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/100, "ms/advisory")
	})
	b.Run("incremental", func(b *testing.B) {
		st := &fetch.State{}
		if _, err := c.Sync(context.Background(), s.URL, st, none); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			rep, err := c.Sync(context.Background(), s.URL, st, none)
			if err != nil || rep.Fetched != 0 {
				b.Fatal(err, rep)
			}
		}
	})
}
