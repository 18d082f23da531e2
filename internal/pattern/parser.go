package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of parentheses and brackets, so that hostile
// input cannot exhaust the stack.
const maxDepth = 500

// parser is a recursive-descent parser over the lexer with one token of
// lookahead.
type parser struct {
	lx    lexer
	tok   token
	depth int
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) text(t token) string { return p.lx.src[t.pos:t.end] }

// found describes the current token for "expected X, found Y" messages.
func (p *parser) found() string {
	t := p.tok
	switch t.kind {
	case tEOF:
		return "end of pattern"
	case tIdent, tIdentHyphen, tIntPos, tIntNeg, tFloatPos, tFloatNeg, tBool:
		return fmt.Sprintf("%s '%s'", t.kind.describe(), p.text(t))
	case tString, tBinary, tHex, tTimestamp:
		s := p.text(t)
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return fmt.Sprintf("%s %s", t.kind.describe(), s)
	}
	return t.kind.describe()
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(pos, "expression nested more than %d levels deep", maxDepth)
	}
	return nil
}

// parseObservations parses observationExpressions: FOLLOWEDBY binds
// loosest, then OR, then AND; all left-associative.
func (p *parser) parseObservations() (ObservationExpr, error) {
	return p.parseObsLevel(0)
}

var obsLevels = [...]struct {
	tok tokKind
	op  ObservationOp
}{{tFOLLOWEDBY, ObsFollowedBy}, {tOR, ObsOr}, {tAND, ObsAnd}}

func (p *parser) parseObsLevel(level int) (ObservationExpr, error) {
	if level == len(obsLevels) {
		return p.parseObsUnit()
	}
	left, err := p.parseObsLevel(level + 1)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == obsLevels[level].tok {
		opPos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseObsLevel(level + 1)
		if err != nil {
			return nil, err
		}
		left = &ObservationBinary{Op: obsLevels[level].op, OpPos: opPos, Left: left, Right: right}
	}
	return left, nil
}

// parseObsUnit parses "[...]" or "(...)" followed by any qualifiers.
func (p *parser) parseObsUnit() (ObservationExpr, error) {
	var expr ObservationExpr
	start := p.tok.pos
	switch p.tok.kind {
	case tLBrack:
		if err := p.enter(start); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRBrack {
			return nil, p.errorf(p.tok.pos, "expected ']' to close the observation expression started at column %d, found %s", start+1, p.found())
		}
		expr = &ObservationComparison{LBrack: start, RBrack: p.tok.pos, Expr: inner}
		p.depth--
	case tLParen:
		if err := p.enter(start); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseObservations()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errorf(p.tok.pos, "expected ')' to close the parenthesis opened at column %d, found %s", start+1, p.found())
		}
		expr = &ObservationParen{LParen: start, RParen: p.tok.pos, Inner: inner}
		p.depth--
	default:
		return nil, p.errorf(start, "expected '[' or '(' to start an observation expression, found %s", p.found())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	for {
		var q Qualifier
		var err error
		switch p.tok.kind {
		case tWITHIN:
			q, err = p.parseWithin()
		case tREPEATS:
			q, err = p.parseRepeats()
		case tSTART:
			q, err = p.parseStartStop()
		default:
			return expr, nil
		}
		if err != nil {
			return nil, err
		}
		expr = &ObservationQualified{Inner: expr, Qualifier: q}
	}
}

func (p *parser) parseWithin() (Qualifier, error) {
	q := Qualifier{Kind: Within, KeywordPos: p.tok.pos}
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tIntPos && p.tok.kind != tFloatPos {
		return q, p.errorf(p.tok.pos, "expected a positive number of seconds after WITHIN, found %s", p.found())
	}
	f, err := strconv.ParseFloat(p.text(p.tok), 64)
	if err != nil {
		return q, p.errorf(p.tok.pos, "WITHIN duration %s is out of range", p.text(p.tok))
	}
	if f <= 0 {
		return q, p.errorf(p.tok.pos, "WITHIN duration must be greater than 0 seconds")
	}
	q.Seconds = f
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tSECONDS {
		return q, p.errorf(p.tok.pos, "expected SECONDS after the WITHIN duration, found %s", p.found())
	}
	return q, p.advance()
}

