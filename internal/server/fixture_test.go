package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// Organisations of the test fixture.
const (
	orgHub  = "identity--00000000-0000-4000-8000-000000000001"
	orgAcme = "identity--00000000-0000-4000-8000-000000000002"
	orgBeta = "identity--00000000-0000-4000-8000-000000000003"
)

// Collections of the test fixture besides the default one.
const (
	collAcme     = "11111111-1111-4111-8111-111111111111" // acme only
	collReadOnly = "22222222-2222-4222-8222-222222222222" // everyone reads, hub writes
)

// fixture is a running server on 127.0.0.1:0 over a real SQLite store.
type fixture struct {
	t      *testing.T
	srv    *Server
	st     store.Store
	url    string
	client *http.Client
	// tokens by user name: analyst (hub), admin (hub admin), alice (acme
	// member), acmeadmin (acme org-admin), bob (beta member).
	tokens map[string]string
	users  map[string]string // user name -> user id
}

type fixtureOpt func(*Config)

func newFixture(t *testing.T, opts ...fixtureOpt) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, tokens: map[string]string{}, users: map[string]string{}}
	f.seedDirectory(ctx)
	cfg := Config{
		Listen: "127.0.0.1:0", InsecureHTTP: true, DataDir: dir,
		Store: st, Policy: sharing.NewPolicy(sharing.TLPAmber),
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		HubOrgID: orgHub,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	f.srv, f.url = srv, srv.URL()
	f.client = &http.Client{Timeout: 30 * time.Second}
	return f
}

func (f *fixture) seedDirectory(ctx context.Context) {
	t := f.t
	now := time.Now().UTC()
	for _, o := range []store.Org{
		{ID: orgHub, Name: "hub", Type: "hub", Created: now},
		{ID: orgAcme, Name: "acme", Type: "sme", Created: now},
		{ID: orgBeta, Name: "beta", Type: "academia", Created: now},
	} {
		if err := f.st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for i, u := range []struct {
		name, org string
		role      sharing.Role
	}{
		{"analyst", orgHub, sharing.RoleAnalyst},
		{"admin", orgHub, sharing.RoleHubAdmin},
		{"alice", orgAcme, sharing.RoleMember},
		{"acmeadmin", orgAcme, sharing.RoleOrgAdmin},
		{"bob", orgBeta, sharing.RoleMember},
	} {
		id := fmt.Sprintf("user--00000000-0000-4000-9000-%012d", i+1)
		if err := f.st.CreateUser(ctx, store.User{ID: id, OrgID: u.org, Name: u.name, Role: u.role, Created: now}); err != nil {
			t.Fatal(err)
		}
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateToken(ctx, store.Token{ID: fmt.Sprintf("tok-%d", i), UserID: id, Hash: hash, Created: now}); err != nil {
			t.Fatal(err)
		}
		f.tokens[u.name], f.users[u.name] = tok, id
	}
	for _, c := range []store.Collection{
		{ID: collAcme, APIRoot: store.DefaultAPIRoot, Title: "acme private", ReadOrgs: []string{orgAcme}, WriteOrgs: []string{orgAcme}},
		{ID: collReadOnly, APIRoot: store.DefaultAPIRoot, Title: "hub advisories", ReadOrgs: []string{"*"}, WriteOrgs: []string{orgHub}},
	} {
		if err := f.st.CreateCollection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

// response is a recorded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// req is a request to make.
type req struct {
	method, path, user string
	header             map[string]string
	body               []byte
}

// do sends a request as a fixture user ("" for none) with the TAXII media
// types unless the header map overrides them.
func (f *fixture) do(r req) response {
	f.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, f.url+r.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	hr.Header.Set("Accept", taxii.MediaTAXII)
	if r.body != nil {
		hr.Header.Set("Content-Type", taxii.MediaTAXII)
	}
	if r.user != "" {
		tok, ok := f.tokens[r.user]
		if !ok {
			f.t.Fatalf("no user %q", r.user)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := f.client.Do(hr)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// get is do for a GET by a user.
func (f *fixture) get(user, path string) response {
	f.t.Helper()
	return f.do(req{path: path, user: user})
}

// post submits objects in an envelope to a collection and returns the
// status resource response.
func (f *fixture) post(user, coll string, objs ...string) response {
	f.t.Helper()
	return f.do(req{method: http.MethodPost, path: objectsPath(coll), user: user, body: envelope(objs...)})
}

func envelope(objs ...string) []byte {
	return []byte(`{"objects":[` + strings.Join(objs, ",") + `]}`)
}

func objectsPath(coll string) string {
	return "/taxii2/hub/collections/" + coll + "/objects/"
}

// indicator returns a valid STIX 2.1 indicator; tlp is a marking id or "".
func indicator(n int, modified, tlp string) string {
	markings := ""
	if tlp != "" {
		markings = `,"object_marking_refs":["` + tlp + `"]`
	}
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"2024-01-01T00:00:00.000Z","modified":"%s","name":"indicator %d","pattern":"[ipv4-addr:value = '10.0.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}`,
		indicatorID(n), modified, n, n/256%256, n%256, markings)
}

func indicatorID(n int) string {
	return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n)
}

// malware returns a valid STIX 2.1 malware object.
func malware(n int, tlp string) string {
	return fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-a000-%012d","created":"2024-02-01T00:00:00.000Z","modified":"2024-02-01T00:00:00.000Z","name":"mal %d","is_family":true,"object_marking_refs":["%s"]}`, n, n, tlp)
}

// ids returns the ids of an envelope's objects, in order.
func ids(t *testing.T, r response) []string {
	t.Helper()
	var env struct {
		Objects []struct {
			ID string `json:"id"`
		} `json:"objects"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("not an envelope: %v: %s", err, r.body)
	}
	out := make([]string, len(env.Objects))
	for i, o := range env.Objects {
		out[i] = o.ID
	}
	return out
}

// wantStatus fails unless the response has the status code; for error
// codes it also checks the TAXII error message shape.
func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.status != code {
		t.Fatalf("status %d, want %d: %s", r.status, code, r.body)
	}
	if code >= 400 {
		m := r.json(t)
		if m["title"] == nil || m["http_status"] != fmt.Sprint(code) {
			t.Fatalf("error body lacks title or http_status %d: %s", code, r.body)
		}
	}
}

// ioPipe is io.Pipe (a body of unknown length).
func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

func strconvItoa(n int) string { return fmt.Sprint(n) }
