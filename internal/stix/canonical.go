package stix

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Canonical returns the RFC 8785 JSON Canonicalization Scheme form of the
// JSON text v: no insignificant white space, object members sorted by the
// UTF-16 code units of their names, strings in their shortest escaped form
// and numbers serialised as ECMAScript's Number.prototype.toString does.
// The input must be I-JSON (RFC 7493): valid UTF-8, no duplicate member
// names, no lone surrogates, and numbers within IEEE 754 double range;
// otherwise the error (wrapping errkind.Invalid) gives the byte offset.
func Canonical(v []byte) ([]byte, error) {
	p := jcsPool.Get().(*jcsParser)
	defer p.release()
	out, err := p.canonical(make([]byte, 0, len(v)), v)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CanonicalHash returns the SHA-256 digest of Canonical(v) without keeping
// the canonical form: its buffers are reused from call to call, so hashing
// many objects allocates next to nothing.
func CanonicalHash(v []byte) ([32]byte, error) {
	p := jcsPool.Get().(*jcsParser)
	defer p.release()
	out, err := p.canonical(p.out[:0], v)
	p.out = out
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(out), nil
}

// Hash returns the SHA-256 digest of the object's canonical JSON form
// (RFC 8785), so that equal objects hash equally whatever their formatting
// or member order. Should Raw not be canonicalizable (an Object built by
// hand rather than by Parse), the digest of Raw itself is returned.
func Hash(o *Object) [32]byte {
	h, err := CanonicalHash(o.Raw)
	if err != nil {
		return sha256.Sum256(o.Raw)
	}
	return h
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 1000

// jcsPool recycles canonicalisers and their buffers.
var jcsPool = sync.Pool{New: func() any { return new(jcsParser) }}

// jcsKeep caps the buffers a pooled canonicaliser keeps (bytes).
const jcsKeep = 1 << 20

// jcsParser canonicalises one JSON text at a time. Object members are
// written in input order into out, then reordered in place: no value is
// decoded or copied into a structure of its own.
type jcsParser struct {
	src []byte
	pos int
	out []byte
	// members holds the members of the objects being read, innermost
	// last; names holds their decoded names.
	members []jcsMember
	names   []byte
	// tmp is scratch space for reordering members; sbuf for unescaping.
	tmp, sbuf []byte
}

// jcsMember is one member of an object being canonicalised.
type jcsMember struct {
	// name is the decoded member name: names[nameOff:nameOff+nameLen].
	nameOff, nameLen int
	// start and end delimit the member's canonical text in out.
	start, end int
	// at is the input offset of the name, for errors.
	at int
	// ascii reports that the name is ASCII.
	ascii bool
}

// release returns p to the pool, dropping buffers grown unusually large.
func (p *jcsParser) release() {
	p.src = nil
	if cap(p.out) > jcsKeep {
		p.out = nil
	}
	if cap(p.tmp) > jcsKeep {
		p.tmp = nil
	}
	if cap(p.names) > jcsKeep || cap(p.sbuf) > jcsKeep || cap(p.members) > jcsKeep/64 {
		p.names, p.sbuf, p.members = nil, nil, nil
	}
	jcsPool.Put(p)
}

// canonical appends the canonical form of v to out.
func (p *jcsParser) canonical(out, v []byte) ([]byte, error) {
	p.src, p.pos, p.out = v, 0, out
	p.members, p.names = p.members[:0], p.names[:0]
	p.skipWS()
	if err := p.value(0); err != nil {
		return p.out, err
	}
	p.skipWS()
	if p.pos != len(p.src) {
		return p.out, p.errf("unexpected data after the JSON value")
	}
	return p.out, nil
}

func (p *jcsParser) errf(format string, args ...any) error {
	return fmt.Errorf("%w: canonical JSON: offset %d: %s", errkind.Invalid, p.pos, fmt.Sprintf(format, args...))
}

func (p *jcsParser) skipWS() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jcsParser) literal(lit string) error {
	if !bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
		return p.errf("invalid literal")
	}
	p.pos += len(lit)
	p.out = append(p.out, lit...)
	return nil
}

