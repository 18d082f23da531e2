package sbom

import (
	"errors"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// TestRealCycloneDX parses every CycloneDX example: SBOMs must yield
// components with purls; CBOM/HBOM/OBOM and VEX-only documents parse
// without panics and are reported.
func TestRealCycloneDX(t *testing.T) {
	root := realdata.Path(t, "sbom/cyclonedx-bom-examples")
	var files, comps, purls, vex int
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".xml")) {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		doc, err := Parse(rel, data)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) {
				t.Errorf("%s: error not invalid input: %v", rel, err)
			}
			t.Logf("%s: not parsed: %v", rel, err)
			return nil
		}
		files++
		comps += len(doc.Components)
		vex += len(doc.VEX)
		n := 0
		for _, c := range doc.Components {
			if c.PURL != "" {
				n++
			}
		}
		purls += n
		if len(doc.Notes) > 0 {
			t.Logf("%s: %s", rel, strings.Join(doc.Notes, "; "))
		}
		if strings.HasPrefix(rel, "SBOM/") && n == 0 {
			t.Errorf("%s: an SBOM with %d components and no purl", rel, len(doc.Components))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cyclonedx: %d documents, %d components, %d with purl, %d VEX statements", files, comps, purls, vex)
	if files < 70 || vex == 0 {
		t.Errorf("%d documents parsed, %d VEX statements", files, vex)
	}
}

func TestRealSPDX(t *testing.T) {
	root := realdata.Path(t, "sbom/spdx-examples")
	var files, comps, skipped3 int
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "/content/") {
			return err
		}
		if !(strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".spdx")) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		doc, err := Parse(rel, data)
		if strings.Contains(rel, "spdx3") {
			if err == nil {
				t.Errorf("%s: SPDX 3 parsed as %s", rel, doc.Format)
			}
			skipped3++
			return nil
		}
		if err != nil {
			t.Errorf("%v", err)
			return nil
		}
		files++
		comps += len(doc.Components)
		if len(doc.Components) == 0 {
			t.Errorf("%s: no packages", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spdx: %d 2.x documents, %d packages; %d SPDX 3 documents reported as unsupported", files, comps, skipped3)
	if files < 20 {
		t.Errorf("%d documents", files)
	}
}
