package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// ObservationExpr is a node of the observation-expression layer of a
// pattern: an ObservationComparison, ObservationBinary, ObservationParen or
// ObservationQualified.
type ObservationExpr interface {
	// Pos is the 0-based byte offset where the node starts.
	Pos() int
	writeTo(b *strings.Builder)
}

// ComparisonExpr is a node of the comparison-expression layer (inside
// square brackets): a Comparison, ComparisonBinary or ComparisonParen.
type ComparisonExpr interface {
	// Pos is the 0-based byte offset where the node starts.
	Pos() int
	writeTo(b *strings.Builder)
}

// BoolOp is a boolean connective: AND or OR.
type BoolOp uint8

// The boolean connectives.
const (
	And BoolOp = iota
	Or
)

// String returns the keyword.
func (o BoolOp) String() string {
	if o == Or {
		return "OR"
	}
	return "AND"
}

// ObservationOp joins two observation expressions.
type ObservationOp uint8

// The observation operators.
const (
	ObsAnd ObservationOp = iota
	ObsOr
	ObsFollowedBy
)

// String returns the keyword.
func (o ObservationOp) String() string {
	switch o {
	case ObsOr:
		return "OR"
	case ObsFollowedBy:
		return "FOLLOWEDBY"
	}
	return "AND"
}

// ObservationComparison is "[ comparison-expression ]".
type ObservationComparison struct {
	LBrack, RBrack int
	Expr           ComparisonExpr
}

// Pos returns the offset of '['.
func (n *ObservationComparison) Pos() int { return n.LBrack }

func (n *ObservationComparison) writeTo(b *strings.Builder) {
	b.WriteByte('[')
	n.Expr.writeTo(b)
	b.WriteByte(']')
}

// ObservationBinary is "Left Op Right" (left-associative).
type ObservationBinary struct {
	Op          ObservationOp
	OpPos       int
	Left, Right ObservationExpr
}

// Pos returns the start of the left operand.
func (n *ObservationBinary) Pos() int { return n.Left.Pos() }

func (n *ObservationBinary) writeTo(b *strings.Builder) {
	n.Left.writeTo(b)
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	n.Right.writeTo(b)
}

// ObservationParen is "( observation-expression )".
type ObservationParen struct {
	LParen, RParen int
	Inner          ObservationExpr
}

// Pos returns the offset of '('.
func (n *ObservationParen) Pos() int { return n.LParen }

func (n *ObservationParen) writeTo(b *strings.Builder) {
	b.WriteByte('(')
	n.Inner.writeTo(b)
	b.WriteByte(')')
}

// QualifierKind says which qualifier a Qualifier is.
type QualifierKind uint8

// The qualifiers.
const (
	Within QualifierKind = iota
	Repeats
	StartStop
)

// String names the qualifier kind.
func (k QualifierKind) String() string {
	switch k {
	case Repeats:
		return "REPEATS"
	case StartStop:
		return "START/STOP"
	}
	return "WITHIN"
}

// Qualifier is "WITHIN n SECONDS", "REPEATS n TIMES" or "START t STOP t".
type Qualifier struct {
	Kind QualifierKind
	// KeywordPos is the offset of the WITHIN, REPEATS or START keyword.
	KeywordPos int
	// Seconds is the WITHIN window.
	Seconds float64
	// Times is the REPEATS count.
	Times int64
	// Start and Stop are the START/STOP timestamps (kind Timestamp).
	Start, Stop Literal
}

func (q *Qualifier) writeTo(b *strings.Builder) {
	switch q.Kind {
	case Within:
		b.WriteString("WITHIN ")
		b.WriteString(formatFloat(q.Seconds, false))
		b.WriteString(" SECONDS")
	case Repeats:
		b.WriteString("REPEATS ")
		b.WriteString(strconv.FormatInt(q.Times, 10))
		b.WriteString(" TIMES")
	case StartStop:
		b.WriteString("START ")
		q.Start.writeTo(b)
		b.WriteString(" STOP ")
		q.Stop.writeTo(b)
	}
}

// ObservationQualified is an observation expression with one qualifier;
// a chain of qualifiers nests, the innermost written first.
type ObservationQualified struct {
	Inner     ObservationExpr
	Qualifier Qualifier
}

// Pos returns the start of the qualified expression.
func (n *ObservationQualified) Pos() int { return n.Inner.Pos() }

func (n *ObservationQualified) writeTo(b *strings.Builder) {
	n.Inner.writeTo(b)
	b.WriteByte(' ')
	n.Qualifier.writeTo(b)
}

// ComparisonBinary is "Left AND Right" or "Left OR Right" inside brackets.
type ComparisonBinary struct {
	Op          BoolOp
	OpPos       int
	Left, Right ComparisonExpr
}

// Pos returns the start of the left operand.
func (n *ComparisonBinary) Pos() int { return n.Left.Pos() }

func (n *ComparisonBinary) writeTo(b *strings.Builder) {
	n.Left.writeTo(b)
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	n.Right.writeTo(b)
}

// ComparisonParen is "( comparison-expression )".
type ComparisonParen struct {
	LParen, RParen int
	Inner          ComparisonExpr
}

// Pos returns the offset of '('.
func (n *ComparisonParen) Pos() int { return n.LParen }

func (n *ComparisonParen) writeTo(b *strings.Builder) {
	b.WriteByte('(')
	n.Inner.writeTo(b)
	b.WriteByte(')')
}

// Operator is a comparison operator.
type Operator uint8

