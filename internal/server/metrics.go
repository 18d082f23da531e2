package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// metrics holds the server's Prometheus counters.
type metrics struct {
	inFlight     atomic.Int64
	authFailures atomic.Int64
	panics       atomic.Int64
	objectsOut   atomic.Int64

	mu sync.Mutex // guards the following
	// requests counts responses by status code.
	requests map[int]int64
	// durSum and durCount describe request latency.
	durSum   float64
	durCount int64
}

func newMetrics() *metrics { return &metrics{requests: map[int]int64{}} }

// observe records one finished request.
func (m *metrics) observe(status int, d time.Duration) {
	m.mu.Lock()
	m.requests[status]++
	m.durSum += d.Seconds()
	m.durCount++
	m.mu.Unlock()
}

// write renders the metrics in the Prometheus text exposition format.
func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	codes := make([]int, 0, len(m.requests))
	for c := range m.requests {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprintln(w, "# HELP kizuna_http_requests_total HTTP requests served, by status code.")
	fmt.Fprintln(w, "# TYPE kizuna_http_requests_total counter")
	for _, c := range codes {
		fmt.Fprintf(w, "kizuna_http_requests_total{code=\"%d\"} %d\n", c, m.requests[c])
	}
	fmt.Fprintln(w, "# HELP kizuna_http_request_duration_seconds Time spent serving HTTP requests.")
	fmt.Fprintln(w, "# TYPE kizuna_http_request_duration_seconds summary")
	fmt.Fprintf(w, "kizuna_http_request_duration_seconds_sum %g\n", m.durSum)
	fmt.Fprintf(w, "kizuna_http_request_duration_seconds_count %d\n", m.durCount)
	m.mu.Unlock()
	fmt.Fprintln(w, "# HELP kizuna_http_requests_in_flight HTTP requests being served.")
	fmt.Fprintln(w, "# TYPE kizuna_http_requests_in_flight gauge")
	fmt.Fprintf(w, "kizuna_http_requests_in_flight %d\n", m.inFlight.Load())
	fmt.Fprintln(w, "# HELP kizuna_auth_failures_total Requests refused for missing or wrong credentials.")
	fmt.Fprintln(w, "# TYPE kizuna_auth_failures_total counter")
	fmt.Fprintf(w, "kizuna_auth_failures_total %d\n", m.authFailures.Load())
	fmt.Fprintln(w, "# HELP kizuna_http_panics_total Handler panics recovered.")
	fmt.Fprintln(w, "# TYPE kizuna_http_panics_total counter")
	fmt.Fprintf(w, "kizuna_http_panics_total %d\n", m.panics.Load())
	fmt.Fprintln(w, "# HELP kizuna_public_objects_served_total Objects served by the public TLP:CLEAR feed.")
	fmt.Fprintln(w, "# TYPE kizuna_public_objects_served_total counter")
	fmt.Fprintf(w, "kizuna_public_objects_served_total %d\n", m.objectsOut.Load())
}

// ServeHTTP serves /metrics.
func (m *metrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w)
}
