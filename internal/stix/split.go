package stix

import (
	"errors"
	"fmt"
	"io"
)

// splitter is the byte-level scanner behind ReadInput. It reads JSON text
// through a sliding window, checks its syntax exactly as encoding/json does
// (RFC 8259 grammar; like encoding/json it does not check UTF-8) and hands
// out the exact bytes of the values it skips, without decoding them: the
// objects of a bundle are decoded once, by Parse, not twice.
type splitter struct {
	r   io.Reader
	buf []byte
	pos int // next byte to scan in buf
	// hold is the input offset of the first byte that must stay in buf
	// when it is refilled (the start of the value being cut out), or -1.
	hold int64
	off  int64 // input offset of buf[0]
	rerr error // sticky read error (io.EOF at the end of the input)
	// stack is the reusable nesting stack of skipValue.
	stack []byte
}

// splitBufSize is the initial window; it grows to the largest value cut out.
const splitBufSize = 256 << 10

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: r, buf: make([]byte, 0, splitBufSize), hold: -1}
}

// abs returns the input offset of the scan position.
func (s *splitter) abs() int64 { return s.off + int64(s.pos) }

// bytesFrom returns the input from offset start (at or after s.hold) to
// the scan position, in the window (valid until the next fill).
func (s *splitter) bytesFrom(start int64) []byte { return s.buf[start-s.off : s.pos] }

// fill reads more input into the window, moving the bytes still needed to
// its front first. It reports whether any byte was added.
func (s *splitter) fill() bool {
	if s.rerr != nil {
		return false
	}
	keep := s.pos
	if s.hold >= 0 {
		keep = min(keep, int(s.hold-s.off))
	}
	if keep > 0 {
		n := copy(s.buf, s.buf[keep:])
		s.buf = s.buf[:n]
		s.pos -= keep
		s.off += int64(keep)
	}
	if len(s.buf) == cap(s.buf) {
		nb := make([]byte, len(s.buf), 2*cap(s.buf))
		copy(nb, s.buf)
		s.buf = nb
	}
	for range 100 { // a Reader may return 0, nil now and then
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			s.rerr = err
		}
		if n > 0 || err != nil {
			return n > 0
		}
	}
	s.rerr = io.ErrNoProgress
	return false
}

// syntaxError is malformed input at an input offset.
type syntaxError struct {
	off int64
	msg string
	err error // the read error behind an early end, if any
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("byte offset %d: %s", e.off, e.msg)
}

func (e *syntaxError) Unwrap() error { return e.err }

func (s *splitter) errf(format string, args ...any) error {
	return &syntaxError{off: s.abs(), msg: fmt.Sprintf(format, args...)}
}

// endErr is the error for input that ends (or fails) in mid-value.
func (s *splitter) endErr() error {
	if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
		return &syntaxError{off: s.abs(), msg: "reading input: " + s.rerr.Error(), err: s.rerr}
	}
	return s.errf("unexpected end of JSON input")
}

// nonWS skips white space and returns the next byte without consuming it.
func (s *splitter) nonWS() (byte, error) {
	for {
		for s.pos < len(s.buf) {
			switch c := s.buf[s.pos]; c {
			case ' ', '\t', '\n', '\r':
				s.pos++
			default:
				return c, nil
			}
		}
		if !s.fill() {
			return 0, s.endErr()
		}
	}
}

// atEnd skips white space and reports whether the input ends there.
func (s *splitter) atEnd() (bool, error) {
	_, err := s.nonWS()
	if err == nil {
		return false, nil
	}
	if s.rerr != nil && !errors.Is(s.rerr, io.EOF) {
		return false, err
	}
	return true, nil
}

// strPlain marks the bytes a string may contain unescaped.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str skips the string at the scan position (which holds its '"').
func (s *splitter) str() error {
	s.pos++
	for {
		buf, i := s.buf, s.pos
		for i < len(buf) && strPlain[buf[i]] {
			i++
		}
		s.pos = i
		if i == len(buf) {
			if !s.fill() {
				return s.endErr()
			}
			continue
		}
		switch c := buf[i]; c {
		case '"':
			s.pos++
			return nil
		case '\\':
			if err := s.escape(); err != nil {
				return err
			}
		default:
			return s.errf("invalid character %q in string literal", c)
		}
	}
}

// need makes n bytes from the scan position available, or reports false
// at the end of the input.
func (s *splitter) need(n int) bool {
	for len(s.buf)-s.pos < n {
		if !s.fill() {
			return false
		}
	}
	return true
}

// escape skips the escape sequence at the scan position.
func (s *splitter) escape() error {
	if !s.need(2) {
		return s.endErr()
	}
	switch c := s.buf[s.pos+1]; c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos += 2
		return nil
	case 'u':
		s.pos += 2
		for range 4 {
			if !s.need(1) {
				return s.endErr()
			}
			if !isHex(s.buf[s.pos]) {
				return s.errf("invalid character %q in \\u hexadecimal character escape", s.buf[s.pos])
			}
			s.pos++
		}
		return nil
	default:
		s.pos++
		return s.errf("invalid character %q in string escape code", c)
	}
}

