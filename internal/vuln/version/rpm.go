package version

import "strings"

// splitRPM splits [epoch:]version[-release].
func splitRPM(v string) (epoch, ver, rel string) {
	v = strings.TrimSpace(v)
	epoch = "0"
	if i := strings.IndexByte(v, ':'); i > 0 && strings.Trim(v[:i], "0123456789") == "" {
		epoch, v = v[:i], v[i+1:]
	}
	ver = v
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		ver, rel = v[:i], v[i+1:]
	}
	return epoch, ver, rel
}

// compareRPM orders EVR strings as rpm does: epoch numerically (missing
// is 0), then version and release with rpmvercmp. A release is compared
// only when both sides have one, as rpm does for dependency ranges.
func compareRPM(a, b string) int {
	ea, va, ra := splitRPM(a)
	eb, vb, rb := splitRPM(b)
	if c := cmpNumeric(ea, eb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	if ra == "" || rb == "" {
		return 0
	}
	return rpmvercmp(ra, rb)
}

func rpmAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// rpmvercmp is rpm's segment comparison: separators are skipped, '~' sorts
// before anything (even the end), '^' after the end but before anything
// else, digit segments compare numerically and above letter segments.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !rpmAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !rpmAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		// Tilde: sorts before everything.
		ta, tb := i < len(a) && a[i] == '~', j < len(b) && b[j] == '~'
		if ta || tb {
			if !ta {
				return 1
			}
			if !tb {
				return -1
			}
			i++
			j++
			continue
		}
		// Caret: newer than the end of the string, older than anything else.
		ca, cb := i < len(a) && a[i] == '^', j < len(b) && b[j] == '^'
		if ca || cb {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if !ca {
				return 1
			}
			if !cb {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		numeric := isDigit(a[i])
		if numeric {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		if j == sj {
			// Segments of different types: numeric is newer.
			if numeric {
				return 1
			}
			return -1
		}
		var c int
		if numeric {
			c = cmpNumeric(a[si:i], b[sj:j])
		} else {
			c = strings.Compare(a[si:i], b[sj:j])
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	}
	return 1
}
