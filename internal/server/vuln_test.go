package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

const vulnFixtures = "../vuln/testdata/vulndb/"

// withVuln serves SBOMs and findings from a vulnerability database holding
// the synthetic KZ-DEMO-1 record.
func withVuln(t *testing.T) fixtureOpt {
	return func(cfg *Config) {
		db, err := vulndb.Open(context.Background(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		data, err := os.ReadFile(vulnFixtures + "osv-KZ-DEMO-1-v1.json")
		if err != nil {
			t.Fatal(err)
		}
		p, err := vulndb.Parse("osv-KZ-DEMO-1-v1.json", data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutVulns(context.Background(), p.Vulns); err != nil {
			t.Fatal(err)
		}
		cfg.Vuln = db
	}
}

func (f *fixture) uploadSBOM(user, query, file string) response {
	f.t.Helper()
	body, err := os.ReadFile(vulnFixtures + file)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.do(req{method: http.MethodPost, path: "/api/v1/sboms" + query, user: user, body: body,
		header: map[string]string{"Content-Type": "application/octet-stream", "Accept": "application/json"}})
}

func decodeFindings(t *testing.T, r response) findingsResponse {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var fr findingsResponse
	if err := json.Unmarshal(r.body, &fr); err != nil {
		t.Fatalf("not a findings response: %v: %s", err, r.body)
	}
	return fr
}

func TestVulnAPIOrganisationsSeparated(t *testing.T) {
	f := newFixture(t, withVuln(t))
	r := f.uploadSBOM("alice", "?name=web", "sbom-demo.txt")
	wantStatus(t, r, http.StatusCreated)
	var info vulndb.SBOM
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Org != orgAcme || info.Asset != "web" || info.Version != 1 || info.Findings != 3 || info.NewFindings != 3 {
		t.Errorf("upload: %+v", info)
	}
	// Beta uploads the same SBOM under the same asset name: its own.
	r = f.uploadSBOM("bob", "?name=web", "sbom-demo.txt")
	wantStatus(t, r, http.StatusCreated)

	acme := decodeFindings(t, f.api(http.MethodGet, "alice", "/api/v1/findings", ""))
	if acme.Org != orgAcme || len(acme.Findings) != 3 {
		t.Fatalf("acme findings %+v", acme)
	}
	for _, fd := range acme.Findings {
		if fd.Org != orgAcme || fd.Vulnerability != "KZ-DEMO-1" {
			t.Errorf("acme sees %+v", fd)
		}
	}
	beta := decodeFindings(t, f.api(http.MethodGet, "bob", "/api/v1/findings", ""))
	for _, fd := range beta.Findings {
		if fd.Org != orgBeta {
			t.Errorf("beta sees %+v", fd)
		}
	}
	if len(beta.Findings) != 3 {
		t.Errorf("beta findings %d", len(beta.Findings))
	}
	// A member cannot ask for another organisation, by id or name.
	for _, q := range []string{orgBeta, "beta"} {
		r := f.api(http.MethodGet, "alice", "/api/v1/findings?org="+q, "")
		wantStatus(t, r, http.StatusForbidden)
		if strings.Contains(string(r.body), "KZ-DEMO-1") {
			t.Errorf("forbidden answer carries findings: %s", r.body)
		}
	}
	// Naming its own organisation is fine.
	if got := decodeFindings(t, f.api(http.MethodGet, "alice", "/api/v1/findings?org="+orgAcme, "")); len(got.Findings) != 3 {
		t.Errorf("own org by id: %+v", got)
	}
	// A hub analyst may read any organisation's, by name or id.
	if got := decodeFindings(t, f.api(http.MethodGet, "analyst", "/api/v1/findings?org=beta", "")); got.Org != orgBeta || len(got.Findings) != 3 {
		t.Errorf("analyst, beta: %+v", got)
	}
	if got := decodeFindings(t, f.api(http.MethodGet, "analyst", "/api/v1/findings?org="+orgAcme, "")); got.Org != orgAcme || len(got.Findings) != 3 {
		t.Errorf("analyst, acme: %+v", got)
	}
	wantStatus(t, f.api(http.MethodGet, "analyst", "/api/v1/findings?org=nobody", ""), http.StatusNotFound)
	// The hub's own organisation has no SBOMs.
	if got := decodeFindings(t, f.api(http.MethodGet, "analyst", "/api/v1/findings", "")); got.Org != orgHub || len(got.Findings) != 0 {
		t.Errorf("analyst, own: %+v", got)
	}
	// SBOM list, per organisation.
	r = f.api(http.MethodGet, "bob", "/api/v1/sboms", "")
	wantStatus(t, r, http.StatusOK)
	var sl sbomsResponse
	if err := json.Unmarshal(r.body, &sl); err != nil {
		t.Fatal(err)
	}
	if len(sl.SBOMs) != 1 || sl.SBOMs[0].Org != orgBeta {
		t.Errorf("beta SBOMs %+v", sl)
	}
	// Errors: no token, unparsable SBOM.
	wantStatus(t, f.api(http.MethodGet, "", "/api/v1/findings", ""), http.StatusUnauthorized)
	wantStatus(t, f.uploadSBOM("alice", "", "kev-KZ.json"), http.StatusBadRequest)
}

func TestVulnAPIDisabled(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.api(http.MethodGet, "alice", "/api/v1/findings", ""), http.StatusNotFound)
}
