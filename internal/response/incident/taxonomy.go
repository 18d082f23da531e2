package incident

import (
	_ "embed"
	"slices"
	"strings"
)

//go:embed rsit.txt
var rsitText string

// taxonomy maps each RSIT classification to its incident types, in the
// order of the published taxonomy.
var taxonomy, classifications = parseTaxonomy(rsitText)

func parseTaxonomy(s string) (map[string][]string, []string) {
	m := map[string][]string{}
	var order []string
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		m[f[0]] = f[1:]
		order = append(order, f[0])
	}
	return m, order
}

// Classifications returns the RSIT classification values (such as
// "malicious-code"), in the taxonomy's order.
func Classifications() []string { return slices.Clone(classifications) }

// Types returns the RSIT incident types of a classification (nil for an
// unknown classification).
func Types(classification string) []string { return slices.Clone(taxonomy[classification]) }

// ValidType reports whether typ is an RSIT incident type of classification.
func ValidType(classification, typ string) bool {
	return slices.Contains(taxonomy[classification], typ)
}
