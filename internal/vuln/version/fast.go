package version

// dotted reports whether s is a plain dotted-numeric version ("1.2.10"),
// the common case every ordering agrees on up to trailing zeros.
func dotted(s string) bool {
	if s == "" || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i-1] == '.' {
				return false
			}
		} else if !isDigit(c) {
			return false
		}
	}
	return true
}

// compareDotted compares two dotted-numeric versions without allocating.
// With pad, a missing part counts as 0 (1.2 == 1.2.0, as in SemVer, PEP
// 440, Maven); without, a missing part sorts first (dpkg, rpm).
func compareDotted(a, b string, pad bool) int {
	for a != "" || b != "" {
		var x, y string
		x, a = nextPart(a)
		y, b = nextPart(b)
		switch {
		case x == "" && !pad:
			return -1
		case y == "" && !pad:
			return 1
		}
		if x == "" {
			x = "0"
		}
		if y == "" {
			y = "0"
		}
		if c := cmpNumeric(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func nextPart(s string) (part, rest string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}
