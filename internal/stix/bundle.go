package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

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
func ReadInput(r io.Reader, fn func(i int, raw json.RawMessage) error) (*Envelope, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
	}
	n := 0
	readArray := func() error {
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return fmt.Errorf("%w: object %d: %v", errInvalid, n, err)
			}
			if err := fn(n, raw); err != nil {
				return err
			}
			n++
		}
		if _, err := dec.Token(); err != nil { // ]
			return fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
		}
		return nil
	}
	switch tok {
	case json.Delim('['):
		if err := readArray(); err != nil {
			return nil, err
		}
		return &Envelope{Kind: "array"}, trailing(dec)
	case json.Delim('{'):
	default:
		return nil, fmt.Errorf("%w: expected a JSON object or array, found %v", errInvalid, tok)
	}
	var single bytes.Buffer
	single.WriteByte('{')
	props := map[string]json.RawMessage{}
	sawObjects := false
	typ := ""
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if key == "objects" {
			t, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: reading objects: %v", errInvalid, err)
			}
			if t == json.Delim('[') && (typ == "" || typ == "bundle") && !sawObjects {
				if err := readArray(); err != nil {
					return nil, err
				}
				sawObjects = true
				continue
			}
			if v, err = rebuild(dec, t); err != nil {
				return nil, fmt.Errorf("%w: property \"objects\": %v", errInvalid, err)
			}
		} else if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: property %q: %v", errInvalid, key, err)
		}
		if key == "type" {
			_ = json.Unmarshal(v, &typ)
		}
		props[key] = v
		if single.Len() > 1 {
			single.WriteByte(',')
		}
		writeString(&single, key)
		single.WriteByte(':')
		single.Write(v)
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
	}
	if err := trailing(dec); err != nil {
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
	single.WriteByte('}')
	return &Envelope{Kind: "object"}, fn(0, single.Bytes())
}

// trailing rejects anything but white space after the top-level value.
func trailing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: unexpected data after the top-level JSON value", errInvalid)
	}
	return nil
}

// rebuild re-encodes a value whose first token t has been read. Member
// and element values are copied as raw JSON; only keys and scalars at the
// top are re-encoded.
func rebuild(dec *json.Decoder, t json.Token) (json.RawMessage, error) {
	var b bytes.Buffer
	switch t {
	case json.Delim('['):
		b.WriteByte('[')
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.Write(raw)
		}
		b.WriteByte(']')
	case json.Delim('{'):
		b.WriteByte('{')
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			k, _ := kt.(string)
			writeString(&b, k)
			b.WriteByte(':')
			b.Write(raw)
		}
		b.WriteByte('}')
	default:
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(t); err != nil {
			return nil, err
		}
		return bytes.TrimRight(b.Bytes(), "\n"), nil
	}
	if _, err := dec.Token(); err != nil { // closing delimiter
		return nil, err
	}
	return b.Bytes(), nil
}

// writeString writes s as a JSON string without HTML escaping.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // the encoder's newline
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
