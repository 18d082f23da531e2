package intake

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseOSVGo(t *testing.T) {
	v, err := ParseOSV("GO-2021-0159.json", readTestdata(t, "osv-GO-2021-0159.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "GO-2021-0159" || !slices.Equal(v.CVEs(), []string{"CVE-2015-5739", "CVE-2015-5740", "CVE-2015-5741"}) {
		t.Errorf("id %s cves %v", v.ID, v.CVEs())
	}
	if !v.Published.Equal(time.Date(2022, 1, 5, 21, 39, 14, 0, time.UTC)) {
		t.Errorf("published %v", v.Published)
	}
	if len(v.Affected) != 1 {
		t.Fatalf("affected %+v", v.Affected)
	}
	a := v.Affected[0]
	if a.Package.Key() != "Go/stdlib" || !slices.Equal(a.Fixed, []string{"1.4.3"}) {
		t.Errorf("affected %+v", a)
	}
	for ver, want := range map[string]bool{"1.4.2": true, "v1.4.3": false, "1.0.0": true, "1.5.0": false} {
		if got := a.Contains(version.Go, ver); got != want {
			t.Errorf("Contains(%s) = %v, want %v", ver, got, want)
		}
	}
}

func TestParseOSVYAML(t *testing.T) {
	v, err := ParseOSVYAML("PYSEC-2022-19.yaml", readTestdata(t, "osv-PYSEC-2022-19.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "PYSEC-2022-19" || !slices.Contains(v.Aliases, "CVE-2022-22818") || !slices.Contains(v.Aliases, "GHSA-95rw-fx8r-36v6") {
		t.Errorf("id %s aliases %v", v.ID, v.Aliases)
	}
	a := v.Affected[0]
	if a.Package.Key() != "PyPI/django" || a.Package.PURL != "pkg:pypi/django" {
		t.Errorf("package %+v", a.Package)
	}
	if !slices.Equal(a.Fixed, []string{"2.2.27", "3.2.12", "4.0.2"}) {
		t.Errorf("fixed %v", a.Fixed)
	}
	// "2.2" is quoted in the file, 2.2.27 is not: both must stay text.
	if got := a.Ranges[0].Events[0].Introduced; got != "2.2" {
		t.Errorf("first event %q", got)
	}
	for ver, want := range map[string]bool{"2.2.26": true, "2.2.27": false, "3.1": false, "3.2.11": true, "4.0.1": true, "4.0.2": false, "4.0rc1": false} {
		if got := a.Contains(version.PyPI, ver); got != want {
			t.Errorf("Contains(%s) = %v, want %v", ver, got, want)
		}
	}
}

func TestParseOSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"syntax", "{\n \"id\": \"X\",\n oops}", "x.json:3:3"},
		{"missing id", `{"summary":"s"}`, "x.json: id: missing"},
		{"bad range type", `{"id":"X","affected":[{"ranges":[{"type":"WHAT","events":[]}]}]}`, "affected[0].ranges[0].type"},
		{"two keys", `{"id":"X","affected":[{"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`, "affected[0].ranges[0].events[0]: 2 keys"},
		{"bad time", `{"id":"X","modified":"yesterday"}`, "x.json: modified: timestamp"},
		{"type error", `{"id":7}`, "x.json:1:8: field id"},
	} {
		_, err := ParseOSV("x.json", []byte(tc.in))
		if err == nil || !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want invalid containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseKEV(t *testing.T) {
	c, err := ParseKEV("kev.json", readTestdata(t, "kev.json"))
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c["CVE-2025-48384"]
	if len(c) != 3 || !ok || k.Product != "Git" || !k.DateAdded.Equal(time.Date(2025, 8, 25, 0, 0, 0, 0, time.UTC)) || !k.DueDate.Equal(time.Date(2025, 9, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("catalogue %d entries, CVE-2025-48384 %+v", len(c), k)
	}
	v := &vuln.Vulnerability{ID: "GHSA-x", Aliases: []string{"CVE-2025-48384"}}
	if !c.Apply(v) || v.KEV == nil {
		t.Error("Apply did not set KEV through an alias")
	}
	if c.Apply(&vuln.Vulnerability{ID: "CVE-1999-0001"}) {
		t.Error("Apply matched a CVE not in the catalogue")
	}
	_, err = ParseKEV("k.json", []byte(`{"vulnerabilities":[{"cveID":"CVE-1","dateAdded":""}]}`))
	if err == nil || !strings.Contains(err.Error(), "vulnerabilities[0].dateAdded: missing") {
		t.Errorf("error %v", err)
	}
}

func TestParseCVE5(t *testing.T) {
	v, err := ParseCVE5("CVE-2024-24846.json", readTestdata(t, "cve5-CVE-2024-24846.json"))
	if err != nil {
		t.Fatal(err)
	}
	if v.ID != "CVE-2024-24846" || v.IsWithdrawn() || !slices.Equal(v.CWEs, []string{"CWE-79"}) {
		t.Errorf("%+v", v)
	}
	s, ok := v.MaxScore()
	if !ok || s.Score != 7.1 || s.Vector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:L" || s.Source != "Patchstack" {
		t.Errorf("score %+v", s)
	}
	a := v.Affected[0]
	if a.Package.Key() != "WordPress/mighty-addons" {
		t.Errorf("package %+v", a.Package)
	}
	if !a.Contains(version.Generic, "1.9.3") || a.Contains(version.Generic, "1.9.4") {
		t.Errorf("range %+v", a.Ranges)
	}
	bad := `{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-2023-33860","state":"PUBLISHED"},"containers":{"cna":{"affected":[{"vendor":"IBM","product":"QRadar EDR","cpes":["cpe:2.3:a:ibm:cpe:2.3:a:ibm:security_qradar_edr:3.12:*:*:*:*:*:*:*"],"versions":[{"version":"3.12","status":"affected"}]}]}}}`
	v, err = ParseCVE5("bad-cpe.json", []byte(bad))
	if err != nil || len(v.Affected) != 1 || v.Affected[0].CPE != "" || v.Affected[0].Product != "IBM QRadar EDR" || !slices.Equal(v.Affected[0].Versions, []string{"3.12"}) {
		t.Errorf("malformed CPE: %+v, %v", v, err)
	}
	rejected := `{"dataType":"CVE_RECORD","cveMetadata":{"cveId":"CVE-2020-0001","state":"REJECTED","dateRejected":"2021-01-01T00:00:00"},"containers":{"cna":{"rejectedReasons":[{"lang":"en","value":"duplicate"}]}}}`
	v, err = ParseCVE5("r.json", []byte(rejected))
	if err != nil || !v.IsWithdrawn() || v.Details != "duplicate" {
		t.Errorf("rejected record: %+v, %v", v, err)
	}
}

func TestParseNVD(t *testing.T) {
	vs, err := ParseNVDPage("nvd.json", readTestdata(t, "nvd-page.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].ID != "CVE-2022-1576" {
		t.Fatalf("%+v", vs)
	}
	v := vs[0]
	if len(v.Affected) != 1 || v.Affected[0].CPE != `cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*` {
		t.Fatalf("affected %+v", v.Affected)
	}
	a := v.Affected[0]
	if !a.Contains(version.Generic, "2.4.4") || a.Contains(version.Generic, "2.4.5") || !slices.Equal(a.Fixed, []string{"2.4.5"}) {
		t.Errorf("range %+v", a)
	}
	if s, _ := v.MaxScore(); s.Score != 6.5 || s.Type != "CVSS_V3" {
		t.Errorf("score %+v", s)
	}
	// versionStartExcluding: the start itself is not affected.
	page := `{"vulnerabilities":[{"cve":{"id":"CVE-1-1","configurations":[{"nodes":[{"operator":"OR","cpeMatch":[{"vulnerable":true,"criteria":"cpe:2.3:a:v:p:*:*:*:*:*:*:*:*","versionStartExcluding":"1.0","versionEndIncluding":"2.0"}]}]}]}}]}`
	vs, err = ParseNVDPage("p.json", []byte(page))
	if err != nil {
		t.Fatal(err)
	}
	a = vs[0].Affected[0]
	for ver, want := range map[string]bool{"1.0": false, "1.0.1": true, "2.0": true, "2.0.1": false} {
		if got := a.Contains(version.Generic, ver); got != want {
			t.Errorf("exclusive start: Contains(%s) = %v, want %v", ver, got, want)
		}
	}
}

func TestParseCSAF(t *testing.T) {
	vs, err := ParseCSAF("na.json", readTestdata(t, "csaf-vex-not-affected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].ID != "2022-EVD-UC-01-NA-001/CVE-2021-44228" || !slices.Equal(vs[0].CVEs(), []string{"CVE-2021-44228"}) {
		t.Fatalf("%+v", vs)
	}
	a := vs[0].Affected[0]
	if a.Status != vuln.StatusNotAffected || a.Package.Name != "ABC" || !slices.Equal(a.Versions, []string{"4.2"}) || a.Product != "CSAFPID-0001" {
		t.Errorf("affected %+v", a)
	}
	vs, err = ParseCSAF("f.json", readTestdata(t, "csaf-vex-fixed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if st := vs[0].Affected[0].Status; st != vuln.StatusFixed {
		t.Errorf("status %q", st)
	}
}

func TestParseVers(t *testing.T) {
	ev, err := parseVers("vers:generic/>=1.0|<2.0")
	if err != nil {
		t.Fatal(err)
	}
	for ver, want := range map[string]bool{"0.9": false, "1.0": true, "1.9": true, "2.0": false} {
		if got := version.InRange(version.Generic, ev, ver); got != want {
			t.Errorf("%s: %v, want %v", ver, got, want)
		}
	}
	if _, err := parseVers("1.0 - 2.0"); err == nil {
		t.Error("no error for a non-vers range")
	}
}
