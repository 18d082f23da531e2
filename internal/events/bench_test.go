package events_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// BenchmarkBusFanout1000 is issue 6's "an alert fanned out to 1,000
// organisations' webhooks within 1 s of the triggering event" end to end
// through the bus: the event is published on the bus (embedded or NATS),
// the hub's alerts consumer hands it to the dispatcher, which delivers a
// signed webhook to each of 1,000 organisations' rules (one loopback
// receiver, a path per organisation). ms/fanout is the mean from Publish on
// the bus to the last webhook accepted, max-ms the slowest.
func BenchmarkBusFanout1000(b *testing.B) {
	for _, impl := range []string{"local", "nats"} {
		b.Run(impl, func(b *testing.B) {
			const orgs = 1000
			secret := []byte("bench-secret-0123456789")
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
			ctx := b.Context()
			dir := b.TempDir()
			var bs bus.Bus
			if impl == "nats" {
				bs = bustest.NATS(b)
			} else {
				l, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				bs = l
			}
			d, err := alert.Open(ctx, dir, alert.Options{
				Visible:  func(string, sharing.Label) bool { return true },
				Channels: map[string]alert.Channel{"webhook": &deliver.Webhook{AllowPrivate: true}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close(ctx)
			for i := range orgs {
				if err := d.PutRule(ctx, alert.Rule{ID: fmt.Sprint("r", i), Org: fmt.Sprint("org", i),
					Target: alert.Target{Channel: "webhook", URL: fmt.Sprintf("%s/hook/org%d", srv.URL, i), Secret: secret}}); err != nil {
					b.Fatal(err)
				}
			}
			sub, err := events.Deliver(ctx, bs, d, nil, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Stop()
			pub := events.NewPublisher(bs, nil, nil)
			var total time.Duration
			var lat []time.Duration
			n := 0
			for b.Loop() {
				mu.Lock()
				want := got + orgs
				mu.Unlock()
				e, err := alert.FromObject(alert.ObjectAdded, fmt.Sprint("bench-", n),
					[]byte(fmt.Sprintf(`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-%012d","pattern":"[ipv4-addr:value = '192.0.2.1']"}`, n)),
					sharing.Label{TLP: sharing.TLPGreen})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := pub.Publish(ctx, e); err != nil {
					b.Fatal(err)
				}
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
		})
	}
}
