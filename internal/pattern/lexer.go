package pattern

import (
	"fmt"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token; the names follow the ANTLR
// grammar STIXPattern.g4 of the STIX 2.1 specification.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tIdentHyphen
	tString
	tIntPos
	tIntNeg
	tFloatPos
	tFloatNeg
	tBool
	tBinary
	tHex
	tTimestamp
	// keywords
	tAND
	tOR
	tNOT
	tFOLLOWEDBY
	tLIKE
	tMATCHES
	tISSUPERSET
	tISSUBSET
	tEXISTS
	tLAST
	tIN
	tSTART
	tSTOP
	tSECONDS
	tWITHIN
	tREPEATS
	tTIMES
	// punctuation and operators
	tEQ
	tNEQ
	tLT
	tLE
	tGT
	tGE
	tColon
	tDot
	tComma
	tLParen
	tRParen
	tLBrack
	tRBrack
	tPlus
	tMinus
	tPower
	tDivide
	tAsterisk
)

var keywords = map[string]tokKind{
	"AND":        tAND,
	"OR":         tOR,
	"NOT":        tNOT,
	"FOLLOWEDBY": tFOLLOWEDBY,
	"LIKE":       tLIKE,
	"MATCHES":    tMATCHES,
	"ISSUPERSET": tISSUPERSET,
	"ISSUBSET":   tISSUBSET,
	"EXISTS":     tEXISTS,
	"LAST":       tLAST,
	"IN":         tIN,
	"START":      tSTART,
	"STOP":       tSTOP,
	"SECONDS":    tSECONDS,
	"WITHIN":     tWITHIN,
	"REPEATS":    tREPEATS,
	"TIMES":      tTIMES,
	"true":       tBool,
	"false":      tBool,
}

// describe names a token kind for error messages.
func (k tokKind) describe() string {
	switch k {
	case tEOF:
		return "end of pattern"
	case tIdent, tIdentHyphen:
		return "identifier"
	case tString:
		return "string literal"
	case tIntPos, tIntNeg:
		return "integer literal"
	case tFloatPos, tFloatNeg:
		return "float literal"
	case tBool:
		return "boolean literal"
	case tBinary:
		return "binary literal"
	case tHex:
		return "hex literal"
	case tTimestamp:
		return "timestamp literal"
	}
	return "'" + punct[k] + "'"
}

var punct = [...]string{
	tAND: "AND", tOR: "OR", tNOT: "NOT", tFOLLOWEDBY: "FOLLOWEDBY", tLIKE: "LIKE",
	tMATCHES: "MATCHES", tISSUPERSET: "ISSUPERSET", tISSUBSET: "ISSUBSET", tEXISTS: "EXISTS",
	tLAST: "LAST", tIN: "IN", tSTART: "START", tSTOP: "STOP", tSECONDS: "SECONDS",
	tWITHIN: "WITHIN", tREPEATS: "REPEATS", tTIMES: "TIMES",
	tEQ: "=", tNEQ: "!=", tLT: "<", tLE: "<=", tGT: ">", tGE: ">=", tColon: ":", tDot: ".",
	tComma: ",", tLParen: "(", tRParen: ")", tLBrack: "[", tRBrack: "]", tPlus: "+",
	tMinus: "-", tPower: "^", tDivide: "/", tAsterisk: "*",
}

// token is one lexical token: its kind and the byte range [pos, end) of its
// text in the source. Values are decoded by the parser only when needed.
type token struct {
	kind tokKind
	pos  int
	end  int
	// esc reports a string literal containing escapes (so its value is
	// not simply the text between the quotes).
	esc bool
}

// lexer turns pattern text into tokens on demand, without allocating.
type lexer struct {
	src string
	pos int
}

// isSpace reports the whitespace characters of the grammar's WS rule.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\r', '\n', '\u000b', '\u000c', '\u0085', '\u00a0', '\u1680',
		'\u2028', '\u2029', '\u202f', '\u205f', '\u3000':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
