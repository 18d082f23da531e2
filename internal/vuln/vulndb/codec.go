package vulndb

import (
	"encoding/json"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// storedRecord is the stored form of a record: its Affected entries in
// groups of consecutive entries that differ only in their CPE. CVE 5
// records list a product's versions once for hundreds of CPEs, and intake
// gives each CPE its own entry with the same version lists (one Cisco
// record has 2,434 CPEs × 2,434 versions: 96 MB of JSON, 120 kB grouped).
// Decoded entries of a group share their slices.
type storedRecord struct {
	V      *vuln.Vulnerability `json:"v"`
	Groups []affectedGroup     `json:"g,omitempty"`
}

type affectedGroup struct {
	A    vuln.Affected `json:"a"`
	CPEs []string      `json:"cpes,omitempty"`
}

// sameSlice reports whether a and b are the same slice (same backing
// array and length), the way intake copies an entry per CPE.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// groupable reports whether a and b differ at most in their CPE.
func groupable(a, b *vuln.Affected) bool {
	return a.Package == b.Package && a.Status == b.Status && a.Product == b.Product && a.Platform == b.Platform &&
		sameSlice(a.Ranges, b.Ranges) && sameSlice(a.Versions, b.Versions) &&
		sameSlice(a.Unaffected, b.Unaffected) && sameSlice(a.Fixed, b.Fixed)
}

// encodeRecord returns the stored JSON of v.
func encodeRecord(v *vuln.Vulnerability) ([]byte, error) {
	top := *v
	top.Affected = nil
	r := storedRecord{V: &top}
	for i := range v.Affected {
		a := &v.Affected[i]
		if n := len(r.Groups); n > 0 && a.CPE != "" && len(r.Groups[n-1].CPEs) > 0 && groupable(&r.Groups[n-1].A, a) {
			r.Groups[n-1].CPEs = append(r.Groups[n-1].CPEs, a.CPE)
			continue
		}
		g := affectedGroup{A: *a}
		if a.CPE != "" {
			g.A.CPE = ""
			g.CPEs = []string{a.CPE}
		}
		r.Groups = append(r.Groups, g)
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("vulndb: encoding %s: %w", v.ID, err)
	}
	return b, nil
}

// decodeRecord reads the stored JSON of a record (id names it in errors).
func decodeRecord(id string, data []byte) (*vuln.Vulnerability, error) {
	var r storedRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("vulndb: decoding vulnerability %s: %w", id, err)
	}
	if r.V == nil {
		return nil, fmt.Errorf("vulndb: decoding vulnerability %s: no record", id)
	}
	v := r.V
	for _, g := range r.Groups {
		if len(g.CPEs) == 0 {
			v.Affected = append(v.Affected, g.A)
			continue
		}
		for _, c := range g.CPEs {
			a := g.A
			a.CPE = c
			v.Affected = append(v.Affected, a)
		}
	}
	return v, nil
}