// The comparison operators.
const (
	OpEqual Operator = iota
	OpNotEqual
	OpLess
	OpLessEqual
	OpGreater
	OpGreaterEqual
	OpIn
	OpLike
	OpMatches
	OpIsSubset
	OpIsSuperset
	OpExists
)

var opNames = [...]string{
	OpEqual: "=", OpNotEqual: "!=", OpLess: "<", OpLessEqual: "<=", OpGreater: ">",
	OpGreaterEqual: ">=", OpIn: "IN", OpLike: "LIKE", OpMatches: "MATCHES",
	OpIsSubset: "ISSUBSET", OpIsSuperset: "ISSUPERSET", OpExists: "EXISTS",
}

// String returns the operator as written in patterns.
func (o Operator) String() string { return opNames[o] }

// Comparison is one property test: "path [NOT] op value" or
// "[NOT] EXISTS path".
type Comparison struct {
	// Start is the offset of the comparison's first token.
	Start   int
	Path    ObjectPath
	Negated bool
	Op      Operator
	// OpPos is the offset of the operator keyword or symbol.
	OpPos int
	// Value is the right-hand side (unset for EXISTS).
	Value Literal
}

// Pos returns the offset of the comparison's first token.
func (n *Comparison) Pos() int { return n.Start }

func (n *Comparison) writeTo(b *strings.Builder) {
	if n.Op == OpExists {
		if n.Negated {
			b.WriteString("NOT ")
		}
		b.WriteString("EXISTS ")
		n.Path.writeTo(b)
		return
	}
	n.Path.writeTo(b)
	b.WriteByte(' ')
	if n.Negated {
		b.WriteString("NOT ")
	}
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	n.Value.writeTo(b)
}

// ObjectPath is "type:prop.sub[0].x[*]".
type ObjectPath struct {
	Pos        int
	ObjectType string
	Steps      []PathStep
}

// String renders the path as it would be written in a pattern.
func (p *ObjectPath) String() string {
	var b strings.Builder
	p.writeTo(&b)
	return b.String()
}

func (p *ObjectPath) writeTo(b *strings.Builder) {
	b.WriteString(p.ObjectType)
	b.WriteByte(':')
	for i, s := range p.Steps {
		switch s.Kind {
		case StepKey:
			if i > 0 {
				b.WriteByte('.')
			}
			if isPlainKey(s.Key) {
				b.WriteString(s.Key)
			} else {
				writeQuoted(b, s.Key)
			}
		case StepIndex:
			b.WriteByte('[')
			b.WriteString(strconv.FormatInt(s.Index, 10))
			b.WriteByte(']')
		case StepAny:
			b.WriteString("[*]")
		}
	}
}

// isPlainKey reports whether key can be written without quotes.
func isPlainKey(key string) bool {
	if key == "" || !isIdentStart(key[0]) {
		return false
	}
	for i := 1; i < len(key); i++ {
		if !isIdentChar(key[i]) {
			return false
		}
	}
	_, kw := keywords[key]
	return !kw
}

// StepKind says what a PathStep selects.
type StepKind uint8

// The path step kinds.
const (
	StepKey   StepKind = iota // a dictionary key
	StepIndex                 // a list index
	StepAny                   // [*], every list element
)

// PathStep is one component of an object path after the object type.
type PathStep struct {
	Kind  StepKind
	Pos   int
	Key   string
	Index int64
}

// LiteralKind is the type of a Literal.
type LiteralKind uint8

// The literal kinds.
const (
	KindInt LiteralKind = iota
	KindFloat
	KindString
	KindBool
	KindBinary
	KindHex
	KindTimestamp
	KindSet
)

var kindNames = [...]string{
	KindInt: "integer", KindFloat: "float", KindString: "string", KindBool: "boolean",
	KindBinary: "binary", KindHex: "hex", KindTimestamp: "timestamp", KindSet: "set",
}

// String names the kind.
func (k LiteralKind) String() string { return kindNames[k] }

// Literal is a constant in a pattern.
type Literal struct {
	Kind LiteralKind
	Pos  int
	Int  int64
	// Float is the value of float literals.
	Float float64
	// Str is the decoded value of string literals, the decoded bytes of
	// binary and hex literals, and the text of timestamp literals (without
	// t'...').
	Str  string
	Bool bool
	// Time is the value of timestamp literals (UTC).
	Time time.Time
	// Set holds the elements of set literals.
	Set []Literal
}

// String renders the literal as it would be written in a pattern.
func (l *Literal) String() string {
	var b strings.Builder
	l.writeTo(&b)
	return b.String()
}

func (l *Literal) writeTo(b *strings.Builder) {
	switch l.Kind {
	case KindInt:
		b.WriteString(strconv.FormatInt(l.Int, 10))
	case KindFloat:
		b.WriteString(formatFloat(l.Float, true))
	case KindString:
		writeQuoted(b, l.Str)
	case KindBool:
		b.WriteString(strconv.FormatBool(l.Bool))
	case KindBinary:
		b.WriteString("b'")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(l.Str)))
		b.WriteByte('\'')
	case KindHex:
		b.WriteString("h'")
		b.WriteString(hex.EncodeToString([]byte(l.Str)))
		b.WriteByte('\'')
	case KindTimestamp:
		b.WriteString("t'")
		b.WriteString(l.Str)
		b.WriteByte('\'')
	case KindSet:
		b.WriteByte('(')
		for i := range l.Set {
			if i > 0 {
				b.WriteString(", ")
			}
			l.Set[i].writeTo(b)
		}
		b.WriteByte(')')
	}
}

// formatFloat renders f so that it lexes back as a float literal (always
// with a '.') or, when float is false and f is integral, as an integer.
func formatFloat(f float64, float bool) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if float && !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
}
