// Package pattern implements STIX 2.1 patterning (STIX 2.1 section 9).
//
// PLACEHOLDER: the full lexer, parser and evaluator replace this file.
package pattern

import "fmt"

// Pattern is a parsed STIX pattern.
type Pattern struct {
	Source string
}

// SyntaxError reports a malformed pattern: Pos is the 0-based byte offset
// in the pattern where the problem was found.
type SyntaxError struct {
	Pos int
	Msg string
}

// Error formats the problem with its 1-based column.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("pattern syntax error at column %d: %s", e.Pos+1, e.Msg)
}

// Parse parses a STIX 2.1 pattern.
func Parse(src string) (*Pattern, error) {
	if len(src) == 0 || src[0] != '[' {
		return nil, &SyntaxError{Pos: 0, Msg: "a pattern starts with '['"}
	}
	return &Pattern{Source: src}, nil
}