func (p *jcsParser) value(depth int) error {
	if depth > maxDepth {
		return p.errf("nesting deeper than %d", maxDepth)
	}
	if p.pos >= len(p.src) {
		return p.errf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		p.pos++
		p.out = append(p.out, '[')
		p.skipWS()
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			p.pos++
			p.out = append(p.out, ']')
			return nil
		}
		for {
			p.skipWS()
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.skipWS()
			if p.pos >= len(p.src) {
				return p.errf("unterminated array")
			}
			switch p.src[p.pos] {
			case ',':
				p.pos++
				p.out = append(p.out, ',')
			case ']':
				p.pos++
				p.out = append(p.out, ']')
				return nil
			default:
				return p.errf("expected ',' or ']' in array")
			}
		}
	case c == '"':
		s, plain, err := p.str()
		if err != nil {
			return err
		}
		if plain {
			// Nothing to escape: the input is the canonical form.
			p.out = append(p.out, '"')
			p.out = append(p.out, s...)
			p.out = append(p.out, '"')
		} else {
			p.out = appendJCSString(p.out, s)
		}
		return nil
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	default:
		return p.errf("unexpected character %q", c)
	}
}

func (p *jcsParser) object(depth int) error {
	p.pos++ // {
	p.out = append(p.out, '{')
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.out = append(p.out, '}')
		return nil
	}
	base, nbase := len(p.members), len(p.names)
	for {
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return p.errf("expected a member name")
		}
		m := jcsMember{at: p.pos, start: len(p.out), nameOff: len(p.names)}
		k, plain, err := p.str()
		if err != nil {
			return err
		}
		p.names = append(p.names, k...)
		m.nameLen = len(k)
		m.ascii = isASCII(k)
		if plain {
			p.out = append(p.out, '"')
			p.out = append(p.out, k...)
			p.out = append(p.out, '"')
		} else {
			p.out = appendJCSString(p.out, k)
		}
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.errf("expected ':' after member name")
		}
		p.pos++
		p.out = append(p.out, ':')
		p.skipWS()
		if err := p.value(depth + 1); err != nil {
			return err
		}
		m.end = len(p.out)
		p.members = append(p.members, m)
		p.skipWS()
		if p.pos >= len(p.src) {
			return p.errf("unterminated object")
		}
		if p.src[p.pos] == '}' {
			p.pos++
			break
		}
		if p.src[p.pos] != ',' {
			return p.errf("expected ',' or '}' in object")
		}
		p.pos++
		p.out = append(p.out, ',')
	}
	if err := p.sortMembers(p.members[base:]); err != nil {
		return err
	}
	p.members, p.names = p.members[:base], p.names[:nbase]
	p.out = append(p.out, '}')
	return nil
}

// sortMembers puts the members of one object (the last bytes of out) in
// canonical order and rejects duplicate names.
func (p *jcsParser) sortMembers(ms []jcsMember) error {
	name := func(m *jcsMember) []byte { return p.names[m.nameOff : m.nameOff+m.nameLen] }
	cmp := func(a, b jcsMember) int {
		x, y := name(&a), name(&b)
		if a.ascii && b.ascii {
			// For ASCII names, byte order is UTF-16 code-unit order.
			return bytes.Compare(x, y)
		}
		return compareUTF16(x, y)
	}
	sorted := true
	for i := 1; i < len(ms); i++ {
		c := cmp(ms[i-1], ms[i])
		if c == 0 {
			return p.duplicate(ms[i-1], ms[i])
		}
		if c > 0 {
			sorted = false
		}
	}
	if sorted {
		return nil
	}
	slices.SortFunc(ms, cmp)
	for i := 1; i < len(ms); i++ {
		if cmp(ms[i-1], ms[i]) == 0 {
			return p.duplicate(ms[i-1], ms[i])
		}
	}
	first := len(p.out)
	for _, m := range ms {
		first = min(first, m.start)
	}
	p.tmp = append(p.tmp[:0], p.out[first:]...)
	p.out = p.out[:first]
	for i, m := range ms {
		if i > 0 {
			p.out = append(p.out, ',')
		}
		p.out = append(p.out, p.tmp[m.start-first:m.end-first]...)
	}
	return nil
}

