package stix

import (
	"encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeObject is the single-pass decoder behind Parse: it decodes a JSON
// object into the same values encoding/json produces with UseNumber
// (map[string]any, []any, string, json.Number, bool, nil; invalid UTF-8
// and lone surrogates become U+FFFD) and at the same time writes the
// compacted text, byte for byte what json.Compact writes. Unlike
// encoding/json, which keeps the last of duplicate member names, it
// rejects them (I-JSON, RFC 7493): consumers that keep the first would
// otherwise read a different object from the same bytes, for instance
// other object_marking_refs.
// It is several times faster than Compact followed
// by a Decoder, which matters on the bulk-import path.
func decodeObject(data []byte) (map[string]any, []byte, error) {
	d := decoder{src: data, out: make([]byte, 0, len(data))}
	d.skipWS()
	if d.pos >= len(d.src) {
		return nil, nil, d.errf("unexpected end of JSON input")
	}
	if d.src[d.pos] != '{' {
		if d.src[d.pos] == 'n' && len(d.src) >= d.pos+4 && string(d.src[d.pos:d.pos+4]) == "null" {
			return nil, nil, fmt.Errorf("not a JSON object: null")
		}
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	v, err := d.value(0)
	if err != nil {
		return nil, nil, err
	}
	d.skipWS()
	if d.pos != len(d.src) {
		return nil, nil, d.errf("invalid character %q after top-level value", d.src[d.pos])
	}
	return v.(map[string]any), d.out, nil
}

// maxNesting matches encoding/json's nesting limit.
const maxNesting = 10000

type decoder struct {
	src []byte
	pos int
	out []byte
}

func (d *decoder) errf(format string, args ...any) error {
	return fmt.Errorf("malformed JSON at offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *decoder) skipWS() {
	for d.pos < len(d.src) {
		switch d.src[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// commonKeys interns frequent property names so that decoding them does
// not allocate.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"type", "id", "spec_version", "created", "modified", "created_by_ref",
		"revoked", "labels", "confidence", "lang", "external_references", "object_marking_refs",
		"granular_markings", "extensions", "name", "description", "aliases", "kill_chain_phases",
		"kill_chain_name", "phase_name", "source_name", "url", "external_id", "hashes",
		"relationship_type", "source_ref", "target_ref", "pattern", "pattern_type", "valid_from",
		"x_mitre_version", "x_mitre_domains", "x_mitre_modified_by_ref", "x_mitre_attack_spec_version",
		"x_mitre_deprecated", "x_mitre_platforms", "x_mitre_is_subtechnique", "x_mitre_detection",
		"x_mitre_data_sources", "object_refs", "first_seen", "last_seen", "is_family", "value"} {
		m[k] = k
	}
	return m
}()

func (d *decoder) value(depth int) (any, error) {
	if depth > maxNesting {
		return nil, d.errf("exceeded max depth")
	}
	d.skipWS()
	if d.pos >= len(d.src) {
		return nil, d.errf("unexpected end of JSON input")
	}
	switch c := d.src[d.pos]; {
	case c == '{':
		d.pos++
		d.out = append(d.out, '{')
		m := map[string]any{}
		d.skipWS()
		if d.pos < len(d.src) && d.src[d.pos] == '}' {
			d.pos++
			d.out = append(d.out, '}')
			return m, nil
		}
		for {
			d.skipWS()
			if d.pos >= len(d.src) || d.src[d.pos] != '"' {
				return nil, d.errf("expected a property name")
			}
			k, raw, err := d.str()
			if err != nil {
				return nil, err
			}
			if raw != nil {
				if ck, ok := commonKeys[string(raw)]; ok {
					k = ck
				} else {
					k = string(raw)
				}
			}
			d.skipWS()
			if d.pos >= len(d.src) || d.src[d.pos] != ':' {
				return nil, d.errf("expected ':' after property name")
			}
			d.pos++
			d.out = append(d.out, ':')
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			if _, dup := m[k]; dup {
				return nil, d.errf("duplicate property name %q", k)
			}
			m[k] = v
			d.skipWS()
			if d.pos >= len(d.src) {
				return nil, d.errf("unexpected end of JSON input")
			}
			switch d.src[d.pos] {
			case ',':
				d.pos++
				d.out = append(d.out, ',')
			case '}':
				d.pos++
				d.out = append(d.out, '}')
				return m, nil
			default:
				return nil, d.errf("expected ',' or '}' after object value")
			}
		}
	case c == '[':
		d.pos++
		d.out = append(d.out, '[')
		l := []any{}
		d.skipWS()
		if d.pos < len(d.src) && d.src[d.pos] == ']' {
			d.pos++
			d.out = append(d.out, ']')
			return l, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			d.skipWS()
			if d.pos >= len(d.src) {
				return nil, d.errf("unexpected end of JSON input")
			}
			switch d.src[d.pos] {
			case ',':
				d.pos++
				d.out = append(d.out, ',')
			case ']':
				d.pos++
				d.out = append(d.out, ']')
				return l, nil
			default:
				return nil, d.errf("expected ',' or ']' after array element")
			}
		}
	case c == '"':
		s, raw, err := d.str()
		if err != nil {
			return nil, err
		}
		if raw != nil {
			return string(raw), nil
		}
		return s, nil
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	default:
		return nil, d.errf("invalid character %q looking for beginning of value", c)
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.src)-d.pos < len(lit) || string(d.src[d.pos:d.pos+len(lit)]) != lit {
		return d.errf("invalid literal")
	}
	d.pos += len(lit)
	d.out = append(d.out, lit...)
	return nil
}

func (d *decoder) number() (any, error) {
	start := d.pos
	if d.src[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.src) && '0' <= d.src[d.pos] && d.src[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	switch {
	case d.pos < len(d.src) && d.src[d.pos] == '0':
		d.pos++
	case digits() == 0:
		return nil, d.errf("invalid number")
	}
	if d.pos < len(d.src) && d.src[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return nil, d.errf("invalid number")
		}
	}
	if d.pos < len(d.src) && (d.src[d.pos] == 'e' || d.src[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.src) && (d.src[d.pos] == '+' || d.src[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return nil, d.errf("invalid number")
		}
	}
	lit := d.src[start:d.pos]
	d.out = append(d.out, lit...)
	return json.Number(lit), nil
}

// str decodes the string at d.pos and copies its raw text to the output.
// When the string has no escapes and is valid UTF-8, it returns raw (the
// bytes between the quotes, to be converted by the caller); otherwise the
// decoded value.
func (d *decoder) str() (string, []byte, error) {
	start := d.pos
	d.pos++
	i := d.pos
	for i < len(d.src) {
		c := d.src[i]
		if c == '"' {
			raw := d.src[d.pos:i]
			d.pos = i + 1
			d.out = append(d.out, d.src[start:d.pos]...)
			if utf8.Valid(raw) {
				return "", raw, nil
			}
			return string([]rune(string(raw))), nil, nil // invalid bytes → U+FFFD
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			d.pos = i
			return "", nil, d.errf("invalid control character in string")
		}
		i++
	}
	// Slow path: escapes.
	buf := make([]byte, 0, i-d.pos+16)
	buf = append(buf, d.src[d.pos:i]...)
	for i < len(d.src) {
		c := d.src[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.out = append(d.out, d.src[start:d.pos]...)
			if !utf8.Valid(buf) {
				return string([]rune(string(buf))), nil, nil
			}
			return string(buf), nil, nil
		case c < 0x20:
			d.pos = i
			return "", nil, d.errf("invalid control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.src) {
			break
		}
		e := d.src[i+1]
		i += 2
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
			r := hex4(d.src, i)
			if r < 0 {
				d.pos = i
				return "", nil, d.errf("invalid \\u escape in string")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+1 < len(d.src) && d.src[i] == '\\' && d.src[i+1] == 'u' {
					r2 = hex4(d.src, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos = i - 1
			return "", nil, d.errf("invalid escape character %q in string", e)
		}
	}
	d.pos = len(d.src)
	return "", nil, d.errf("unexpected end of JSON input")
}

// hex4 decodes four hex digits at src[i:], or returns -1.
func hex4(src []byte, i int) rune {
	if i+4 > len(src) {
		return -1
	}
	var r rune
	for _, c := range src[i : i+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return -1
		}
	}
	return r
}
