package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// ReadObjects streams the objects of a STIX input: a bundle
// ({"type":"bundle","objects":[...]}), a TAXII envelope ({"objects":[...]}),
// a JSON array of objects, or a single object. fn is called with each
// object's raw JSON and its zero-based index; a non-nil error from fn stops
// the read and is returned. Only one object is held in memory at a time.
func ReadObjects(r io.Reader, fn func(i int, raw json.RawMessage) error) error {
	_, err := ReadInput(r, fn)
	return err
}

// Envelope describes the container of a STIX input.
type Envelope struct {
	// Kind is "bundle", "envelope" (a TAXII envelope: an object with an
	// "objects" list and no type), "array" or "object" (a single object).
	Kind string
	// Props holds the container's own properties (everything but
	// "objects") for bundles and envelopes.
	Props map[string]json.RawMessage
}

// ReadInput is ReadObjects that also reports the input's container, so
// that bundle-level properties can be validated (ValidateEnvelope).
//
// An object counts as a container when its "objects" value is an array
// and its "type" is "bundle" or has not been seen before "objects";
// otherwise "objects" is an ordinary property (such as the deprecated
// observed-data "objects" dictionary) and the object is passed to fn whole.
//
// fn receives the exact bytes of each object as they stand in the input
// (a fresh copy it may keep). The input is checked against the JSON grammar
// as encoding/json checks it, without decoding the objects (Parse does);
// errors wrap ErrInvalidInput and name the object index and byte offset.
func ReadInput(r io.Reader, fn func(i int, raw json.RawMessage) error) (*Envelope, error) {
	s := newSplitter(r)
	c, err := s.nonWS()
	if err != nil {
		return nil, fmt.Errorf("%w: reading JSON: %w", errInvalid, err)
	}
	n := 0
	switch c {
	case '[':
		if err := s.objects(fn, &n); err != nil {
			return nil, err
		}
		return &Envelope{Kind: "array"}, s.trailing()
	case '{':
	default:
		return nil, fmt.Errorf("%w: expected a JSON object or array, found %s", errInvalid, describeStart(c))
	}
	// Until an "objects" list turns out to be streamed, the object may be
	// a single STIX object: keep its bytes.
	start := s.abs()
	s.hold = start
	s.pos++
	props := map[string]json.RawMessage{}
	sawObjects := false
	typ := ""
	for first := true; ; first = false {
		c, err := s.nonWS()
		if err != nil {
			return nil, fmt.Errorf("%w: reading JSON: %w", errInvalid, err)
		}
		if first && c == '}' {
			s.pos++
			break
		}
		if c != '"' {
			return nil, fmt.Errorf("%w: reading JSON: %w", errInvalid, s.errf("invalid character %q looking for beginning of object key string", c))
		}
		kb, err := s.cut()
		if err != nil {
			return nil, fmt.Errorf("%w: reading JSON: %w", errInvalid, err)
		}
		key := memberName(kb)
		if c, err = s.nonWS(); err == nil && c != ':' {
			err = s.errf("invalid character %q after object key", c)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: property %q: %w", errInvalid, key, err)
		}
		s.pos++
		if c, err = s.nonWS(); err != nil {
			return nil, fmt.Errorf("%w: property %q: %w", errInvalid, key, err)
		}
		if key == "objects" && c == '[' && (typ == "" || typ == "bundle") && !sawObjects {
			s.hold = -1 // a container, not a single object
			if err := s.objects(fn, &n); err != nil {
				return nil, err
			}
			sawObjects = true
		} else {
			v, err := s.cut()
			if err != nil {
				return nil, fmt.Errorf("%w: property %q: %w", errInvalid, key, err)
			}
			if key == "type" {
				_ = json.Unmarshal(v, &typ)
			}
			props[key] = v
		}
		if c, err = s.nonWS(); err == nil && c != ',' && c != '}' {
			err = s.errf("invalid character %q after object key:value pair", c)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: after property %q: %w", errInvalid, key, err)
		}
		s.pos++
		if c == '}' {
			break
		}
	}
	var single []byte
	if !sawObjects {
		single = append([]byte(nil), s.bytesFrom(start)...)
	}
	s.hold = -1
	if err := s.trailing(); err != nil {
		return nil, err
	}
	if sawObjects {
		if typ != "" && typ != "bundle" {
			return nil, fmt.Errorf("%w: a %s object with an \"objects\" list before its type was read as a bundle", errInvalid, typ)
		}
		kind := "envelope"
		if _, ok := props["type"]; ok {
			kind = "bundle"
		}
		return &Envelope{Kind: kind, Props: props}, nil
	}
	return &Envelope{Kind: "object"}, fn(0, single)
}