func isHexDigit(c byte) bool   { return isDigit(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }
func isBase64Char(c byte) bool { return isIdentChar(c) && c != '_' || c == '+' || c == '/' }

// skip moves past whitespace and comments.
func (l *lexer) skip() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '*':
			start := l.pos
			i := indexFrom(l.src, "*/", l.pos+2)
			if i < 0 {
				return &SyntaxError{Pos: start, Msg: "unterminated comment: '/*' is never closed by '*/'"}
			}
			l.pos = i + 2
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(l.src[l.pos:])
			if !isSpace(r) {
				return nil
			}
			l.pos += n
		default:
			return nil
		}
	}
	return nil
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	start := l.pos
	if start >= len(l.src) {
		return token{kind: tEOF, pos: start, end: start}, nil
	}
	src := l.src
	c := src[start]
	one := func(k tokKind) (token, error) {
		l.pos++
		return token{kind: k, pos: start, end: l.pos}, nil
	}
	two := func(k tokKind) (token, error) {
		l.pos += 2
		return token{kind: k, pos: start, end: l.pos}, nil
	}
	peek := func(off int) byte {
		if start+off < len(src) {
			return src[start+off]
		}
		return 0
	}
	switch c {
	case '[':
		return one(tLBrack)
	case ']':
		return one(tRBrack)
	case '(':
		return one(tLParen)
	case ')':
		return one(tRParen)
	case ':':
		return one(tColon)
	case ',':
		return one(tComma)
	case '^':
		return one(tPower)
	case '/':
		return one(tDivide)
	case '*':
		return one(tAsterisk)
	case '=':
		if peek(1) == '=' {
			return two(tEQ)
		}
		return one(tEQ)
	case '!':
		if peek(1) == '=' {
			return two(tNEQ)
		}
		return token{}, &SyntaxError{Pos: start, Msg: "unexpected character '!' (did you mean '!='?)"}
	case '<':
		switch peek(1) {
		case '=':
			return two(tLE)
		case '>':
			return two(tNEQ)
		}
		return one(tLT)
	case '>':
		if peek(1) == '=' {
			return two(tGE)
		}
		return one(tGT)
	case '\'':
		return l.lexString(start + 1)
	case '.':
		if isDigit(peek(1)) {
			return l.lexNumber(start, start)
		}
		return one(tDot)
	case '+', '-':
		if isDigit(peek(1)) || peek(1) == '.' && isDigit(peek(2)) {
			return l.lexNumber(start, start+1)
		}
		if c == '+' {
			return one(tPlus)
		}
		return one(tMinus)
	}
	if isDigit(c) {
		return l.lexNumber(start, start)
	}
	if isIdentStart(c) {
		if peek(1) == '\'' {
			switch c {
			case 't':
				return l.lexTimestamp(start)
			case 'h':
				return l.lexHex(start)
			case 'b':
				return l.lexBinary(start)
			}
		}
		i := start + 1
		hyphen := false
		for i < len(src) && (isIdentChar(src[i]) || src[i] == '-') {
			if src[i] == '-' {
				hyphen = true
			}
			i++
		}
		l.pos = i
		text := src[start:i]
		if !hyphen {
			if k, ok := keywords[text]; ok {
				return token{kind: k, pos: start, end: i}, nil
			}
			return token{kind: tIdent, pos: start, end: i}, nil
		}
		return token{kind: tIdentHyphen, pos: start, end: i}, nil
	}
	r, _ := utf8.DecodeRuneInString(src[start:])
	if r == utf8.RuneError {
		return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("invalid UTF-8 byte 0x%02x", c)}
	}
	return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
}

