package csaf

import (
	"slices"
	"strings"
	"testing"
)

// runTest runs one mandatory test on a JSON document and returns the
// JSON pointers it reported.
func runTest(t *testing.T, id, js string) []string {
	t.Helper()
	m, err := decode([]byte(js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	var paths []string
	for _, p := range Mandatory(m) {
		if p.Test == id {
			paths = append(paths, p.Path)
		}
	}
	return paths
}

func scoresDoc(score string) string {
	return `{"vulnerabilities":[{"scores":[{"products":["P1"],` + score + `}]}]}`
}

func TestMandatoryNew(t *testing.T) {
	const v31 = `"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"`
	for _, c := range []struct {
		name, test, doc string
		want            []string // JSON pointers reported; none for a valid case
	}{
		{"cvss3 right", "6.1.9", scoresDoc(`"cvss_v3":{` + v31 + `,"baseScore":9.8,"baseSeverity":"CRITICAL"}`), nil},
		{"cvss3 wrong score and severity", "6.1.9", scoresDoc(`"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:L/AC:L/PR:H/UI:R/S:U/C:H/I:H/A:H","baseScore":10,"baseSeverity":"LOW"}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v3/baseScore", "/vulnerabilities/0/scores/0/cvss_v3/baseSeverity"}},
		{"cvss3 temporal right", "6.1.9", scoresDoc(`"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U","baseScore":9.8,"baseSeverity":"CRITICAL","temporalScore":7.8,"temporalSeverity":"HIGH"}`), nil},
		{"cvss3 temporal wrong", "6.1.9", scoresDoc(`"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U","baseScore":9.8,"baseSeverity":"CRITICAL","temporalScore":9.8,"temporalSeverity":"CRITICAL"}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v3/temporalScore", "/vulnerabilities/0/scores/0/cvss_v3/temporalSeverity"}},
		{"cvss3 environmental wrong", "6.1.9", scoresDoc(`"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/MAV:L/CR:L/IR:L/AR:L","baseScore":9.8,"baseSeverity":"CRITICAL","environmentalScore":9.8}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v3/environmentalScore"}},
		{"cvss2 right", "6.1.9", scoresDoc(`"cvss_v2":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C","baseScore":7.8,"temporalScore":6.4}`), nil},
		{"cvss2 wrong", "6.1.9", scoresDoc(`"cvss_v2":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:C/I:C/A:C","baseScore":6.5}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v2/baseScore"}},
		{"invalid vector left to the schema", "6.1.9", scoresDoc(`"cvss_v3":{"version":"3.1","vectorString":"CVSS:3.1/AV:N","baseScore":1,"baseSeverity":"LOW"}`), nil},

		{"cvss3 consistent", "6.1.10", scoresDoc(`"cvss_v3":{` + v31 + `,"baseScore":9.8,"baseSeverity":"CRITICAL","attackVector":"NETWORK","scope":"UNCHANGED","exploitCodeMaturity":"NOT_DEFINED","modifiedAttackVector":"NOT_DEFINED"}`), nil},
		{"cvss3 inconsistent", "6.1.10", scoresDoc(`"cvss_v3":{` + v31 + `,"baseScore":9.8,"baseSeverity":"CRITICAL","attackVector":"LOCAL","scope":"CHANGED","availabilityImpact":"HIGH","remediationLevel":"OFFICIAL_FIX"}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v3/attackVector", "/vulnerabilities/0/scores/0/cvss_v3/scope", "/vulnerabilities/0/scores/0/cvss_v3/remediationLevel"}},
		{"cvss2 consistent", "6.1.10", scoresDoc(`"cvss_v2":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:C/I:C/A:C/E:POC","baseScore":10,"accessVector":"NETWORK","authentication":"NONE","exploitability":"PROOF_OF_CONCEPT","targetDistribution":"NOT_DEFINED"}`), nil},
		{"cvss2 inconsistent", "6.1.10", scoresDoc(`"cvss_v2":{"version":"2.0","vectorString":"AV:N/AC:L/Au:N/C:C/I:C/A:C/E:POC","baseScore":10,"accessComplexity":"HIGH","exploitability":"FUNCTIONAL"}`),
			[]string{"/vulnerabilities/0/scores/0/cvss_v2/accessComplexity", "/vulnerabilities/0/scores/0/cvss_v2/exploitability"}},

		{"cwe right", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-20","name":"Improper Input Validation"}}]}`, nil},
		{"cwe older name", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-1188","name":"Insecure Default Initialization of Resource"}}]}`, nil},
		{"cwe wrong name", "6.1.11", `{"vulnerabilities":[{},{"cwe":{"id":"CWE-79","name":"Improper Input Validation"}}]}`, []string{"/vulnerabilities/1/cwe/name"}},
		{"cwe newer than the catalogue", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-1431","name":"Anything"}}]}`, nil},
		{"cwe id that does not exist", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-999999","name":"Anything"}},{"cwe":{"id":"CWE-1000","name":"Research Concepts"}},{"cwe":{"id":"CWE-1999","name":"Anything"}}]}`, []string{"/vulnerabilities/0/cwe/id", "/vulnerabilities/1/cwe/id", "/vulnerabilities/2/cwe/id"}},
		{"cwe rarely used weakness", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-1037","name":"Processor Optimization Removal or Modification of Security-critical Code"}}]}`, nil},
		{"cwe deprecated weakness", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-1187","name":"DEPRECATED: Use of Uninitialized Resource"}}]}`, nil},
		{"cwe category", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-16","name":"Configuration"}}]}`, []string{"/vulnerabilities/0/cwe/id"}},
		{"cwe current name of renamed weakness", "6.1.11", `{"vulnerabilities":[{"cwe":{"id":"CWE-1188","name":"Initialization of a Resource with an Insecure Default"}}]}`, nil},

		{"category base", "6.1.26", `{"document":{"category":"csaf_base"}}`, nil},
		{"category own", "6.1.26", `{"document":{"category":"OASIS CSAF TC Security Incident Response"}}`, nil},
		{"category profile", "6.1.26", `{"document":{"category":"csaf_vex"}}`, nil},
		{"category profile name", "6.1.26", `{"document":{"category":"Security_Incident_Response"}}`, []string{"/document/category"}},
		{"category profile title", "6.1.26", `{"document":{"category":"Informational Advisory"}}`, []string{"/document/category"}},
		{"category vex", "6.1.26", `{"document":{"category":"V-E-X"}}`, []string{"/document/category"}},
		{"category reserved prefix", "6.1.26", `{"document":{"category":"csaf_BASE"}}`, []string{"/document/category"}},
		{"category reserved prefix other", "6.1.26", `{"document":{"category":"csaf_mine"}}`, []string{"/document/category"}},
		{"category without underscores", "6.1.26", `{"document":{"category":"csafsecurityadvisory"}}`, []string{"/document/category"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runTest(t, c.test, c.doc)
			slices.Sort(got)
			want := slices.Clone(c.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s reported %v, want %v", c.test, got, want)
			}
		})
	}
}

func TestCWECatalogue(t *testing.T) {
	count := map[string]int{}
	for id, e := range cweCatalogue.ids {
		count[e.kind]++
		if !strings.HasPrefix(id, "CWE-") || len(e.names) == 0 || slices.Contains(e.names, "") {
			t.Errorf("bad catalogue entry %q: %+v", id, e)
		}
	}
	// CWE 4.15: 964 weaknesses, 409 categories, 54 views.
	if count["weakness"] != 964 || count["category"] != 409 || count["view"] != 54 || cweCatalogue.version != "4.15" {
		t.Errorf("catalogue %s has %v", cweCatalogue.version, count)
	}
	if e := cweCatalogue.ids["CWE-79"]; e == nil || e.names[0] != "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')" {
		t.Errorf("CWE-79 = %+v", e)
	}
	if cweCatalogue.maxID != 1426 {
		t.Errorf("highest id %d", cweCatalogue.maxID)
	}
}
