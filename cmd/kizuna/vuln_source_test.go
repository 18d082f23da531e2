package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch/fetchtest"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
)

// TestVulnImportProvider imports a whole CSAF provider by URL; a
// tampered advisory is named on stderr and the exit status is 1.
func TestVulnImportProvider(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.ROLIE)
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s.Publish(t, fetchtest.Advisory(t, "CLI-1", "WHITE", 1, t0))
	dir := vulnDataDir(t)
	r := kz(t, "vuln", "import", "--data", dir, "--insecure-skip-verify", s.URL)
	if r.code != 0 || !strings.Contains(r.stderr, s.URL+": 1 fetched, 0 unchanged, 0 failed, 0 withheld (TLP); records: 1 added") {
		t.Fatalf("vuln import URL: exit %d, stderr %q", r.code, r.stderr)
	}
	// The advisory's record is in the database: an inventory with the
	// affected version matches it.
	sr := kzIn(t, fetchtest.Package+"@1.0\n", "vuln", "scan", "--data", dir, "--sbom", "-", "--format", "json")
	if sr.code != 0 || !strings.Contains(sr.stdout, `"CLI-1/`+fetchtest.CVE("CLI-1")+`"`) {
		t.Errorf("scan: exit %d, %s %s", sr.code, sr.stdout, sr.stderr)
	}
	e := s.Publish(t, fetchtest.Advisory(t, "CLI-2", "WHITE", 1, t0))
	p := s.Root("white/" + e.Path)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, append(b, '\n'), 0o640)
	r = kz(t, "vuln", "import", "--data", dir, "--insecure-skip-verify", s.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "cli-2.json") || !strings.Contains(r.stderr, "hash mismatch") {
		t.Errorf("tampered: exit %d, stderr %q", r.code, r.stderr)
	}
	// Plain HTTP to a non-loopback host is refused.
	r = kz(t, "vuln", "import", "--data", dir, "http://csaf.example/")
	checkFailure(t, r, 1, "https only")
}

// TestVulnSourceCLI: add, run twice (the second fetches nothing; the AMBER
// advisory is imported hub-only, the RED one withheld), list with health,
// remove.
func TestVulnSourceCLI(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.Directory)
	s.Token = "partner-token"
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	s.Publish(t, fetchtest.Advisory(t, "SRC-1", "WHITE", 1, t0))
	s.Publish(t, fetchtest.Advisory(t, "SRC-AMBER", "AMBER", 1, t0))
	s.Publish(t, fetchtest.Advisory(t, "SRC-RED", "RED", 1, t0))
	dir := vulnDataDir(t)
	checkFailure(t, kz(t, "vuln", "source", "add", "--data", dir, "--name", "x", "--url", s.URL, "--kind", "rss"), 2, "kind")
	checkFailure(t, kz(t, "vuln", "source", "add", "--data", dir, "--name", "x", "--kind", "kev"), 2, "required")
	kzOK(t, "vuln", "source", "add", "--data", dir, "--name", "vendor", "--url", s.URL, "--kind", "csaf-provider",
		"--every", "6h", "--token", "partner-token", "--insecure-skip-verify")
	checkFailure(t, kz(t, "vuln", "source", "add", "--data", dir, "--name", "vendor", "--url", s.URL, "--kind", "kev"), 1, "already exists")
	out := kzOK(t, "vuln", "source", "run", "--data", dir, "--name", "vendor")
	if !strings.Contains(out, "vendor: 3 fetched, 0 unchanged, 0 failed, 1 withheld (TLP); records: 2 added") {
		t.Errorf("first run: %q", out)
	}
	out = kzOK(t, "vuln", "source", "run", "--data", dir, "--name", "vendor")
	if !strings.Contains(out, "vendor: 0 fetched") || !strings.Contains(out, "not modified") {
		t.Errorf("second run: %q", out)
	}
	var list []source.Status
	if err := json.Unmarshal([]byte(kzOK(t, "vuln", "source", "list", "--data", dir, "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Fetched != 3 || list[0].Imported != 2 || list[0].Withheld != 1 || list[0].LastSuccess.IsZero() ||
		!list[0].Token || list[0].Every != "6h0m0s" {
		t.Errorf("list: %+v", list)
	}
	if table := kzOK(t, "vuln", "source", "list", "--data", dir); strings.Contains(table, "partner-token") || !strings.Contains(table, "vendor") {
		t.Errorf("table: %q", table)
	}
	// With a named hub analyst the RED advisory is imported for them.
	kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "suzuki", "--role", "analyst")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "ito", "--role", "member")
	checkFailure(t, kz(t, "vuln", "source", "add", "--data", dir, "--name", "red", "--url", s.URL, "--kind", "csaf-provider",
		"--token", "partner-token", "--insecure-skip-verify", "--red-recipient", "ito"), 2, "hub analyst or hub admin")
	kzOK(t, "vuln", "source", "add", "--data", dir, "--name", "red", "--url", s.URL, "--kind", "csaf-provider",
		"--token", "partner-token", "--insecure-skip-verify", "--red-recipient", "suzuki")
	out = kzOK(t, "vuln", "source", "run", "--data", dir, "--name", "red")
	if !strings.Contains(out, "red: 3 fetched, 0 unchanged, 0 failed, 0 withheld (TLP); records: 1 added") {
		t.Errorf("run with a RED recipient: %q", out)
	}
	checkFailure(t, kz(t, "vuln", "source", "run", "--data", dir, "--name", "nope"), 1, "no source named")
	kzOK(t, "vuln", "source", "remove", "--data", dir, "--name", "vendor")
	checkFailure(t, kz(t, "vuln", "source", "remove", "--data", dir, "--name", "vendor"), 1, "no source named")
}

