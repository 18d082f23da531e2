package sbom

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type compSummary struct{ ref, name, version, eco, key string }

func summarise(d *Document) []compSummary {
	var out []compSummary
	for _, c := range d.Components {
		out = append(out, compSummary{c.Ref, c.Name, c.Version, c.Ecosystem, c.Package().Key()})
	}
	return out
}

func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		file, format string
		want         []compSummary
	}{
		{"cdx-bom.json", "cyclonedx-json", []compSummary{
			{"pkg:maven/com.example/example-app@1.0.0?type=jar", "example-app", "1.0.0", "Maven", "Maven/com.example:example-app"},
			{"pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar", "jackson-databind", "2.10.0", "Maven", "Maven/com.fasterxml.jackson.core:jackson-databind"},
			{"pkg:maven/com.fasterxml.jackson.core/jackson-annotations@2.10.0?type=jar", "jackson-annotations", "2.10.0", "Maven", "Maven/com.fasterxml.jackson.core:jackson-annotations"},
			{"pkg:maven/com.fasterxml.jackson.core/jackson-core@2.10.0?type=jar", "jackson-core", "2.10.0", "Maven", "Maven/com.fasterxml.jackson.core:jackson-core"},
		}},
		{"cdx-small.xml", "cyclonedx-xml", []compSummary{
			{"app", "demo-app", "1.0.0", "", "Generic/demo-app"},
			{"lodash", "lodash", "4.17.20", "npm", "npm/lodash"},
			{"nested", "minimist", "1.2.5", "npm", "npm/minimist"},
			{"tomcat", "tomcat", "9.0.40", "", "Generic/tomcat"},
		}},
		{"spdx-minimal.json", "spdx-json", []compSummary{
			{"SPDXRef-Package", "tools-java", "1.5.1", "github", "github/spdx/tools-java"},
		}},
		{"inventory.txt", "inventory", []compSummary{
			{"line-2", "golang.org/x/net", "v0.0.0-20210226172049-e18ecbb05110", "Go", "Go/golang.org/x/net"},
			{"line-3", "django", "3.2.5", "PyPI", "PyPI/django"},
			{"line-4", "org.apache.logging.log4j:log4j-core", "2.14.1", "Maven", "Maven/org.apache.logging.log4j:log4j-core"},
			{"line-5", "openssl", "0:1.1.1n-0+deb11u3", "Debian", "Debian/openssl"},
			{"line-6", "wp_maintenance_mode_&_coming_soon", "2.4.4", "", "Generic/wp_maintenance_mode_&_coming_soon"},
		}},
		{"inventory.csv", "inventory", []compSummary{
			{"line-2", "express", "4.17.1", "npm", "npm/express"},
			{"line-3", "sudo", "1.9.5p2-1.el8_6", "RPM", "RPM/sudo"},
			{"line-4", "ABC", "4.2", "", "Generic/ABC"},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d, err := Parse(tc.file, readTestdata(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if d.Format != tc.format {
				t.Errorf("format %q, want %q", d.Format, tc.format)
			}
			if got := summarise(d); !slices.Equal(got, tc.want) {
				t.Errorf("components\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestTagValue(t *testing.T) {
	d, err := Parse("lib.spdx", readTestdata(t, "spdx-example6-lib.spdx"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != "spdx-tag-value" || d.SpecVersion != "SPDX-2.2" {
		t.Errorf("format %s %s", d.Format, d.SpecVersion)
	}
	var names []string
	for _, c := range d.Components {
		names = append(names, c.Name+"@"+c.Version+"#"+c.Ref)
	}
	if len(names) < 3 || names[0] != "go-1.15@1.15.4#SPDXRef-Package-godist" || names[1] != "go@1.15.4#SPDXRef-Package-go-compiler" {
		t.Errorf("components %v", names)
	}
	src := "SPDXVersion: SPDX-2.3\nPackageName: left-pad\nSPDXID: SPDXRef-1\nPackageComment: <text>multi\nPackageName: not-a-package\n</text>\nPackageVersion: 1.3.0\nExternalRef: PACKAGE-MANAGER purl pkg:npm/left-pad@1.3.0\nExternalRef: SECURITY cpe23Type cpe:2.3:a:left-pad_project:left-pad:1.3.0:*:*:*:*:node.js:*:*\n"
	d, err = ParseSPDXTagValue("x.spdx", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Components) != 1 || d.Components[0].PURL != "pkg:npm/left-pad@1.3.0" || d.Components[0].Ecosystem != "npm" || !strings.HasPrefix(d.Components[0].CPE, "cpe:2.3:a:left-pad_project") {
		t.Errorf("%+v", d.Components)
	}
}

func TestVEX(t *testing.T) {
	d, err := Parse("vex.json", readTestdata(t, "cdx-vex.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []VEXStatement{{VulnID: "CVE-2020-25649", Ref: "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar", Status: vuln.StatusNotAffected, Justification: "code_not_reachable"}}
	if !slices.Equal(d.VEX, want) {
		t.Errorf("VEX %+v", d.VEX)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"bad purl", "pkg:npm/left-pad@1\npkg:\n", "x: line 2: purl \"pkg:\""},
		{"bad line", "pkg:npm/a@1\nhello\n", "x:2: \"hello\" is neither"},
		{"bad cpe", "cpe:2.3:a:b\n", "x: line 1: cpe"},
		{"csv header", "foo,bar\n1,2\n", "x:1: header"},
		{"csv row", "name,version\n,1\n", "x:2: no name"},
		{"cdx json", `{"bomFormat":"SPDX"}`, "bomFormat"},
		{"spdx json", `{"spdxVersion":"SPDX-3.0"}`, "spdxVersion"},
		{"tag value", "SPDXVersion: SPDX-2.3\nPackageName x\n", "x:2: no tag"},
		{"empty", "  \n", "empty document"},
		{"xml", "<notbom/>", "x:"},
	} {
		_, err := Parse("x", []byte(tc.in))
		if err == nil || !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want invalid containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzParse checks that no input makes Parse panic and that every error
// is an errkind.Invalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"cdx-bom.json", "cdx-vex.json", "cdx-small.xml", "spdx-minimal.json", "spdx-example6-lib.spdx", "inventory.txt", "inventory.csv"} {
		f.Add(readTestdata(f, s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("f", data)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) {
				t.Fatalf("error not invalid input: %v", err)
			}
			return
		}
		for _, c := range d.Components {
			_ = c.Package().Key()
		}
	})
}
