package csaf

import (
	"bufio"
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln/cvss"
)

// eachCVSS calls fn for every CVSS v2 and v3 object of the document whose
// vectorString parses (an invalid vector is the schema's finding, 6.1.8).
func eachCVSS(d doc, fn func(path string, c map[string]any, v cvss.Vector)) {
	for i, vu := range arr(d["vulnerabilities"]) {
		for j, s := range arr(obj(vu)["scores"]) {
			for _, k := range []string{"cvss_v2", "cvss_v3"} {
				c := obj(obj(s)[k])
				if c == nil {
					continue
				}
				v, err := cvss.Parse(str(c["vectorString"]))
				if err != nil {
					continue
				}
				fn(fmt.Sprintf("/vulnerabilities/%d/scores/%d/%s", i, j, k), c, v)
			}
		}
	}
}

// number returns a JSON number property (json.Number or float64).
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case interface{ String() string }:
		f, err := strconv.ParseFloat(n.String(), 64)
		return f, err == nil
	}
	return 0, false
}

// testCVSSComputation is 6.1.9: the scores and severities must be those
// the vector string yields.
func testCVSSComputation(d doc, r *reporter) {
	eachCVSS(d, func(path string, c map[string]any, v cvss.Vector) {
		s := v.Scores()
		for _, sc := range []struct {
			kind  string
			score float64
		}{{"base", s.Base}, {"temporal", s.Temporal}, {"environmental", s.Environmental}} {
			if got, ok := number(c[sc.kind+"Score"]); ok && math.Abs(got-sc.score) > 1e-9 {
				r.add(path+"/"+sc.kind+"Score", "%sScore is %v but the CVSS %s vector yields %.1f", sc.kind, got, v.Version, sc.score)
			}
			if v.Version == "2.0" {
				continue
			}
			if got, ok := c[sc.kind+"Severity"].(string); ok && got != cvss.Severity(sc.score) {
				r.add(path+"/"+sc.kind+"Severity", "%sSeverity is %q but the vector's %s score %.1f is %s", sc.kind, got, sc.kind, sc.score, cvss.Severity(sc.score))
			}
		}
	})
}

// testCVSSConsistency is 6.1.10: each metric property given must match
// the vector string (a metric left out of the vector is NOT_DEFINED).
func testCVSSConsistency(d doc, r *reporter) {
	eachCVSS(d, func(path string, c map[string]any, v cvss.Vector) {
		for _, m := range v.Metrics() {
			got, ok := c[m.Property].(string)
			if want := m.Name(v.Code(m.Abbr)); ok && got != want {
				r.add(path+"/"+m.Property, "%s is %s but the vector string says %s:%s (%s)", m.Property, got, m.Abbr, v.Code(m.Abbr), want)
			}
		}
	})
}

//go:embed cwe.tsv
var cweTSV string

// cweNames maps CWE ids to the names the catalogue gave them; built once
// from cwe.tsv and never changed.
var cweNames = parseCWE(cweTSV)

// parseCWE reads "CWE-ID<TAB>name" lines; "#" starts a comment line.
func parseCWE(s string) map[string][]string {
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := sc.Text()
		if id, name, ok := strings.Cut(line, "\t"); ok && !strings.HasPrefix(line, "#") {
			out[id] = append(out[id], name)
		}
	}
	return out
}

// testCWE is 6.1.11: a CWE's name must be the catalogue's name for its
// id. Only the ids of the shipped partial catalogue (cwe.tsv) are checked.
func testCWE(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		c := obj(obj(v)["cwe"])
		id, name := str(c["id"]), str(c["name"])
		names, known := cweNames[id]
		if !known || c["name"] == nil {
			continue
		}
		match := false
		for _, n := range names {
			match = match || n == name
		}
		if !match {
			r.add(fmt.Sprintf("/vulnerabilities/%d/cwe/name", i), "%s is named %q, not %q", id, names[len(names)-1], name)
		}
	}
}

// profileNames are the values and names of the profiles other than CSAF
// Base, normalised (lower case, no hyphen, white space or underscore):
// category value, name without the csaf_ prefix, and title (section 4).
var profileNames = []string{
	"csafsecurityincidentresponse", "securityincidentresponse",
	"csafinformationaladvisory", "informationaladvisory",
	"csafsecurityadvisory", "securityadvisory",
	"csafvex", "vex",
}

// normaliseCategory lower-cases s and drops hyphens, white space and
// underscores.
func normaliseCategory(s string) string {
	return strings.Map(func(c rune) rune {
		switch c {
		case '-', '_', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2212':
			return -1
		}
		if strings.ContainsRune(" \t\n\r\f\v\u00a0", c) {
			return -1
		}
		return c
	}, strings.ToLower(s))
}

// testProhibitedCategory is 6.1.26: a CSAF Base document's category must
// not be the name of another profile in disguise nor use the reserved
// csaf_ prefix (except csaf_base).
func testProhibitedCategory(d doc, r *reporter) {
	c := d.category()
	switch c {
	case catInformational, catIncident, catAdvisory, catVEX:
		return
	}
	n := normaliseCategory(c)
	for _, p := range profileNames {
		if n == p {
			r.add("/document/category", "category %q is the name of another profile", c)
			return
		}
	}
	if strings.HasPrefix(strings.ToLower(c), "csaf_") && c != "csaf_base" {
		r.add("/document/category", "category %q uses the reserved prefix csaf_", c)
	}
}
