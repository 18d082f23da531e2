package cvss

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/realdata"
)

// The expected scores are the worked examples of the CVSS v2 guide
// (section 3.3: CVE-2002-0392, CVE-2003-0818, CVE-2003-0062) and scores
// published for well-known CVEs by NVD.
func TestScores(t *testing.T) {
	for _, c := range []struct {
		vector                        string
		base, temporal, environmental float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, 9.8, 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, 6.1, 6.1},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, 5.5, 5.5},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, 5.9, 5.9},
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:N/A:N", 4.1, 4.1, 4.1},
		{"CVSS:3.1/AV:L/AC:L/PR:H/UI:R/S:U/C:H/I:H/A:H", 6.5, 6.5, 6.5},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0, 0, 0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10, 10, 10},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10, 10, 10},
		// Temporal: 9.8 × 0.91 × 0.95 × 0.92 = 7.79 → 7.8.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U", 9.8, 7.8, 7.8},
		// Environmental: requirements low, MAV:L.
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/CR:L/IR:L/AR:L/MAV:L", 9.8, 9.8, 6.6},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:H", 7.8, 6.4, 9.2},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:L", 10, 8.3, 9.0},
		{"AV:L/AC:H/Au:N/C:C/I:C/A:C/E:POC/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:M", 6.2, 4.9, 7.5},
		{"(AV:N/AC:L/Au:N/C:P/I:P/A:P)", 7.5, 7.5, 7.5},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:N", 0, 0, 0},
	} {
		v, err := Parse(c.vector)
		if err != nil {
			t.Errorf("%s: %v", c.vector, err)
			continue
		}
		want := Scores{c.base, c.temporal, c.environmental}
		if got := v.Scores(); got != want {
			t.Errorf("%s: %+v, want %+v", c.vector, got, want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{
		"",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
		"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/Au:N",
		"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
		"AV:N/AC:L/Au:N/C:P/I:P",
		"AV:N/AC:L/Au:N/C:P/I:P/A:P/E:X",
	} {
		if _, err := Parse(s); !errors.Is(err, errkind.Invalid) {
			t.Errorf("Parse(%q) = %v, want errkind.Invalid", s, err)
		}
	}
}

func TestSeverityAndNames(t *testing.T) {
	for score, want := range map[float64]string{0: "NONE", 0.1: "LOW", 3.9: "LOW", 4: "MEDIUM", 6.9: "MEDIUM", 7: "HIGH", 8.9: "HIGH", 9: "CRITICAL", 10: "CRITICAL"} {
		if got := Severity(score); got != want {
			t.Errorf("Severity(%v) = %s, want %s", score, got, want)
		}
	}
	v, _ := Parse("CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P")
	got := map[string]string{}
	for _, m := range v.Metrics() {
		got[m.Property] = m.Name(v.Code(m.Abbr))
	}
	if got["attackVector"] != "ADJACENT_NETWORK" || got["exploitCodeMaturity"] != "PROOF_OF_CONCEPT" || got["modifiedScope"] != "NOT_DEFINED" {
		t.Errorf("names: %v", got)
	}
}

// TestRealScores recomputes the CVSS scores of the CISA vulnrichment CVE
// records (CVE JSON 5.1, scores set by CNAs and CISA) from their vectors:
// the first 10,000 records, all of them with KIZUNA_VULN_ALL=1.
func TestRealScores(t *testing.T) {
	limit := 10000
	if os.Getenv("KIZUNA_VULN_ALL") != "" {
		limit = 1 << 30
	}
	p := realdata.Path(t, "vuln/vulnrichment/vulnrichment-b0ed758.tar.gz")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	type score struct {
		Vector        string   `json:"vectorString"`
		Base          *float64 `json:"baseScore"`
		BaseSeverity  string   `json:"baseSeverity"`
		Temporal      *float64 `json:"temporalScore"`
		Environmental *float64 `json:"environmentalScore"`
	}
	type record struct {
		Containers struct {
			CNA struct {
				Metrics []map[string]json.RawMessage `json:"metrics"`
			} `json:"cna"`
			ADP []struct {
				Metrics []map[string]json.RawMessage `json:"metrics"`
			} `json:"adp"`
		} `json:"containers"`
	}
	checked, wrong, temporalAsBase := 0, 0, 0
	check := func(name string, ms []map[string]json.RawMessage) {
		for _, m := range ms {
			for _, k := range []string{"cvssV2_0", "cvssV3_0", "cvssV3_1"} {
				raw, ok := m[k]
				if !ok {
					continue
				}
				var s score
				if json.Unmarshal(raw, &s) != nil || s.Base == nil {
					continue
				}
				v, err := Parse(s.Vector)
				if err != nil {
					continue // CNAs publish malformed vectors; not scored here
				}
				got := v.Scores()
				checked++
				bad := got.Base != *s.Base ||
					(s.BaseSeverity != "" && v.Version != "2.0" && !strings.EqualFold(s.BaseSeverity, Severity(got.Base))) ||
					(s.Temporal != nil && got.Temporal != *s.Temporal) ||
					(s.Environmental != nil && got.Environmental != *s.Environmental)
				if bad && s.Temporal == nil && *s.Base == got.Temporal {
					temporalAsBase++ // the publisher gave the temporal score as base
					continue
				}
				if bad {
					wrong++
					if wrong <= 10 {
						t.Logf("%s: %s: record %s, computed %+v", name, s.Vector, raw, got)
					}
				}
			}
		}
	}
	for records := 0; records < limit; {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, ".json") {
			continue
		}
		var r record
		if err := json.NewDecoder(tr).Decode(&r); err != nil {
			continue
		}
		records++
		check(h.Name, r.Containers.CNA.Metrics)
		for _, a := range r.Containers.ADP {
			check(h.Name, a.Metrics)
		}
	}
	t.Logf("%d scores recomputed, %d differ from the record, %d give the temporal score as base score", checked, wrong, temporalAsBase)
	if checked < 1000 {
		t.Errorf("only %d scores checked", checked)
	}
	// Publishers do get scores wrong (that is what CSAF test 6.1.9 is
	// for: some give the environmental score of a base vector as base
	// score, others simply a wrong number); the formulas must agree with
	// all but a few of them.
	if wrong*200 > checked {
		t.Errorf("%d of %d scores differ", wrong, checked)
	}
}

// FuzzParse checks that Parse never panics and that every vector it
// accepts scores between 0 and 10 with its base metrics named.
func FuzzParse(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U/MS:C/MPR:L")
	f.Add("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")
	f.Add("AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:H")
	f.Add("CVSS:3.1/AV:N/AV:N")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		sc := v.Scores()
		for _, x := range []float64{sc.Base, sc.Temporal, sc.Environmental} {
			if x < 0 || x > 10 {
				t.Fatalf("%q: score %v out of range: %+v", s, x, sc)
			}
		}
		for _, m := range v.Metrics() {
			if m.Name(v.Code(m.Abbr)) == "" {
				t.Fatalf("%q: metric %s has no value name", s, m.Abbr)
			}
		}
	})
}