func (p *parser) parseRepeats() (Qualifier, error) {
	q := Qualifier{Kind: Repeats, KeywordPos: p.tok.pos}
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tIntPos {
		return q, p.errorf(p.tok.pos, "expected a positive integer after REPEATS, found %s", p.found())
	}
	n, err := strconv.ParseInt(p.text(p.tok), 10, 64)
	if err != nil {
		return q, p.errorf(p.tok.pos, "REPEATS count %s is out of range", p.text(p.tok))
	}
	if n <= 0 {
		return q, p.errorf(p.tok.pos, "REPEATS count must be greater than 0")
	}
	q.Times = n
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tTIMES {
		return q, p.errorf(p.tok.pos, "expected TIMES after the REPEATS count, found %s", p.found())
	}
	return q, p.advance()
}

func (p *parser) parseStartStop() (Qualifier, error) {
	q := Qualifier{Kind: StartStop, KeywordPos: p.tok.pos}
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tTimestamp {
		return q, p.errorf(p.tok.pos, "expected a timestamp literal t'...' after START, found %s", p.found())
	}
	q.Start = p.timestamp(p.tok)
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tSTOP {
		return q, p.errorf(p.tok.pos, "expected STOP after the START timestamp, found %s", p.found())
	}
	if err := p.advance(); err != nil {
		return q, err
	}
	if p.tok.kind != tTimestamp {
		return q, p.errorf(p.tok.pos, "expected a timestamp literal t'...' after STOP, found %s", p.found())
	}
	q.Stop = p.timestamp(p.tok)
	if !q.Stop.Time.After(q.Start.Time) {
		return q, p.errorf(p.tok.pos, "STOP %s must be later than START %s", q.Stop.String(), q.Start.String())
	}
	return q, p.advance()
}

func (p *parser) timestamp(t token) Literal {
	s := p.lx.src[t.pos+2 : t.end-1]
	ts, _ := parseTimestamp(s) // validated by the lexer
	return Literal{Kind: KindTimestamp, Pos: t.pos, Str: s, Time: ts}
}

