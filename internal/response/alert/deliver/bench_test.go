package deliver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
)

// BenchmarkFanout1000 publishes one event to 1,000 organisations' webhook
// rules (one loopback httptest server, a path per organisation) and waits
// until the receiver has accepted all 1,000 signed deliveries. It reports
// the time from Publish to the last delivery (ms/fanout, the mean; the
// slowest as max-ms) and the time for Publish itself (enqueue-ms).
func BenchmarkFanout1000(b *testing.B) {
	const orgs = 1000
	secret := []byte("bench")
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), 0, secret); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got++
		cond.Broadcast()
		mu.Unlock()
	}))
	defer srv.Close()
	d := open(b, b.TempDir(), alert.Options{Channels: map[string]alert.Channel{"webhook": &deliver.Webhook{AllowPrivate: true}}})
	ctx := b.Context()
	for i := range orgs {
		if err := d.PutRule(ctx, alert.Rule{ID: fmt.Sprint("r", i), Org: fmt.Sprint("org", i),
			Target: alert.Target{Channel: "webhook", URL: fmt.Sprintf("%s/hook/org%d", srv.URL, i), Secret: secret}}); err != nil {
			b.Fatal(err)
		}
	}
	var total, enqueue time.Duration
	var lat []time.Duration
	n := 0
	for b.Loop() {
		mu.Lock()
		want := got + orgs
		mu.Unlock()
		start := time.Now()
		if err := d.Publish(ctx, event(b, fmt.Sprint("bench-", n))); err != nil {
			b.Fatal(err)
		}
		enqueue += time.Since(start)
		mu.Lock()
		for got < want {
			cond.Wait()
		}
		mu.Unlock()
		el := time.Since(start)
		total += el
		lat = append(lat, el)
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/1e3/float64(n), "ms/fanout")
	b.ReportMetric(float64(slices.Max(lat).Microseconds())/1e3, "max-ms")
	b.ReportMetric(float64(enqueue.Microseconds())/1e3/float64(n), "enqueue-ms")
}
