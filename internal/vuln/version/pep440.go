package version

import (
	"regexp"
	"strings"
)

// pep440 is a parsed PEP 440 version.
type pep440 struct {
	epoch   string
	release []string
	preL    string // "a", "b", "rc" or ""
	preN    string
	post    string // "" when absent
	hasPost bool
	dev     string
	hasDev  bool
	local   []string
}

// pep440RE is the permissive grammar of PEP 440 appendix B (with the
// normalisations of the "Normalization" section: alternative spellings,
// separators, implicit numbers).
var pep440RE = regexp.MustCompile(`^\s*v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(alpha|a|beta|b|preview|pre|c|rc)[-_.]?(\d+)?)?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?` +
	`(?:[-_.]?(dev)[-_.]?(\d+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$`)

// parsePEP440 parses and normalises a PEP 440 version.
func parsePEP440(v string) (pep440, bool) {
	var p pep440
	m := pep440RE.FindStringSubmatch(strings.ToLower(v))
	if m == nil {
		return p, false
	}
	p.epoch = orZero(m[1])
	p.release = strings.Split(m[2], ".")
	// Trailing zeros do not count: 1.0 == 1.0.0.
	for len(p.release) > 1 && strings.TrimLeft(p.release[len(p.release)-1], "0") == "" {
		p.release = p.release[:len(p.release)-1]
	}
	switch m[3] {
	case "alpha", "a":
		p.preL = "a"
	case "beta", "b":
		p.preL = "b"
	case "c", "rc", "pre", "preview":
		p.preL = "rc"
	}
	if p.preL != "" {
		p.preN = orZero(m[4])
	}
	switch {
	case m[5] != "":
		p.hasPost, p.post = true, m[5]
	case m[6] != "":
		p.hasPost, p.post = true, orZero(m[7])
	}
	if m[8] != "" {
		p.hasDev, p.dev = true, orZero(m[9])
	}
	if m[10] != "" {
		p.local = strings.FieldsFunc(m[10], func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	}
	return p, true
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// comparePEP440 orders versions by PEP 440: epoch, release, then
// dev < pre < (release) < post, a dev release of a pre or post release
// before it, and local versions after the public version they extend.
// Invalid text sorts below every valid version.
func comparePEP440(a, b string) int {
	x, okA := parsePEP440(a)
	y, okB := parsePEP440(b)
	switch {
	case !okA && !okB:
		return compareGeneric(a, b)
	case !okA:
		return -1
	case !okB:
		return 1
	}
	if c := cmpNumeric(x.epoch, y.epoch); c != 0 {
		return c
	}
	for i := 0; i < len(x.release) || i < len(y.release); i++ {
		p, q := "0", "0"
		if i < len(x.release) {
			p = x.release[i]
		}
		if i < len(y.release) {
			q = y.release[i]
		}
		if c := cmpNumeric(p, q); c != 0 {
			return c
		}
	}
	if c := cmpInt(x.phaseRank(), y.phaseRank()); c != 0 {
		return c
	}
	if x.preL != "" {
		if c := cmpNumeric(x.preN, y.preN); c != 0 {
			return c
		}
	}
	if c := cmpInt(b2i(x.hasPost), b2i(y.hasPost)); c != 0 {
		return c
	}
	if c := cmpNumeric(x.post, y.post); c != 0 {
		return c
	}
	// A dev release sorts before the same version without it.
	if c := cmpInt(b2i(!x.hasDev), b2i(!y.hasDev)); c != 0 {
		return c
	}
	if c := cmpNumeric(x.dev, y.dev); c != 0 {
		return c
	}
	return compareLocal(x.local, y.local)
}

// phaseRank orders the pre-release phase: a bare dev release of the final
// version (1.0.dev0) before alpha, beta, rc, and those before the release.
func (p pep440) phaseRank() int {
	switch {
	case p.preL == "" && !p.hasPost && p.hasDev:
		return 0
	case p.preL == "a":
		return 1
	case p.preL == "b":
		return 2
	case p.preL == "rc":
		return 3
	}
	return 4
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// compareLocal orders local version labels: absent first, numeric
// segments above alphanumeric ones, longer above its prefix.
func compareLocal(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		na := strings.Trim(a[i], "0123456789") == ""
		nb := strings.Trim(b[i], "0123456789") == ""
		var c int
		switch {
		case na && nb:
			c = cmpNumeric(a[i], b[i])
		case na:
			c = 1
		case nb:
			c = -1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}
