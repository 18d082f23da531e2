package version

import "strings"

// splitDebian splits [epoch:]upstream[-revision].
func splitDebian(v string) (epoch, upstream, revision string) {
	v = strings.TrimSpace(v)
	epoch = "0"
	if i := strings.IndexByte(v, ':'); i >= 0 && strings.Trim(v[:i], "0123456789") == "" && i > 0 {
		epoch, v = v[:i], v[i+1:]
	}
	upstream = v
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		upstream, revision = v[:i], v[i+1:]
	}
	return epoch, upstream, revision
}

// compareDebian orders versions as dpkg does: epoch numerically, then the
// upstream version and the Debian revision with verrevcmp.
func compareDebian(a, b string) int {
	ea, ua, ra := splitDebian(a)
	eb, ub, rb := splitDebian(b)
	if c := cmpNumeric(ea, eb); c != 0 {
		return c
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c
	}
	return verrevcmp(ra, rb)
}

// dpkgOrder ranks one byte of a non-digit run: '~' before the end of the
// string, the end before letters, letters before everything else.
func dpkgOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

// verrevcmp is dpkg's comparison of upstream versions and revisions:
// alternating non-digit runs (compared with dpkgOrder) and digit runs
// (compared numerically).
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(a, i), dpkgOrder(b, j)
			if ac != bc {
				return cmpInt(ac, bc)
			}
			i++
			j++
		}
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := cmpNumeric(a[si:min(i, len(a))], b[sj:min(j, len(b))]); c != 0 {
			return c
		}
	}
	return 0
}
