package csaf

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/package-url/packageurl-go"
	"golang.org/x/text/language"
)

// Problem is one failed check of an advisory: the test (a section number
// of the standard such as "6.1.2", or "schema"), the JSON pointer of the
// offending value and a message.
type Problem struct {
	Test    string `json:"test"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// String formats the problem as "TEST PATH: MESSAGE".
func (p Problem) String() string { return p.Test + " " + p.Path + ": " + p.Message }

// mandatoryTest is one of the standard's mandatory tests (section 6.1).
type mandatoryTest struct {
	id  string
	run func(d doc, r *reporter)
}

// MandatoryTests lists the ids of the mandatory tests that Mandatory runs.
func MandatoryTests() []string {
	ids := make([]string, len(mandatoryTests))
	for i, t := range mandatoryTests {
		ids[i] = t.id
	}
	return ids
}

// mandatoryTests are run in this order. 6.1.8 (invalid CVSS) is covered by
// the schema; 6.1.11 (CWE) checks against the shipped CWE 4.15 catalogue
// (cwe.tsv).
var mandatoryTests = []mandatoryTest{
	{"6.1.1", testMissingProductID},
	{"6.1.2", testMultipleProductID},
	{"6.1.3", testCircularProductID},
	{"6.1.4", testMissingGroupID},
	{"6.1.5", testMultipleGroupID},
	{"6.1.6", testContradictingStatus},
	{"6.1.7", testMultipleScores},
	{"6.1.9", testCVSSComputation},
	{"6.1.10", testCVSSConsistency},
	{"6.1.11", testCWE},
	{"6.1.12", testLanguage},
	{"6.1.13", testPURL},
	{"6.1.14", testSortedRevisionHistory},
	{"6.1.15", testTranslator},
	{"6.1.16", testLatestVersion},
	{"6.1.17", testStatusDraft},
	{"6.1.18", testReleasedRevisionHistory},
	{"6.1.19", testPreReleaseRevision},
	{"6.1.20", testNonDraftVersion},
	{"6.1.21", testMissingRevision},
	{"6.1.22", testDuplicateRevision},
	{"6.1.23", testDuplicateCVE},
	{"6.1.24", testDuplicateInvolvement},
	{"6.1.25", testDuplicateHashAlgorithm},
	{"6.1.26", testProhibitedCategory},
	{"6.1.27.1", testProfileDocumentNotes},
	{"6.1.27.2", testProfileDocumentReferences},
	{"6.1.27.3", testProfileNoVulnerabilities},
	{"6.1.27.4", testProfileProductTree},
	{"6.1.27.5", testProfileVulnerabilityNotes},
	{"6.1.27.6", testProfileProductStatus},
	{"6.1.27.7", testProfileVEXStatus},
	{"6.1.27.8", testProfileVulnerabilityID},
	{"6.1.27.9", testProfileImpactStatement},
	{"6.1.27.10", testProfileActionStatement},
	{"6.1.27.11", testProfileVulnerabilities},
	{"6.1.28", testTranslation},
	{"6.1.29", testRemediationReference},
	{"6.1.30", testMixedVersioning},
	{"6.1.31", testVersionRange},
	{"6.1.32", testFlagReference},
	{"6.1.33", testMultipleFlags},
}

// Mandatory runs the implemented mandatory tests (section 6.1) on a
// decoded CSAF document (as from encoding/json into an any) and returns
// the problems found.
func Mandatory(v any) []Problem {
	d, _ := v.(map[string]any)
	r := &reporter{}
	for _, t := range mandatoryTests {
		r.test = t.id
		t.run(doc(d), r)
	}
	return r.problems
}

// reporter collects problems of the running test.
type reporter struct {
	test     string
	problems []Problem
}

func (r *reporter) add(path, format string, args ...any) {
	r.problems = append(r.problems, Problem{Test: r.test, Path: path, Message: fmt.Sprintf(format, args...)})
}

// doc is a decoded CSAF document.
type doc map[string]any

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func arr(v any) []any          { a, _ := v.([]any); return a }
func str(v any) string         { s, _ := v.(string); return s }

func (d doc) document() map[string]any { return obj(d["document"]) }
func (d doc) tracking() map[string]any { return obj(d.document()["tracking"]) }
func (d doc) category() string         { return str(d.document()["category"]) }
func (d doc) status() string           { return str(d.tracking()["status"]) }

// ref is a string value and where it is.
type ref struct{ path, value string }

// productDefinitions returns every product_id definition.
func (d doc) productDefinitions() []ref {
	pt := obj(d["product_tree"])
	var out []ref
	var branches func(path string, bs []any)
	branches = func(path string, bs []any) {
		for i, b := range bs {
			p := fmt.Sprintf("%s/%d", path, i)
			bm := obj(b)
			if prod := obj(bm["product"]); prod != nil {
				if id, ok := prod["product_id"].(string); ok {
					out = append(out, ref{p + "/product/product_id", id})
				}
			}
			branches(p+"/branches", arr(bm["branches"]))
		}
	}
	branches("/product_tree/branches", arr(pt["branches"]))
	for i, f := range arr(pt["full_product_names"]) {
		if id, ok := obj(f)["product_id"].(string); ok {
			out = append(out, ref{fmt.Sprintf("/product_tree/full_product_names/%d/product_id", i), id})
		}
	}
	for i, rel := range arr(pt["relationships"]) {
		if id, ok := obj(obj(rel)["full_product_name"])["product_id"].(string); ok {
			out = append(out, ref{fmt.Sprintf("/product_tree/relationships/%d/full_product_name/product_id", i), id})
		}
	}
	return out
}

// productHelpers returns every full product name (object) and its path.
func (d doc) fullProductNames() []struct {
	path string
	m    map[string]any
} {
	type fpn = struct {
		path string
		m    map[string]any
	}
	pt := obj(d["product_tree"])
	var out []fpn
	var branches func(path string, bs []any)
	branches = func(path string, bs []any) {
		for i, b := range bs {
			p := fmt.Sprintf("%s/%d", path, i)
			bm := obj(b)
			if prod := obj(bm["product"]); prod != nil {
				out = append(out, fpn{p + "/product", prod})
			}
			branches(p+"/branches", arr(bm["branches"]))
		}
	}
	branches("/product_tree/branches", arr(pt["branches"]))
	for i, f := range arr(pt["full_product_names"]) {
		out = append(out, fpn{fmt.Sprintf("/product_tree/full_product_names/%d", i), obj(f)})
	}
	for i, rel := range arr(pt["relationships"]) {
		if f := obj(obj(rel)["full_product_name"]); f != nil {
			out = append(out, fpn{fmt.Sprintf("/product_tree/relationships/%d/full_product_name", i), f})
		}
	}
	return out
}

// statusNames are the product status lists of a vulnerability.
var statusNames = []string{"first_affected", "first_fixed", "fixed", "known_affected", "known_not_affected", "last_affected", "recommended", "under_investigation"}

// strings lists the string items of a JSON array with their paths.
func stringsAt(path string, v any) []ref {
	var out []ref
	for i, s := range arr(v) {
		if s, ok := s.(string); ok {
			out = append(out, ref{fmt.Sprintf("%s/%d", path, i), s})
		}
	}
	return out
}

// productReferences returns every reference to a product_id.
func (d doc) productReferences() []ref {
	pt := obj(d["product_tree"])
	var out []ref
	for i, g := range arr(pt["product_groups"]) {
		out = append(out, stringsAt(fmt.Sprintf("/product_tree/product_groups/%d/product_ids", i), obj(g)["product_ids"])...)
	}
	for i, rel := range arr(pt["relationships"]) {
		for _, k := range []string{"product_reference", "relates_to_product_reference"} {
			if s, ok := obj(rel)[k].(string); ok {
				out = append(out, ref{fmt.Sprintf("/product_tree/relationships/%d/%s", i, k), s})
			}
		}
	}
	for i, v := range arr(d["vulnerabilities"]) {
		vp := fmt.Sprintf("/vulnerabilities/%d", i)
		vm := obj(v)
		ps := obj(vm["product_status"])
		for _, k := range statusNames {
			out = append(out, stringsAt(vp+"/product_status/"+k, ps[k])...)
		}
		for _, l := range []struct{ list, key string }{{"remediations", "product_ids"}, {"scores", "products"}, {"threats", "product_ids"}, {"flags", "product_ids"}} {
			for j, x := range arr(vm[l.list]) {
				out = append(out, stringsAt(fmt.Sprintf("%s/%s/%d/%s", vp, l.list, j, l.key), obj(x)[l.key])...)
			}
		}
	}
	return out
}

// groupReferences returns every reference to a product_group_id.
func (d doc) groupReferences() []ref {
	var out []ref
	for i, v := range arr(d["vulnerabilities"]) {
		for _, l := range []string{"remediations", "threats", "flags"} {
			for j, x := range arr(obj(v)[l]) {
				out = append(out, stringsAt(fmt.Sprintf("/vulnerabilities/%d/%s/%d/group_ids", i, l, j), obj(x)["group_ids"])...)
			}
		}
	}
	return out
}

// groupDefinitions returns every product_group_id definition.
func (d doc) groupDefinitions() []ref {
	var out []ref
	for i, g := range arr(obj(d["product_tree"])["product_groups"]) {
		if id, ok := obj(g)["group_id"].(string); ok {
			out = append(out, ref{fmt.Sprintf("/product_tree/product_groups/%d/group_id", i), id})
		}
	}
	return out
}

func testMissingProductID(d doc, r *reporter) {
	defined := map[string]bool{}
	for _, p := range d.productDefinitions() {
		defined[p.value] = true
	}
	for _, p := range d.productReferences() {
		if !defined[p.value] {
			r.add(p.path, "product id %q is not defined in the product tree", p.value)
		}
	}
}

func testMultipleProductID(d doc, r *reporter) {
	seen := map[string]string{}
	for _, p := range d.productDefinitions() {
		if first, ok := seen[p.value]; ok {
			r.add(p.path, "product id %q is already defined at %s", p.value, first)
			continue
		}
		seen[p.value] = p.path
	}
}

func testCircularProductID(d doc, r *reporter) {
	edges := map[string][]string{}
	rels := arr(obj(d["product_tree"])["relationships"])
	for _, rel := range rels {
		m := obj(rel)
		id := str(obj(m["full_product_name"])["product_id"])
		edges[id] = append(edges[id], str(m["product_reference"]), str(m["relates_to_product_reference"]))
	}
	for i, rel := range rels {
		start := str(obj(obj(rel)["full_product_name"])["product_id"])
		seen := map[string]bool{}
		stack := slices.Clone(edges[start])
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n == start {
				r.add(fmt.Sprintf("/product_tree/relationships/%d/full_product_name/product_id", i), "product id %q is defined in terms of itself", start)
				break
			}
			if !seen[n] {
				seen[n] = true
				stack = append(stack, edges[n]...)
			}
		}
	}
}

func testMissingGroupID(d doc, r *reporter) {
	defined := map[string]bool{}
	for _, g := range d.groupDefinitions() {
		defined[g.value] = true
	}
	for _, g := range d.groupReferences() {
		if !defined[g.value] {
			r.add(g.path, "product group id %q is not defined in the product tree", g.value)
		}
	}
}

func testMultipleGroupID(d doc, r *reporter) {
	seen := map[string]string{}
	for _, g := range d.groupDefinitions() {
		if first, ok := seen[g.value]; ok {
			r.add(g.path, "product group id %q is already defined at %s", g.value, first)
			continue
		}
		seen[g.value] = g.path
	}
}

// statusGroup maps product status lists to the disjoint groups of 6.1.6.
var statusGroup = map[string]string{
	"first_affected": "affected", "known_affected": "affected", "last_affected": "affected",
	"known_not_affected": "not affected",
	"first_fixed":        "fixed", "fixed": "fixed",
	"under_investigation": "under investigation",
}

func testContradictingStatus(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		ps := obj(obj(v)["product_status"])
		group := map[string]string{}
		for _, k := range statusNames {
			g, ok := statusGroup[k]
			if !ok {
				continue
			}
			for _, p := range stringsAt(fmt.Sprintf("/vulnerabilities/%d/product_status/%s", i, k), ps[k]) {
				if prev, ok := group[p.value]; ok && prev != g {
					r.add(p.path, "product %q is both %s and %s", p.value, prev, g)
					continue
				}
				group[p.value] = g
			}
		}
	}
}

func testMultipleScores(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		seen := map[string]bool{}
		for j, s := range arr(obj(v)["scores"]) {
			sm := obj(s)
			var versions []string
			for _, k := range []string{"cvss_v2", "cvss_v3"} {
				if c := obj(sm[k]); c != nil {
					versions = append(versions, k+"/"+str(c["version"]))
				}
			}
			for _, p := range stringsAt(fmt.Sprintf("/vulnerabilities/%d/scores/%d/products", i, j), sm["products"]) {
				for _, ver := range versions {
					key := p.value + "\x00" + ver
					if seen[key] {
						r.add(p.path, "product %q has more than one CVSS %s score", p.value, strings.ReplaceAll(ver, "/", " version "))
					}
					seen[key] = true
				}
			}
		}
	}
}

func testLanguage(d doc, r *reporter) {
	for _, k := range []string{"lang", "source_lang"} {
		s, ok := d.document()[k].(string)
		if !ok {
			continue
		}
		if _, err := language.Parse(s); err != nil || strings.EqualFold(s, "i-default") {
			r.add("/document/"+k, "%q is not a valid language tag", s)
		}
	}
}

func testPURL(d doc, r *reporter) {
	for _, f := range d.fullProductNames() {
		s, ok := obj(f.m["product_identification_helper"])["purl"].(string)
		if !ok {
			continue
		}
		if _, err := packageurl.FromString(s); err != nil {
			r.add(f.path+"/product_identification_helper/purl", "invalid package URL %q: %v", s, err)
		}
	}
}

// version is a parsed CSAF version: integer or semantic versioning.
type version struct {
	semantic            bool
	major, minor, patch int
	pre, build          string
}

var (
	intVersionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
	semVersionRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
)

// parseVersion parses a version_t value.
func parseVersion(s string) (version, bool) {
	if intVersionRE.MatchString(s) {
		n, err := strconv.Atoi(s)
		return version{major: n}, err == nil
	}
	m := semVersionRE.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	v := version{semantic: true, pre: m[4], build: m[5]}
	v.major, _ = strconv.Atoi(m[1])
	v.minor, _ = strconv.Atoi(m[2])
	v.patch, _ = strconv.Atoi(m[3])
	return v, true
}

// compare orders versions (build metadata ignored; pre-releases compared
// as text, which is enough for the tests' purposes).
func (v version) compare(w version) int {
	for _, c := range [][2]int{{v.major, w.major}, {v.minor, w.minor}, {v.patch, w.patch}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.pre == w.pre:
		return 0
	case v.pre == "":
		return 1
	case w.pre == "":
		return -1
	}
	return strings.Compare(v.pre, w.pre)
}

// revision is a revision history item.
type revision struct {
	path, number, date string
	index              int
}

// revisions returns the revision history items, sorted ascending by date
// (stable: items with the same date keep their order).
func (d doc) revisions() []revision {
	var out []revision
	for i, h := range arr(d.tracking()["revision_history"]) {
		m := obj(h)
		out = append(out, revision{fmt.Sprintf("/document/tracking/revision_history/%d", i), str(m["number"]), str(m["date"]), i})
	}
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := timeOf(out[i].date), timeOf(out[j].date)
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		a, okA := parseVersion(out[i].number)
		b, okB := parseVersion(out[j].number)
		return okA && okB && a.compare(b) < 0
	})
	return out
}

func testSortedRevisionHistory(d doc, r *reporter) {
	revs := d.revisions()
	for i := 1; i < len(revs); i++ {
		a, okA := parseVersion(revs[i-1].number)
		b, okB := parseVersion(revs[i].number)
		if okA && okB && a.compare(b) > 0 {
			r.add(revs[i].path+"/number", "revision %q is dated after revision %q but numbered before it", revs[i].number, revs[i-1].number)
		}
	}
}

func testTranslator(d doc, r *reporter) {
	if str(obj(d.document()["publisher"])["category"]) == "translator" {
		if _, ok := d.document()["source_lang"]; !ok {
			r.add("/document/source_lang", "a translator's document must give source_lang")
		}
	}
}

func testLatestVersion(d doc, r *reporter) {
	revs := d.revisions()
	if len(revs) == 0 {
		return
	}
	last := revs[len(revs)-1]
	ver := str(d.tracking()["version"])
	a, okA := parseVersion(ver)
	b, okB := parseVersion(last.number)
	if !okA || !okB {
		return
	}
	if d.status() == "draft" {
		a.pre, b.pre = "", ""
	}
	if a.compare(b) != 0 || a.semantic != b.semantic {
		r.add("/document/tracking/version", "version %q is not the number of the latest revision (%q)", ver, last.number)
	}
}

func testStatusDraft(d doc, r *reporter) {
	ver := str(d.tracking()["version"])
	v, ok := parseVersion(ver)
	if !ok || d.status() == "draft" {
		return
	}
	if v.major == 0 || v.pre != "" {
		r.add("/document/tracking/status", "version %q requires status draft, not %q", ver, d.status())
	}
}

func testReleasedRevisionHistory(d doc, r *reporter) {
	if s := d.status(); s != "final" && s != "interim" {
		return
	}
	for _, rev := range d.revisions() {
		if v, ok := parseVersion(rev.number); ok && v.major == 0 {
			r.add(rev.path+"/number", "a %s document must not have revision %q", d.status(), rev.number)
		}
	}
}

func testPreReleaseRevision(d doc, r *reporter) {
	for _, rev := range d.revisions() {
		if v, ok := parseVersion(rev.number); ok && v.pre != "" {
			r.add(rev.path+"/number", "revision %q is a pre-release", rev.number)
		}
	}
}

func testNonDraftVersion(d doc, r *reporter) {
	if s := d.status(); s != "final" && s != "interim" {
		return
	}
	ver := str(d.tracking()["version"])
	if v, ok := parseVersion(ver); ok && v.pre != "" {
		r.add("/document/tracking/version", "a %s document must not have the pre-release version %q", d.status(), ver)
	}
}

func testMissingRevision(d doc, r *reporter) {
	type num struct {
		rev revision
		v   version
	}
	var nums []num
	for _, rev := range d.revisions() {
		v, ok := parseVersion(rev.number)
		if !ok {
			return
		}
		nums = append(nums, num{rev, v})
	}
	if len(nums) == 0 {
		return
	}
	sort.SliceStable(nums, func(i, j int) bool { return nums[i].v.compare(nums[j].v) < 0 })
	if m := nums[0].v.major; m != 0 && m != 1 {
		r.add(nums[0].rev.path+"/number", "the revision history starts at %q, not at 0 or 1", nums[0].rev.number)
	}
	for i := 1; i < len(nums); i++ {
		if nums[i].v.major > nums[i-1].v.major+1 {
			r.add(nums[i].rev.path+"/number", "revisions between %q and %q are missing", nums[i-1].rev.number, nums[i].rev.number)
		}
	}
}

func testDuplicateRevision(d doc, r *reporter) {
	seen := map[string]bool{}
	for i, h := range arr(d.tracking()["revision_history"]) {
		n := str(obj(h)["number"])
		if seen[n] {
			r.add(fmt.Sprintf("/document/tracking/revision_history/%d/number", i), "revision %q appears more than once", n)
		}
		seen[n] = true
	}
}

func testDuplicateCVE(d doc, r *reporter) {
	seen := map[string]bool{}
	for i, v := range arr(d["vulnerabilities"]) {
		c, ok := obj(v)["cve"].(string)
		if !ok {
			continue
		}
		if seen[c] {
			r.add(fmt.Sprintf("/vulnerabilities/%d/cve", i), "%s is used by more than one vulnerability", c)
		}
		seen[c] = true
	}
}

func testDuplicateInvolvement(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		seen := map[string]bool{}
		for j, inv := range arr(obj(v)["involvements"]) {
			m := obj(inv)
			key := str(m["party"]) + "\x00" + timeOf(str(m["date"])).String()
			if _, hasDate := m["date"]; !hasDate {
				key = str(m["party"]) + "\x00"
			}
			if seen[key] {
				r.add(fmt.Sprintf("/vulnerabilities/%d/involvements/%d", i, j), "involvement of party %q at this date appears more than once", str(m["party"]))
			}
			seen[key] = true
		}
	}
}

func testDuplicateHashAlgorithm(d doc, r *reporter) {
	for _, f := range d.fullProductNames() {
		for i, h := range arr(obj(f.m["product_identification_helper"])["hashes"]) {
			seen := map[string]bool{}
			for j, fh := range arr(obj(h)["file_hashes"]) {
				a := str(obj(fh)["algorithm"])
				if seen[a] {
					r.add(fmt.Sprintf("%s/product_identification_helper/hashes/%d/file_hashes/%d/algorithm", f.path, i, j), "hash algorithm %q is used more than once for this file", a)
				}
				seen[a] = true
			}
		}
	}
}

// Profile categories (section 4).
const (
	catInformational = "csaf_informational_advisory"
	catIncident      = "csaf_security_incident_response"
	catAdvisory      = "csaf_security_advisory"
	catVEX           = "csaf_vex"
)

func testProfileDocumentNotes(d doc, r *reporter) {
	if c := d.category(); c != catInformational && c != catIncident {
		return
	}
	for _, n := range arr(d.document()["notes"]) {
		switch str(obj(n)["category"]) {
		case "description", "details", "general", "summary":
			return
		}
	}
	r.add("/document/notes", "a %s needs a document note of category description, details, general or summary", d.category())
}

func testProfileDocumentReferences(d doc, r *reporter) {
	if c := d.category(); c != catInformational && c != catIncident {
		return
	}
	for _, n := range arr(d.document()["references"]) {
		if str(obj(n)["category"]) == "external" {
			return
		}
	}
	r.add("/document/references", "a %s needs a document reference of category external", d.category())
}

func testProfileNoVulnerabilities(d doc, r *reporter) {
	if d.category() == catInformational {
		if _, ok := d["vulnerabilities"]; ok {
			r.add("/vulnerabilities", "a %s must not have vulnerabilities", catInformational)
		}
	}
}

func testProfileProductTree(d doc, r *reporter) {
	if c := d.category(); c == catAdvisory || c == catVEX {
		if _, ok := d["product_tree"]; !ok {
			r.add("/product_tree", "a %s needs a product tree", c)
		}
	}
}

func testProfileVulnerabilityNotes(d doc, r *reporter) {
	if c := d.category(); c == catAdvisory || c == catVEX {
		for i, v := range arr(d["vulnerabilities"]) {
			if _, ok := obj(v)["notes"]; !ok {
				r.add(fmt.Sprintf("/vulnerabilities/%d/notes", i), "each vulnerability of a %s needs notes", c)
			}
		}
	}
}

func testProfileProductStatus(d doc, r *reporter) {
	if c := d.category(); c == catAdvisory {
		for i, v := range arr(d["vulnerabilities"]) {
			if _, ok := obj(v)["product_status"]; !ok {
				r.add(fmt.Sprintf("/vulnerabilities/%d/product_status", i), "each vulnerability of a %s needs a product status", c)
			}
		}
	}
}

func testProfileVEXStatus(d doc, r *reporter) {
	if d.category() != catVEX {
		return
	}
	for i, v := range arr(d["vulnerabilities"]) {
		ps := obj(obj(v)["product_status"])
		ok := false
		for _, k := range []string{"fixed", "known_affected", "known_not_affected", "under_investigation"} {
			if _, has := ps[k]; has {
				ok = true
			}
		}
		if !ok {
			r.add(fmt.Sprintf("/vulnerabilities/%d/product_status", i), "each vulnerability of a VEX needs fixed, known_affected, known_not_affected or under_investigation products")
		}
	}
}

func testProfileVulnerabilityID(d doc, r *reporter) {
	if d.category() != catVEX {
		return
	}
	for i, v := range arr(d["vulnerabilities"]) {
		_, cve := obj(v)["cve"]
		_, ids := obj(v)["ids"]
		if !cve && !ids {
			r.add(fmt.Sprintf("/vulnerabilities/%d", i), "each vulnerability of a VEX needs a cve or ids")
		}
	}
}

// groupMembers maps group ids to their products.
func (d doc) groupMembers() map[string][]string {
	out := map[string][]string{}
	for _, g := range arr(obj(d["product_tree"])["product_groups"]) {
		for _, p := range arr(obj(g)["product_ids"]) {
			out[str(obj(g)["group_id"])] = append(out[str(obj(g)["group_id"])], str(p))
		}
	}
	return out
}

// productsOf returns the products an item (flag, threat, remediation)
// names directly or through groups.
func productsOf(m map[string]any, groups map[string][]string) map[string]bool {
	out := map[string]bool{}
	for _, p := range arr(m["product_ids"]) {
		out[str(p)] = true
	}
	for _, g := range arr(m["group_ids"]) {
		for _, p := range groups[str(g)] {
			out[p] = true
		}
	}
	return out
}

func testProfileImpactStatement(d doc, r *reporter) {
	if d.category() != catVEX {
		return
	}
	groups := d.groupMembers()
	for i, v := range arr(d["vulnerabilities"]) {
		vm := obj(v)
		covered := map[string]bool{}
		for _, f := range arr(vm["flags"]) {
			for p := range productsOf(obj(f), groups) {
				covered[p] = true
			}
		}
		for _, t := range arr(vm["threats"]) {
			if str(obj(t)["category"]) == "impact" {
				for p := range productsOf(obj(t), groups) {
					covered[p] = true
				}
			}
		}
		for _, p := range stringsAt(fmt.Sprintf("/vulnerabilities/%d/product_status/known_not_affected", i), obj(vm["product_status"])["known_not_affected"]) {
			if !covered[p.value] {
				r.add(p.path, "known_not_affected product %q has no impact statement (flag or impact threat)", p.value)
			}
		}
	}
}

func testProfileActionStatement(d doc, r *reporter) {
	if d.category() != catVEX {
		return
	}
	groups := d.groupMembers()
	for i, v := range arr(d["vulnerabilities"]) {
		vm := obj(v)
		covered := map[string]bool{}
		for _, rem := range arr(vm["remediations"]) {
			for p := range productsOf(obj(rem), groups) {
				covered[p] = true
			}
		}
		for _, p := range stringsAt(fmt.Sprintf("/vulnerabilities/%d/product_status/known_affected", i), obj(vm["product_status"])["known_affected"]) {
			if !covered[p.value] {
				r.add(p.path, "known_affected product %q has no action statement (remediation)", p.value)
			}
		}
	}
}

func testProfileVulnerabilities(d doc, r *reporter) {
	if c := d.category(); c == catAdvisory || c == catVEX {
		if _, ok := d["vulnerabilities"]; !ok {
			r.add("/vulnerabilities", "a %s needs vulnerabilities", c)
		}
	}
}

func testTranslation(d doc, r *reporter) {
	l, ok1 := d.document()["lang"].(string)
	s, ok2 := d.document()["source_lang"].(string)
	if ok1 && ok2 && strings.EqualFold(l, s) {
		r.add("/document/source_lang", "source_lang equals lang (%q)", l)
	}
}

func testRemediationReference(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		for j, rem := range arr(obj(v)["remediations"]) {
			m := obj(rem)
			if _, p := m["product_ids"]; !p {
				if _, g := m["group_ids"]; !g {
					r.add(fmt.Sprintf("/vulnerabilities/%d/remediations/%d", i, j), "remediation names no product_ids or group_ids")
				}
			}
		}
	}
}

func testMixedVersioning(d doc, r *reporter) {
	ver := str(d.tracking()["version"])
	v, ok := parseVersion(ver)
	if !ok {
		return
	}
	for _, rev := range d.revisions() {
		if w, ok := parseVersion(rev.number); ok && w.semantic != v.semantic {
			r.add(rev.path+"/number", "revision %q and version %q mix integer and semantic versioning", rev.number, ver)
		}
	}
}

// rangeRE matches the version range indicators of 6.1.31.
var rangeRE = regexp.MustCompile(`(?i)(<|>|(^|\s)(after|all|before|earlier|later|prior|versions)(\s|$))`)

func testVersionRange(d doc, r *reporter) {
	var walk func(path string, bs []any)
	walk = func(path string, bs []any) {
		for i, b := range bs {
			p := fmt.Sprintf("%s/%d", path, i)
			m := obj(b)
			if str(m["category"]) == "product_version" && rangeRE.MatchString(str(m["name"])) {
				r.add(p+"/name", "product_version %q is a version range; use product_version_range", str(m["name"]))
			}
			walk(p+"/branches", arr(m["branches"]))
		}
	}
	walk("/product_tree/branches", arr(obj(d["product_tree"])["branches"]))
}

func testFlagReference(d doc, r *reporter) {
	for i, v := range arr(d["vulnerabilities"]) {
		for j, f := range arr(obj(v)["flags"]) {
			m := obj(f)
			if _, p := m["product_ids"]; !p {
				if _, g := m["group_ids"]; !g {
					r.add(fmt.Sprintf("/vulnerabilities/%d/flags/%d", i, j), "flag names no product_ids or group_ids")
				}
			}
		}
	}
}

func testMultipleFlags(d doc, r *reporter) {
	groups := d.groupMembers()
	for i, v := range arr(d["vulnerabilities"]) {
		seen := map[string]bool{}
		for j, f := range arr(obj(v)["flags"]) {
			ps := productsOf(obj(f), groups)
			keys := make([]string, 0, len(ps))
			for p := range ps {
				keys = append(keys, p)
			}
			sort.Strings(keys)
			for _, p := range keys {
				if seen[p] {
					r.add(fmt.Sprintf("/vulnerabilities/%d/flags/%d", i, j), "product %q has more than one VEX justification flag", p)
				}
				seen[p] = true
			}
		}
	}
}
