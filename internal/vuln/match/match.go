// Package match finds which SBOM components the known vulnerabilities
// affect. A DB indexes vulnerabilities by package (ecosystem + name) and by
// CPE vendor:product, so matching an SBOM costs one map look-up per
// component plus the version checks of the candidates. An Inventory indexes
// the components of many SBOMs the same way, so a newly published or
// updated vulnerability is re-matched across all of them at once.
//
// Rules: withdrawn records match nothing; an Affected entry with status
// known_not_affected (CSAF VEX) that covers the component suppresses the
// vulnerability for it, and so does a not_affected VEX statement the SBOM
// itself carries; entries of status fixed (CSAF "fixed in X") affect the
// versions below the fix. The package is pure.
package match

import (
	"slices"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// Finding says that one vulnerability affects one component of one SBOM.
type Finding struct {
	VulnID  string   `json:"vuln_id"`
	Aliases []string `json:"aliases,omitempty"`
	// SBOM is the id the caller gave the document; Ref the component's
	// Ref in it.
	SBOM      string `json:"sbom"`
	Ref       string `json:"ref,omitempty"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
	CPE       string `json:"cpe,omitempty"`
	Installed string `json:"installed,omitempty"`
	// Fixed lists versions that fix the vulnerability, from the entries
	// that matched.
	Fixed    []string      `json:"fixed,omitempty"`
	KEV      bool          `json:"kev"`
	Severity vuln.Severity `json:"severity,omitzero"`
	// Status is affected, or under_investigation when only such entries
	// matched.
	Status vuln.Status `json:"status"`
}

// entryRef points at one Affected entry of a stored vulnerability.
type entryRef struct {
	slot, affected int32
}

// DB is an in-memory index of vulnerabilities. It is not safe for
// concurrent writes; concurrent Match calls without writes are safe.
type DB struct {
	slots []*stored
	byID  map[string]int32
	// Indexes from package key, CPE vendor:product and, for CPE criteria
	// with wildcards in vendor or product, a list scanned for every CPE.
	byPkg   map[string][]entryRef
	byCPE   map[string][]entryRef
	cpeWild []entryRef
}

// stored is a vulnerability with its parsed CPE criteria.
type stored struct {
	v    *vuln.Vulnerability
	cpes []cpe.Name // parallel to v.Affected; zero Name when no CPE
	ecos []version.Ecosystem
}

// NewDB returns an empty DB.
func NewDB() *DB {
	return &DB{byID: map[string]int32{}, byPkg: map[string][]entryRef{}, byCPE: map[string][]entryRef{}}
}

// Len returns the number of live (not withdrawn, not replaced) records.
func (db *DB) Len() int { return len(db.byID) }

// Get returns the stored record with this id.
func (db *DB) Get(id string) (*vuln.Vulnerability, bool) {
	i, ok := db.byID[id]
	if !ok {
		return nil, false
	}
	return db.slots[i].v, true
}

// Add stores v, replacing an earlier record with the same ID. A withdrawn
// record removes the earlier one and is not stored. Entries with a
// malformed CPE are not indexed by CPE.
func (db *DB) Add(v *vuln.Vulnerability) {
	if old, ok := db.byID[v.ID]; ok {
		db.slots[old] = nil // index entries pointing here are skipped
		delete(db.byID, v.ID)
	}
	if v.IsWithdrawn() {
		return
	}
	slot := int32(len(db.slots))
	s := &stored{v: v, cpes: make([]cpe.Name, len(v.Affected)), ecos: make([]version.Ecosystem, len(v.Affected))}
	db.slots = append(db.slots, s)
	db.byID[v.ID] = slot
	for i := range v.Affected {
		a := &v.Affected[i]
		s.ecos[i] = version.Normalize(a.Package.Ecosystem)
		ref := entryRef{slot, int32(i)}
		if key, ok := affectedPkgKey(a); ok {
			db.byPkg[key] = append(db.byPkg[key], ref)
		}
		if a.CPE != "" {
			n, err := cpe.Parse(a.CPE)
			if err != nil {
				continue
			}
			s.cpes[i] = n
			if hasWild(n[cpe.Vendor]) || hasWild(n[cpe.Product]) {
				db.cpeWild = append(db.cpeWild, ref)
			} else {
				k := cpeKey(n)
				db.byCPE[k] = append(db.byCPE[k], ref)
			}
		}
	}
}

// ApplyKEV marks the stored records that the catalogue lists.
func (db *DB) ApplyKEV(c vuln.KEVCatalog) int {
	n := 0
	for _, i := range db.byID {
		if c.Apply(db.slots[i].v) {
			n++
		}
	}
	return n
}

func affectedPkgKey(a *vuln.Affected) (string, bool) {
	if a.Package.Name == "" {
		return "", false
	}
	return a.Package.Key(), true
}

func hasWild(s string) bool {
	return s == cpe.Any || strings.ContainsAny(strings.ReplaceAll(s, `\*`, ""), "*?")
}

func cpeKey(n cpe.Name) string {
	return cpe.Unescape(n[cpe.Vendor]) + ":" + cpe.Unescape(n[cpe.Product])
}

// component is an SBOM component with its index keys worked out once.
type component struct {
	c      sbom.Component
	pkgKey string
	eco    version.Ecosystem
	// distro is the distribution release of a deb, rpm or apk package
	// (its purl's distro qualifier), "" when unknown.
	distro string
	cpe    cpe.Name
	hasCPE bool
}

func prepare(c sbom.Component) component {
	p := c.Package()
	out := component{c: c, pkgKey: p.Key(), eco: version.Normalize(p.Ecosystem), distro: p.Distro}
	if c.CPE != "" {
		if n, err := cpe.Parse(c.CPE); err == nil {
			out.cpe, out.hasCPE = n, true
		}
	}
	return out
}

// hit is the outcome of checking one entry against one component.
type hit struct {
	status vuln.Status
	fixed  []string
}

// check evaluates entry a (with its normalised ecosystem and parsed CPE
// n) against component c.
func check(a *vuln.Affected, eco version.Ecosystem, n cpe.Name, byCPE bool, c *component) (hit, bool) {
	installed := c.c.Version
	if byCPE {
		if !c.hasCPE {
			return hit{}, false
		}
		if n[cpe.Version] != cpe.Any {
			// The criteria name versions themselves: compare them with
			// the component's CPE version or, when that is ANY, its
			// installed version.
			if c.cpe[cpe.Version] != cpe.Any {
				if !n.Match(c.cpe, false) {
					return hit{}, false
				}
			} else if !n.Match(c.cpe, true) || installed == "" ||
				version.Compare(version.Generic, cpe.Unescape(n[cpe.Version]), installed) != 0 {
				return hit{}, false
			}
			return hit{status: a.EffectiveStatus(), fixed: a.Fixed}, true
		}
		if !n.Match(c.cpe, true) {
			return hit{}, false
		}
		if v := c.cpe[cpe.Version]; v != cpe.Any && v != cpe.NA {
			installed = cpe.Unescape(v)
		}
		eco = version.Generic
	} else {
		if eco == version.Generic && c.eco != version.Generic {
			eco = c.eco
		}
		// A record entry for another release of the same distribution
		// ("Debian:11" against a bookworm package) does not apply.
		if c.distro != "" && (!version.SameRelease(a.Package.Ecosystem, c.distro) || !version.SameRelease(a.Package.Distro, c.distro)) {
			return hit{}, false
		}
	}
	if installed == "" {
		if !a.AllVersions() {
			return hit{}, false
		}
	} else if !a.Contains(eco, installed) {
		return hit{}, false
	}
	return hit{status: a.EffectiveStatus(), fixed: a.Fixed}, true
}

// evaluator accumulates the entries of one vulnerability that hit one
// component.
type evaluator struct {
	affected, investigating, notAffected bool
	fixed                                []string
}

func (e *evaluator) add(h hit) {
	switch h.status {
	case vuln.StatusNotAffected:
		e.notAffected = true
	case vuln.StatusUnderInvestigation:
		e.investigating = true
	default:
		e.affected = true
	}
	for _, f := range h.fixed {
		if !slices.Contains(e.fixed, f) {
			e.fixed = append(e.fixed, f)
		}
	}
}

// finding builds the Finding for v and c, or reports false when the
// entries or the SBOM's own VEX statements say the component is not
// affected.
func (e *evaluator) finding(v *vuln.Vulnerability, sbomID string, c *component, vex vexIndex) (Finding, bool) {
	if e.notAffected || (!e.affected && !e.investigating) || vex.notAffected(v, c.c.Ref) {
		return Finding{}, false
	}
	f := Finding{
		VulnID: v.ID, Aliases: v.Aliases, SBOM: sbomID, Ref: c.c.Ref, Name: c.c.Name,
		PURL: c.c.PURL, CPE: c.c.CPE, Installed: c.c.Version, Fixed: e.fixed, KEV: v.KEV != nil,
		Status: vuln.StatusAffected,
	}
	if !e.affected {
		f.Status = vuln.StatusUnderInvestigation
	}
	if s, ok := v.MaxScore(); ok {
		f.Severity = s
	}
	return f, true
}

// vexIndex holds an SBOM's not_affected statements: ref → vuln ids.
type vexIndex map[string][]string

func newVEXIndex(st []sbom.VEXStatement) vexIndex {
	var x vexIndex
	for _, s := range st {
		if s.Status != vuln.StatusNotAffected {
			continue
		}
		if x == nil {
			x = vexIndex{}
		}
		x[s.Ref] = append(x[s.Ref], s.VulnID)
	}
	return x
}

func (x vexIndex) notAffected(v *vuln.Vulnerability, ref string) bool {
	ids, ok := x[ref]
	if !ok {
		return false
	}
	for _, id := range ids {
		if id == v.ID || slices.Contains(v.Aliases, id) {
			return true
		}
	}
	return false
}

// Match returns the findings for one SBOM: every component checked
// against the index, findings in component order and, per component, in
// the order the records were added.
func (db *DB) Match(sbomID string, doc *sbom.Document) []Finding {
	var out []Finding
	vex := newVEXIndex(doc.VEX)
	for i := range doc.Components {
		c := prepare(doc.Components[i])
		out = db.matchComponent(out, sbomID, &c, vex)
	}
	return out
}

func (db *DB) matchComponent(out []Finding, sbomID string, c *component, vex vexIndex) []Finding {
	var per map[int32]*evaluator
	var order []int32
	visit := func(refs []entryRef, byCPE bool) {
		for _, r := range refs {
			s := db.slots[r.slot]
			if s == nil {
				continue
			}
			h, ok := check(&s.v.Affected[r.affected], s.ecos[r.affected], s.cpes[r.affected], byCPE, c)
			if !ok {
				continue
			}
			if per == nil {
				per = map[int32]*evaluator{}
			}
			e := per[r.slot]
			if e == nil {
				e = &evaluator{}
				per[r.slot] = e
				order = append(order, r.slot)
			}
			e.add(h)
		}
	}
	visit(db.byPkg[c.pkgKey], false)
	if c.hasCPE {
		visit(db.byCPE[cpeKey(c.cpe)], true)
		visit(db.cpeWild, true)
	}
	for _, slot := range order {
		if f, ok := per[slot].finding(db.slots[slot].v, sbomID, c, vex); ok {
			out = append(out, f)
		}
	}
	return out
}