// objects streams the elements of the array at the scan position to fn,
// numbering them from *n on.
func (s *splitter) objects(fn func(i int, raw json.RawMessage) error, n *int) error {
	s.pos++ // [
	for first := true; ; first = false {
		c, err := s.nonWS()
		if err == nil && first && c == ']' {
			s.pos++
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: object %d: %w", errInvalid, *n, err)
		}
		raw, err := s.cut()
		if err != nil {
			return fmt.Errorf("%w: object %d: %w", errInvalid, *n, err)
		}
		if err := fn(*n, raw); err != nil {
			return err
		}
		*n++
		if c, err = s.nonWS(); err == nil && c != ',' && c != ']' {
			err = s.errf("invalid character %q after array element", c)
		}
		if err != nil {
			return fmt.Errorf("%w: after object %d: %w", errInvalid, *n-1, err)
		}
		s.pos++
		if c == ']' {
			return nil
		}
	}
}

// trailing rejects anything but white space after the top-level value.
func (s *splitter) trailing() error {
	end, err := s.atEnd()
	if err != nil {
		return fmt.Errorf("%w: reading JSON: %w", errInvalid, err)
	}
	if !end {
		return fmt.Errorf("%w: unexpected data after the top-level JSON value at byte offset %d", errInvalid, s.abs())
	}
	return nil
}

// memberName decodes a JSON string (a member name) whose syntax has been
// checked, as encoding/json does (invalid UTF-8 becomes U+FFFD).
func memberName(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		return string(b[1 : len(b)-1])
	}
	var k string
	_ = json.Unmarshal(b, &k)
	return k
}

// describeStart names the value starting with c, for errors.
func describeStart(c byte) string {
	switch {
	case c == '"':
		return "a string"
	case c == '-' || '0' <= c && c <= '9':
		return "a number"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return fmt.Sprintf("the invalid character %q", c)
}

// ValidateEnvelope checks the container of an input: a bundle needs a
// bundle--UUID id and valid property names. Errors name the bundle id.
func ValidateEnvelope(env *Envelope) []*Error {
	if env == nil || env.Kind != "bundle" {
		return nil
	}
	var id string
	_ = json.Unmarshal(env.Props["id"], &id)
	var errs []*Error
	add := func(prop, msg string) {
		errs = append(errs, &Error{ObjectID: id, Property: prop, Message: msg})
	}
	var typ string
	if json.Unmarshal(env.Props["type"], &typ) != nil || typ != "bundle" {
		add("type", "the container of an objects list must be a bundle")
	}
	if _, ok := env.Props["id"]; !ok {
		add("id", "required property missing")
	} else if t, _, ok := SplitID(id); !ok || t != "bundle" {
		add("id", fmt.Sprintf("malformed bundle identifier %q: want bundle--UUID", id))
	}
	for k := range env.Props {
		if !ValidPropertyName(k) {
			add(k, "invalid property name: 3-250 ASCII letters, digits or underscores")
		}
	}
	sortErrors(errs)
	return errs
}

// ValidateInput reads a STIX input (see ReadInput), parses and validates
// every object, and calls fn with each object's index, the parsed object
// (nil when the JSON could not be parsed) and its problems (nil when
// valid). It returns the container's problems (ValidateEnvelope); the
// error is non-nil when the input could not be read (wrapping
// ErrInvalidInput for malformed JSON) or fn failed.
func ValidateInput(r io.Reader, fn func(i int, o *Object, errs []*Error) error) ([]*Error, error) {
	env, err := ReadInput(r, func(i int, raw json.RawMessage) error {
		o, perr := Parse(raw)
		if perr != nil {
			var se *Error
			if !errors.As(perr, &se) {
				se = &Error{Message: perr.Error()}
			}
			return fn(i, o, []*Error{se})
		}
		return fn(i, o, Validate(o))
	})
	if err != nil {
		return nil, err
	}
	return ValidateEnvelope(env), nil
}

// ErrInvalidInput is wrapped by ReadObjects errors about malformed input.
// It matches errkind.Invalid under errors.Is.
var ErrInvalidInput error = invalidInput{}

type invalidInput struct{}

func (invalidInput) Error() string { return "invalid STIX input" }
func (invalidInput) Unwrap() error { return errkind.Invalid }

var errInvalid = ErrInvalidInput