// TestServeRunsVulnSources: kizuna serve runs a source with --every on
// its own and records its health.
func TestServeRunsVulnSources(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.ROLIE)
	s.Publish(t, fetchtest.Advisory(t, "SERVE-1", "WHITE", 1, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	dir := vulnDataDir(t)
	kzOK(t, "vuln", "source", "add", "--data", dir, "--name", "vendor", "--url", s.URL, "--kind", "csaf-provider",
		"--every", "1h", "--insecure-skip-verify")
	_, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--insecure-http")
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []source.Status
		if err := json.Unmarshal([]byte(kzOK(t, "vuln", "source", "list", "--data", dir, "--json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && !list[0].LastSuccess.IsZero() {
			if list[0].Fetched != 1 || list[0].Imported != 1 {
				t.Errorf("health after the scheduled run: %+v", list[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not run the source: %+v", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVulnSourceNVD: an nvd source pages through an NVD API (startIndex,
// resultsPerPage) with the API key from $KIZUNA_NVD_API_KEY, without a
// pause when --nvd-delay 0s; a bad $KIZUNA_NVD_DELAY is a usage error.
func TestVulnSourceNVD(t *testing.T) {
	page, err := os.ReadFile("../../internal/vuln/testdata/nvd-page.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(page, &doc); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Query().Get("startIndex")+"/"+r.URL.Query().Get("resultsPerPage")+" key="+r.Header.Get("apiKey"))
		mu.Unlock()
		start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
		d := map[string]any{"resultsPerPage": 1, "startIndex": start, "totalResults": 1, "format": "NVD_CVE", "version": "2.0", "vulnerabilities": []any{}}
		if start == 0 {
			d["vulnerabilities"] = doc["vulnerabilities"]
		}
		json.NewEncoder(w).Encode(d)
	}))
	defer srv.Close()
	dir := vulnDataDir(t)
	kzOK(t, "vuln", "source", "add", "--data", dir, "--name", "nvd", "--url", srv.URL+"/rest/json/cves/2.0", "--kind", "nvd", "--insecure-skip-verify")
	t.Setenv("KIZUNA_NVD_DELAY", "soon")
	checkFailure(t, kz(t, "vuln", "source", "run", "--data", dir, "--name", "nvd"), 2, "KIZUNA_NVD_DELAY")
	t.Setenv("KIZUNA_NVD_DELAY", "")
	t.Setenv("KIZUNA_NVD_API_KEY", "env-key")
	start := time.Now()
	out := kzOK(t, "vuln", "source", "run", "--data", dir, "--name", "nvd", "--nvd-delay", "0s")
	if !strings.Contains(out, "nvd: 1 fetched, 0 unchanged, 0 failed, 0 withheld (TLP); records: 1 added") || time.Since(start) > 5*time.Second {
		t.Errorf("run: %q", out)
	}
	if want := []string{"0/2000 key=env-key"}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}
