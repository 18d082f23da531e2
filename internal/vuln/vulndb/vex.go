package vulndb

import (
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/match"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
)

// vexIndex holds the known_not_affected statements of every stored record
// (CSAF VEX, vendor advisories), so that a statement in one record ("our
// product is not affected by CVE-X") suppresses the findings of every
// other record about the same CVE (the NVD or CVE 5 record of CVE-X) for
// the components it covers. match applies a record's own statements; this
// adds the statements of the other records.
//
// Each statement record is indexed as a copy whose Affected entries are
// its known_not_affected entries read as affected, so matching a
// component against the index yields the statements that cover it.
type vexIndex struct {
	db *match.DB
	// cves maps a statement record's id to its CVE ids.
	cves map[string][]string
	// dist holds the distribution of restricted statement records: their
	// statements suppress only the findings of organisations that may
	// see them.
	dist map[string]*vuln.Distribution
}

func newVEXIndex() *vexIndex {
	return &vexIndex{db: match.NewDB(), cves: map[string][]string{}, dist: map[string]*vuln.Distribution{}}
}

// hasStatements reports whether v has known_not_affected entries.
func hasStatements(v *vuln.Vulnerability) bool {
	for i := range v.Affected {
		if v.Affected[i].Status == vuln.StatusNotAffected {
			return true
		}
	}
	return false
}

// add indexes v's statements, replacing those of an earlier version; a
// record without statements (or withdrawn) removes them.
func (x *vexIndex) add(v *vuln.Vulnerability) {
	if v.IsWithdrawn() || !hasStatements(v) {
		if _, ok := x.cves[v.ID]; ok {
			x.db.Add(&vuln.Vulnerability{ID: v.ID, Withdrawn: v.Modified.Add(1)})
			delete(x.cves, v.ID)
			delete(x.dist, v.ID)
		}
		return
	}
	c := &vuln.Vulnerability{ID: v.ID, Modified: v.Modified}
	for _, a := range v.Affected {
		if a.Status == vuln.StatusNotAffected {
			a.Status = vuln.StatusAffected
			c.Affected = append(c.Affected, a)
		}
	}
	x.db.Add(c)
	x.cves[v.ID] = v.CVEs()
	if v.Distribution != nil {
		x.dist[v.ID] = v.Distribution
	} else {
		delete(x.dist, v.ID)
	}
}

// suppressed reports whether another record's statement covers the
// component of f for one of f's CVE ids.
func (x *vexIndex) suppressed(f *Finding) bool {
	if x == nil || len(x.cves) == 0 {
		return false
	}
	ids := map[string]bool{}
	probe := &vuln.Vulnerability{ID: f.Vulnerability, Aliases: f.Aliases}
	for _, c := range probe.CVEs() {
		ids[c] = true
	}
	if len(ids) == 0 {
		return false
	}
	doc := &sbom.Document{Components: []sbom.Component{{
		Ref: f.Ref, Name: f.Component, Version: f.InstalledVersion, PURL: f.PURL, CPE: f.CPE,
	}}}
	for _, m := range x.db.Match("", doc) {
		if m.VulnID == f.Vulnerability || !mayReceive(f.Org, x.dist[m.VulnID]) {
			continue
		}
		for _, c := range x.cves[m.VulnID] {
			if ids[c] {
				return true
			}
		}
	}
	return false
}

// filter drops the suppressed findings of fs in place.
func (x *vexIndex) filter(fs []Finding) []Finding {
	out := fs[:0]
	for i := range fs {
		if !x.suppressed(&fs[i]) {
			out = append(out, fs[i])
		}
	}
	return out
}