// duplicate reports the later of two members with the same name.
func (p *jcsParser) duplicate(a, b jcsMember) error {
	p.pos = max(a.at, b.at)
	return p.errf("duplicate member name %q", p.names[a.nameOff:a.nameOff+a.nameLen])
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// compareUTF16 compares two UTF-8 strings by their UTF-16 code units.
func compareUTF16(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb {
			ha, la := utf16Units(ra)
			hb, lb := utf16Units(rb)
			if ha != hb {
				return cmpInt(ha, hb)
			}
			return cmpInt(la, lb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmpInt(len(a), len(b))
}

// utf16Units returns the UTF-16 code units of r (lo is 0 for the BMP).
func utf16Units(r rune) (hi, lo rune) {
	if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError || r2 != utf8.RuneError {
		return r1, r2
	}
	return r, 0
}

func cmpInt[T int | rune](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// str parses a JSON string at p.pos and returns its value; plain reports
// that the value needs no escaping in canonical form (it is then a slice
// of the input, else of scratch space valid until the next call).
func (p *jcsParser) str() (s []byte, plain bool, err error) {
	p.pos++ // opening quote
	start := p.pos
	ascii := true
	// Fast path: no escapes.
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			if !ascii && !utf8.Valid(s) {
				return nil, false, p.errf("invalid UTF-8 in string")
			}
			p.pos++
			return s, true, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return nil, false, p.errf("control character in string")
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		p.pos++
	}
	buf := append(p.sbuf[:0], p.src[start:p.pos]...)
	defer func() { p.sbuf = buf[:0] }()
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return nil, false, p.errf("invalid UTF-8 in string")
			}
			p.pos++
			return buf, false, nil
		case c < 0x20:
			return nil, false, p.errf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.src) {
			break
		}
		e := p.src[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return nil, false, p.errf("malformed \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || p.pos+1 >= len(p.src) || p.src[p.pos] != '\\' || p.src[p.pos+1] != 'u' {
					return nil, false, p.errf("lone surrogate in string")
				}
				p.pos += 2
				r2, ok := p.hex4()
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return nil, false, p.errf("lone surrogate in string")
				}
				r = utf16.DecodeRune(r, r2)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, false, p.errf("invalid escape \\%c", e)
		}
	}
	return nil, false, p.errf("unterminated string")
}

func (p *jcsParser) hex4() (rune, bool) {
	if p.pos+4 > len(p.src) {
		return 0, false
	}
	var r rune
	for _, c := range p.src[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// number parses a JSON number and writes its ECMAScript serialisation.
func (p *jcsParser) number() error {
	start := p.pos
	if p.src[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.src) && '0' <= p.src[p.pos] && p.src[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intDigits := 0
	if p.pos < len(p.src) && p.src[p.pos] == '0' {
		p.pos++
		intDigits = 1
	} else if intDigits = digits(); intDigits == 0 {
		return p.errf("malformed number")
	}
	integer := true
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		integer = false
		p.pos++
		if digits() == 0 {
			return p.errf("malformed number")
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		integer = false
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.errf("malformed number")
		}
	}
	lit := p.src[start:p.pos]
	if integer && intDigits <= 15 && string(lit) != "-0" {
		// An integer below 2^53 without a leading zero is already in
		// ECMAScript form.
		p.out = append(p.out, lit...)
		return nil
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		p.pos = start
		return p.errf("number outside the IEEE 754 double range")
	}
	p.out = append(p.out, FormatNumber(f)...)
	return nil
}

// FormatNumber serialises a finite float64 as ECMAScript's
// Number.prototype.toString does (the RFC 8785 number format): the
// shortest round-tripping digits, plain notation for exponents in
// [-7, 21), exponential notation ("1e+21", "1.5e-7") otherwise.
func FormatNumber(f float64) string {
	if f == 0 {
		return "0" // also -0
	}
	var b []byte
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits and decimal exponent.
	e := strconv.AppendFloat(nil, f, 'e', -1, 64)
	mant, exp, _ := bytes.Cut(e, []byte("e"))
	digits := make([]byte, 0, len(mant))
	for _, c := range mant {
		if c != '.' {
			digits = append(digits, c)
		}
	}
	x, _ := strconv.Atoi(string(exp))
	k := len(digits)
	n := x + 1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for i := 0; i < n-k; i++ {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for i := 0; i < -n; i++ {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return string(b)
}

// appendJCSString appends s as RFC 8785 requires: only '"', '\\' and the
// control characters escaped, using \b \t \n \f \r or lowercase \u00xx.
func appendJCSString(out, s []byte) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"':
			out = append(out, `\"`...)
		case '\\':
			out = append(out, `\\`...)
		case '\b':
			out = append(out, `\b`...)
		case '\t':
			out = append(out, `\t`...)
		case '\n':
			out = append(out, `\n`...)
		case '\f':
			out = append(out, `\f`...)
		case '\r':
			out = append(out, `\r`...)
		default:
			out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}
