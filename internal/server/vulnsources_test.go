package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// withVulnSources serves the vulnerability sources API with a registry and
// database of their own.
func withVulnSources(t *testing.T) fixtureOpt {
	return func(cfg *Config) {
		ctx := context.Background()
		dir := t.TempDir()
		db, err := vulndb.Open(ctx, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		reg, err := source.OpenRegistry(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		cfg.Vuln = db
		cfg.VulnSources = &source.Runner{Registry: reg, DB: db, CreatedBy: orgHub}
	}
}

// TestVulnSourcesAPI: hub analysts and admins add, list, run, read and
// remove sources over HTTP (the token never comes back); constituent
// members and organisation admins get 403 on every route, anonymous
// callers 401; bad bodies 400 or 413, a taken name 409, an unknown one 404.
func TestVulnSourcesAPI(t *testing.T) {
	kev, err := os.ReadFile("../vuln/testdata/kev.json")
	if err != nil {
		t.Fatal(err)
	}
	feed := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(kev) }))
	defer feed.Close()
	f := newFixture(t, withVulnSources(t))
	add := `{"name":"kev","kind":"kev","url":"` + feed.URL + `/kev.json","every":"6h","token":"s3cret-token","insecure_skip_verify":true}`

	for _, user := range []string{"alice", "acmeadmin", "bob"} {
		for _, c := range []struct{ method, path, body string }{
			{http.MethodGet, "/api/v1/vuln/sources", ""},
			{http.MethodPost, "/api/v1/vuln/sources", add},
			{http.MethodGet, "/api/v1/vuln/sources/kev", ""},
			{http.MethodPost, "/api/v1/vuln/sources/kev/run", ""},
			{http.MethodDelete, "/api/v1/vuln/sources/kev", ""},
		} {
			r := f.api(c.method, user, c.path, c.body)
			wantStatus(t, r, http.StatusForbidden)
		}
	}
	wantStatus(t, f.api(http.MethodGet, "", "/api/v1/vuln/sources", ""), http.StatusUnauthorized)

	r := f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources", add)
	wantStatus(t, r, http.StatusCreated)
	var st source.Status
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "kev" || st.Kind != "kev" || !st.Token || st.Every != "6h0m0s" || bytes.Contains(r.body, []byte("s3cret")) {
		t.Errorf("added: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "admin", "/api/v1/vuln/sources", add), http.StatusConflict)
	for _, bad := range []string{
		`{"name":"x","kind":"rss","url":"https://example.org/"}`,
		`{"name":"x","kind":"kev","url":"ftp://example.org/"}`,
		`{"name":"x","kind":"kev","url":"https://example.org/","every":"often"}`,
		`{"name":"x","kind":"kev","url":"https://example.org/","colour":"red"}`,
		`{"name":"../x","kind":"kev","url":"https://example.org/"}`,
		`not json`,
	} {
		wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources", bad), http.StatusBadRequest)
	}
	for _, bad := range []string{`["alice"]`, `["nobody"]`, `["acmeadmin"]`} {
		body := `{"name":"red","kind":"csaf-provider","url":"https://example.org/","red_recipients":` + bad + `}`
		r := f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources", body)
		wantStatus(t, r, http.StatusBadRequest)
		if !bytes.Contains(r.body, []byte("RED recipient")) {
			t.Errorf("RED recipients %s: %s", bad, r.body)
		}
	}
	r = f.api(http.MethodPost, "admin", "/api/v1/vuln/sources",
		`{"name":"red","kind":"csaf-provider","url":"https://example.org/","red_recipients":["analyst","`+f.users["admin"]+`"]}`)
	wantStatus(t, r, http.StatusCreated)
	if err := json.Unmarshal(r.body, &st); err != nil || len(st.RedRecipients) != 2 || st.RedRecipients[0] != f.users["analyst"] || st.RedRecipients[1] != f.users["admin"] {
		t.Errorf("RED recipients: %v %s", err, r.body)
	}
	wantStatus(t, f.api(http.MethodDelete, "admin", "/api/v1/vuln/sources/red", ""), http.StatusNoContent)
	big := `{"name":"x","kind":"kev","url":"https://example.org/` + strings.Repeat("a", 20000) + `"}`
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources", big), http.StatusRequestEntityTooLarge)

	r = f.api(http.MethodGet, "analyst", "/api/v1/vuln/sources", "")
	wantStatus(t, r, http.StatusOK)
	var list struct{ Sources []source.Status }
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Sources) != 1 || list.Sources[0].Name != "kev" || bytes.Contains(r.body, []byte("s3cret")) {
		t.Errorf("list: %v %s", err, r.body)
	}

	r = f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources/kev/run", "")
	wantStatus(t, r, http.StatusOK)
	var sum source.RunSummary
	if err := json.Unmarshal(r.body, &sum); err != nil || sum.Fetched != 1 || sum.Added == 0 || sum.Error != "" {
		t.Errorf("run: %v %s", err, r.body)
	}
	if v, err := f.srv.cfg.Vuln.Get(context.Background(), "CVE-2025-48384"); err != nil || v.KEV == nil {
		t.Errorf("the KEV entry was not imported: %v", err)
	}
	r = f.api(http.MethodGet, "admin", "/api/v1/vuln/sources/kev", "")
	wantStatus(t, r, http.StatusOK)
	if err := json.Unmarshal(r.body, &st); err != nil || st.LastSuccess.IsZero() || st.Fetched != 1 || st.LastError != "" {
		t.Errorf("health: %v %s", err, r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/vuln/sources/nope/run", ""), http.StatusNotFound)
	wantStatus(t, f.api(http.MethodDelete, "admin", "/api/v1/vuln/sources/kev", ""), http.StatusNoContent)
	wantStatus(t, f.api(http.MethodGet, "analyst", "/api/v1/vuln/sources/kev", ""), http.StatusNotFound)
	wantStatus(t, f.api(http.MethodDelete, "admin", "/api/v1/vuln/sources/kev", ""), http.StatusNotFound)
}

// TestVulnSourcesAPIDisabled: without a runner the routes answer 404
// (after the role check).
func TestVulnSourcesAPIDisabled(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.api(http.MethodGet, "analyst", "/api/v1/vuln/sources", ""), http.StatusNotFound)
	wantStatus(t, f.api(http.MethodGet, "alice", "/api/v1/vuln/sources", ""), http.StatusForbidden)
}

// TestVulnSourcesOpenAPI: the routes are described in api/openapi.yaml.
func TestVulnSourcesOpenAPI(t *testing.T) {
	spec, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for path, methods := range map[string][]string{
		"/api/v1/vuln/sources":            {"get", "post"},
		"/api/v1/vuln/sources/{name}":     {"get", "delete"},
		"/api/v1/vuln/sources/{name}/run": {"post"},
	} {
		_, rest, ok := strings.Cut(string(spec), "\n  "+path+":\n")
		if !ok {
			t.Errorf("%s is not in the OpenAPI file", path)
			continue
		}
		rest = "\n" + rest
		if i := strings.Index(rest, "\n  /"); i >= 0 {
			rest = rest[:i]
		}
		for _, m := range methods {
			if !strings.Contains(rest, "\n    "+m+":\n") {
				t.Errorf("%s %s is not in the OpenAPI file", strings.ToUpper(m), path)
			}
		}
	}
}
