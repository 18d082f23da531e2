// Package cvss parses CVSS v2.0, v3.0 and v3.1 vector strings and computes
// their base, temporal and environmental scores and qualitative severities
// with the formulas of the FIRST specifications. It also names each metric
// value the way the FIRST JSON schemas (used by CSAF 2.0 and CVE 5) do, so
// that a score object's properties can be checked against its vector.
package cvss

import (
	"fmt"
	"math"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// level is one value of a metric: its vector code, its JSON schema name
// and its weight.
type level struct {
	code, name string
	w          float64
}

// Metric describes one metric of a CVSS version.
type Metric struct {
	// Abbr is the metric's abbreviation in the vector ("AV").
	Abbr string
	// Property is the metric's property name in the FIRST JSON schema
	// ("attackVector").
	Property string
	required bool
	levels   []level
}

// Name returns the JSON schema name of the metric value code ("N" of AV
// is "NETWORK"); "" for an unknown code.
func (m Metric) Name(code string) string {
	if l, ok := m.level(code); ok {
		return l.name
	}
	return ""
}

func (m Metric) level(code string) (level, bool) {
	for _, l := range m.levels {
		if l.code == code {
			return l, true
		}
	}
	return level{}, false
}

// undefined is the code of a metric left out of a vector ("X" in v3, "ND"
// in v2).
func (m Metric) undefined() string {
	if m.required {
		return ""
	}
	return m.levels[len(m.levels)-1].code
}

var (
	cia3  = []level{{"N", "NONE", 0}, {"L", "LOW", 0.22}, {"H", "HIGH", 0.56}}
	req3  = []level{{"L", "LOW", 0.5}, {"M", "MEDIUM", 1}, {"H", "HIGH", 1.5}, {"X", "NOT_DEFINED", 1}}
	av3   = []level{{"N", "NETWORK", 0.85}, {"A", "ADJACENT_NETWORK", 0.62}, {"L", "LOCAL", 0.55}, {"P", "PHYSICAL", 0.2}}
	ac3   = []level{{"L", "LOW", 0.77}, {"H", "HIGH", 0.44}}
	pr3   = []level{{"N", "NONE", 0.85}, {"L", "LOW", 0.62}, {"H", "HIGH", 0.27}}
	ui3   = []level{{"N", "NONE", 0.85}, {"R", "REQUIRED", 0.62}}
	s3    = []level{{"U", "UNCHANGED", 0}, {"C", "CHANGED", 0}}
	notDf = level{"X", "NOT_DEFINED", 0}
)

// modified is a modified (environmental) v3 metric: the base levels plus
// X, which stands for the base metric's value.
func modified(ls []level) []level { return append(append([]level(nil), ls...), notDf) }

// v3Metrics are the CVSS v3.0 and v3.1 metrics in vector order.
var v3Metrics = []Metric{
	{"AV", "attackVector", true, av3},
	{"AC", "attackComplexity", true, ac3},
	{"PR", "privilegesRequired", true, pr3},
	{"UI", "userInteraction", true, ui3},
	{"S", "scope", true, s3},
	{"C", "confidentialityImpact", true, cia3},
	{"I", "integrityImpact", true, cia3},
	{"A", "availabilityImpact", true, cia3},
	{"E", "exploitCodeMaturity", false, []level{{"U", "UNPROVEN", 0.91}, {"P", "PROOF_OF_CONCEPT", 0.94}, {"F", "FUNCTIONAL", 0.97}, {"H", "HIGH", 1}, {"X", "NOT_DEFINED", 1}}},
	{"RL", "remediationLevel", false, []level{{"O", "OFFICIAL_FIX", 0.95}, {"T", "TEMPORARY_FIX", 0.96}, {"W", "WORKAROUND", 0.97}, {"U", "UNAVAILABLE", 1}, {"X", "NOT_DEFINED", 1}}},
	{"RC", "reportConfidence", false, []level{{"U", "UNKNOWN", 0.92}, {"R", "REASONABLE", 0.96}, {"C", "CONFIRMED", 1}, {"X", "NOT_DEFINED", 1}}},
	{"CR", "confidentialityRequirement", false, req3},
	{"IR", "integrityRequirement", false, req3},
	{"AR", "availabilityRequirement", false, req3},
	{"MAV", "modifiedAttackVector", false, modified(av3)},
	{"MAC", "modifiedAttackComplexity", false, modified(ac3)},
	{"MPR", "modifiedPrivilegesRequired", false, modified(pr3)},
	{"MUI", "modifiedUserInteraction", false, modified(ui3)},
	{"MS", "modifiedScope", false, modified(s3)},
	{"MC", "modifiedConfidentialityImpact", false, modified(cia3)},
	{"MI", "modifiedIntegrityImpact", false, modified(cia3)},
	{"MA", "modifiedAvailabilityImpact", false, modified(cia3)},
}

var (
	cia2 = []level{{"N", "NONE", 0}, {"P", "PARTIAL", 0.275}, {"C", "COMPLETE", 0.66}}
	req2 = []level{{"L", "LOW", 0.5}, {"M", "MEDIUM", 1}, {"H", "HIGH", 1.51}, {"ND", "NOT_DEFINED", 1}}
)

// v2Metrics are the CVSS v2.0 metrics in vector order.
var v2Metrics = []Metric{
	{"AV", "accessVector", true, []level{{"L", "LOCAL", 0.395}, {"A", "ADJACENT_NETWORK", 0.646}, {"N", "NETWORK", 1}}},
	{"AC", "accessComplexity", true, []level{{"H", "HIGH", 0.35}, {"M", "MEDIUM", 0.61}, {"L", "LOW", 0.71}}},
	{"Au", "authentication", true, []level{{"M", "MULTIPLE", 0.45}, {"S", "SINGLE", 0.56}, {"N", "NONE", 0.704}}},
	{"C", "confidentialityImpact", true, cia2},
	{"I", "integrityImpact", true, cia2},
	{"A", "availabilityImpact", true, cia2},
	{"E", "exploitability", false, []level{{"U", "UNPROVEN", 0.85}, {"POC", "PROOF_OF_CONCEPT", 0.9}, {"F", "FUNCTIONAL", 0.95}, {"H", "HIGH", 1}, {"ND", "NOT_DEFINED", 1}}},
	{"RL", "remediationLevel", false, []level{{"OF", "OFFICIAL_FIX", 0.87}, {"TF", "TEMPORARY_FIX", 0.9}, {"W", "WORKAROUND", 0.95}, {"U", "UNAVAILABLE", 1}, {"ND", "NOT_DEFINED", 1}}},
	{"RC", "reportConfidence", false, []level{{"UC", "UNCONFIRMED", 0.9}, {"UR", "UNCORROBORATED", 0.95}, {"C", "CONFIRMED", 1}, {"ND", "NOT_DEFINED", 1}}},
	{"CDP", "collateralDamagePotential", false, []level{{"N", "NONE", 0}, {"L", "LOW", 0.1}, {"LM", "LOW_MEDIUM", 0.3}, {"MH", "MEDIUM_HIGH", 0.4}, {"H", "HIGH", 0.5}, {"ND", "NOT_DEFINED", 0}}},
	{"TD", "targetDistribution", false, []level{{"N", "NONE", 0}, {"L", "LOW", 0.25}, {"M", "MEDIUM", 0.75}, {"H", "HIGH", 1}, {"ND", "NOT_DEFINED", 1}}},
	{"CR", "confidentialityRequirement", false, req2},
	{"IR", "integrityRequirement", false, req2},
	{"AR", "availabilityRequirement", false, req2},
}

// Vector is a parsed CVSS vector.
type Vector struct {
	// Version is "2.0", "3.0" or "3.1".
	Version string
	codes   map[string]string
}

// Metrics returns the metrics of the vector's version, in vector order.
func (v Vector) Metrics() []Metric {
	if v.Version == "2.0" {
		return v2Metrics
	}
	return v3Metrics
}

// Code returns the value code of the metric abbr; a metric left out of
// the vector has its "not defined" code ("X" or "ND").
func (v Vector) Code(abbr string) string {
	if c, ok := v.codes[abbr]; ok {
		return c
	}
	for _, m := range v.Metrics() {
		if m.Abbr == abbr {
			return m.undefined()
		}
	}
	return ""
}

// weight returns the weight of metric abbr's value.
func (v Vector) weight(abbr string) float64 {
	for _, m := range v.Metrics() {
		if m.Abbr == abbr {
			l, _ := m.level(v.Code(abbr))
			return l.w
		}
	}
	return 0
}

// Parse parses a CVSS vector: "CVSS:3.1/AV:N/..." or "CVSS:3.0/...", or a
// v2 vector "AV:N/AC:L/Au:N/C:P/I:P/A:P" (optionally in parentheses). Every
// base metric is required, each metric at most once, each value known.
// Errors wrap errkind.Invalid and name the offending metric.
func Parse(s string) (Vector, error) {
	v := Vector{codes: map[string]string{}}
	body := s
	switch {
	case strings.HasPrefix(s, "CVSS:3.1/"):
		v.Version, body = "3.1", s[len("CVSS:3.1/"):]
	case strings.HasPrefix(s, "CVSS:3.0/"):
		v.Version, body = "3.0", s[len("CVSS:3.0/"):]
	case strings.HasPrefix(s, "CVSS:"):
		return Vector{}, fmt.Errorf("%w: CVSS vector %q: unsupported version", errkind.Invalid, s)
	default:
		v.Version, body = "2.0", strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	}
	metrics := v.Metrics()
	for _, part := range strings.Split(body, "/") {
		abbr, code, ok := strings.Cut(part, ":")
		if !ok {
			return Vector{}, fmt.Errorf("%w: CVSS vector %q: %q is not METRIC:VALUE", errkind.Invalid, s, part)
		}
		var m *Metric
		for i := range metrics {
			if metrics[i].Abbr == abbr {
				m = &metrics[i]
			}
		}
		if m == nil {
			return Vector{}, fmt.Errorf("%w: CVSS vector %q: unknown metric %q", errkind.Invalid, s, abbr)
		}
		if _, dup := v.codes[abbr]; dup {
			return Vector{}, fmt.Errorf("%w: CVSS vector %q: metric %s given twice", errkind.Invalid, s, abbr)
		}
		if _, ok := m.level(code); !ok {
			return Vector{}, fmt.Errorf("%w: CVSS vector %q: %s has no value %q", errkind.Invalid, s, abbr, code)
		}
		v.codes[abbr] = code
	}
	for _, m := range metrics {
		if _, ok := v.codes[m.Abbr]; m.required && !ok {
			return Vector{}, fmt.Errorf("%w: CVSS vector %q: base metric %s missing", errkind.Invalid, s, m.Abbr)
		}
	}
	return v, nil
}

// Scores are the scores a vector yields.
type Scores struct {
	Base, Temporal, Environmental float64
}

// Scores computes the base, temporal and environmental scores. Metrics
// left out count as "not defined", so a base vector's temporal score is
// its base score.
func (v Vector) Scores() Scores {
	if v.Version == "2.0" {
		return v.scores2()
	}
	return v.scores3()
}

// Severity is the CVSS v3 qualitative severity rating of a score: NONE,
// LOW, MEDIUM, HIGH or CRITICAL.
func Severity(score float64) string {
	switch {
	case score == 0:
		return "NONE"
	case score < 4:
		return "LOW"
	case score < 7:
		return "MEDIUM"
	case score < 9:
		return "HIGH"
	}
	return "CRITICAL"
}

// roundUp31 is the CVSS v3.1 Roundup: the smallest number with one
// decimal that is at least x, computed on integers to avoid
// floating-point surprises (specification, appendix A).
func roundUp31(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// roundUp30 is the CVSS v3.0 round up to one decimal.
func roundUp30(x float64) float64 { return math.Ceil(x*10) / 10 }

func (v Vector) scores3() Scores {
	roundUp := roundUp31
	if v.Version == "3.0" {
		roundUp = roundUp30
	}
	// mod returns the modified metric's value code, the base one when
	// not defined.
	mod := func(abbr string) string {
		if c := v.Code("M" + abbr); c != "X" {
			return c
		}
		return v.Code(abbr)
	}
	w := func(metrics []level, code string) float64 {
		for _, l := range metrics {
			if l.code == code {
				return l.w
			}
		}
		return 0
	}
	pr := func(code string, changed bool) float64 {
		switch {
		case changed && code == "L":
			return 0.68
		case changed && code == "H":
			return 0.5
		}
		return w(pr3, code)
	}
	temporal := v.weight("E") * v.weight("RL") * v.weight("RC")

	changed := v.Code("S") == "C"
	iss := 1 - (1-w(cia3, v.Code("C")))*(1-w(cia3, v.Code("I")))*(1-w(cia3, v.Code("A")))
	impact := 6.42 * iss
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	expl := 8.22 * w(av3, v.Code("AV")) * w(ac3, v.Code("AC")) * pr(v.Code("PR"), changed) * w(ui3, v.Code("UI"))
	var s Scores
	if impact > 0 {
		if changed {
			s.Base = roundUp(math.Min(1.08*(impact+expl), 10))
		} else {
			s.Base = roundUp(math.Min(impact+expl, 10))
		}
	}
	s.Temporal = roundUp(s.Base * temporal)

	mChanged := mod("S") == "C"
	miss := math.Min(1-(1-v.weight("CR")*w(cia3, mod("C")))*(1-v.weight("IR")*w(cia3, mod("I")))*(1-v.weight("AR")*w(cia3, mod("A"))), 0.915)
	mImpact := 6.42 * miss
	if mChanged {
		if v.Version == "3.0" {
			mImpact = 7.52*(miss-0.029) - 3.25*math.Pow(miss-0.02, 15)
		} else {
			mImpact = 7.52*(miss-0.029) - 3.25*math.Pow(miss*0.9731-0.02, 13)
		}
	}
	mExpl := 8.22 * w(av3, mod("AV")) * w(ac3, mod("AC")) * pr(mod("PR"), mChanged) * w(ui3, mod("UI"))
	if mImpact > 0 {
		if mChanged {
			s.Environmental = roundUp(roundUp(math.Min(1.08*(mImpact+mExpl), 10)) * temporal)
		} else {
			s.Environmental = roundUp(roundUp(math.Min(mImpact+mExpl, 10)) * temporal)
		}
	}
	return s
}

// round1 rounds to one decimal, halves up (CVSS v2 round_to_1_decimal);
// the small offset absorbs binary representation error such as 4.05
// stored as 4.04999.
func round1(x float64) float64 { return math.Floor(x*10+0.5+1e-9) / 10 }

func (v Vector) scores2() Scores {
	expl := 20 * v.weight("AV") * v.weight("AC") * v.weight("Au")
	base := func(impact float64) float64 {
		f := 1.176
		if impact == 0 {
			f = 0
		}
		return round1((0.6*impact + 0.4*expl - 1.5) * f)
	}
	temporal := v.weight("E") * v.weight("RL") * v.weight("RC")
	var s Scores
	s.Base = base(10.41 * (1 - (1-v.weight("C"))*(1-v.weight("I"))*(1-v.weight("A"))))
	s.Temporal = round1(s.Base * temporal)
	adjImpact := math.Min(10, 10.41*(1-(1-v.weight("C")*v.weight("CR"))*(1-v.weight("I")*v.weight("IR"))*(1-v.weight("A")*v.weight("AR"))))
	adjTemporal := round1(base(adjImpact) * temporal)
	s.Environmental = round1((adjTemporal + (10-adjTemporal)*v.weight("CDP")) * v.weight("TD"))
	return s
}
