package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/store"
)

// faultyStore fails or panics on Collections.
type faultyStore struct {
	store.Store
	panic bool
}

func (s *faultyStore) Collections(ctx context.Context, root string) ([]store.Collection, error) {
	if s.panic {
		panic("boom in the store")
	}
	return nil, errors.New("sqlite: disk I/O error at /secret/path/kizuna.db")
}

// lockedBuffer is a concurrency-safe log sink.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServerErrorsHideDetails(t *testing.T) {
	logs := &lockedBuffer{}
	f := newFixture(t, func(c *Config) {
		c.Store = &faultyStore{Store: c.Store}
		c.Log = slog.New(slog.NewJSONHandler(logs, nil))
	})
	r := f.get("alice", "/taxii2/hub/collections/")
	wantStatus(t, r, 500)
	m := r.json(t)
	if strings.Contains(string(r.body), "secret") || strings.Contains(string(r.body), "sqlite") {
		t.Errorf("500 leaks internals: %s", r.body)
	}
	id, _ := m["error_id"].(string)
	if id == "" || !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "disk I/O error") {
		t.Errorf("error_id %q not logged with the detail:\n%s", id, logs.String())
	}
}

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Store = &faultyStore{Store: c.Store, panic: true} })
	r := f.get("alice", "/taxii2/hub/collections/")
	wantStatus(t, r, 500)
	if strings.Contains(string(r.body), "boom") {
		t.Errorf("panic value sent to the client: %s", r.body)
	}
	// The server keeps serving.
	wantStatus(t, f.get("alice", "/taxii2/hub/"), 200)
	if !strings.Contains(string(f.get("", "/metrics").body), "kizuna_http_panics_total 1") {
		t.Error("panic not counted")
	}
}

func TestRequestLogsWithoutSecrets(t *testing.T) {
	logs := &lockedBuffer{}
	f := newFixture(t, func(c *Config) { c.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	f.get("alice", "/taxii2/hub/collections/?match[type]=secret-query-value")
	f.do(req{path: "/taxii2/", header: map[string]string{"Authorization": "Bearer kz_wrongwrongwrongwrongwrongwrongwrongwrongwro"}})
	out := logs.String()
	if !strings.Contains(out, `"path":"/taxii2/hub/collections/"`) || !strings.Contains(out, `"status":401`) {
		t.Errorf("requests not logged:\n%s", out)
	}
	for _, secret := range []string{f.tokens["alice"], "kz_wrongwrong", "secret-query-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	f := newFixture(t)
	tests := []struct{ method, path, allow string }{
		{"PUT", "/taxii2/", "GET"},
		{"POST", "/taxii2/hub/collections/", "GET"},
		{"PATCH", objectsPath(defColl), "GET, POST"},
		{"POST", objectsPath(defColl) + indicatorID(1) + "/", "GET, DELETE"},
	}
	for _, tt := range tests {
		r := f.do(req{method: tt.method, path: tt.path, user: "alice"})
		wantStatus(t, r, 405)
		if got := r.header.Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}
