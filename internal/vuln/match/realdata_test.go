package match

import (
	"archive/tar"
	"compress/gzip"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln/intake"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
)

// TestRealGoVulnDBAgainstProtonBridge loads the whole Go vulnerability
// database and matches the two Proton Bridge SBOMs (Go modules): the old
// release must have findings, including golang.org/x/net and x/text
// advisories, and the newer release must not have more findings than the
// older one.
func TestRealGoVulnDBAgainstProtonBridge(t *testing.T) {
	dbPath := realdata.Path(t, "vuln/go-vulndb.tar.gz")
	dir := realdata.Path(t, "sbom/cyclonedx-bom-examples/SBOM/proton-bridge")
	f, err := os.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	db := NewDB()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(h.Name, "/data/osv/") || !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		v, err := intake.ParseOSV(h.Name, data)
		if err != nil {
			t.Fatal(err)
		}
		db.Add(v)
	}
	counts := map[string]int{}
	for _, name := range []string{"proton-bridge-v1.6.3.bom.json", "proton-bridge-v1.8.0.bom.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := sbom.Parse(name, data)
		if err != nil {
			t.Fatal(err)
		}
		fs := db.Match(name, doc)
		pkgs := map[string]bool{}
		for _, f := range fs {
			pkgs[f.Name] = true
			if f.Installed == "" || len(f.Aliases) == 0 && !strings.HasPrefix(f.VulnID, "GO-") {
				t.Errorf("%s: incomplete finding %+v", name, f)
			}
		}
		counts[name] = len(fs)
		t.Logf("%s: %d components, %d findings in %d modules", name, len(doc.Components), len(fs), len(pkgs))
		if name == "proton-bridge-v1.6.3.bom.json" && (!pkgs["golang.org/x/net"] || !pkgs["golang.org/x/text"]) {
			t.Errorf("%s: no x/net or x/text finding among %v", name, pkgs)
		}
	}
	if counts["proton-bridge-v1.6.3.bom.json"] == 0 || counts["proton-bridge-v1.8.0.bom.json"] > counts["proton-bridge-v1.6.3.bom.json"] {
		t.Errorf("findings %v", counts)
	}
}
