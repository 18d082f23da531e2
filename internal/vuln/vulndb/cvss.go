package vulndb

import (
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cvss"
)

// cvss3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// ("CVSS:3.1/AV:N/AC:L/..."); ok is false when the vector is not a
// complete, valid v3 vector.
func cvss3BaseScore(vector string) (score float64, ok bool) {
	if !strings.HasPrefix(vector, "CVSS:3.") {
		return 0, false
	}
	v, err := cvss.Parse(vector)
	if err != nil {
		return 0, false
	}
	return v.Scores().Base, true
}

// scoreVectors fills the base score of CVSS v2 and v3 severities that
// give a vector without a score (OSV records carry only the vector).
func scoreVectors(v *vuln.Vulnerability) {
	for i := range v.Severity {
		s := &v.Severity[i]
		if s.Score != 0 || (!strings.HasPrefix(s.Vector, "CVSS:3.") && s.Type != "CVSS_V2") {
			continue
		}
		if vec, err := cvss.Parse(s.Vector); err == nil {
			s.Score = vec.Scores().Base
		}
	}
}
