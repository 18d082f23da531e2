package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// noSleep records retry delays instead of waiting.
type noSleep struct{ delays []time.Duration }

func (n *noSleep) sleep(_ context.Context, d time.Duration) error {
	n.delays = append(n.delays, d)
	return nil
}

func newClient(t *testing.T, h http.HandlerFunc, opt Options) (*Client, *noSleep) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ns := &noSleep{}
	if opt.APIRoot == "" {
		opt.APIRoot = srv.URL + "/taxii2/root"
	}
	opt.Sleep = ns.sleep
	c, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return c, ns
}

func TestRequestsCarryTAXIIHeaders(t *testing.T) {
	var got []*http.Request
	var bodies []string
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, bodies = append(got, r), append(bodies, string(b))
		w.Header().Set("Content-Type", "application/taxii+json; version=2.1")
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"id":"s1","status":"complete","total_count":1,"success_count":1,"failure_count":0,"pending_count":0}`)
		case strings.HasSuffix(r.URL.Path, "/objects/"):
			w.Header().Set(HeaderDateAddedLast, "2024-05-01T00:00:00.123456Z")
			io.WriteString(w, `{"more":true,"next":"c2","objects":[{"id":"x--1"}]}`)
		default:
			io.WriteString(w, `{"title":"root","versions":["application/taxii+json;version=2.1"],"max_content_length":100}`)
		}
	}, Options{Token: "kz_secret"})
	ctx := context.Background()
	if r, err := c.APIRoot(ctx); err != nil || r.MaxContentLength != 100 {
		t.Fatalf("APIRoot: %+v %v", r, err)
	}
	after := time.Date(2024, 4, 1, 0, 0, 0, 1000, time.UTC)
	p, err := c.GetObjects(ctx, "coll", Query{AddedAfter: after, Limit: 50, Next: "c1", Types: []string{"indicator", "malware"}, Versions: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.More || p.Next != "c2" || len(p.Objects) != 1 || !p.DateAddedLast.Equal(time.Date(2024, 5, 1, 0, 0, 0, 123456000, time.UTC)) {
		t.Fatalf("page %+v", p)
	}
	st, err := c.AddObjects(ctx, "coll", []json.RawMessage{json.RawMessage(`{"id":"x--1"}`)})
	if err != nil || !st.Complete() || st.SuccessCount != 1 {
		t.Fatalf("AddObjects: %+v %v", st, err)
	}
	if len(got) != 3 {
		t.Fatalf("%d requests", len(got))
	}
	for _, r := range got {
		if r.Header.Get("Accept") != MediaTAXII || r.Header.Get("Authorization") != "Bearer kz_secret" {
			t.Errorf("%s %s: Accept %q, Authorization %q", r.Method, r.URL, r.Header.Get("Accept"), r.Header.Get("Authorization"))
		}
	}
	if got[0].URL.Path != "/taxii2/root/" {
		t.Errorf("API root path %q", got[0].URL.Path)
	}
	q := got[1].URL.Query()
	if got[1].URL.Path != "/taxii2/root/collections/coll/objects/" || q.Get("added_after") != "2024-04-01T00:00:00.000001Z" ||
		q.Get("limit") != "50" || q.Get("next") != "c1" || q.Get("match[type]") != "indicator,malware" || q.Get("match[version]") != "all" {
		t.Errorf("objects request %s", got[1].URL)
	}
	if got[2].Header.Get("Content-Type") != MediaTAXII || bodies[2] != `{"objects":[{"id":"x--1"}]}` {
		t.Errorf("POST Content-Type %q body %s", got[2].Header.Get("Content-Type"), bodies[2])
	}
}

func TestBasicAuth(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "alice" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", MediaTAXII)
		io.WriteString(w, `{"collections":[{"id":"c","title":"t","can_read":true}]}`)
	}, Options{User: "alice", Password: "pw", Token: "ignored"})
	cs, err := c.Collections(context.Background())
	if err != nil || len(cs) != 1 || cs[0].ID != "c" || !cs[0].CanRead {
		t.Fatalf("%+v %v", cs, err)
	}
}

func TestRetries(t *testing.T) {
	var n atomic.Int64
	c, ns := newClient(t, func(w http.ResponseWriter, _ *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
			w.Header().Set("Retry-After", "3")
		case 2:
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Header().Set("Content-Type", MediaTAXII)
			io.WriteString(w, `{"title":"ok"}`)
		}
	}, Options{Backoff: 100 * time.Millisecond})
	d, err := c.Discover(context.Background(), c.APIRootURL())
	if err != nil || d.Title != "ok" {
		t.Fatalf("%+v %v", d, err)
	}
	if len(ns.delays) != 2 || ns.delays[0] > 100*time.Millisecond || ns.delays[1] != 3*time.Second {
		t.Fatalf("delays %v: want a jittered first back-off and Retry-After honoured", ns.delays)
	}
}

func TestErrorsAreNotRetriedAndCarryKinds(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   error
	}{
		{401, errkind.Unauthorized}, {403, errkind.Forbidden}, {404, errkind.NotFound},
		{406, errkind.Unacceptable}, {413, errkind.TooLarge}, {415, errkind.UnsupportedMediaType}, {422, errkind.Unprocessable},
	} {
		var n atomic.Int64
		c, _ := newClient(t, func(w http.ResponseWriter, _ *http.Request) {
			n.Add(1)
			w.Header().Set("Content-Type", MediaTAXII)
			w.WriteHeader(tc.status)
			io.WriteString(w, `{"title":"nope","description":"because"}`)
		}, Options{})
		_, err := c.Collection(context.Background(), "c")
		var he *HTTPError
		if !errors.Is(err, tc.kind) || !errors.As(err, &he) || he.Status != tc.status || he.Title != "nope" || n.Load() != 1 {
			t.Errorf("status %d: err %v after %d requests", tc.status, err, n.Load())
		}
	}
}

func TestGivesUpAfterRetries(t *testing.T) {
	var n atomic.Int64
	c, ns := newClient(t, func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}, Options{Retries: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 15 * time.Millisecond})
	_, err := c.APIRoot(context.Background())
	if err == nil || n.Load() != 3 || len(ns.delays) != 2 || ns.delays[1] > 15*time.Millisecond {
		t.Fatalf("err %v, %d requests, delays %v", err, n.Load(), ns.delays)
	}
}

func TestResponseLimitAndMediaType(t *testing.T) {
	c, _ := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/taxii2/root/" {
			w.Header().Set("Content-Type", MediaTAXII)
			io.WriteString(w, `{"title":"`+strings.Repeat("x", 200)+`"}`)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `{}`)
	}, Options{MaxResponse: 100})
	if _, err := c.APIRoot(context.Background()); !errors.Is(err, errkind.TooLarge) {
		t.Errorf("oversized response: %v", err)
	}
	if _, err := c.Collections(context.Background()); !errors.Is(err, errkind.Unacceptable) {
		t.Errorf("text/html response: %v", err)
	}
}

func TestWaitStatusPolls(t *testing.T) {
	var n atomic.Int64
	c, ns := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", MediaTAXII)
		if n.Add(1) < 3 {
			io.WriteString(w, `{"id":"s","status":"pending","total_count":2,"success_count":1,"pending_count":1}`)
			return
		}
		io.WriteString(w, `{"id":"s","status":"complete","total_count":2,"success_count":2,"pending_count":0}`)
	}, Options{})
	st, err := c.WaitStatus(context.Background(), Status{ID: "s", Status: "pending", TotalCount: 2, PendingCount: 2}, 5*time.Millisecond)
	if err != nil || st.SuccessCount != 2 || n.Load() != 3 || len(ns.delays) != 3 {
		t.Fatalf("%+v %v, %d polls, %v", st, err, n.Load(), ns.delays)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/", "http://", "::"} {
		if _, err := New(Options{APIRoot: u}); !errors.Is(err, errkind.Invalid) {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestTLSSkipVerifyIsOptIn(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", MediaTAXII)
		io.WriteString(w, `{"title":"tls"}`)
	}))
	defer srv.Close()
	strict, err := New(Options{APIRoot: srv.URL + "/r/", Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.APIRoot(context.Background()); err == nil {
		t.Fatal("self-signed certificate accepted without InsecureSkipVerify")
	}
	lax, err := New(Options{APIRoot: srv.URL + "/r/", Retries: -1, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := lax.APIRoot(context.Background()); err != nil || r.Title != "tls" {
		t.Fatalf("%+v %v", r, err)
	}
}
