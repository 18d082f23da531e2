package version

import "strings"

// compareGem orders RubyGems versions: segments split on '.' and at
// digit/letter boundaries; a letter segment marks a pre-release and sorts
// below any number; trailing zeros do not count.
func compareGem(a, b string) int {
	pa, pb := gemParts(a), gemParts(b)
	for i := 0; i < len(pa) || i < len(pb); i++ {
		x, y := "0", "0"
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
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
	return 0
}

func gemParts(s string) []string {
	parts := genericParts(strings.ReplaceAll(s, "-", ".pre."))
	for len(parts) > 0 && strings.TrimLeft(parts[len(parts)-1], "0") == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}
