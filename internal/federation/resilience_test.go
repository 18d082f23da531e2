package federation

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/taxii/client"
)

// cutter is a proxy in front of a hub that, for the requests cut selects,
// sends the headers and half of the partner's body, then drops the
// connection (the client sees an unexpected EOF).
type cutter struct {
	srv      *httptest.Server
	cut      func(n int64) bool
	requests atomic.Int64
}

func newCutter(t *testing.T, target string) *cutter {
	t.Helper()
	c := &cutter{cut: func(int64) bool { return false }}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.requests.Add(1)
		u, _ := url.Parse(target + r.URL.RequestURI())
		req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), r.Body)
		if err != nil {
			panic(err)
		}
		req.Header = r.Header.Clone()
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(res.StatusCode)
		if !c.cut(n) || len(body) < 2 {
			w.Write(body)
			return
		}
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // close the connection mid-body
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// fill submits n TLP:GREEN indicators at h.
func fill(h *testHub, n int) {
	for range n {
		h.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	}
}

// checkResumed runs a pull that must resume where an interrupted one
// stopped: it stores exactly the rest, the partner then holds every
// version once, and the feed's health is clean again.
func checkResumed(t *testing.T, y *testHub, s *Syncer, total, rest int64) {
	t.Helper()
	rep, err := s.Run(context.Background(), "x")
	if err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if rep.Pulled != rest {
		t.Fatalf("resumed run stored %d, want the remaining %d", rep.Pulled, rest)
	}
	if n := int64(len(y.versions())); n != total {
		t.Fatalf("partner holds %d versions, want %d", n, total)
	}
	h, err := y.reg.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if h.Failures != 0 || h.LastError != "" || h.LastSuccess.IsZero() || h.Pulled != total || h.LastPulled != rest {
		t.Fatalf("health after recovery: %+v", h.Health)
	}
}

// checkFailed checks the health recorded for a run that failed after
// storing stored versions, with an error containing msg.
func checkFailed(t *testing.T, y *testHub, msg string, stored int64) {
	t.Helper()
	h, err := y.reg.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if h.Failures != 1 || !strings.Contains(h.LastError, msg) || h.PullMark.IsZero() || h.Pulled != stored || !h.LastSuccess.IsZero() {
		t.Fatalf("health after the failure, want %q and %d stored: %+v", msg, stored, h.Health)
	}
}

// TestConnectionDroppedMidPage has the partner's connection drop in the
// middle of a page: without retries the run fails after the pages before
// it (health records the error) and the next run resumes exactly there;
// with retries a dropped page is fetched again and the run succeeds.
func TestConnectionDroppedMidPage(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	fill(x, 55)
	proxy := newCutter(t, x.srv.URL())
	y.feedTo(x, "x", Pull, proxy.srv.URL+"/taxii2/hub/")
	noRetry := y.syncer(func(o *client.Options) { o.Retries = -1 })
	noRetry.PageSize, noRetry.BatchSize = 10, 10
	proxy.cut = func(n int64) bool { return n == 4 }
	rep, err := noRetry.Run(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("run over a dropped connection: err %v, want an unexpected EOF", err)
	}
	if rep.Pulled != 30 {
		t.Fatalf("interrupted run stored %d, want the 30 of the three whole pages", rep.Pulled)
	}
	checkFailed(t, y, "EOF", 30)

	// Every other request drops now; the default retries get each page.
	start := proxy.requests.Load()
	proxy.cut = func(n int64) bool { return (n-start)%2 == 1 }
	s := y.syncer()
	s.PageSize, s.BatchSize = 10, 10
	checkResumed(t, y, s, 55, 25)
	if got := proxy.requests.Load() - start; got < 6 {
		t.Fatalf("%d requests for 3 pages with every other one dropped: the drops were not retried", got)
	}
}

// stopAfter is a transport that shuts the partner down (synchronously,
// once) before its n-th request.
type stopAfter struct {
	n    int64
	seen atomic.Int64
	stop func()
}

func (s *stopAfter) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.seen.Add(1) == s.n {
		s.stop()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestPartnerRestartsMidPull shuts the partner hub down in the middle of a
// pull (connection refused through every retry: the run fails, health
// records it), starts it again on the same address over the same data,
// and checks that the next run resumes with nothing lost or stored twice.
func TestPartnerRestartsMidPull(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	fill(x, 55)
	y.feedTo(x, "x", Pull, "")
	addr := strings.TrimPrefix(x.srv.URL(), "http://")
	stop := &stopAfter{n: 4, stop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := x.srv.Shutdown(ctx); err != nil {
			t.Errorf("stopping x: %v", err)
		}
	}}
	s := y.syncer(func(o *client.Options) {
		o.Retries = 2
		o.HTTP = &http.Client{Transport: stop}
	})
	s.PageSize, s.BatchSize = 10, 10
	rep, err := s.Run(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("run against a stopped partner: err %v, want connection refused", err)
	}
	if rep.Pulled != 30 {
		t.Fatalf("interrupted run stored %d, want the 30 of the three pages served", rep.Pulled)
	}
	checkFailed(t, y, "connection refused", 30)

	cfg := x.cfg
	cfg.Listen = addr
	x.srv, err = server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.srv.Start(ctx); err != nil {
		t.Fatalf("restarting x on %s: %v", addr, err)
	}
	checkResumed(t, y, s, 55, 25)
}
