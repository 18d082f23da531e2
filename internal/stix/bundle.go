package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadObjects streams the objects of a STIX input: a bundle
// ({"type":"bundle","objects":[...]}), a TAXII envelope ({"objects":[...]}),
// a JSON array of objects, or a single object. fn is called with each
// object's raw JSON and its zero-based index; a non-nil error from fn stops
// the read and is returned. Only one object is held in memory at a time.
func ReadObjects(r io.Reader, fn func(i int, raw json.RawMessage) error) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
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
		_, err := dec.Token() // ]
		return err
	}
	switch tok {
	case json.Delim('['):
		return readArray()
	case json.Delim('{'):
	default:
		return fmt.Errorf("%w: expected a JSON object or array, found %v", errInvalid, tok)
	}
	// An object: either a bundle/envelope with "objects", or a single object.
	var single bytes.Buffer
	single.WriteByte('{')
	sawObjects := false
	first := true
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: reading JSON: %v", errInvalid, err)
		}
		key, _ := kt.(string)
		if key == "objects" {
			t, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%w: reading objects: %v", errInvalid, err)
			}
			if t != json.Delim('[') {
				return fmt.Errorf("%w: \"objects\" is not an array", errInvalid)
			}
			if err := readArray(); err != nil {
				return err
			}
			sawObjects = true
			continue
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%w: property %q: %v", errInvalid, key, err)
		}
		if !first {
			single.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(key)
		single.Write(kb)
		single.WriteByte(':')
		single.Write(v)
	}
	if sawObjects {
		return nil
	}
	single.WriteByte('}')
	return fn(0, single.Bytes())
}

// ErrInvalidInput is wrapped by ReadObjects errors about malformed input.
var ErrInvalidInput = errors.New("invalid STIX input")

var errInvalid = ErrInvalidInput
