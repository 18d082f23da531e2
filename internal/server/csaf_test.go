package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// csafDraft is a minimal analyst draft with the given id and TLP label.
func csafDraft(id, tlp string) []byte {
	return []byte(`{"document":{"category":"csaf_base","title":"Test advisory ` + id + `","lang":"en",
	"distribution":{"tlp":{"label":"` + tlp + `"}},
	"publisher":{"category":"coordinator","name":"Kizuna test hub","namespace":"https://kizuna.invalid"},
	"tracking":{"id":"` + id + `"}}}`)
}

// publishCSAF publishes a draft as a user and returns the response.
func (f *fixture) publishCSAF(user string, body []byte, query string) response {
	f.t.Helper()
	return f.do(req{method: http.MethodPost, path: "/api/v1/csaf/advisories" + query, user: user, body: body,
		header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"}})
}

func TestCSAFProviderTLP(t *testing.T) {
	f := newFixture(t)
	for _, d := range []struct{ id, tlp, query string }{
		{"KZ-WHITE-1", "WHITE", ""},
		{"KZ-GREEN-1", "GREEN", ""},
		{"KZ-AMBER-1", "AMBER", ""},
		{"KZ-AMBER-ACME", "AMBER", "?org=" + orgAcme},
		{"KZ-RED-1", "RED", ""},
	} {
		r := f.publishCSAF("analyst", csafDraft(d.id, d.tlp), d.query)
		wantStatus(t, r, http.StatusCreated)
		m := r.json(t)
		if m["tlp"] != d.tlp || m["id"] != d.id || !strings.HasPrefix(m["url"].(string), f.url+"/.well-known/csaf/"+strings.ToLower(d.tlp)+"/") {
			t.Fatalf("publish %s: %v", d.id, m)
		}
	}
	path := func(tlp, id string) string {
		return "/.well-known/csaf/" + tlp + "/" + f.yearOf(id) + "/" + strings.ToLower(id) + ".json"
	}

	// Who sees what: "" is anonymous. analyst published everything, so RED
	// is theirs; alice (acme) is named on KZ-AMBER-ACME; bob (beta) is not.
	tests := []struct {
		user, path string
		want       int
	}{
		{"", path("white", "KZ-WHITE-1"), 200},
		{"", path("white", "KZ-WHITE-1") + ".asc", 200},
		{"", path("white", "KZ-WHITE-1") + ".sha512", 200},
		{"", "/.well-known/csaf/white/index.txt", 200},
		{"", path("green", "KZ-GREEN-1"), 401},
		{"", "/.well-known/csaf/amber/index.txt", 401},
		{"", path("red", "KZ-RED-1"), 401},
		{"bob", path("green", "KZ-GREEN-1"), 200},
		{"bob", path("amber", "KZ-AMBER-1"), 404},
		{"bob", path("amber", "KZ-AMBER-ACME"), 404},
		{"alice", path("amber", "KZ-AMBER-ACME"), 200},
		{"alice", path("amber", "KZ-AMBER-ACME") + ".asc", 200},
		{"alice", path("amber", "KZ-AMBER-1"), 404},
		{"alice", path("red", "KZ-RED-1"), 404},
		{"analyst", path("amber", "KZ-AMBER-1"), 200},
		{"analyst", path("red", "KZ-RED-1"), 200},
		{"admin", path("red", "KZ-RED-1"), 404},
		{"", "/.well-known/csaf/white/2026%2F..%2F..%2Famber%2Findex.txt", 404},
		{"", "/.well-known/csaf/purple/index.txt", 404},
		{"", "/.well-known/csaf/white/2020/x.txt", 404},
	}
	for _, tt := range tests {
		if r := f.get(tt.user, tt.path); r.status != tt.want {
			t.Errorf("%q GET %s: %d, want %d: %s", tt.user, tt.path, r.status, tt.want, r.body)
		}
	}

	// Lists and feeds are filtered per requester.
	lists := []struct {
		user, path  string
		has, hasNot []string
	}{
		{"alice", "/.well-known/csaf/amber/index.txt", []string{"kz-amber-acme.json"}, []string{"kz-amber-1.json"}},
		{"alice", "/.well-known/csaf/amber/changes.csv", []string{"kz-amber-acme.json"}, []string{"kz-amber-1.json"}},
		{"alice", "/.well-known/csaf/amber/csaf-feed-tlp-amber.json", []string{"KZ-AMBER-ACME"}, []string{"KZ-AMBER-1"}},
		{"bob", "/.well-known/csaf/amber/csaf-feed-tlp-amber.json", nil, []string{"KZ-AMBER-ACME", "KZ-AMBER-1"}},
		{"analyst", "/.well-known/csaf/amber/index.txt", []string{"kz-amber-acme.json", "kz-amber-1.json"}, nil},
		{"", "/.well-known/csaf/provider-metadata.json", []string{"white/", "csaf_trusted_provider"}, []string{"green", "amber", "red"}},
		{"bob", "/.well-known/csaf/provider-metadata.json", []string{"white/", "green/"}, []string{"amber", "red"}},
		{"analyst", "/.well-known/csaf/provider-metadata.json", []string{"white/", "green/", "amber/", "red/"}, nil},
		{"", "/.well-known/csaf/service.json", []string{"csaf-feed-tlp-white.json"}, []string{"amber"}},
		{"", "/.well-known/csaf/white/", []string{`href="index.txt"`, `href="` + f.yearOf("KZ-WHITE-1") + `/"`}, nil},
		{"", "/.well-known/security.txt", []string{"CSAF: " + f.url + "/.well-known/csaf/provider-metadata.json"}, nil},
	}
	for _, l := range lists {
		r := f.get(l.user, l.path)
		wantStatus(t, r, http.StatusOK)
		for _, s := range l.has {
			if !strings.Contains(string(r.body), s) {
				t.Errorf("%q GET %s lacks %q:\n%s", l.user, l.path, s, r.body)
			}
		}
		for _, s := range l.hasNot {
			if strings.Contains(string(r.body), s) {
				t.Errorf("%q GET %s shows %q:\n%s", l.user, l.path, s, r.body)
			}
		}
	}

	// The key in provider-metadata.json is served where it says.
	var pmd struct {
		Keys []struct{ Fingerprint, URL string } `json:"public_openpgp_keys"`
	}
	if err := json.Unmarshal(f.get("", "/.well-known/csaf/provider-metadata.json").body, &pmd); err != nil || len(pmd.Keys) != 1 {
		t.Fatalf("public_openpgp_keys: %v %v", pmd, err)
	}
	r := f.get("", strings.TrimPrefix(pmd.Keys[0].URL, f.url))
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Errorf("key: %s", r.body)
	}
	wantStatus(t, f.get("", "/.well-known/csaf/openpgp/0000.asc"), http.StatusNotFound)
}

// yearOf returns the year directory of a published advisory (the year of
// its initial release: now, for drafts).
func (f *fixture) yearOf(id string) string {
	f.t.Helper()
	b, err := os.ReadFile(f.srv.cfg.DataDir + "/csaf/advisories.json")
	if err != nil {
		f.t.Fatal(err)
	}
	var es []struct{ ID, Path string }
	if err := json.Unmarshal(b, &es); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range es {
		if e.ID == id {
			return strings.Split(e.Path, "/")[0]
		}
	}
	f.t.Fatalf("%s not published", id)
	return ""
}

func TestCSAFPublishAPI(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, user, ct, query string
		body                  []byte
		want                  int
		msg                   string
	}{
		{"member refused", "alice", "application/json", "", csafDraft("KZ-1", "WHITE"), 403, "hub analysts"},
		{"anonymous refused", "", "application/json", "", csafDraft("KZ-1", "WHITE"), 401, ""},
		{"no TLP", "analyst", "application/json", "", []byte(`{"document":{"category":"csaf_base","title":"t","publisher":{"category":"coordinator","name":"n","namespace":"https://kizuna.invalid"},"tracking":{"id":"KZ-2"}}}`), 400, "tlp.label"},
		{"TLP from query", "analyst", "application/json", "?tlp=green", []byte(`{"document":{"category":"csaf_base","title":"t","publisher":{"category":"coordinator","name":"n","namespace":"https://kizuna.invalid"},"tracking":{"id":"KZ-3"}}}`), 201, ""},
		{"bad TLP", "analyst", "application/json", "?tlp=purple", csafDraft("KZ-4", "WHITE"), 400, "tlp"},
		{"schema problem", "analyst", "application/json", "", []byte(`{"document":{"category":"csaf_base","title":"t","distribution":{"tlp":{"label":"WHITE"}},"publisher":{"category":"nobody","name":"n","namespace":"https://kizuna.invalid"},"tracking":{"id":"KZ-5"}}}`), 400, "/document/publisher/category"},
		{"mandatory test", "analyst", "application/json", "", []byte(`{"document":{"category":"csaf_base","title":"t","distribution":{"tlp":{"label":"WHITE"}},"publisher":{"category":"coordinator","name":"n","namespace":"https://kizuna.invalid"},"tracking":{"id":"KZ-6"}},"product_tree":{"product_groups":[{"group_id":"G1","product_ids":["P1","P2"]}]}}`), 400, "6.1.1"},
		{"YAML", "analyst", "application/yaml", "", []byte("document:\n  category: csaf_base\n  title: t\n  distribution: {tlp: {label: WHITE}}\n  publisher: {category: coordinator, name: n, namespace: 'https://kizuna.invalid'}\n  tracking: {id: KZ-7}\n"), 201, ""},
		{"XML refused", "analyst", "application/xml", "", []byte(`<x/>`), 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(req{method: http.MethodPost, path: "/api/v1/csaf/advisories" + tt.query, user: tt.user, body: tt.body,
				header: map[string]string{"Content-Type": tt.ct, "Accept": "application/json"}})
			if r.status != tt.want || !strings.Contains(string(r.body), tt.msg) {
				t.Errorf("status %d, want %d with %q: %s", r.status, tt.want, tt.msg, r.body)
			}
		})
	}
	idx := f.get("", "/.well-known/csaf/white/index.txt")
	if !strings.Contains(string(idx.body), "kz-7.json") || strings.Contains(string(idx.body), "kz-1.json") {
		t.Errorf("white index.txt: %s", idx.body)
	}
}

