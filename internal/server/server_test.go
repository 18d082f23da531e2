package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

func TestPaginationNeverSkipsOrRepeats(t *testing.T) {
	f := newFixture(t)
	const n = 230
	// Submit in several batches, interleaving an AMBER object of another
	// organisation that bob must never see.
	var batch []string
	for i := range n {
		batch = append(batch, indicator(i, "2024-01-01T00:00:00.000Z", sharing.TLP2Green))
		if len(batch) == 50 || i == n-1 {
			wantStatus(t, f.post("alice", defColl, batch...), 202)
			wantStatus(t, f.post("alice", defColl, indicator(10000+i, "2024-01-01T00:00:00.000Z", sharing.TLP2Amber)), 202)
			batch = nil
		}
	}
	for _, limit := range []int{1, 7, 100, 1000} {
		t.Run("next/limit="+itoa(limit), func(t *testing.T) {
			seen := map[string]bool{}
			next, pages := "", 0
			for {
				q := "?match[type]=indicator&limit=" + itoa(limit)
				if next != "" {
					q += "&next=" + url.QueryEscape(next)
				}
				r := f.get("bob", objectsPath(defColl)+q)
				wantStatus(t, r, 200)
				got := ids(t, r)
				if len(got) > limit {
					t.Fatalf("page of %d > limit %d", len(got), limit)
				}
				for _, id := range got {
					if seen[id] {
						t.Fatalf("%s repeated", id)
					}
					seen[id] = true
				}
				pages++
				m := r.json(t)
				if m["more"] != true {
					break
				}
				next, _ = m["next"].(string)
				if next == "" {
					t.Fatal("more without next")
				}
			}
			if len(seen) != n {
				t.Errorf("saw %d objects in %d pages, want %d", len(seen), pages, n)
			}
		})
	}
	t.Run("added_after", func(t *testing.T) {
		seen := map[string]bool{}
		after := ""
		for range n + 2 {
			q := "?limit=13"
			if after != "" {
				q += "&added_after=" + url.QueryEscape(after)
			}
			r := f.get("bob", objectsPath(defColl)+q)
			got := ids(t, r)
			if len(got) == 0 {
				break
			}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s repeated", id)
				}
				seen[id] = true
			}
			after = r.header.Get(taxii.HeaderDateAddedLast)
		}
		if len(seen) != n {
			t.Errorf("saw %d, want %d", len(seen), n)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		seen, next := 0, ""
		for {
			q := "?limit=50"
			if next != "" {
				q += "&next=" + url.QueryEscape(next)
			}
			m := f.get("bob", "/taxii2/hub/collections/"+defColl+"/manifest/"+q).json(t)
			objs, _ := m["objects"].([]any)
			seen += len(objs)
			if m["more"] != true {
				break
			}
			next = m["next"].(string)
		}
		if seen != n {
			t.Errorf("manifest paged %d, want %d", seen, n)
		}
	})
}

func itoa(n int) string { return strconvItoa(n) }

// slowStore delays Add until released, to observe pending statuses.
type slowStore struct {
	store.Store
	release chan struct{}
}

func (s *slowStore) Add(ctx context.Context, coll string, recs []store.Record, statusID string) ([]store.AddResult, error) {
	<-s.release
	return s.Store.Add(ctx, coll, recs, statusID)
}

