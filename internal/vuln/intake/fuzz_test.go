package intake

import (
	"errors"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// fuzzParser checks that a parser never panics and that every error it
// returns is an errkind.Invalid.
func fuzzParser(f *testing.F, seeds []string, parse func(data []byte) error) {
	for _, s := range seeds {
		f.Add(readTestdata(f, s))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := parse(data); err != nil && !errors.Is(err, errkind.Invalid) {
			t.Fatalf("error not invalid input: %v", err)
		}
	})
}

func FuzzParseOSV(f *testing.F) {
	fuzzParser(f, []string{"osv-GO-2021-0159.json"}, func(d []byte) error { _, err := ParseOSV("f", d); return err })
}

func FuzzParseOSVYAML(f *testing.F) {
	fuzzParser(f, []string{"osv-PYSEC-2022-19.yaml"}, func(d []byte) error { _, err := ParseOSVYAML("f", d); return err })
}

func FuzzParseCVE5(f *testing.F) {
	fuzzParser(f, []string{"cve5-CVE-2024-24846.json"}, func(d []byte) error { _, err := ParseCVE5("f", d); return err })
}

func FuzzParseKEV(f *testing.F) {
	fuzzParser(f, []string{"kev.json"}, func(d []byte) error { _, err := ParseKEV("f", d); return err })
}

func FuzzParseNVDPage(f *testing.F) {
	fuzzParser(f, []string{"nvd-page.json"}, func(d []byte) error { _, err := ParseNVDPage("f", d); return err })
}

func FuzzParseCSAF(f *testing.F) {
	fuzzParser(f, []string{"csaf-vex-not-affected.json", "csaf-vex-fixed.json"}, func(d []byte) error { _, err := ParseCSAF("f", d); return err })
}
