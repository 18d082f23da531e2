// Package stix implements the STIX 2.1 object model used throughout Kizuna:
// parsing, validation, canonical JSON (RFC 8785) and deterministic
// identifiers for cyber-observable objects (STIX 2.1, OASIS Standard,
// sections 2, 3 and 4-7).
//
// Objects are kept as their original JSON bytes plus a decoded property map,
// so that custom properties, extensions and the producer's formatting of
// timestamps survive a round trip unchanged.
package stix

import (
	"encoding/json"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Object is one STIX 2.1 object: the common properties Kizuna needs for
// storage and policy decisions, the decoded property map, and the raw JSON.
type Object struct {
	ID          string
	Type        string
	SpecVersion string
	// Created and Modified are the timestamp strings exactly as given
	// (empty when absent).
	Created  string
	Modified string
	Revoked  bool
	// CreatedByRef is the identity that created the object (may be empty).
	CreatedByRef string
	// ObjectMarkingRefs lists the object's marking-definition ids.
	ObjectMarkingRefs []string
	// Props is the full decoded object (json.Number for numbers).
	Props map[string]any
	// Raw is the object's JSON, compacted, with properties in the order given.
	Raw json.RawMessage
}

// Version returns the object's TAXII version: modified, else created
// (empty for objects with neither, such as most SCOs).
func (o *Object) Version() string {
	if o.Modified != "" {
		return o.Modified
	}
	return o.Created
}

// Parse decodes one STIX object from JSON. It checks only that the input is
// a JSON object without duplicate member names (at any depth) and with
// string "type" and "id" properties; Validate does the rest. The returned
// Object's Raw is a compacted copy of data.
func Parse(data []byte) (*Object, error) {
	props, compact, err := decodeObject(data)
	if err != nil {
		return nil, &Error{Message: err.Error()}
	}
	o := &Object{Props: props, Raw: compact}
	id, _ := props["id"].(string)
	typ, _ := props["type"].(string)
	o.ID, o.Type = id, typ
	if typ == "" {
		return o, &Error{ObjectID: id, Property: "type", Message: "required property missing or not a string"}
	}
	if id == "" {
		return o, &Error{ObjectID: id, Property: "id", Message: "required property missing or not a string"}
	}
	o.SpecVersion, _ = props["spec_version"].(string)
	o.Created, _ = props["created"].(string)
	o.Modified, _ = props["modified"].(string)
	o.Revoked, _ = props["revoked"].(bool)
	o.CreatedByRef, _ = props["created_by_ref"].(string)
	if refs, ok := props["object_marking_refs"].([]any); ok {
		for _, r := range refs {
			if s, ok := r.(string); ok {
				o.ObjectMarkingRefs = append(o.ObjectMarkingRefs, s)
			}
		}
	}
	return o, nil
}

// Error is one validation problem. It always names the object (when its id
// is known) and the property at fault (when there is one).
type Error struct {
	ObjectID string
	Property string
	Message  string
}

// Error formats the problem as "OBJECT_ID: PROPERTY: MESSAGE".
func (e *Error) Error() string {
	id := e.ObjectID
	if id == "" {
		id = "(object without id)"
	}
	if e.Property == "" {
		return id + ": " + e.Message
	}
	return id + ": " + e.Property + ": " + e.Message
}

// Unwrap makes every validation problem match errkind.Invalid.
func (e *Error) Unwrap() error { return errkind.Invalid }
