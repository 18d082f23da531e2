package pattern

import (
	"fmt"
	"strings"
)

// check runs the semantic checks the OASIS pattern validator makes after
// parsing (the grammar-level ones, REPEATS > 0 and START < STOP, are made
// by the parser):
//
//   - a qualifier type (WITHIN, REPEATS, START/STOP) may be applied at most
//     once directly to a bracketed observation expression; a parenthesised
//     group may carry its own;
//   - a value compared (=, !=, IN) with a hash of a well-known algorithm
//     (hashes.MD5, hashes.'SHA-256', ...) must look like such a hash.
func (p *Pattern) check() error {
	return checkObs(p.Root)
}

func checkObs(e ObservationExpr) error {
	switch n := e.(type) {
	case *ObservationComparison:
		return checkComp(n.Expr)
	case *ObservationBinary:
		if err := checkObs(n.Left); err != nil {
			return err
		}
		return checkObs(n.Right)
	case *ObservationParen:
		return checkObs(n.Inner)
	case *ObservationQualified:
		// Collect the chain of qualifiers applied to one expression,
		// outermost first.
		var chain []*ObservationQualified
		var inner ObservationExpr = n
		for {
			q, ok := inner.(*ObservationQualified)
			if !ok {
				break
			}
			chain = append(chain, q)
			inner = q.Inner
		}
		if _, simple := inner.(*ObservationComparison); simple {
			// Check from the innermost qualifier outwards so the error
			// points at the second occurrence.
			var seen [3]bool
			for i := len(chain) - 1; i >= 0; i-- {
				q := &chain[i].Qualifier
				if seen[q.Kind] {
					return &SyntaxError{Pos: q.KeywordPos, Msg: fmt.Sprintf("duplicate %s qualifier on the same observation expression (parenthesise to apply it again)", q.Kind)}
				}
				seen[q.Kind] = true
			}
		}
		return checkObs(inner)
	}
	return nil
}

func checkComp(e ComparisonExpr) error {
	switch n := e.(type) {
	case *ComparisonBinary:
		if err := checkComp(n.Left); err != nil {
			return err
		}
		return checkComp(n.Right)
	case *ComparisonParen:
		return checkComp(n.Inner)
	case *Comparison:
		return checkHash(n)
	}
	return nil
}

// hashPatterns gives, per normalised algorithm name (upper case, no '-'),
// the allowed lengths of a hex digest, or 0 for SSDEEP's alphabet check.
var hashPatterns = map[string][]int{
	"MD5":       {32},
	"MD6":       {32, 40, 56, 64, 96, 128},
	"RIPEMD160": {40},
	"SHA1":      {40},
	"SHA224":    {56},
	"SHA256":    {64},
	"SHA384":    {96},
	"SHA512":    {128},
	"SHA3224":   {56},
	"SHA3256":   {64},
	"SHA3384":   {96},
	"SHA3512":   {128},
	"WHIRLPOOL": {128},
	"SSDEEP":    {0},
}

// checkHash checks string values compared with =, != or IN against a path
// such as file:hashes.'SHA-256' (any path through a "hashes" key ending in a
// known algorithm name).
func checkHash(c *Comparison) error {
	if c.Op != OpEqual && c.Op != OpNotEqual && c.Op != OpIn {
		return nil
	}
	steps := c.Path.Steps
	if len(steps) < 2 || steps[len(steps)-1].Kind != StepKey {
		return nil
	}
	viaHashes := false
	for _, s := range steps[:len(steps)-1] {
		if s.Kind == StepKey && s.Key == "hashes" {
			viaHashes = true
		}
	}
	if !viaHashes {
		return nil
	}
	algo := steps[len(steps)-1].Key
	lengths, ok := hashPatterns[strings.ReplaceAll(strings.ToUpper(algo), "-", "")]
	if !ok {
		return nil
	}
	bad := func(v *Literal) error {
		if v.Kind != KindString || validHash(v.Str, lengths) {
			return nil
		}
		return &SyntaxError{Pos: v.Pos, Msg: fmt.Sprintf("'%s' is not a valid %s hash (%s)", v.Str, algo, c.Path.String())}
	}
	if c.Op == OpIn {
		for i := range c.Value.Set {
			if err := bad(&c.Value.Set[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return bad(&c.Value)
}

func validHash(s string, lengths []int) bool {
	if lengths[0] == 0 { // SSDEEP: [a-zA-Z0-9/+:.]{1,128}
		if len(s) < 1 || len(s) > 128 {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(isIdentChar(c) && c != '_' || c == '/' || c == '+' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	okLen := false
	for _, n := range lengths {
		okLen = okLen || len(s) == n
	}
	if !okLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}