// parseCompOr parses comparisonExpression: OR binds looser than AND.
func (p *parser) parseCompOr() (ComparisonExpr, error) {
	left, err := p.parseCompAnd()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tOR {
		opPos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parseCompAnd()
		if err != nil {
			return nil, err
		}
		left = &ComparisonBinary{Op: Or, OpPos: opPos, Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseCompAnd() (ComparisonExpr, error) {
	left, err := p.parsePropTest()
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tAND {
		opPos := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := p.parsePropTest()
		if err != nil {
			return nil, err
		}
		left = &ComparisonBinary{Op: And, OpPos: opPos, Left: left, Right: right}
	}
	return left, nil
}

// parsePropTest parses one propTest of the grammar.
func (p *parser) parsePropTest() (ComparisonExpr, error) {
	start := p.tok.pos
	switch p.tok.kind {
	case tLParen:
		if err := p.enter(start); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseCompOr()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.errorf(p.tok.pos, "expected ')' to close the parenthesis opened at column %d, found %s", start+1, p.found())
		}
		n := &ComparisonParen{LParen: start, RParen: p.tok.pos, Inner: inner}
		p.depth--
		return n, p.advance()
	case tNOT, tEXISTS:
		c := &Comparison{Start: start, Op: OpExists}
		if p.tok.kind == tNOT {
			c.Negated = true
			if err := p.advance(); err != nil {
				return nil, err
			}
			if p.tok.kind != tEXISTS {
				return nil, p.errorf(p.tok.pos, "expected EXISTS after a leading NOT, found %s", p.found())
			}
		}
		c.OpPos = p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		if err := p.parsePath(&c.Path); err != nil {
			return nil, err
		}
		return c, nil
	case tIdent, tIdentHyphen:
	default:
		return nil, p.errorf(start, "expected an object path such as file:name, '(' or EXISTS, found %s", p.found())
	}
	c := &Comparison{Start: start}
	if err := p.parsePath(&c.Path); err != nil {
		return nil, err
	}
	if p.tok.kind == tNOT {
		c.Negated = true
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	c.OpPos = p.tok.pos
	opTok := p.tok
	switch p.tok.kind {
	case tEQ:
		c.Op = OpEqual
	case tNEQ:
		c.Op = OpNotEqual
	case tLT:
		c.Op = OpLess
	case tLE:
		c.Op = OpLessEqual
	case tGT:
		c.Op = OpGreater
	case tGE:
		c.Op = OpGreaterEqual
	case tIN:
		c.Op = OpIn
	case tLIKE:
		c.Op = OpLike
	case tMATCHES:
		c.Op = OpMatches
	case tISSUBSET:
		c.Op = OpIsSubset
	case tISSUPERSET:
		c.Op = OpIsSuperset
	default:
		return nil, p.errorf(p.tok.pos, "expected a comparison operator (= != < > <= >= IN LIKE MATCHES ISSUBSET ISSUPERSET) after %s, found %s", c.Path.String(), p.found())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	opText := p.text(opTok)
	switch c.Op {
	case OpIn:
		if p.tok.kind != tLParen {
			return nil, p.errorf(p.tok.pos, "expected a set literal '(' ... ')' after IN, found %s", p.found())
		}
		if err := p.parseSet(&c.Value); err != nil {
			return nil, err
		}
		return c, nil
	case OpLike, OpMatches, OpIsSubset, OpIsSuperset:
		if p.tok.kind != tString {
			return nil, p.errorf(p.tok.pos, "expected a string literal after %s, found %s", opText, p.found())
		}
	case OpEqual, OpNotEqual:
		if !isLiteral(p.tok.kind) {
			return nil, p.errorf(p.tok.pos, "expected a literal after '%s', found %s", opText, p.found())
		}
	default:
		if !isLiteral(p.tok.kind) {
			return nil, p.errorf(p.tok.pos, "expected a literal after '%s', found %s", opText, p.found())
		}
		if p.tok.kind == tBool {
			return nil, p.errorf(p.tok.pos, "a boolean cannot be compared with '%s'", opText)
		}
	}
	if err := p.literal(&c.Value); err != nil {
		return nil, err
	}
	return c, p.advance()
}

func isLiteral(k tokKind) bool {
	switch k {
	case tIntPos, tIntNeg, tFloatPos, tFloatNeg, tString, tBool, tBinary, tHex, tTimestamp:
		return true
	}
	return false
}

// parseSet parses "( literal, ... )" at the current '('.
func (p *parser) parseSet(l *Literal) error {
	*l = Literal{Kind: KindSet, Pos: p.tok.pos}
	start := p.tok.pos
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind == tRParen {
		return p.advance()
	}
	for {
		if !isLiteral(p.tok.kind) {
			return p.errorf(p.tok.pos, "expected a literal in the set started at column %d, found %s", start+1, p.found())
		}
		var e Literal
		if err := p.literal(&e); err != nil {
			return err
		}
		l.Set = append(l.Set, e)
		if err := p.advance(); err != nil {
			return err
		}
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return err
			}
		case tRParen:
			return p.advance()
		default:
			return p.errorf(p.tok.pos, "expected ',' or ')' in the set started at column %d, found %s", start+1, p.found())
		}
	}
}

// literal decodes the literal token under the cursor (without advancing).
func (p *parser) literal(l *Literal) error {
	t := p.tok
	text := p.text(t)
	*l = Literal{Pos: t.pos}
	switch t.kind {
	case tIntPos, tIntNeg:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return p.errorf(t.pos, "integer literal %s is out of the 64-bit range", text)
		}
		l.Kind, l.Int = KindInt, n
	case tFloatPos, tFloatNeg:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return p.errorf(t.pos, "float literal %s is out of range", text)
		}
		l.Kind, l.Float = KindFloat, f
	case tString:
		l.Kind, l.Str = KindString, p.stringValue(t)
	case tBool:
		l.Kind, l.Bool = KindBool, text == "true"
	case tBinary:
		b, err := base64.StdEncoding.DecodeString(text[2 : len(text)-1])
		if err != nil {
			return p.errorf(t.pos, "invalid binary literal: %v", err)
		}
		l.Kind, l.Str = KindBinary, string(b)
	case tHex:
		b, err := hex.DecodeString(text[2 : len(text)-1])
		if err != nil {
			return p.errorf(t.pos, "invalid hex literal: %v", err)
		}
		l.Kind, l.Str = KindHex, string(b)
	case tTimestamp:
		*l = p.timestamp(t)
	default:
		return p.errorf(t.pos, "expected a literal, found %s", p.found())
	}
	return nil
}