// A WHITE advisory published through the API becomes a vulnerability
// record and a TLP:CLEAR STIX vulnerability object others can read.
func TestCSAFPublishImports(t *testing.T) {
	f := newFixture(t, withCSAFVuln(t, nil))
	r := f.publishCSAF("analyst", csafWithVulnerability("KZ-W", "WHITE", "CVE-2024-0001"), "")
	wantStatus(t, r, http.StatusCreated)
	imp, _ := r.json(t)["imported"].(map[string]any)
	if imp["records_added"] != float64(1) || imp["stix_objects"] != float64(2) { // vulnerability and report
		t.Fatalf("imported: %s", r.body)
	}
	objs := f.get("alice", objectsPath(store.DefaultCollectionID)+"?match[type]=vulnerability")
	wantStatus(t, objs, http.StatusOK)
	if !strings.Contains(string(objs.body), "CVE-2024-0001") || !strings.Contains(string(objs.body), sharing.TLP2Clear) {
		t.Errorf("vulnerability objects seen by alice:\n%s", objs.body)
	}
}

// withCSAFVuln gives the server a vulnerability database; notified, when
// set, receives every finding the database notifies.
func withCSAFVuln(t *testing.T, notified *[]vulndb.Finding) fixtureOpt {
	return func(cfg *Config) {
		db, err := vulndb.Open(context.Background(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if notified != nil {
			db.Subscribe(func(_ context.Context, fs []vulndb.Finding) { *notified = append(*notified, fs...) })
		}
		cfg.Vuln = db
	}
}

// csafWithVulnerability is a draft about one CVE affecting
// pkg:npm/example@1.0.0.
func csafWithVulnerability(id, tlp, cve string) []byte {
	d := string(csafDraft(id, tlp))
	d = strings.TrimSuffix(d, "}") + `,"product_tree":{"full_product_names":[{"name":"Example 1.0","product_id":"P1","product_identification_helper":{"purl":"pkg:npm/example@1.0.0"}}]},
		"vulnerabilities":[{"cve":"` + cve + `","product_status":{"known_affected":["P1"]}}]}`
	return []byte(d)
}

// TestCSAFPublishTLPMatrix publishes one advisory per TLP label about a
// component that acme and beta both run (SBOMs uploaded before and after
// publication) and checks, for every organisation and user, who sees the
// STIX vulnerability object, who gets the finding and who is notified:
// nobody outside an advisory's distribution.
func TestCSAFPublishTLPMatrix(t *testing.T) {
	var notified []vulndb.Finding
	f := newFixture(t, withCSAFVuln(t, &notified))
	upload := func(user, asset string) {
		r := f.do(req{method: http.MethodPost, path: "/api/v1/sboms?name=" + asset + "&filename=inv.txt", user: user,
			body: []byte("pkg:npm/example@1.0.0\n"), header: map[string]string{"Content-Type": "application/octet-stream", "Accept": "application/json"}})
		wantStatus(t, r, http.StatusCreated)
	}
	upload("alice", "before")
	upload("bob", "before")
	advisories := []struct{ id, tlp, query, cve string }{
		{"KZ-M-WHITE", "WHITE", "", "CVE-2024-1001"},
		{"KZ-M-GREEN", "GREEN", "", "CVE-2024-1002"},
		{"KZ-M-AMBER", "AMBER", "", "CVE-2024-1003"},
		{"KZ-M-AMBER-ACME", "AMBER", "?org=" + orgAcme, "CVE-2024-1004"},
		{"KZ-M-RED", "RED", "", "CVE-2024-1005"},
	}
	for _, a := range advisories {
		r := f.publishCSAF("analyst", csafWithVulnerability(a.id, a.tlp, a.cve), a.query)
		wantStatus(t, r, http.StatusCreated)
		if imp, _ := r.json(t)["imported"].(map[string]any); imp["stix_objects"] != float64(2) {
			t.Fatalf("%s imported: %s", a.id, r.body)
		}
	}
	upload("alice", "after")
	upload("bob", "after")

	// Who may see each advisory's objects (users) and findings (orgs).
	type want struct{ users, orgs []string }
	wants := map[string]want{
		"CVE-2024-1001": {[]string{"", "alice", "bob", "analyst"}, []string{orgAcme, orgBeta}},
		"CVE-2024-1002": {[]string{"alice", "bob", "analyst"}, []string{orgAcme, orgBeta}},
		"CVE-2024-1003": {[]string{"analyst"}, nil},
		"CVE-2024-1004": {[]string{"alice", "analyst"}, []string{orgAcme}},
		"CVE-2024-1005": {[]string{"analyst"}, nil},
	}
	objects := map[string]string{}
	for _, u := range []string{"", "alice", "bob", "analyst"} {
		r := f.get(u, objectsPath(store.DefaultCollectionID)+"?match[type]=vulnerability,report")
		if u == "" {
			r = f.get("", "/public/clear")
		}
		wantStatus(t, r, http.StatusOK)
		objects[u] = string(r.body)
	}
	findings := map[string][]vulndb.Finding{
		orgAcme: decodeFindings(t, f.api(http.MethodGet, "alice", "/api/v1/findings", "")).Findings,
		orgBeta: decodeFindings(t, f.api(http.MethodGet, "bob", "/api/v1/findings", "")).Findings,
	}
	for _, a := range advisories {
		w := wants[a.cve]
		for _, u := range []string{"", "alice", "bob", "analyst"} {
			if got := strings.Contains(objects[u], a.cve); got != slices.Contains(w.users, u) {
				t.Errorf("%s (%s): %s sees the STIX vulnerability: %v", a.id, a.tlp, u, got)
			}
			if got := strings.Contains(objects[u], `"`+a.id+": Test advisory"); got != slices.Contains(w.users, u) {
				t.Errorf("%s (%s): %s sees the STIX report: %v", a.id, a.tlp, u, got)
			}
		}
		for _, org := range []string{orgAcme, orgBeta} {
			n := 0
			for _, fd := range findings[org] {
				if strings.Contains(fd.Vulnerability, a.cve) {
					n++
				}
			}
			wantN := 0
			if slices.Contains(w.orgs, org) {
				wantN = 2 // assets "before" and "after"
			}
			if n != wantN {
				t.Errorf("%s (%s): %s has %d findings, want %d", a.id, a.tlp, org, n, wantN)
			}
			notes := 0
			for _, fd := range notified {
				if fd.Org == org && strings.Contains(fd.Vulnerability, a.cve) {
					notes++
				}
			}
			if notes != wantN {
				t.Errorf("%s (%s): %s notified of %d findings, want %d", a.id, a.tlp, org, notes, wantN)
			}
		}
	}
	for _, marking := range []string{sharing.TLP2Amber, sharing.TLP2Red, sharing.DistributionExtension} {
		if !strings.Contains(objects["analyst"], marking) {
			t.Errorf("the analyst's objects lack %s:\n%s", marking, objects["analyst"])
		}
	}
}
