// Package pattern implements STIX 2.1 patterning (STIX 2.1 section 9): a
// hand-written lexer and recursive-descent parser for the whole grammar
// (STIXPattern.g4), the semantic checks of the OASIS pattern validator, and
// an evaluator of patterns against observed-data.
//
// Parse returns a *Pattern whose Root is the abstract syntax tree; every
// node records the byte offset where it starts, and Pattern.String renders
// a canonical form that parses back to an equal tree.
package pattern

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Pattern is a parsed STIX pattern.
type Pattern struct {
	// Source is the text that was parsed.
	Source string
	// Root is the observation expression the pattern consists of.
	Root ObservationExpr
}

// String renders the pattern in canonical form: single spaces, canonical
// literals, quotes only where needed. The result parses to an equal tree.
func (p *Pattern) String() string {
	var b strings.Builder
	b.Grow(len(p.Source))
	p.Root.writeTo(&b)
	return b.String()
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

// Is makes every SyntaxError match errkind.Invalid.
func (e *SyntaxError) Is(target error) bool { return target == errkind.Invalid }

// Parse parses a STIX 2.1 pattern and runs the semantic checks of Check.
// Any error is a *SyntaxError (which also matches errkind.Invalid).
func Parse(src string) (*Pattern, error) {
	p := parser{lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, &SyntaxError{Pos: p.tok.pos, Msg: "empty pattern: a pattern starts with '[' or '('"}
	}
	root, err := p.parseObservations()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		msg := fmt.Sprintf("unexpected %s after the end of the pattern", p.found())
		switch p.tok.kind {
		case tRBrack:
			msg = "unexpected ']' with no matching '['"
		case tRParen:
			msg = "unexpected ')' with no matching '('"
		case tIdent:
			msg += " (keywords such as AND, OR, FOLLOWEDBY, WITHIN are upper case)"
		}
		return nil, &SyntaxError{Pos: p.tok.pos, Msg: msg}
	}
	pat := &Pattern{Source: src, Root: root}
	if err := pat.check(); err != nil {
		return nil, err
	}
	return pat, nil
}

// ErrPosition returns the byte offset of a *SyntaxError in err's chain,
// or -1.
func ErrPosition(err error) int {
	var se *SyntaxError
	if errors.As(err, &se) {
		return se.Pos
	}
	return -1
}

// parseTimestamp parses the grammar's timestamp form
// YYYY-MM-DDTHH:MM:SS[.fraction]Z, also checking that the date exists.
// Second 60 (a leap second) is accepted and counted as the next second.
func parseTimestamp(s string) (time.Time, error) {
	const layout = "YYYY-MM-DDTHH:MM:SS"
	if len(s) < len(layout) {
		return time.Time{}, errors.New("expected the form YYYY-MM-DDTHH:MM:SS[.fraction]Z")
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for j := i; j < i+n; j++ {
			if !isDigit(s[j]) {
				return 0, false
			}
			v = v*10 + int(s[j]-'0')
		}
		return v, true
	}
	for i, c := range []byte(layout) {
		if c != 'Y' && c != 'M' && c != 'D' && c != 'H' && c != 'S' && s[i] != c {
			return time.Time{}, fmt.Errorf("expected %q at offset %d of YYYY-MM-DDTHH:MM:SS[.fraction]Z", c, i)
		}
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		return time.Time{}, errors.New("expected digits in the form YYYY-MM-DDTHH:MM:SS[.fraction]Z")
	}
	rest := s[len(layout):]
	nanos := 0
	if rest != "" && rest[0] == '.' {
		i := 1
		scale := 100000000
		for i < len(rest) && isDigit(rest[i]) {
			nanos += int(rest[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == 1 {
			return time.Time{}, errors.New("expected digits after '.'")
		}
		rest = rest[i:]
	}
	if rest != "Z" {
		return time.Time{}, errors.New("a timestamp must end with 'Z' (UTC)")
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, fmt.Errorf("month %02d out of range", month)
	case day < 1 || day > daysIn(year, month):
		return time.Time{}, fmt.Errorf("day %02d does not exist in %04d-%02d", day, year, month)
	case hour > 23:
		return time.Time{}, fmt.Errorf("hour %02d out of range", hour)
	case minute > 59:
		return time.Time{}, fmt.Errorf("minute %02d out of range", minute)
	case sec > 60:
		return time.Time{}, fmt.Errorf("second %02d out of range", sec)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nanos, time.UTC), nil
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
