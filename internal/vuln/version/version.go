// Package version orders package versions the way each ecosystem does and
// evaluates OSV-style affected ranges (introduced / fixed / last_affected /
// limit events) over them.
//
// Supported orderings: SemVer 2.0 (also npm, crates.io and other SemVer
// ecosystems), Go module versions (golang.org/x/mod/semver, with
// +incompatible and pseudo-versions), PyPI (PEP 440), Maven
// (ComparableVersion), Debian (dpkg), RPM (rpmvercmp with epoch and
// release) and a generic fallback for everything else. The package is pure:
// it does no I/O.
package version

import (
	"strings"
)

// Ecosystem names a versioning scheme. The values follow the OSV ecosystem
// names; release suffixes such as "Debian:12" are accepted by Normalize.
type Ecosystem string

// The ecosystems with their own ordering. Others use Generic.
const (
	SemVer    Ecosystem = "SemVer"
	Go        Ecosystem = "Go"
	NPM       Ecosystem = "npm"
	PyPI      Ecosystem = "PyPI"
	Maven     Ecosystem = "Maven"
	Debian    Ecosystem = "Debian"
	RPM       Ecosystem = "RPM"
	Cargo     Ecosystem = "crates.io"
	NuGet     Ecosystem = "NuGet"
	RubyGems  Ecosystem = "RubyGems"
	Packagist Ecosystem = "Packagist"
	Alpine    Ecosystem = "Alpine"
	Generic   Ecosystem = "Generic"
)

// Normalize maps an OSV ecosystem string ("Debian:12", "Red Hat",
// "Ubuntu:22.04:LTS", "pypi") or a purl type ("golang", "deb", "rpm",
// "maven", "gem", "cargo", ...) to the Ecosystem whose ordering applies.
// Unknown names are returned unchanged (and compare with Generic).
func Normalize(name string) Ecosystem {
	switch Ecosystem(name) {
	case SemVer, Go, NPM, PyPI, Maven, Debian, RPM, Cargo, NuGet, RubyGems, Packagist, Alpine, Generic:
		return Ecosystem(name)
	}
	base := name
	if i := strings.IndexByte(base, ':'); i >= 0 {
		base = base[:i]
	}
	switch strings.ToLower(strings.TrimSpace(base)) {
	case "go", "golang":
		return Go
	case "npm":
		return NPM
	case "pypi", "python":
		return PyPI
	case "maven":
		return Maven
	case "debian", "deb", "ubuntu":
		return Debian
	case "rpm", "red hat", "redhat", "almalinux", "rocky linux", "opensuse", "suse",
		"mageia", "openeuler", "oracle", "centos", "fedora":
		return RPM
	case "crates.io", "cargo":
		return Cargo
	case "nuget":
		return NuGet
	case "rubygems", "gem":
		return RubyGems
	case "packagist", "composer":
		return Packagist
	case "alpine", "apk", "wolfi", "chainguard":
		return Alpine
	case "semver":
		return SemVer
	case "", "generic":
		return Generic
	}
	return Ecosystem(base)
}

// Compare orders the versions a and b in the scheme of eco: negative when
// a < b, zero when they are equal, positive when a > b. It never fails:
// text that does not follow the scheme is ordered by the generic rules
// after the well-formed versions' rules give up, so Compare is total and
// antisymmetric for every pair of strings.
func Compare(eco Ecosystem, a, b string) int {
	eco = Normalize(string(eco))
	if c, ok := compareFast(eco, a, b); ok {
		return c
	}
	switch eco {
	case Go:
		return compareGo(a, b)
	case SemVer, NPM, Cargo, NuGet, Packagist:
		return compareSemVer(a, b)
	case PyPI:
		return comparePEP440(a, b)
	case Maven:
		return compareMaven(a, b)
	case Debian:
		return compareDebian(a, b)
	case RPM:
		return compareRPM(a, b)
	case RubyGems:
		return compareGem(a, b)
	}
	return compareGeneric(a, b)
}

// compareFast handles two dotted-numeric versions (the common case)
// without parsing; ok is false when the general rules must decide.
func compareFast(eco Ecosystem, a, b string) (int, bool) {
	if eco == Go {
		if len(a) > 0 && a[0] == 'v' {
			a = a[1:]
		}
		if len(b) > 0 && b[0] == 'v' {
			b = b[1:]
		}
	}
	if !dotted(a) || !dotted(b) {
		return 0, false
	}
	switch eco {
	case SemVer, NPM, Cargo, NuGet, Packagist, PyPI, Maven, RubyGems:
		return compareDotted(a, b, true), true
	case Go:
		// x/mod/semver accepts at most three numbers without leading zeros.
		if parts(a) > 3 || parts(b) > 3 {
			return 0, false
		}
		return compareDotted(a, b, true), true
	case Debian, RPM, Alpine, Generic:
		return compareDotted(a, b, false), true
	}
	return compareDotted(a, b, false), true
}

func parts(s string) int {
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			n++
		}
	}
	return n
}

// Valid reports whether v is a well-formed version in the scheme of eco.
// Schemes without a strict grammar (Debian, RPM, Maven, Generic) accept any
// non-empty text without spaces.
func Valid(eco Ecosystem, v string) bool {
	switch Normalize(string(eco)) {
	case Go:
		_, ok := goCanonical(v)
		return ok
	case SemVer, NPM, Cargo:
		_, ok := parseSemVer(v)
		return ok
	case PyPI:
		_, ok := parsePEP440(v)
		return ok
	}
	return v != "" && !strings.ContainsAny(v, " \t\r\n")
}

// cmpInt returns -1, 0 or +1.
func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpNumeric compares two strings of ASCII digits as unbounded integers.
func cmpNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if c := cmpInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// compareGeneric splits on every non-alphanumeric byte and at digit/letter
// boundaries, compares numeric parts as numbers, other parts as text, and
// a numeric part above a text part. A missing part sorts first.
func compareGeneric(a, b string) int {
	pa, pb := genericParts(a), genericParts(b)
	for i := 0; i < len(pa) || i < len(pb); i++ {
		if i >= len(pa) {
			return -1
		}
		if i >= len(pb) {
			return 1
		}
		x, y := pa[i], pb[i]
		dx, dy := isDigit(x[0]), isDigit(y[0])
		var c int
		switch {
		case dx && dy:
			c = cmpNumeric(x, y)
		case dx:
			c = 1
		case dy:
			c = -1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return strings.Compare(a, b)
}

func genericParts(s string) []string {
	var parts []string
	i := 0
	for i < len(s) {
		c := s[i]
		if !isDigit(c) && !isAlpha(c) {
			i++
			continue
		}
		j := i
		if isDigit(c) {
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		} else {
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
		}
		parts = append(parts, strings.ToLower(s[i:j]))
		i = j
	}
	return parts
}
