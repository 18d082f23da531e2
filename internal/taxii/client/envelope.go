package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// envelope is a decoded TAXII envelope (section 3.7) whose objects are left
// as raw JSON.
type envelope struct {
	More    bool
	Next    string
	Objects []json.RawMessage
}

// maxDepth caps the nesting of a response's JSON values (encoding/json
// allows 10,000; STIX objects nest a few levels).
const maxDepth = 1000

// decodeEnvelope splits a TAXII envelope into "more", "next" and the raw
// "objects", checking that the whole body is well-formed JSON the way
// encoding/json does, but without decoding the objects: each one is a
// sub-slice of body (so body must not be modified afterwards). A page of
// objects is the bulk of every federation pull; this is several times
// faster than json.Unmarshal into []json.RawMessage, which scans each
// object twice and copies it.
//
// Member names are matched exactly (TAXII is case-sensitive; encoding/json
// would also accept "More"); other members are skipped; when a member
// appears twice the last one counts, as with encoding/json.
func decodeEnvelope(body []byte) (envelope, error) {
	var env envelope
	s := scanner{b: body}
	s.space()
	if !s.eat('{') {
		return env, s.fail("expected a JSON object")
	}
	s.space()
	if s.eat('}') {
		return env, s.end()
	}
	for {
		s.space()
		kstart := s.i
		if err := s.str(); err != nil {
			return env, err
		}
		key := body[kstart:s.i]
		if hasEscape(key) {
			var k string
			if err := json.Unmarshal(key, &k); err != nil {
				return env, fmt.Errorf("envelope member name: %w", err)
			}
			key = []byte(strconv.Quote(k))
		}
		s.space()
		if !s.eat(':') {
			return env, s.fail("expected ':' after a member name")
		}
		s.space()
		vstart := s.i
		switch string(key) {
		case `"objects"`:
			objs, err := s.objects()
			if err != nil {
				return env, err
			}
			env.Objects = objs
		case `"more"`, `"next"`:
			if err := s.value(0); err != nil {
				return env, err
			}
			v := body[vstart:s.i]
			var err error
			if key[1] == 'm' {
				err = json.Unmarshal(v, &env.More)
			} else if len(v) > 2 && v[0] == '"' && !hasEscape(v) && utf8.Valid(v) {
				env.Next = string(v[1 : len(v)-1])
			} else {
				err = json.Unmarshal(v, &env.Next)
			}
			if err != nil {
				return env, fmt.Errorf("envelope member %s: %w", key, err)
			}
		default:
			if err := s.value(0); err != nil {
				return env, err
			}
		}
		s.space()
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			return env, s.end()
		}
		return env, s.fail("expected ',' or '}' in the envelope")
	}
}

func hasEscape(v []byte) bool {
	for _, c := range v {
		if c == '\\' {
			return true
		}
	}
	return false
}

// scanner checks JSON syntax (RFC 8259, as encoding/json accepts it: no
// check of UTF-8 inside strings) over a byte slice.
type scanner struct {
	b []byte
	i int
}

// errSyntax marks malformed JSON.
var errSyntax = errors.New("malformed JSON")

func (s *scanner) fail(what string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end of input: %s", errSyntax, what)
	}
	return fmt.Errorf("%w at offset %d: %s", errSyntax, s.i, what)
}

// end accepts only white space after the top-level value.
func (s *scanner) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.fail("unexpected data after the top-level value")
	}
	return nil
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// objects scans the "objects" array (or null) and returns its elements.
func (s *scanner) objects() ([]json.RawMessage, error) {
	if s.lit("null") {
		return nil, nil
	}
	if !s.eat('[') {
		return nil, s.fail(`"objects" is not an array`)
	}
	objs := make([]json.RawMessage, 0, 64)
	s.space()
	if s.eat(']') {
		return objs, nil
	}
	for {
		s.space()
		start := s.i
		if err := s.value(1); err != nil {
			return nil, err
		}
		objs = append(objs, s.b[start:s.i:s.i])
		s.space()
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return objs, nil
		}
		return nil, s.fail("expected ',' or ']' in \"objects\"")
	}
}

// value scans one JSON value at nesting depth.
func (s *scanner) value(depth int) error {
	if depth > maxDepth {
		return s.fail("nested too deeply")
	}
	if s.i >= len(s.b) {
		return s.fail("expected a value")
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.space()
		if s.eat('}') {
			return nil
		}
		for {
			s.space()
			if err := s.str(); err != nil {
				return err
			}
			s.space()
			if !s.eat(':') {
				return s.fail("expected ':' after a member name")
			}
			s.space()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return nil
			}
			return s.fail("expected ',' or '}' in an object")
		}
	case c == '[':
		s.i++
		s.space()
		if s.eat(']') {
			return nil
		}
		for {
			s.space()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return s.fail("expected ',' or ']' in an array")
		}
	case c == '"':
		return s.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case s.lit("true"), s.lit("false"), s.lit("null"):
		return nil
	}
	return s.fail("expected a value")
}

// lit consumes the literal word when it is next.
func (s *scanner) lit(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// str scans a string: no control characters, only the escapes of RFC 8259.
func (s *scanner) str() error {
	if !s.eat('"') {
		return s.fail("expected a string")
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return nil
		case c < 0x20:
			return s.fail("control character in a string")
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return s.fail("unterminated escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if len(s.b)-s.i < 5 {
					return s.fail(`short \u escape`)
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						return s.fail(`bad \u escape`)
					}
				}
				s.i += 5
			default:
				return s.fail("invalid escape")
			}
		default:
			s.i++
		}
	}
	return s.fail("unterminated string")
}

// number scans a number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return s.fail("malformed number")
	}
	if s.eat('.') {
		if s.digits() == 0 {
			return s.fail("malformed number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return s.fail("malformed number")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}