// lit skips the literal true, false or null at the scan position.
func (s *splitter) lit(want string) error {
	for i := range len(want) {
		if !s.need(i + 1) {
			s.pos += i
			return s.endErr()
		}
		if c := s.buf[s.pos+i]; c != want[i] {
			s.pos += i
			return s.errf("invalid character %q in literal %s (expecting %q)", c, want, want[i])
		}
	}
	s.pos += len(want)
	return nil
}

// digits skips decimal digits and returns how many there were.
func (s *splitter) digits() int {
	n := 0
	for {
		for s.pos < len(s.buf) {
			if c := s.buf[s.pos]; c < '0' || c > '9' {
				return n
			}
			s.pos++
			n++
		}
		if !s.fill() {
			return n
		}
	}
}

// peek returns the byte at the scan position, or false at the end.
func (s *splitter) peek() (byte, bool) {
	if !s.need(1) {
		return 0, false
	}
	return s.buf[s.pos], true
}

// num skips the number at the scan position: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *splitter) num() error {
	c, _ := s.peek()
	if c == '-' {
		s.pos++
		if c, _ = s.peek(); c < '0' || c > '9' {
			return s.numErr("in numeric literal")
		}
	}
	if c == '0' {
		s.pos++
	} else {
		s.digits()
	}
	if c, _ = s.peek(); c == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.numErr("after decimal point in numeric literal")
		}
	}
	if c, _ = s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c, _ = s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return s.numErr("in exponent of numeric literal")
		}
	}
	return nil
}

func (s *splitter) numErr(where string) error {
	c, ok := s.peek()
	if !ok {
		return s.endErr()
	}
	return s.errf("invalid character %q %s", c, where)
}

// member skips a member name and its ':' (the scan position holds '"').
func (s *splitter) member() error {
	if err := s.str(); err != nil {
		return err
	}
	c, err := s.nonWS()
	if err != nil {
		return err
	}
	if c != ':' {
		return s.errf("invalid character %q after object key", c)
	}
	s.pos++
	return nil
}

// skipValue skips one JSON value (after optional white space), checking
// its syntax. Nesting deeper than encoding/json allows is refused.
func (s *splitter) skipValue() error {
	stack := s.stack[:0]
	defer func() { s.stack = stack[:0] }()
	for {
		c, err := s.nonWS()
		if err != nil {
			return err
		}
		closed := false // the container just opened is already closed
		switch {
		case c == '{' || c == '[':
			if len(stack) >= maxNesting {
				return s.errf("exceeded max depth")
			}
			s.pos++
			d, err := s.nonWS()
			if err != nil {
				return err
			}
			switch {
			case c == '{' && d == '}', c == '[' && d == ']':
				s.pos++
				closed = true
			case c == '{' && d != '"':
				return s.errf("invalid character %q looking for beginning of object key string", d)
			case c == '{':
				if err := s.member(); err != nil {
					return err
				}
				stack = append(stack, c)
			default:
				stack = append(stack, c)
			}
			if !closed {
				continue
			}
		case c == '"':
			err = s.str()
		case c == 't':
			err = s.lit("true")
		case c == 'f':
			err = s.lit("false")
		case c == 'n':
			err = s.lit("null")
		case c == '-' || '0' <= c && c <= '9':
			err = s.num()
		default:
			return s.errf("invalid character %q looking for beginning of value", c)
		}
		if err != nil {
			return err
		}
		// A value ended: close containers until another value is due.
		for len(stack) > 0 {
			c, err := s.nonWS()
			if err != nil {
				return err
			}
			top := stack[len(stack)-1]
			if c == ',' {
				s.pos++
				if top == '{' {
					d, err := s.nonWS()
					if err != nil {
						return err
					}
					if d != '"' {
						return s.errf("invalid character %q looking for beginning of object key string", d)
					}
					if err := s.member(); err != nil {
						return err
					}
				}
				break
			}
			if top == '{' && c == '}' || top == '[' && c == ']' {
				s.pos++
				stack = stack[:len(stack)-1]
				continue
			}
			if top == '{' {
				return s.errf("invalid character %q after object key:value pair", c)
			}
			return s.errf("invalid character %q after array element", c)
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// cut skips one value and returns a copy of its exact bytes.
func (s *splitter) cut() ([]byte, error) {
	if _, err := s.nonWS(); err != nil {
		return nil, err
	}
	start := s.abs()
	held := s.hold
	if held < 0 {
		s.hold = start
	}
	err := s.skipValue()
	v := append([]byte(nil), s.bytesFrom(start)...)
	s.hold = held
	return v, err
}
