package csaf

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
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

//go:generate go run ./cwegen -xml=$CWEC_XML -former cwe_former.tsv -o cwe.tsv

//go:embed cwe.tsv
var cweTSV string

// cweCatalogue is the CWE catalogue of cwe.tsv; built once and never
// changed.
var cweCatalogue = parseCWE(cweTSV)

// cweEntry is what the catalogue knows about one CWE id: its kind
// (weakness, category or view) and its accepted names, the current first.
type cweEntry struct {
	kind  string
	names []string
}

// cweCatalog maps CWE ids to their entries.
type cweCatalog struct {
	version string
	maxID   int // the highest weakness or category id (views are numbered apart)
	ids     map[string]*cweEntry
}

// parseCWE reads cwe.tsv: "CWE-ID<TAB>kind<TAB>name" lines, "#version<TAB>V",
// and "#" comment lines. A "former" line adds an earlier name to a weakness.
func parseCWE(s string) cweCatalog {
	c := cweCatalog{ids: map[string]*cweEntry{}}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "#version\t"); ok {
			c.version = v
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 || strings.HasPrefix(line, "#") {
			continue
		}
		e := c.ids[f[0]]
		if e == nil {
			e = &cweEntry{kind: f[1]}
			c.ids[f[0]] = e
		}
		if f[1] == "former" {
			f[1] = "weakness"
		}
		e.names = append(e.names, f[2])
		if n, err := strconv.Atoi(strings.TrimPrefix(f[0], "CWE-")); err == nil && e.kind != "view" && n > c.maxID {
			c.maxID = n
		}
	}
	return c
}

// cweNewer is how far above the shipped catalogue's highest id a CWE id is
// still taken as one of a newer CWE version (a release adds a few ids).
const cweNewer = 100

// testCWE is 6.1.11: the CWE must exist in the catalogue as a weakness
// (categories and views are not weaknesses, as CSAF 2.1 spells out and the
// reference validator applies to 2.0) and its name must be the catalogue's
// name for it, current or former. MITRE numbers new entries upwards and
// fills no gaps: every id up to the catalogue's highest exists. An id at
// most cweNewer above the highest is taken to come from a newer CWE version
// than the one shipped and is not checked; any other unknown id fails.
func testCWE(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		c := obj(obj(v)["cwe"])
		id, name := str(c["id"]), str(c["name"])
		if c["id"] == nil {
			continue
		}
		path := fmt.Sprintf("/vulnerabilities/%d/cwe", i)
		e := cweCatalogue.ids[id]
		n, err := strconv.Atoi(strings.TrimPrefix(id, "CWE-"))
		switch {
		case e == nil && err == nil && n > cweCatalogue.maxID && n <= cweCatalogue.maxID+cweNewer:
			continue
		case e == nil:
			r.add(path+"/id", "%s does not exist in CWE %s", id, cweCatalogue.version)
			continue
		case e.kind != "weakness":
			r.add(path+"/id", "%s is a CWE %s (%q), not a weakness", id, e.kind, e.names[0])
			continue
		}
		if c["name"] != nil && !slices.Contains(e.names, name) {
			r.add(path+"/name", "%s is named %q, not %q", id, e.names[0], name)
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