// stringValue decodes a string literal token; without escapes it is a
// substring of the source (no allocation).
func (p *parser) stringValue(t token) string {
	body := p.lx.src[t.pos+1 : t.end-1]
	if !t.esc {
		return body
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); i++ {
		if body[i] == '\\' {
			i++
		}
		b.WriteByte(body[i])
	}
	return b.String()
}

// parsePath parses "type:first(.key|[n]|[*])*".
func (p *parser) parsePath(path *ObjectPath) error {
	path.Pos = p.tok.pos
	if p.tok.kind != tIdent && p.tok.kind != tIdentHyphen {
		return p.errorf(p.tok.pos, "expected an object type, found %s", p.found())
	}
	path.ObjectType = p.text(p.tok)
	if err := p.advance(); err != nil {
		return err
	}
	if p.tok.kind != tColon {
		return p.errorf(p.tok.pos, "expected ':' after the object type %q, found %s", path.ObjectType, p.found())
	}
	if err := p.advance(); err != nil {
		return err
	}
	steps := make([]PathStep, 0, 4)
	switch p.tok.kind {
	case tIdent:
		steps = append(steps, PathStep{Kind: StepKey, Pos: p.tok.pos, Key: p.text(p.tok)})
	case tString:
		steps = append(steps, PathStep{Kind: StepKey, Pos: p.tok.pos, Key: p.stringValue(p.tok)})
	case tIdentHyphen:
		return p.errorf(p.tok.pos, "property name %q contains '-': quote it as '%s'", p.text(p.tok), p.text(p.tok))
	default:
		return p.errorf(p.tok.pos, "expected a property name after '%s:', found %s", path.ObjectType, p.found())
	}
	if err := p.advance(); err != nil {
		return err
	}
	for {
		switch p.tok.kind {
		case tDot:
			if err := p.advance(); err != nil {
				return err
			}
			switch p.tok.kind {
			case tIdent:
				steps = append(steps, PathStep{Kind: StepKey, Pos: p.tok.pos, Key: p.text(p.tok)})
			case tString:
				steps = append(steps, PathStep{Kind: StepKey, Pos: p.tok.pos, Key: p.stringValue(p.tok)})
			case tIdentHyphen:
				return p.errorf(p.tok.pos, "property name %q contains '-': quote it as '%s'", p.text(p.tok), p.text(p.tok))
			default:
				return p.errorf(p.tok.pos, "expected a property name after '.', found %s", p.found())
			}
		case tLBrack:
			open := p.tok.pos
			if err := p.advance(); err != nil {
				return err
			}
			st := PathStep{Pos: p.tok.pos}
			switch p.tok.kind {
			case tAsterisk:
				st.Kind = StepAny
			case tIntPos, tIntNeg:
				n, err := strconv.ParseInt(p.text(p.tok), 10, 64)
				if err != nil {
					return p.errorf(p.tok.pos, "list index %s is out of range", p.text(p.tok))
				}
				st.Kind, st.Index = StepIndex, n
			default:
				return p.errorf(p.tok.pos, "expected a list index or '*' after '[' at column %d, found %s", open+1, p.found())
			}
			if err := p.advance(); err != nil {
				return err
			}
			if p.tok.kind != tRBrack {
				return p.errorf(p.tok.pos, "expected ']' to close the list index opened at column %d, found %s", open+1, p.found())
			}
			steps = append(steps, st)
		default:
			path.Steps = steps
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}
