package vulndb

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/vuln"
)

const fixtures = "../testdata/vulndb/"

func openTest(t *testing.T) *DB {
	t.Helper()
	d, err := Open(context.Background(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseFixture parses a fixture file with Parse.
func parseFixture(t *testing.T, name string) Parsed {
	t.Helper()
	p, err := Parse(name, readFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func put(t *testing.T, d *DB, name string) PutResult {
	t.Helper()
	p := parseFixture(t, name)
	var res PutResult
	var err error
	if p.KEV != nil {
		res, err = d.PutKEV(context.Background(), p.KEV)
	} else {
		res, err = d.PutVulns(context.Background(), p.Vulns)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func upload(t *testing.T, d *DB, org, asset, name string) SBOM {
	t.Helper()
	info, err := d.UploadSBOM(context.Background(), org, org+" name", asset, name, readFixture(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// summary renders findings as "asset component@version vuln kev" lines.
func summary(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		s := f.Asset + " " + f.Component + "@" + f.InstalledVersion + " " + f.Vulnerability
		if f.KEV {
			s += " KEV"
		}
		out = append(out, strings.TrimSpace(s))
	}
	slices.Sort(out)
	return out
}

func findings(t *testing.T, d *DB, org string) []string {
	t.Helper()
	fs, err := d.Findings(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	return summary(fs)
}

func TestPutVulnsVersions(t *testing.T) {
	d := openTest(t)
	ctx := context.Background()
	res := put(t, d, "osv-KZ-DEMO-1-v1.json")
	if res.Added != 1 || len(res.Changes) != 1 {
		t.Fatalf("first put: %+v", res)
	}
	first := res.Changes[0]
	if want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); !first.Modified.Equal(want) || !first.Created.Equal(want) {
		t.Errorf("STIX times %v %v, want %v", first.Created, first.Modified, want)
	}
	// Re-import: nothing changes.
	res = put(t, d, "osv-KZ-DEMO-1-v1.json")
	if res.Unchanged != 1 || res.Added+res.Updated != 0 || len(res.Changes) != 0 {
		t.Errorf("re-import: %+v", res)
	}
	// A newer record replaces the stored one.
	res = put(t, d, "osv-KZ-DEMO-1-v2.json")
	if res.Updated != 1 || len(res.Changes) != 1 || !res.Changes[0].Replaced {
		t.Fatalf("newer record: %+v", res)
	}
	if !res.Changes[0].Modified.After(first.Modified) || !res.Changes[0].Created.Equal(first.Created) {
		t.Errorf("new version times %v %v after %v %v", res.Changes[0].Created, res.Changes[0].Modified, first.Created, first.Modified)
	}
	v, err := d.Get(ctx, "KZ-DEMO-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(v.Summary, "version 2") {
		t.Errorf("stored summary %q, want version 2", v.Summary)
	}
	// The older record arriving later does not replace the newer.
	res = put(t, d, "osv-KZ-DEMO-1-v1.json")
	if res.Stale != 1 || len(res.Changes) != 0 {
		t.Errorf("older record: %+v", res)
	}
	if v, _ := d.Get(ctx, "KZ-DEMO-1"); !strings.Contains(v.Summary, "version 2") {
		t.Errorf("older record replaced the newer: %q", v.Summary)
	}
	if _, err := d.Get(ctx, "KZ-NOPE"); err == nil {
		t.Error("Get of an unknown id: no error")
	}
}

func TestFindingsIncremental(t *testing.T) {
	d := openTest(t)
	var notified []string
	d.Subscribe(func(_ context.Context, fs []Finding) { notified = append(notified, summary(fs)...) })

	// SBOM first: no records yet, no findings.
	info := upload(t, d, "org-a", "web", "sbom-demo.txt")
	if info.Version != 1 || info.Components != 4 || info.Findings != 0 {
		t.Errorf("upload: %+v", info)
	}
	// A record arrives: findings for 1.2, 1.5 and 1.9 (fixed in 2.0).
	res := put(t, d, "osv-KZ-DEMO-1-v1.json")
	want := []string{"web kizuna-demo@1.2 KZ-DEMO-1", "web kizuna-demo@1.5 KZ-DEMO-1", "web kizuna-demo@1.9 KZ-DEMO-1"}
	if got := findings(t, d, "org-a"); !slices.Equal(got, want) {
		t.Errorf("after v1: %q, want %q", got, want)
	}
	if res.NewFindings != 3 || !slices.Equal(notified, want) {
		t.Errorf("new findings %d, notified %q", res.NewFindings, notified)
	}
	// The newer record moves the fix to 1.8: 1.9 is no longer affected,
	// and nothing new is notified.
	notified = nil
	put(t, d, "osv-KZ-DEMO-1-v2.json")
	want = want[:2]
	if got := findings(t, d, "org-a"); !slices.Equal(got, want) {
		t.Errorf("after v2: %q, want %q", got, want)
	}
	if len(notified) != 0 {
		t.Errorf("v2 notified %q", notified)
	}
	// The KEV catalogue flags the record: findings carry kev.
	res = put(t, d, "kev-KZ.json")
	if res.Updated != 1 || res.Added != 1 {
		t.Errorf("KEV: %+v (want the record flagged and a placeholder for CVE-2099-0002)", res)
	}
	want = []string{"web kizuna-demo@1.2 KZ-DEMO-1 KEV", "web kizuna-demo@1.5 KZ-DEMO-1 KEV"}
	if got := findings(t, d, "org-a"); !slices.Equal(got, want) {
		t.Errorf("after KEV: %q, want %q", got, want)
	}
	// A CSAF VEX says 1.5 is not affected by the CVE: its finding goes.
	put(t, d, "csaf-KZ-VEX-1.json")
	want = want[:1]
	if got := findings(t, d, "org-a"); !slices.Equal(got, want) {
		t.Errorf("after VEX: %q, want %q", got, want)
	}
	// A new SBOM version is matched against the stored records, VEX
	// included; the earlier findings keep their first-seen time.
	before, _ := d.Findings(context.Background(), "org-a")
	info = upload(t, d, "org-a", "web", "sbom-demo.txt")
	after, _ := d.Findings(context.Background(), "org-a")
	if info.Version != 2 || info.Findings != 1 || info.NewFindings != 0 || len(after) != 1 ||
		!after[0].FirstSeen.Equal(before[0].FirstSeen) || after[0].SBOMVersion != 2 {
		t.Errorf("second upload: %+v, findings %+v", info, after)
	}
	// A fresh process (cold caches) sees the same.
	d2, err := Open(context.Background(), filepath.Dir(dbPath(t, d)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	fs, _, err := d2.Scan(context.Background(), "sbom-demo.txt", readFixture(t, "sbom-demo.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(fs); !slices.Equal(got, []string{"kizuna-demo@1.2 KZ-DEMO-1 KEV"}) {
		t.Errorf("scan in a new process: %q", got)
	}
}

func dbPath(t *testing.T, d *DB) string {
	t.Helper()
	var seq int
	var name, file string
	if err := d.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestVEXBeforeRecord(t *testing.T) {
	// The statement arrives first, then the record, then the SBOM.
	d := openTest(t)
	put(t, d, "csaf-KZ-VEX-1.json")
	put(t, d, "osv-KZ-DEMO-1-v1.json")
	upload(t, d, "org-a", "web", "sbom-demo.txt")
	want := []string{"web kizuna-demo@1.2 KZ-DEMO-1", "web kizuna-demo@1.9 KZ-DEMO-1"}
	if got := findings(t, d, "org-a"); !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
}

func TestSBOMOwnVEX(t *testing.T) {
	d := openTest(t)
	put(t, d, "osv-KZ-DEMO-1-v1.json")
	fs, _, err := d.Scan(context.Background(), "sbom-demo-vex.cdx.json", readFixture(t, "sbom-demo-vex.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Errorf("the SBOM's not_affected statement did not suppress: %q", summary(fs))
	}
	// Without the statement the same component is affected.
	fs, _, err = d.Scan(context.Background(), "x.txt", []byte("pkg:pypi/kizuna-demo@1.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Errorf("without VEX: %q", summary(fs))
	}
}

func TestOrganisationsAndVersions(t *testing.T) {
	d := openTest(t)
	ctx := context.Background()
	put(t, d, "osv-KZ-DEMO-1-v1.json")
	upload(t, d, "org-a", "web", "sbom-demo.txt")
	upload(t, d, "org-b", "other", "sbom-demo-vex.cdx.json")
	for range 2 {
		upload(t, d, "org-a", "web", "sbom-demo.txt")
	}
	if got := findings(t, d, "org-b"); len(got) != 0 {
		t.Errorf("org-b findings %q", got)
	}
	if got := findings(t, d, "org-a"); len(got) != 3 {
		t.Errorf("org-a findings %q", got)
	}
	if got := findings(t, d, ""); len(got) != 3 {
		t.Errorf("all findings %q", got)
	}
	list, err := d.SBOMs(ctx, "org-a")
	if err != nil {
		t.Fatal(err)
	}
	var vers []int
	for _, s := range list {
		if s.Org != "org-a" {
			t.Errorf("org-a list has %+v", s)
		}
		vers = append(vers, s.Version)
	}
	if !slices.Equal(vers, []int{3, 2}) {
		t.Errorf("versions kept %v, want [3 2]", vers)
	}
	if _, err := d.UploadSBOM(ctx, "org-a", "", "web", "bad.json", []byte(`{"bomFormat":"CycloneDX","components":[{"purl":"pkg:"}]}`)); err == nil {
		t.Error("bad SBOM accepted")
	}
}

var stixIDRE = regexp.MustCompile(`^vulnerability--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSTIX(t *testing.T) {
	if a, b := STIXID("CVE-2024-1"), STIXID("CVE-2024-1"); a != b || !stixIDRE.MatchString(a) || a == STIXID("CVE-2024-2") {
		t.Errorf("STIXID %q %q", a, b)
	}
	d := openTest(t)
	put(t, d, "kev-KZ.json")
	res := put(t, d, "osv-KZ-DEMO-1-v1.json")
	raw, err := STIX(res.Changes[0], "identity--00000000-0000-4000-8000-000000000001", []string{"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := stix.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if errs := stix.Validate(o); len(errs) > 0 {
		t.Fatalf("invalid STIX %s: %v", raw, errs)
	}
	var m struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Labels   []string
		Modified string
		KEV      map[string]any      `json:"x_kizuna_kev"`
		Refs     []map[string]string `json:"external_references"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	// KEV was stored before the record: the record gets the flag, and
	// modified is the KEV date (later than the record's).
	if m.ID != STIXID("KZ-DEMO-1") || m.Name != "KZ-DEMO-1" || !slices.Equal(m.Labels, []string{"known-exploited"}) ||
		m.KEV["date_added"] != "2024-04-01" || m.Modified != "2024-04-01T00:00:00.000Z" {
		t.Errorf("STIX object %s", raw)
	}
	if len(m.Refs) < 2 || m.Refs[0]["source_name"] != "cve" || m.Refs[0]["external_id"] != "CVE-2099-0001" ||
		m.Refs[1]["external_id"] != "KZ-DEMO-1" {
		t.Errorf("external_references %v", m.Refs)
	}
}

func TestDetect(t *testing.T) {
	for name, want := range map[string]Format{
		"../testdata/cve5-CVE-2024-24846.json":     FormatCVE5,
		"../testdata/nvd-page.json":                FormatNVD,
		"../testdata/osv-GO-2021-0159.json":        FormatOSV,
		"../testdata/osv-PYSEC-2022-19.yaml":       FormatOSVYAML,
		"../testdata/csaf-vex-fixed.json":          FormatCSAF,
		"../testdata/kev.json":                     FormatKEV,
		"../testdata/cdx-bom.json":                 FormatUnknown,
		"../testdata/spdx-example6-lib.spdx":       FormatUnknown,
		"../testdata/vulndb/csaf-KZ-VEX-1.json":    FormatCSAF,
		"../testdata/vulndb/sbom-demo.txt":         FormatUnknown,
		"../testdata/vulndb/kev-KZ.json":           FormatKEV,
		"../testdata/vulndb/osv-KZ-DEMO-1-v2.json": FormatOSV,
	} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(name, data); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

// writeArchives writes the vulndb fixtures as a zip and a .tar.gz.
func writeArchives(t *testing.T, dir string, names ...string) (zipPath, tgzPath string) {
	t.Helper()
	zipPath, tgzPath = filepath.Join(dir, "a.zip"), filepath.Join(dir, "b.tar.gz")
	var zb, tb bytes.Buffer
	zw := zip.NewWriter(&zb)
	gz := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		data := readFixture(t, n)
		w, err := zw.Create("feed/" + n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := tw.WriteHeader(&tar.Header{Name: "feed/" + n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	for _, c := range []interface{ Close() error }{zw, tw, gz} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(zipPath, zb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tgzPath, tb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return zipPath, tgzPath
}

func TestImporter(t *testing.T) {
	d := openTest(t)
	ctx := context.Background()
	dir := t.TempDir()
	zipPath, tgzPath := writeArchives(t, dir, "osv-KZ-DEMO-1-v1.json", "kev-KZ.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"id": "X", "modified": "yesterday"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var emitted []json.RawMessage
	var failed []string
	im := &Importer{
		DB:        d,
		Emit:      func(_ context.Context, objs []json.RawMessage) error { emitted = append(emitted, objs...); return nil },
		OnFailure: func(name string, err error) { failed = append(failed, name+": "+err.Error()) },
		BatchSize: 1,
	}
	sum, err := im.Import(ctx, []string{zipPath, tgzPath, bad, "../testdata"})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "bad.json") || !strings.Contains(failed[0], "modified") || sum.Failed != 1 {
		t.Errorf("failures %q (summary %+v)", failed, sum)
	}
	if c := sum.Formats[FormatOSV]; c == nil || c.Files != 5 { // 2 archives + 1 + 2 in testdata/vulndb
		t.Errorf("osv %+v", c)
	}
	if c := sum.Formats[FormatKEV]; c == nil || c.Files != 4 {
		t.Errorf("kev %+v", c)
	}
	if sum.Skipped == 0 {
		t.Error("SBOM files in testdata not skipped")
	}
	if sum.STIX != len(emitted) || len(emitted) == 0 {
		t.Errorf("STIX %d, emitted %d", sum.STIX, len(emitted))
	}
	ids := map[string]bool{}
	for _, raw := range emitted {
		var o struct{ ID, Modified string }
		json.Unmarshal(raw, &o)
		key := o.ID + " " + o.Modified
		if ids[key] {
			t.Errorf("version %s emitted twice", key)
		}
		ids[key] = true
	}
	// The same import again emits nothing.
	emitted, failed = nil, nil
	sum, err = im.Import(ctx, []string{zipPath, tgzPath, "../testdata"})
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 0 || sum.Added+sum.Updated != 0 || len(failed) != 0 {
		t.Errorf("re-import emitted %d, summary %+v, failures %q", len(emitted), sum, failed)
	}
	s, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// testdata: 6 records (2 CSAF, CVE 5, NVD, 2 OSV) + KZ-DEMO-1 +
	// KZ-VEX-1 + KEV placeholders (3 + CVE-2099-0002).
	if s.Vulns != 12 || s.KEV != 5 {
		t.Errorf("stats %+v", s)
	}
}

func TestRating(t *testing.T) {
	for _, c := range []struct {
		s    vuln.Severity
		want string
	}{
		{vuln.Severity{Rating: "Important"}, "HIGH"},
		{vuln.Severity{Rating: "moderate"}, "MEDIUM"},
		{vuln.Severity{Rating: "low", Score: 9.8}, "LOW"},
		{vuln.Severity{Score: 9.8}, "CRITICAL"},
		{vuln.Severity{Rating: "bad", Score: 5}, "MEDIUM"},
		{vuln.Severity{Rating: "bad"}, "UNKNOWN"},
		{vuln.Severity{Score: 7}, "HIGH"},
		{vuln.Severity{Score: 4.3}, "MEDIUM"},
		{vuln.Severity{Score: 0.1}, "LOW"},
		{vuln.Severity{}, "UNKNOWN"},
	} {
		if got := rating(c.s); got != c.want {
			t.Errorf("rating(%+v) = %s, want %s", c.s, got, c.want)
		}
	}
}

// TestTwoProcesses checks that a DB notices what another connection (a
// CLI import beside the server) wrote: its caches are reloaded.
func TestTwoProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cli, err := Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	sbomData := readFixture(t, "sbom-demo.txt")
	if fs, _, err := server.Scan(ctx, "sbom-demo.txt", sbomData); err != nil || len(fs) != 0 {
		t.Fatalf("empty database: %d findings, %v", len(fs), err)
	}
	upload(t, server, "org-a", "web", "sbom-demo.txt") // caches loaded
	put(t, cli, "osv-KZ-DEMO-1-v1.json")               // another connection
	if fs, _, err := server.Scan(ctx, "sbom-demo.txt", sbomData); err != nil || len(fs) != 3 {
		t.Errorf("server scan after the CLI import: %d findings, %v", len(fs), err)
	}
	// The server's next change re-evaluates with the record the CLI
	// stored: the VEX clears 1.5.
	put(t, server, "csaf-KZ-VEX-1.json")
	if got := findings(t, server, "org-a"); len(got) != 2 {
		t.Errorf("findings after the server's import: %q", got)
	}
	// And the CLI sees the server's SBOM.
	put(t, cli, "osv-KZ-DEMO-1-v2.json")
	if got := findings(t, cli, "org-a"); !slices.Equal(got, []string{"web kizuna-demo@1.2 KZ-DEMO-1"}) {
		t.Errorf("findings after the CLI's second import: %q", got)
	}
}
