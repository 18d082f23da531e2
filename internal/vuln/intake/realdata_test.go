package intake

import (
	"archive/tar"
	"compress/gzip"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// eachTarFile calls fn for every regular file of a tar.gz whose name
// passes keep.
func eachTarFile(t *testing.T, path string, keep func(string) bool, fn func(name string, data []byte)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !keep(h.Name) {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		fn(h.Name, data)
	}
}

func TestRealGoVulnDB(t *testing.T) {
	p := realdata.Path(t, "vuln/go-vulndb.tar.gz")
	var osv, cve, ranges, withdrawn int
	eachTarFile(t, p, func(n string) bool { return strings.HasSuffix(n, ".json") && strings.Contains(n, "/data/") },
		func(name string, data []byte) {
			switch {
			case strings.Contains(name, "/data/osv/"):
				v, err := ParseOSV(name, data)
				if err != nil {
					t.Errorf("%v", err)
					return
				}
				osv++
				if v.IsWithdrawn() {
					withdrawn++
				}
				for _, a := range v.Affected {
					if a.Package.Ecosystem != "Go" || a.Package.Name == "" {
						t.Errorf("%s: package %+v", name, a.Package)
					}
					ranges += len(a.Ranges)
				}
			case strings.Contains(name, "/data/cve/v5/"):
				v, err := ParseCVE5(name, data)
				if err != nil {
					t.Errorf("%v", err)
					return
				}
				cve++
				if len(v.Affected) == 0 {
					t.Errorf("%s: no affected entry", name)
				}
			}
		})
	t.Logf("go-vulndb: %d OSV (%d ranges, %d withdrawn), %d CVE 5", osv, ranges, withdrawn, cve)
	if osv < 4000 || cve < 200 {
		t.Errorf("parsed %d OSV and %d CVE records, want the whole database (4,291 and 239)", osv, cve)
	}
}

func TestRealPyPA(t *testing.T) {
	p := realdata.Path(t, "vuln/pypa-advisory-database.tar.gz")
	var n, withRanges int
	eachTarFile(t, p, func(n string) bool { return strings.HasSuffix(n, ".yaml") }, func(name string, data []byte) {
		v, err := ParseOSVYAML(name, data)
		if err != nil {
			t.Errorf("%v", err)
			return
		}
		n++
		for _, a := range v.Affected {
			if a.Package.Ecosystem != "PyPI" {
				t.Errorf("%s: ecosystem %q", name, a.Package.Ecosystem)
			}
			if len(a.Ranges) > 0 {
				withRanges++
			}
		}
	})
	t.Logf("pypa: %d records, %d affected entries with ranges", n, withRanges)
	if n < 2600 {
		t.Errorf("parsed %d records, want 2,661", n)
	}
}

func TestRealVulnrichment(t *testing.T) {
	p := realdata.Path(t, "vuln/vulnrichment/vulnrichment-b0ed758.tar.gz")
	limit := 5000
	if os.Getenv("KIZUNA_VULN_ALL") != "" {
		limit = 1 << 30
	}
	var n, rejected, scored, cpes int
	eachTarFile(t, p, func(name string) bool {
		return n < limit && strings.HasSuffix(name, ".json") && strings.Contains(filepath.Base(name), "CVE-")
	}, func(name string, data []byte) {
		v, err := ParseCVE5(name, data)
		if err != nil {
			t.Errorf("%v", err)
			return
		}
		n++
		if v.IsWithdrawn() {
			rejected++
		}
		if _, ok := v.MaxScore(); ok {
			scored++
		}
		for _, a := range v.Affected {
			if a.CPE != "" {
				cpes++
			}
		}
	})
	t.Logf("vulnrichment: %d records (limit %d; KIZUNA_VULN_ALL=1 for all), %d rejected, %d with a score, %d CPE entries", n, limit, rejected, scored, cpes)
	if n == 0 || scored == 0 || cpes == 0 {
		t.Errorf("parsed %d records, %d scored, %d CPE entries", n, scored, cpes)
	}
}

func TestRealKEV(t *testing.T) {
	p := realdata.Path(t, "vuln/kev/known_exploited_vulnerabilities.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseKEV(p, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) != 1404 {
		t.Errorf("%d entries, want 1,404", len(c))
	}
	for _, f := range []string{"valid-catalog-1.json", "single-entry/example1.json"} {
		p := realdata.Path(t, "vuln/vunnel-fixtures/tests/unit/providers/kev/test-fixtures/"+f)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseKEV(p, data); err != nil && !strings.Contains(f, "single") {
			t.Error(err)
		}
	}
}

func TestRealNVD(t *testing.T) {
	dir := realdata.Path(t, "vuln/vunnel-fixtures/tests/unit/providers/nvd/test-fixtures")
	var n, ranged int
	count := func(vs ...*vuln.Vulnerability) {
		for _, v := range vs {
			n++
			for _, a := range v.Affected {
				if len(a.Ranges) > 0 {
					ranged++
				}
			}
		}
	}
	for _, f := range []string{"full-page.json", "single-entry.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		vs, err := ParseNVDPage(f, data)
		if err != nil {
			t.Fatal(err)
		}
		count(vs...)
	}
	// vunnel's snapshots wrap each record as {"item": {"cve": ...}}.
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*", "*", "*.json"))
	for _, f := range snaps {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var wrap struct {
			Item struct {
				CVE jsonRaw `json:"cve"`
			} `json:"item"`
		}
		if err := decodeJSON(f, data, &wrap); err != nil {
			t.Fatal(err)
		}
		v, err := ParseNVDCVE(f, wrap.Item.CVE)
		if err != nil {
			t.Error(err)
			continue
		}
		count(v)
	}
	t.Logf("nvd: %d records (%d snapshots), %d CPE entries with a version range", n, len(snaps), ranged)
	if n < 38 || ranged == 0 {
		t.Errorf("%d records, %d ranged entries", n, ranged)
	}
}

func TestRealCSAF(t *testing.T) {
	roots := []string{"vuln/oasis-csaf/csaf_2.0/examples/csaf", "vuln/vunnel-fixtures/tests/unit/providers/rhel/test-fixtures/csaf/advisories", "vuln/gocsaf/testdata/csaf-documents/valid"}
	var docs, vulns, purls, notAffected int
	for _, r := range roots {
		root := realdata.Path(t, r)
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			vs, err := ParseCSAF(p, data)
			if err != nil {
				t.Error(err)
				return nil
			}
			docs++
			for _, v := range vs {
				vulns++
				for _, a := range v.Affected {
					if a.Package.PURL != "" {
						purls++
					}
					if a.Status == vuln.StatusNotAffected {
						notAffected++
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("csaf: %d documents, %d vulnerabilities, %d purl entries, %d known_not_affected", docs, vulns, purls, notAffected)
	if purls == 0 || notAffected == 0 {
		t.Errorf("%d purl entries, %d known_not_affected", purls, notAffected)
	}
}

// TestRealCSAFValidatorCases parses the standard's test documents (many
// deliberately invalid): no panics, and errors only as errkind.Invalid.
func TestRealCSAFValidatorCases(t *testing.T) {
	root := realdata.Path(t, "vuln/oasis-csaf/csaf_2.0/test/validator/data")
	var ok, failed int
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := ParseCSAF(p, data); err != nil {
			failed++
		} else {
			ok++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("csaf validator cases: %d parsed, %d rejected", ok, failed)
	if ok == 0 {
		t.Error("no validator case parsed")
	}
}
