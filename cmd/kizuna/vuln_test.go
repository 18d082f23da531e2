package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

const vulnTestdata = "../../internal/vuln/testdata/"

// vulnDataDir creates a data directory with a hub and two member
// organisations.
func vulnDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "education", "--type", "academia")
	return dir
}

// scanJSON runs vuln scan --format json and decodes the findings.
func scanJSON(t *testing.T, dir, sbomFile string) []vulndb.Finding {
	t.Helper()
	r := kz(t, "vuln", "scan", "--data", dir, "--sbom", sbomFile, "--format", "json")
	if r.code != 0 {
		t.Fatalf("vuln scan %s: exit %d, stderr %q", sbomFile, r.code, r.stderr)
	}
	var fs []vulndb.Finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("vuln scan output is not a JSON array of findings: %v\n%s", err, r.stdout)
	}
	return fs
}

// exportedVulns returns "id modified labels" of the exported vulnerability
// objects, every version.
func exportedVulns(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	out := kzOK(t, append([]string{"export", "--data", dir, "--type", "vulnerability"}, args...)...)
	var b struct {
		Objects []struct {
			ID, Modified string
			Labels       []string
			Markings     []string `json:"object_marking_refs"`
		}
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("export: %v", err)
	}
	var got []string
	for _, o := range b.Objects {
		s := o.ID + " " + o.Modified + " " + strings.Join(o.Labels, ",")
		if !slices.Equal(o.Markings, []string{"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"}) {
			t.Errorf("%s: markings %v, want TLP:CLEAR", o.ID, o.Markings)
		}
		got = append(got, strings.TrimSpace(s))
	}
	slices.Sort(got)
	return got
}

func TestVulnImportScanOffline(t *testing.T) {
	dir := vulnDataDir(t)
	fx := vulnTestdata + "vulndb/"
	r := kz(t, "vuln", "import", "--data", dir, vulnTestdata)
	if r.code != 0 {
		t.Fatalf("vuln import: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"cve5: 1 files, 1 records, 0 failed", "nvd: 1 files", "osv: 3 files", "osv-yaml: 1 files",
		"csaf: 3 files", "kev: 2 files", "12 added, 2 updated", "14 STIX objects"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	// The two versions of KZ-DEMO-1 came in one import: the newer wins
	// (fixed in 1.8), the VEX hides 1.5, the KEV flag is set.
	fs := scanJSON(t, dir, fx+"sbom-demo.txt")
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	f := fs[0]
	if f.Vulnerability != "KZ-DEMO-1" || !slices.Equal(f.Aliases, []string{"CVE-2099-0001"}) || f.PURL != "pkg:pypi/kizuna-demo@1.2" ||
		f.InstalledVersion != "1.2" || !slices.Equal(f.FixedVersions, []string{"1.8"}) || !f.KEV || f.Severity != "CRITICAL" || f.Score != 9.8 {
		t.Errorf("finding %+v", f)
	}
	// The raw JSON has the contract's field names.
	raw := kzOK(t, "vuln", "scan", "--data", dir, "--sbom", fx+"sbom-demo.txt", "--format", "json")
	for _, k := range []string{`"vulnerability"`, `"aliases"`, `"purl"`, `"installed_version"`, `"fixed_versions"`, `"kev"`, `"severity"`} {
		if !strings.Contains(raw, k) {
			t.Errorf("scan JSON lacks %s", k)
		}
	}
	table := kzOK(t, "vuln", "scan", "--data", dir, "--sbom", fx+"sbom-demo.txt")
	if !strings.Contains(table, "KZ-DEMO-1") || !strings.Contains(table, "KEV") || !strings.HasPrefix(table, "VULNERABILITY") {
		t.Errorf("table:\n%s", table)
	}
	// A CPE inventory line matches the CVE 5 / NVD CPE records.
	fs = scanJSON(t, dir, vulnTestdata+"inventory.txt")
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Vulnerability)
		if f.Vulnerability == "CVE-2022-1576" && (f.CPE == "" || f.InstalledVersion != "2.4.4") {
			t.Errorf("CPE finding %+v", f)
		}
	}
	if !slices.Contains(ids, "PYSEC-2022-19") || !slices.Contains(ids, "CVE-2022-1576") {
		t.Errorf("inventory findings %v", ids)
	}

	// STIX: one vulnerability object per record, TLP:CLEAR, KEV labelled.
	objs := exportedVulns(t, dir, "--latest")
	if len(objs) != 12 {
		t.Errorf("%d vulnerability objects, want 12: %q", len(objs), objs)
	}
	demo := vulndb.STIXID("KZ-DEMO-1")
	if !slices.Contains(objs, demo+" 2024-04-01T00:00:00.000Z known-exploited") {
		t.Errorf("no KEV-labelled object %s: %q", demo, objs)
	}

	// Re-import: idempotent, nothing new stored.
	all := exportedVulns(t, dir)
	r = kz(t, "vuln", "import", "--data", dir, vulnTestdata)
	if r.code != 0 || !strings.Contains(r.stderr, "0 added, 0 updated") || !strings.Contains(r.stderr, "0 STIX objects") {
		t.Errorf("re-import: exit %d\n%s", r.code, r.stderr)
	}
	if again := exportedVulns(t, dir); !slices.Equal(all, again) {
		t.Errorf("re-import changed the STIX objects:\n%q\n%q", all, again)
	}
}

