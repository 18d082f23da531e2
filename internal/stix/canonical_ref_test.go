package stix

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// This file keeps the first RFC 8785 canonicaliser (one bytes.Buffer per
// member value, decoded member names) as the oracle of
// FuzzCanonicalMatchesReference.

const refMaxDepth = 1000

// referenceCanonical is Canonical as first written.
func referenceCanonical(v []byte) ([]byte, error) {
	p := refJCSParser{src: v}
	p.skipWS()
	var out bytes.Buffer
	out.Grow(len(v))
	if err := p.value(&out, 0); err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.src) {
		return nil, p.errf("unexpected data after the JSON value")
	}
	return out.Bytes(), nil
}

type refJCSParser struct {
	src []byte
	pos int
}

func (p *refJCSParser) errf(format string, args ...any) error {
	return fmt.Errorf("%w: canonical JSON: offset %d: %s", errkind.Invalid, p.pos, fmt.Sprintf(format, args...))
}

func (p *refJCSParser) skipWS() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *refJCSParser) literal(out *bytes.Buffer, lit string) error {
	if !bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
		return p.errf("invalid literal")
	}
	p.pos += len(lit)
	out.WriteString(lit)
	return nil
}

func (p *refJCSParser) value(out *bytes.Buffer, depth int) error {
	if depth > refMaxDepth {
		return p.errf("nesting deeper than %d", refMaxDepth)
	}
	if p.pos >= len(p.src) {
		return p.errf("unexpected end of input")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(out, depth)
	case c == '[':
		p.pos++
		out.WriteByte('[')
		p.skipWS()
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			p.pos++
			out.WriteByte(']')
			return nil
		}
		for {
			p.skipWS()
			if err := p.value(out, depth+1); err != nil {
				return err
			}
			p.skipWS()
			if p.pos >= len(p.src) {
				return p.errf("unterminated array")
			}
			switch p.src[p.pos] {
			case ',':
				p.pos++
				out.WriteByte(',')
			case ']':
				p.pos++
				out.WriteByte(']')
				return nil
			default:
				return p.errf("expected ',' or ']' in array")
			}
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		refWriteJCSString(out, s)
		return nil
	case c == 't':
		return p.literal(out, "true")
	case c == 'f':
		return p.literal(out, "false")
	case c == 'n':
		return p.literal(out, "null")
	case c == '-' || '0' <= c && c <= '9':
		return p.number(out)
	default:
		return p.errf("unexpected character %q", c)
	}
}

type refJCSMember struct {
	key   string
	utf16 []uint16
	val   []byte
}

func (p *refJCSParser) object(out *bytes.Buffer, depth int) error {
	p.pos++ // {
	var members []refJCSMember
	var seen map[string]struct{}
	p.skipWS()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		out.WriteString("{}")
		return nil
	}
	for {
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return p.errf("expected a member name")
		}
		keyPos := p.pos
		k, err := p.str()
		if err != nil {
			return err
		}
		p.skipWS()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.errf("expected ':' after member name")
		}
		p.pos++
		p.skipWS()
		var vb bytes.Buffer
		if err := p.value(&vb, depth+1); err != nil {
			return err
		}
		dup := false
		if seen != nil {
			_, dup = seen[k]
			seen[k] = struct{}{}
		} else {
			for _, m := range members {
				dup = dup || m.key == k
			}
			if len(members) == 16 {
				// Switch to a set so that huge objects stay linear.
				seen = make(map[string]struct{}, 32)
				for _, m := range members {
					seen[m.key] = struct{}{}
				}
				seen[k] = struct{}{}
			}
		}
		if dup {
			p.pos = keyPos
			return p.errf("duplicate member name %q", k)
		}
		members = append(members, refJCSMember{key: k, val: vb.Bytes()})
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
	}
	ascii := true
	for _, m := range members {
		for i := 0; i < len(m.key); i++ {
			if m.key[i] >= utf8.RuneSelf {
				ascii = false
			}
		}
	}
	if ascii {
		// For ASCII names, byte order is UTF-16 code-unit order.
		slices.SortFunc(members, func(a, b refJCSMember) int { return refCompareStrings(a.key, b.key) })
	} else {
		for i := range members {
			members[i].utf16 = utf16.Encode([]rune(members[i].key))
		}
		slices.SortFunc(members, func(a, b refJCSMember) int { return slices.Compare(a.utf16, b.utf16) })
	}
	out.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		refWriteJCSString(out, m.key)
		out.WriteByte(':')
		out.Write(m.val)
	}
	out.WriteByte('}')
	return nil
}

func refCompareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// str parses a JSON string at p.pos and returns its value.
func (p *refJCSParser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '"' {
			s := p.src[start:p.pos]
			if !utf8.Valid(s) {
				return "", p.errf("invalid UTF-8 in string")
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errf("control character in string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.src[start:p.pos]...)
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", p.errf("invalid UTF-8 in string")
			}
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errf("control character in string")
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
				return "", p.errf("malformed \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xDC00 || p.pos+1 >= len(p.src) || p.src[p.pos] != '\\' || p.src[p.pos+1] != 'u' {
					return "", p.errf("lone surrogate in string")
				}
				p.pos += 2
				r2, ok := p.hex4()
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return "", p.errf("lone surrogate in string")
				}
				r = utf16.DecodeRune(r, r2)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errf("invalid escape \\%c", e)
		}
	}
	return "", p.errf("unterminated string")
}

func (p *refJCSParser) hex4() (rune, bool) {
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
func (p *refJCSParser) number(out *bytes.Buffer) error {
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
	if p.pos < len(p.src) && p.src[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return p.errf("malformed number")
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return p.errf("malformed number")
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return p.errf("malformed number")
		}
	}
	f, err := strconv.ParseFloat(string(p.src[start:p.pos]), 64)
	if err != nil || math.IsInf(f, 0) {
		p.pos = start
		return p.errf("number outside the IEEE 754 double range")
	}
	out.WriteString(FormatNumber(f))
	return nil
}

// refWriteJCSString writes s as RFC 8785 requires: only '"', '\\' and the
// control characters escaped, using \b \t \n \f \r or lowercase \u00xx.
func refWriteJCSString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out.WriteString(s[start:i])
		switch c {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\b':
			out.WriteString(`\b`)
		case '\t':
			out.WriteString(`\t`)
		case '\n':
			out.WriteString(`\n`)
		case '\f':
			out.WriteString(`\f`)
		case '\r':
			out.WriteString(`\r`)
		default:
			out.WriteString(`\u00`)
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	out.WriteString(s[start:])
	out.WriteByte('"')
}

// checkCanonicalAgrees compares Canonical (and CanonicalHash) with the
// reference canonicaliser: the same verdict and the same bytes.
func checkCanonicalAgrees(t *testing.T, data []byte) {
	t.Helper()
	want, werr := referenceCanonical(data)
	got, err := Canonical(data)
	if (err == nil) != (werr == nil) {
		t.Fatalf("on %q: Canonical err = %v, reference err = %v", data, err, werr)
	}
	h, herr := CanonicalHash(data)
	if (herr == nil) != (err == nil) {
		t.Fatalf("on %q: CanonicalHash err = %v, Canonical err = %v", data, herr, err)
	}
	if err != nil {
		if !errors.Is(err, errkind.Invalid) {
			t.Fatalf("error %v does not wrap errkind.Invalid", err)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("on %q:\ngot  %s\nwant %s", data, got, want)
	}
	if h != sha256.Sum256(want) {
		t.Fatalf("on %q: CanonicalHash is not SHA-256 of the canonical form", data)
	}
}

// FuzzCanonicalMatchesReference: the allocation-light canonicaliser
// agrees with the first one on every input.
func FuzzCanonicalMatchesReference(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{`1e400`, `"\ud800"`, `{"a":1,"a":2}`, `[0.1,-0,1e21,1e-7,5e-324,123456789012345678]`,
		`"\u20ac\u0000"`, `{"\u00e9":1,"e":2,"\ud83d\ude00":3,"\ufb33":4}`, `{"b":{"d":1,"c":2},"a":[{"z":0,"y":1}]}`,
		`{"a\"b":1,"a":2,"a\\":3}`, `{"x":1,"\u0078":2}`, "{\"\xff\":1}", `{"a":{"b":1,"b":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCanonicalAgrees(t, data)
	})
}

// TestCanonicalMatchesReferenceOnRealData: every object of the real
// ATT&CK and OASIS files canonicalises to the reference's bytes.
func TestCanonicalMatchesReferenceOnRealData(t *testing.T) {
	n := 0
	for _, file := range realFiles(t) {
		for _, raw := range readAll(t, file) {
			checkCanonicalAgrees(t, raw)
			n++
		}
	}
	t.Logf("%d objects", n)
}

// BenchmarkCanonicalHash hashes the ATT&CK fixture objects the way the
// transparency log does: CanonicalHash against the reference
// canonicaliser plus SHA-256.
func BenchmarkCanonicalHash(b *testing.B) {
	raws := attackSample(b)
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := CanonicalHash(raws[i%len(raws)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			c, err := referenceCanonical(raws[i%len(raws)])
			if err != nil {
				b.Fatal(err)
			}
			_ = sha256.Sum256(c)
		}
	})
}