func TestStatusPendingThenComplete(t *testing.T) {
	var slow *slowStore
	f := newFixture(t, func(c *Config) {
		slow = &slowStore{Store: c.Store, release: make(chan struct{})}
		c.Store = slow
		c.SubmitWait = 50 * time.Millisecond
	})
	r := f.post("alice", defColl,
		indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Green),
		indicator(2, "2024-01-01T00:00:00.000Z", sharing.TLP2Green),
		`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000003","created":"2024-01-01T00:00:00.000Z"}`)
	wantStatus(t, r, 202)
	st := r.json(t)
	if st["status"] != "pending" || st["pending_count"] != 2.0 || st["failure_count"] != 1.0 || st["total_count"] != 3.0 {
		t.Fatalf("first status: %s", r.body)
	}
	sid := st["id"].(string)
	if got := ids(t, f.get("alice", objectsPath(defColl))); len(got) != 0 {
		close(slow.release)
		t.Fatalf("objects %v visible before the transaction committed", got)
	}
	close(slow.release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = f.get("alice", "/taxii2/hub/status/"+sid+"/")
		st = r.json(t)
		if st["status"] == "complete" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never completed: %s", r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st["success_count"] != 2.0 || st["pending_count"] != 0.0 || st["failure_count"] != 1.0 {
		t.Errorf("final status: %s", r.body)
	}
	if got := ids(t, f.get("alice", objectsPath(defColl))); len(got) != 2 {
		t.Errorf("stored: %v", got)
	}
}

func TestConcurrentSubmissions(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Workers = 2; c.Queue = 2 })
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.post("bob", defColl, indicator(i, "2024-01-01T00:00:00.000Z", sharing.TLP2Green))
			if r.status != 202 {
				errs <- string(r.body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := ids(t, f.get("bob", objectsPath(defColl))); len(got) != 20 {
		t.Errorf("stored %d, want 20", len(got))
	}
}

func TestLoopbackOnlyForPlainHTTP(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := []struct {
		listen string
		ok     bool
	}{
		{"127.0.0.1:0", true},
		{"127.1.2.3:0", true},
		{"[::1]:0", true},
		{"localhost:0", true},
		{"0.0.0.0:0", false},
		{":0", false},
		{"192.0.2.10:8443", false},
		{"[::]:0", false},
		{"example.org:443", false},
		{"localhost.example.org:443", false},
		{"no-port", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			_, err := New(Config{Listen: tt.listen, InsecureHTTP: true, Store: st, Policy: sharing.NewPolicy(0)})
			if (err == nil) != tt.ok {
				t.Errorf("New(%s, insecure) error = %v, want ok=%v", tt.listen, err, tt.ok)
			}
		})
	}
}

func TestSelfSignedCertificateReused(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fingerprint := func() [32]byte {
		srv, err := New(Config{Listen: "127.0.0.1:0", DataDir: dir, Store: st, Policy: sharing.NewPolicy(0)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		if !strings.HasPrefix(srv.URL(), "https://") {
			t.Fatalf("URL %s is not https", srv.URL())
		}
		u, _ := url.Parse(srv.URL())
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		certs := conn.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			t.Fatal("no certificate")
		}
		if err := certs[0].VerifyHostname("127.0.0.1"); err != nil {
			t.Errorf("certificate not valid for 127.0.0.1: %v", err)
		}
		// A plain HTTPS request works and plain HTTP is not served.
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
		resp, err := c.Get(srv.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Errorf("healthz over TLS: %d %v", resp.StatusCode, resp.Header)
		}
		return sha256.Sum256(certs[0].Raw)
	}
	a := fingerprint()
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", info.Mode().Perm())
	}
	if b := fingerprint(); a != b {
		t.Error("restart generated a new certificate instead of reusing the stored one")
	}
	// Explicit cert and key files are used as given; only one of them is an error.
	if _, err := New(Config{Listen: "127.0.0.1:0", TLSCert: filepath.Join(dir, CertFile), Store: st, Policy: sharing.NewPolicy(0)}); err == nil {
		t.Error("certificate without key accepted")
	}
	srv, err := New(Config{Listen: "127.0.0.1:0", TLSCert: filepath.Join(dir, CertFile), TLSKey: filepath.Join(dir, KeyFile), Store: st, Policy: sharing.NewPolicy(0)})
	if err != nil || srv.tlsConf == nil {
		t.Errorf("explicit certificate: %v", err)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t)
	if r := f.get("", "/healthz"); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	if r := f.get("", "/readyz"); r.status != 200 || !strings.Contains(string(r.body), "ready") {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	f.get("", "/taxii2/")      // 401
	f.get("alice", "/taxii2/") // 200
	f.get("alice", "/nowhere") // 404
	r := f.get("", "/metrics")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics %d %v", r.status, r.header)
	}
	body := string(r.body)
	for _, want := range []string{
		`kizuna_http_requests_total{code="200"}`,
		`kizuna_http_requests_total{code="401"} 1`,
		`kizuna_http_requests_total{code="404"} 1`,
		"kizuna_auth_failures_total 1",
		"kizuna_http_request_duration_seconds_count",
		"# TYPE kizuna_http_requests_total counter",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestWhoami(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		user, org, role string
		analyst         bool
	}{
		{"alice", orgAcme, "member", false},
		{"analyst", orgHub, "analyst", true},
	}
	for _, tt := range tests {
		r := f.get(tt.user, "/api/v1/whoami")
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("whoami %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["org_id"] != tt.org || m["user"] != tt.user || m["role"] != tt.role || m["hub_analyst"] != tt.analyst {
			t.Errorf("whoami %s = %s", tt.user, r.body)
		}
		if strings.Contains(string(r.body), f.tokens[tt.user]) {
			t.Error("whoami echoes the token")
		}
	}
	r := f.get("", "/api/v1/whoami")
	wantStatus(t, r, 401)
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("API error Content-Type %q", r.header.Get("Content-Type"))
	}
}