func TestVulnImportNewerAndBadFiles(t *testing.T) {
	dir := vulnDataDir(t)
	fx := vulnTestdata + "vulndb/"
	kzOK(t, "vuln", "import", "--data", dir, fx+"osv-KZ-DEMO-1-v1.json")
	fs := scanJSON(t, dir, fx+"sbom-demo.txt")
	if len(fs) != 3 || !slices.Equal(fs[0].FixedVersions, []string{"2.0"}) {
		t.Fatalf("v1 findings %+v", fs)
	}
	bad := filepath.Join(t.TempDir(), "broken.json")
	if err := os.WriteFile(bad, []byte(`{"id": "KZ-X", "modified": "not a time", "affected": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := kz(t, "vuln", "import", "--data", dir, bad, fx+"osv-KZ-DEMO-1-v2.json", filepath.Join(dir, "missing.json"))
	checkFailure(t, r, 1, "2 files not imported")
	if !strings.Contains(r.stderr, "broken.json") || !strings.Contains(r.stderr, "modified") || !strings.Contains(r.stderr, "missing.json") {
		t.Errorf("failures not reported with reasons:\n%s", r.stderr)
	}
	// The good file was imported: the newer record replaced the older.
	fs = scanJSON(t, dir, fx+"sbom-demo.txt")
	if len(fs) != 2 || !slices.Equal(fs[0].FixedVersions, []string{"1.8"}) {
		t.Errorf("v2 findings %+v", fs)
	}
	// Two STIX versions of the object, the second later.
	objs := exportedVulns(t, dir)
	id := vulndb.STIXID("KZ-DEMO-1")
	want := []string{id + " 2024-01-01T00:00:00.000Z", id + " 2024-03-01T00:00:00.000Z"}
	if !slices.Equal(objs, want) {
		t.Errorf("versions %q, want %q", objs, want)
	}
	// The older record again: ignored.
	r = kz(t, "vuln", "import", "--data", dir, fx+"osv-KZ-DEMO-1-v1.json")
	if r.code != 0 || !strings.Contains(r.stderr, "1 older than stored") {
		t.Errorf("older record: exit %d\n%s", r.code, r.stderr)
	}
	checkFailure(t, kz(t, "vuln", "scan", "--data", dir, "--sbom", fx+"sbom-demo.txt", "--format", "xml"), 2, "--format")
	checkFailure(t, kz(t, "vuln", "scan", "--data", dir, "--sbom", bad), 1, "vuln scan")
}

func TestSBOMUploadListFindings(t *testing.T) {
	dir := vulnDataDir(t)
	fx := vulnTestdata + "vulndb/"
	out := kzOK(t, "sbom", "upload", "--data", dir, "--org", "Acme", "--name", "web", fx+"sbom-demo.txt")
	if out != "Acme: web version 1 (inventory, 4 components): 0 findings, 0 new" {
		t.Errorf("upload: %q", out)
	}
	kzOK(t, "sbom", "upload", "--data", dir, "--org", "Beta", fx+"sbom-demo-vex.cdx.json")
	r := kz(t, "vuln", "import", "--data", dir, fx+"osv-KZ-DEMO-1-v1.json")
	if r.code != 0 || !strings.Contains(r.stderr, "3 new findings") {
		t.Errorf("import: exit %d\n%s", r.code, r.stderr)
	}
	// The command line publishes its new findings on the hub's bus, for the
	// serving hub's alerting: the import's three, and none for an upload
	// that brings no new finding.
	if n := busFindings(t, dir); n != 3 {
		t.Errorf("%d finding events on the bus after the import, want 3", n)
	}
	out = kzOK(t, "sbom", "upload", "--data", dir, "--org", "Acme", "--name", "web", fx+"sbom-demo.txt")
	if out != "Acme: web version 2 (inventory, 4 components): 3 findings, 0 new" {
		t.Errorf("second upload: %q", out)
	}
	if n := busFindings(t, dir); n != 3 {
		t.Errorf("%d finding events on the bus after an upload with no new finding, want 3", n)
	}
	var list []vulndb.SBOM
	if err := json.Unmarshal([]byte(kzOK(t, "sbom", "list", "--data", dir, "--json")), &list); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range list {
		got = append(got, s.OrgName+" "+s.Asset+" "+string(rune('0'+s.Version)))
	}
	if want := []string{"Acme web 2", "Acme web 1", "Beta demo-app 1"}; !slices.Equal(got, want) {
		t.Errorf("sbom list %q, want %q", got, want)
	}
	// Beta's own VEX hides its finding; Acme's are Acme's only.
	var fs []vulndb.Finding
	if err := json.Unmarshal([]byte(kzOK(t, "vuln", "findings", "--data", dir, "--org", "Beta", "--format", "json")), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Errorf("Beta findings %+v", fs)
	}
	if err := json.Unmarshal([]byte(kzOK(t, "vuln", "findings", "--data", dir, "--org", "Acme", "--format", "json")), &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || fs[0].Asset != "web" || fs[0].SBOMVersion != 2 {
		t.Errorf("Acme findings %+v", fs)
	}
	checkFailure(t, kz(t, "sbom", "upload", "--data", dir, "--org", "Nobody", fx+"sbom-demo.txt"), 1, "unknown organisation")
	checkFailure(t, kz(t, "sbom", "upload", "--data", dir, "--org", "Acme", fx+"kev-KZ.json"), 1, "sbom upload")
	// An upload that brings new findings publishes them (the serving hub
	// alerts on them).
	out = kzOK(t, "sbom", "upload", "--data", dir, "--org", "Beta", "--name", "portal", fx+"sbom-demo.txt")
	if out != "Beta: portal version 1 (inventory, 4 components): 3 findings, 3 new" {
		t.Errorf("Beta's upload: %q", out)
	}
	if n := busFindings(t, dir); n != 6 {
		t.Errorf("%d finding events on the bus after an upload with 3 new findings, want 6", n)
	}
}

// TestVulnRealData imports the whole Go vulnerability database (OSV and
// CVE 5 records, from the tarball) and the KEV catalogue, then scans and
// uploads the Proton Bridge SBOMs (CycloneDX JSON and XML) and an SPDX
// example, checking findings worked out by hand.
func TestVulnRealData(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the Go vulnerability database")
	}
	govulndb := realdata.Path(t, "vuln/go-vulndb.tar.gz")
	kev := realdata.Path(t, "vuln/kev/known_exploited_vulnerabilities.json")
	bridge := realdata.Path(t, "sbom/cyclonedx-bom-examples/SBOM/proton-bridge")
	spdx := realdata.Path(t, "sbom/spdx-examples/software/example9/spdx2.2/appbomination.spdx.json")
	dir := vulnDataDir(t)
	r := kz(t, "vuln", "import", "--data", dir, govulndb, kev)
	if r.code != 0 {
		t.Fatalf("vuln import: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"osv: 4291 files, 4291 records, 0 failed", "cve5: 239 files", "kev: 1 files, 1404 records"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stderr)
		}
	}
	key := func(f vulndb.Finding) string { return f.Vulnerability + " " + f.Component + " " + f.InstalledVersion }
	scan := map[string][]string{}
	for _, name := range []string{"proton-bridge-v1.6.3.bom.json", "proton-bridge-v1.6.3.bom.xml"} {
		fs := scanJSON(t, dir, filepath.Join(bridge, name))
		byKey := map[string]vulndb.Finding{}
		for _, f := range fs {
			byKey[key(f)] = f
			scan[name] = append(scan[name], key(f))
		}
		// golang.org/x/text v0.3.5-0.20201125200606-c27b9fd57aec is a
		// pseudo-version below v0.3.5, so below the 0.3.8 fix of
		// GO-2022-1059 (CVE-2022-32149).
		f, ok := byKey["GO-2022-1059 golang.org/x/text v0.3.5-0.20201125200606-c27b9fd57aec"]
		if !ok || !slices.Equal(f.FixedVersions, []string{"0.3.8"}) || !slices.Contains(f.Aliases, "CVE-2022-32149") ||
			f.PURL != "pkg:golang/golang.org/x/text@v0.3.5-0.20201125200606-c27b9fd57aec" || f.KEV {
			t.Errorf("%s: GO-2022-1059 finding %+v (present %v)", name, f, ok)
		}
		// github.com/dgrijalva/jwt-go v3.2.0: GO-2020-0017, never fixed.
		if f, ok := byKey["GO-2020-0017 github.com/dgrijalva/jwt-go v3.2.0"]; !ok || len(f.FixedVersions) != 0 {
			t.Errorf("%s: GO-2020-0017 finding %+v (present %v)", name, f, ok)
		}
		// golang.org/x/net ab3426394381 (2020-07-07) predates the fix of
		// GO-2021-0238 (2021-05-20).
		if _, ok := byKey["GO-2021-0238 golang.org/x/net v0.0.0-20200707034311-ab3426394381"]; !ok {
			t.Errorf("%s: no GO-2021-0238 finding", name)
		}
	}
	slices.Sort(scan["proton-bridge-v1.6.3.bom.json"])
	slices.Sort(scan["proton-bridge-v1.6.3.bom.xml"])
	if !slices.Equal(scan["proton-bridge-v1.6.3.bom.json"], scan["proton-bridge-v1.6.3.bom.xml"]) {
		t.Errorf("JSON and XML SBOMs differ:\n%q\n%q", scan["proton-bridge-v1.6.3.bom.json"], scan["proton-bridge-v1.6.3.bom.xml"])
	}

	// Uploaded, the same SBOM gets the same findings, for Acme only.
	out := kzOK(t, "sbom", "upload", "--data", dir, "--org", "Acme", "--name", "bridge", filepath.Join(bridge, "proton-bridge-v1.6.3.bom.json"))
	if !strings.Contains(out, fmt.Sprintf("%d findings, %d new", len(scan["proton-bridge-v1.6.3.bom.json"]), len(scan["proton-bridge-v1.6.3.bom.json"]))) {
		t.Errorf("upload: %q (scan had %d findings)", out, len(scan["proton-bridge-v1.6.3.bom.json"]))
	}
	var fs []vulndb.Finding
	if err := json.Unmarshal([]byte(kzOK(t, "vuln", "findings", "--data", dir, "--org", "Beta", "--format", "json")), &fs); err != nil || len(fs) != 0 {
		t.Errorf("Beta sees %d findings (%v)", len(fs), err)
	}

	// SPDX: appbomination ships junit 4.12; CVE-2020-15250 (GHSA-269g-pwp5-87pp)
	// affects junit:junit before 4.13.1.
	osv := filepath.Join(t.TempDir(), "GHSA-269g-pwp5-87pp.json")
	if err := os.WriteFile(osv, []byte(`{"schema_version":"1.6.0","id":"GHSA-269g-pwp5-87pp","modified":"2024-02-16T08:14:52Z",
"published":"2020-10-12T17:33:00Z","aliases":["CVE-2020-15250"],"summary":"TemporaryFolder on unix-like systems does not limit access to created files",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"}],
"affected":[{"package":{"ecosystem":"Maven","name":"junit:junit"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"4.7"},{"fixed":"4.13.1"}]}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	kzOK(t, "vuln", "import", "--data", dir, osv)
	var hit bool
	for _, f := range scanJSON(t, dir, spdx) {
		if f.Vulnerability == "GHSA-269g-pwp5-87pp" && f.PURL == "pkg:maven/junit/junit@4.12" && slices.Equal(f.FixedVersions, []string{"4.13.1"}) {
			hit = true
		}
	}
	if !hit {
		t.Error("SPDX: no GHSA-269g-pwp5-87pp finding for junit 4.12")
	}
}

// busFindings counts the finding events in the data directory's embedded bus.
func busFindings(t *testing.T, dir string) (n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, bus.LocalFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT COUNT(*) FROM bus_messages WHERE topic = 'finding'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
