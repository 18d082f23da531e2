package source_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln/source"
)

// serveFile serves one file over HTTPS on loopback with an ETag and
// Last-Modified, counting full (200) answers.
func serveFile(t *testing.T, path string) (url string, full *int) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") != `"v1"` {
			n++
		}
		http.ServeContent(w, r, "feed.json", mod, bytes.NewReader(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/feed.json", &n
}

// TestRunFileSource: a KEV catalogue URL is imported, then answered 304;
// a URL whose document is not of the source's kind fails.
func TestRunFileSource(t *testing.T) {
	ctx := context.Background()
	url, full := serveFile(t, "../testdata/kev.json")
	r, vdb := consumer(t)
	for _, s := range []source.Source{
		{Name: "kev", Kind: source.KEV, URL: url, InsecureSkipVerify: true},
		{Name: "wrong", Kind: source.OSV, URL: url, InsecureSkipVerify: true},
	} {
		if err := r.Registry.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Run(ctx, "kev")
	if err != nil || res.Fetched != 1 || res.Failed != 0 || res.Added == 0 {
		t.Fatalf("first run: %v %+v", err, res)
	}
	if v, err := vdb.Get(ctx, "CVE-2025-48384"); err != nil || v.KEV == nil {
		t.Errorf("KEV entry not stored: %v %+v", err, v)
	}
	res, err = r.Run(ctx, "kev")
	if err != nil || !res.NotModified || res.Fetched != 0 || *full != 1 {
		t.Errorf("second run: %v %+v, %d full answers", err, res, *full)
	}
	res, err = r.Run(ctx, "wrong")
	if err == nil || !strings.Contains(err.Error(), "a osv source, but the document is kev") || res.Failed != 1 {
		t.Errorf("wrong kind: %v %+v", err, res)
	}
}

// TestSchedulerRunsDueSources: a source with an interval runs when due,
// not again before the interval has passed; one without never.
func TestSchedulerRunsDueSources(t *testing.T) {
	ctx := context.Background()
	url, _ := serveFile(t, "../testdata/kev.json")
	r, _ := consumer(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return now }
	for _, s := range []source.Source{
		{Name: "hourly", Kind: source.KEV, URL: url, InsecureSkipVerify: true, Every: time.Hour},
		{Name: "manual", Kind: source.KEV, URL: url, InsecureSkipVerify: true},
	} {
		if err := r.Registry.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s := &source.Scheduler{Runner: r}
	if n := s.RunDue(ctx); n != 1 {
		t.Fatalf("first tick ran %d sources, want 1", n)
	}
	now = now.Add(30 * time.Minute)
	if n := s.RunDue(ctx); n != 0 {
		t.Errorf("after 30m ran %d sources, want 0", n)
	}
	now = now.Add(31 * time.Minute)
	if n := s.RunDue(ctx); n != 1 {
		t.Errorf("after 61m ran %d sources, want 1", n)
	}
	h, _ := r.Registry.Get(ctx, "hourly")
	m, _ := r.Registry.Get(ctx, "manual")
	if !h.LastSuccess.Equal(now) || h.Fetched != 1 || !m.LastAttempt.IsZero() {
		t.Errorf("health: hourly %+v, manual %+v", h.Health, m.Health)
	}
}
