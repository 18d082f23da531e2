package vulndb

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that format detection and parsing never panic, that
// Parse agrees with Detect, and that a parsed document has content.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"../testdata", "../testdata/vulndb"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				f.Add(e.Name(), data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		format := Detect(name, data)
		p, err := Parse(name, data)
		if p.Format != format {
			t.Fatalf("Parse format %s, Detect %s", p.Format, format)
		}
		if err != nil {
			return
		}
		if format == FormatUnknown {
			t.Fatal("unknown format parsed without error")
		}
		if p.KEV == nil && p.Vulns == nil && format != FormatNVD && format != FormatCSAF {
			t.Fatalf("%s parsed to nothing", format)
		}
		for _, v := range p.Vulns {
			if v.ID == "" {
				t.Fatalf("%s record without id", format)
			}
		}
	})
}