func TestSharePreview(t *testing.T) {
	f := newFixture(t)
	bundle := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[` +
		indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Clear) + "," +
		indicator(2, "2024-01-01T00:00:00.000Z", sharing.TLP2Amber) + "," +
		indicator(3, "2024-01-01T00:00:00.000Z", sharing.TLP2Red) + "," +
		`{"no":"type"}` + `]}`
	r := f.do(req{method: "POST", path: "/api/v1/share/preview", user: "alice",
		header: map[string]string{"Content-Type": "application/stix+json;version=2.1"}, body: []byte(bundle)})
	if r.status != 200 {
		t.Fatalf("preview %d %s", r.status, r.body)
	}
	var out struct {
		Objects []struct {
			ID            string
			Error         string
			TLP           string
			Public        bool
			HubAnalysts   bool `json:"hub_analysts"`
			Organizations []struct{ ID string }
			Users         []struct{ ID string }
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Objects) != 4 {
		t.Fatalf("preview: %s", r.body)
	}
	orgs := func(i int) []string {
		var s []string
		for _, o := range out.Objects[i].Organizations {
			s = append(s, o.ID)
		}
		return s
	}
	clear, amber, red := out.Objects[0], out.Objects[1], out.Objects[2]
	if !clear.Public || len(orgs(0)) != 3 || clear.TLP != "TLP:CLEAR" {
		t.Errorf("CLEAR audience: %+v", clear)
	}
	if amber.Public || !amber.HubAnalysts || strings.Join(orgs(1), ",") != orgAcme {
		t.Errorf("AMBER audience: %+v", amber)
	}
	if red.Public || red.HubAnalysts || len(red.Organizations) != 0 || len(red.Users) != 1 || red.Users[0].ID != f.users["alice"] {
		t.Errorf("RED audience: %+v", red)
	}
	if out.Objects[3].Error == "" {
		t.Error("unparseable object without error")
	}
	// Enforcement agrees with the preview: bob (beta) does not get AMBER.
	wantStatus(t, f.post("alice", defColl, indicator(2, "2024-01-01T00:00:00.000Z", sharing.TLP2Amber)), 202)
	wantStatus(t, f.get("bob", objectsPath(defColl)+indicatorID(2)+"/"), 404)

	wantStatus(t, f.do(req{method: "POST", path: "/api/v1/share/preview", user: "alice",
		header: map[string]string{"Content-Type": "text/plain"}, body: []byte(bundle)}), 415)
	wantStatus(t, f.do(req{method: "POST", path: "/api/v1/share/preview", user: "alice",
		header: map[string]string{"Content-Type": "application/json"}, body: []byte("[1,")}), 400)
}

func TestPublicFeedPaging(t *testing.T) {
	f := newFixture(t)
	var objs []string
	for i := range 25 {
		objs = append(objs, indicator(i, "2024-01-01T00:00:00.000Z", sharing.TLP2Clear))
		objs = append(objs, indicator(100+i, "2024-01-01T00:00:00.000Z", sharing.TLP2Green))
	}
	wantStatus(t, f.post("alice", defColl, objs...), 202)
	seen := map[string]bool{}
	path := "/public/clear?limit=10"
	for range 10 {
		r := f.get("", path)
		if r.status != 200 || r.header.Get("Content-Type") != taxii.MediaSTIX {
			t.Fatalf("feed %d %v", r.status, r.header)
		}
		for _, id := range ids(t, r) {
			if seen[id] {
				t.Fatalf("%s repeated", id)
			}
			seen[id] = true
		}
		if r.header.Get("X-Kizuna-More") != "true" {
			break
		}
		link := r.header.Get("Link")
		if !strings.HasPrefix(link, "</public/clear?") {
			t.Fatalf("Link %q", link)
		}
		path = link[1:strings.Index(link, ">")]
	}
	if len(seen) != 25 {
		t.Errorf("public feed served %d objects, want the 25 CLEAR ones", len(seen))
	}
	for id := range seen {
		if id >= indicatorID(100) {
			t.Errorf("GREEN object %s in the public feed", id)
		}
	}
	wantStatus(t, f.get("", "/public/clear?limit=-1"), 400)
}

func TestShutdownDrainsSubmissions(t *testing.T) {
	var slow *slowStore
	f := newFixture(t, func(c *Config) {
		slow = &slowStore{Store: c.Store, release: make(chan struct{})}
		c.Store = slow
		c.SubmitWait = 20 * time.Millisecond
	})
	r := f.post("alice", defColl, indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Green))
	wantStatus(t, r, 202)
	sid := r.json(t)["id"].(string)
	done := make(chan error, 1)
	go func() { done <- f.srv.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("shutdown returned (%v) before the queued submission ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := slow.Status(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Successes) != 1 || len(st.Pendings) != 0 {
		t.Errorf("after shutdown: %+v", st)
	}
}

func TestPublicFeedCollections(t *testing.T) {
	f := newFixture(t)
	const collPublic = "33333333-3333-4333-8333-333333333333"
	if err := f.st.CreateCollection(context.Background(), store.Collection{ID: collPublic, APIRoot: store.DefaultAPIRoot,
		Title: "public", ReadOrgs: []string{sharing.PublicReaders, orgHub}, WriteOrgs: []string{orgHub}}); err != nil {
		t.Fatal(err)
	}
	clear := func(n int) string { return indicator(n, "2024-01-01T00:00:00.000Z", sharing.TLP2Clear) }
	wantStatus(t, f.post("alice", collAcme, clear(1)), 202)
	wantStatus(t, f.post("alice", defColl, clear(2)), 202)
	wantStatus(t, f.post("analyst", collReadOnly, clear(3)), 202)
	wantStatus(t, f.post("analyst", collPublic, clear(4)), 202)
	tests := []struct {
		query string
		want  []string // nil: 404
	}{
		{"", []string{indicatorID(2)}},
		{"?collection=" + collReadOnly, []string{indicatorID(3)}},
		{"?collection=" + collPublic, []string{indicatorID(4)}},
		{"?collection=" + collAcme, nil},
		{"?collection=nope", nil},
	}
	for _, tt := range tests {
		r := f.get("", "/public/clear"+tt.query)
		if tt.want == nil {
			wantStatus(t, r, 404)
			continue
		}
		wantStatus(t, r, 200)
		if got := ids(t, r); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.query, got, tt.want)
		}
	}
	wantStatus(t, f.get("", "/public/clear?collection=a&collection=b"), 400)
}