// lexNumber lexes IntPos/IntNeg/FloatPos/FloatNeg literals; digits starts
// after an optional sign.
func (l *lexer) lexNumber(start, digits int) (token, error) {
	src := l.src
	i := digits
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	neg := src[start] == '-'
	if i+1 < len(src) && src[i] == '.' && isDigit(src[i+1]) {
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
		l.pos = i
		k := tFloatPos
		if neg {
			k = tFloatNeg
		}
		return token{kind: k, pos: start, end: i}, nil
	}
	// Integers have no leading zeros: "0" alone, or [1-9][0-9]*.
	if src[digits] == '0' {
		i = digits + 1
	}
	l.pos = i
	k := tIntPos
	if neg {
		k = tIntNeg
	}
	return token{kind: k, pos: start, end: i}, nil
}

// lexString lexes a string literal whose opening quote is just before i.
func (l *lexer) lexString(i int) (token, error) {
	src := l.src
	start := i - 1
	esc := false
	for i < len(src) {
		switch src[i] {
		case '\'':
			l.pos = i + 1
			return token{kind: tString, pos: start, end: i + 1, esc: esc}, nil
		case '\\':
			if i+1 < len(src) && (src[i+1] == '\'' || src[i+1] == '\\') {
				esc = true
				i += 2
				continue
			}
			if i+1 >= len(src) {
				return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unterminated string literal started at column %d", start+1)}
			}
			r, _ := utf8.DecodeRuneInString(src[i+1:])
			return token{}, &SyntaxError{Pos: i, Msg: fmt.Sprintf("invalid escape sequence '\\%c' in string literal: only \\' and \\\\ are allowed", r)}
		}
		i++
	}
	return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("unterminated string literal started at column %d", start+1)}
}

// closingQuote returns the index of the quote closing a literal whose body
// starts at i, or -1.
func closingQuote(src string, i int) int {
	for ; i < len(src); i++ {
		if src[i] == '\'' {
			return i
		}
	}
	return -1
}

func (l *lexer) lexHex(start int) (token, error) {
	end := closingQuote(l.src, start+2)
	if end < 0 {
		return token{}, &SyntaxError{Pos: start, Msg: "unterminated hex literal"}
	}
	body := l.src[start+2 : end]
	for i := 0; i < len(body); i++ {
		if !isHexDigit(body[i]) {
			return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("invalid hex literal: %q at column %d is not a hex digit", body[i], start+3+i)}
		}
	}
	if len(body)%2 != 0 {
		return token{}, &SyntaxError{Pos: start, Msg: "invalid hex literal: odd number of hex digits"}
	}
	l.pos = end + 1
	return token{kind: tHex, pos: start, end: end + 1}, nil
}

func (l *lexer) lexBinary(start int) (token, error) {
	end := closingQuote(l.src, start+2)
	if end < 0 {
		return token{}, &SyntaxError{Pos: start, Msg: "unterminated binary literal"}
	}
	body := l.src[start+2 : end]
	if len(body) == 0 || len(body)%4 != 0 {
		return token{}, &SyntaxError{Pos: start, Msg: "invalid binary literal: base64 text must be a non-empty multiple of 4 characters"}
	}
	pad := 0
	if body[len(body)-1] == '=' {
		pad++
		if body[len(body)-2] == '=' {
			pad++
		}
	}
	for i := 0; i < len(body)-pad; i++ {
		if !isBase64Char(body[i]) {
			return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("invalid binary literal: %q at column %d is not a base64 character", body[i], start+3+i)}
		}
	}
	l.pos = end + 1
	return token{kind: tBinary, pos: start, end: end + 1}, nil
}

func (l *lexer) lexTimestamp(start int) (token, error) {
	end := closingQuote(l.src, start+2)
	if end < 0 {
		return token{}, &SyntaxError{Pos: start, Msg: "unterminated timestamp literal"}
	}
	if _, err := parseTimestamp(l.src[start+2 : end]); err != nil {
		return token{}, &SyntaxError{Pos: start, Msg: fmt.Sprintf("invalid timestamp literal %s: %v", l.src[start:end+1], err)}
	}
	l.pos = end + 1
	return token{kind: tTimestamp, pos: start, end: end + 1}, nil
}
