package version

import (
	"strings"

	"golang.org/x/mod/semver"
)

// semVersion is a parsed SemVer 2.0 version; build metadata is dropped
// because it does not take part in precedence.
type semVersion struct {
	major, minor, patch string
	pre                 []string
}

// parseSemVer parses SemVer 2.0 text, tolerating a leading "v" and a
// missing minor or patch number (as in many advisories: "1.2" is 1.2.0).
func parseSemVer(v string) (semVersion, bool) {
	var s semVersion
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		if !validIdents(v[i+1:], false) {
			return s, false
		}
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		if !validIdents(v[i+1:], true) {
			return s, false
		}
		s.pre = strings.Split(v[i+1:], ".")
		v = v[:i]
	}
	nums := strings.Split(v, ".")
	if len(nums) == 0 || len(nums) > 3 {
		return s, false
	}
	for i, n := range nums {
		if n == "" || strings.Trim(n, "0123456789") != "" {
			return s, false
		}
		if len(n) > 1 && n[0] == '0' {
			return s, false
		}
		switch i {
		case 0:
			s.major = n
		case 1:
			s.minor = n
		case 2:
			s.patch = n
		}
	}
	if s.minor == "" {
		s.minor = "0"
	}
	if s.patch == "" {
		s.patch = "0"
	}
	return s, true
}

func validIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !isDigit(c) && !isAlpha(c) && c != '-' {
				return false
			}
		}
		if pre && len(id) > 1 && id[0] == '0' && strings.Trim(id, "0123456789") == "" {
			return false
		}
	}
	return true
}

// compareSemVer orders by SemVer 2.0 precedence; invalid text sorts below
// every valid version and generically among itself.
func compareSemVer(a, b string) int {
	x, okA := parseSemVer(a)
	y, okB := parseSemVer(b)
	switch {
	case !okA && !okB:
		return compareGeneric(a, b)
	case !okA:
		return -1
	case !okB:
		return 1
	}
	for _, p := range [][2]string{{x.major, y.major}, {x.minor, y.minor}, {x.patch, y.patch}} {
		if c := cmpNumeric(p[0], p[1]); c != 0 {
			return c
		}
	}
	return comparePre(x.pre, y.pre)
}

// comparePre applies SemVer rule 11: no pre-release ranks above any;
// numeric identifiers compare numerically and below alphanumeric ones; a
// shorter list of equal prefix ranks lower.
func comparePre(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		na := strings.Trim(a[i], "0123456789") == ""
		nb := strings.Trim(b[i], "0123456789") == ""
		var c int
		switch {
		case na && nb:
			c = cmpNumeric(a[i], b[i])
		case na:
			c = -1
		case nb:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmpInt(len(a), len(b))
}

// goCanonical returns the "v"-prefixed form golang.org/x/mod/semver
// expects. Go advisories write versions without the "v" ("1.4.3"), module
// versions with it; +incompatible is build metadata and ignored for order.
func goCanonical(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "0" {
		v = "v0.0.0"
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return v, semver.IsValid(v)
}

// compareGo orders Go module versions with golang.org/x/mod/semver:
// pseudo-versions are pre-releases of the next patch and order by their
// timestamp, +incompatible is ignored.
func compareGo(a, b string) int {
	x, okA := goCanonical(a)
	y, okB := goCanonical(b)
	switch {
	case !okA && !okB:
		return compareGeneric(a, b)
	case !okA:
		return -1
	case !okB:
		return 1
	}
	return semver.Compare(x, y)
}
