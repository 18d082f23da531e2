package vulndb

import (
	"math"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// cvss3Weights are the CVSS v3.x base metric weights (FIRST CVSS v3.1
// specification, section 7.4). PR has its scope-changed values apart.
var cvss3Weights = map[string]map[string]float64{
	"AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
	"AC": {"L": 0.77, "H": 0.44},
	"PR": {"N": 0.85, "L": 0.62, "H": 0.27},
	"UI": {"N": 0.85, "R": 0.62},
	"C":  {"H": 0.56, "L": 0.22, "N": 0},
	"I":  {"H": 0.56, "L": 0.22, "N": 0},
	"A":  {"H": 0.56, "L": 0.22, "N": 0},
}

// cvss3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// ("CVSS:3.1/AV:N/AC:L/..."); ok is false when the vector is not a
// complete, valid v3 base vector.
func cvss3BaseScore(vector string) (score float64, ok bool) {
	parts := strings.Split(vector, "/")
	if len(parts) < 9 || (parts[0] != "CVSS:3.1" && parts[0] != "CVSS:3.0") {
		return 0, false
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, found := strings.Cut(p, ":")
		if !found {
			return 0, false
		}
		if _, dup := m[k]; dup {
			return 0, false
		}
		m[k] = v
	}
	changed := false
	switch m["S"] {
	case "U":
	case "C":
		changed = true
	default:
		return 0, false
	}
	w := map[string]float64{}
	for k, table := range cvss3Weights {
		x, found := table[m[k]]
		if !found {
			return 0, false
		}
		w[k] = x
	}
	if changed && m["PR"] == "L" {
		w["PR"] = 0.68
	} else if changed && m["PR"] == "H" {
		w["PR"] = 0.5
	}
	iss := 1 - (1-w["C"])*(1-w["I"])*(1-w["A"])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0, true
	}
	expl := 8.22 * w["AV"] * w["AC"] * w["PR"] * w["UI"]
	if changed {
		return roundUp(math.Min(1.08*(impact+expl), 10)), true
	}
	return roundUp(math.Min(impact+expl, 10)), true
}

// roundUp is the CVSS v3.1 Roundup: the smallest number with one decimal
// that is at least x, computed without floating-point surprises.
func roundUp(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// scoreVectors fills the base score of CVSS v3 severities that give a
// vector without a score (OSV records carry only the vector).
func scoreVectors(v *vuln.Vulnerability) {
	for i := range v.Severity {
		s := &v.Severity[i]
		if s.Score != 0 || !strings.HasPrefix(s.Vector, "CVSS:3.") {
			continue
		}
		if sc, ok := cvss3BaseScore(s.Vector); ok {
			s.Score = sc
		}
	}
}
