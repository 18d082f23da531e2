// Package evidence defines Kizuna's self-contained evidence file: a set of
// STIX object versions together with everything needed to check offline
// that the hub issued them and logged them, with no other file:
//
//   - per object: the object, its collection, the hub's detached signature
//     over its RFC 8785 canonical JSON, its transparency-log entry (leaf
//     text), record index and inclusion proof;
//   - one signed tree head (C2SP checkpoint) all proofs are against, and
//     the log's note verifier key;
//   - the public key files of the hub and of the organisations whose
//     signed submissions the entries record;
//   - the hub's signature over the whole file (minus that signature), so
//     no object can be dropped, added or swapped unnoticed.
//
// Keys inside the file prove integrity, not identity: Verify reports their
// fingerprints (key ids), and Trust pins the keys a verifier accepts.
// Verify does no I/O.
package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
)

// Type is the "type" member of an evidence file.
const Type = "kizuna-evidence"

// Version is the format version this package writes and reads.
const Version = 1

// MaxSize bounds an evidence file Parse accepts.
const MaxSize = 1 << 30

// File is an evidence file.
type File struct {
	// Type is always Type; Version is Version.
	Type    string `json:"type"`
	Version int    `json:"version"`
	// Created is when the hub wrote the file (RFC 3339).
	Created string `json:"created"`
	// Hub is the hub's STIX identity id, the signer of the file and of
	// every object signature.
	Hub string `json:"hub"`
	// Keys are public key files (sign.MarshalPublicKeyFile): the hub's
	// first, then the organisations' keys the entries name.
	Keys []json.RawMessage `json:"keys"`
	// LogKey is the transparency log's note verifier key.
	LogKey string `json:"log_key"`
	// TreeHead is the signed tree head every proof is against.
	TreeHead string `json:"tree_head"`
	// Objects are the object versions with their proofs.
	Objects []Object `json:"objects"`
	// Signature is the hub's signature over the canonical JSON of the file
	// without this member.
	Signature *sign.Signature `json:"signature,omitempty"`
}

// Object is one object version with its evidence.
type Object struct {
	// Object is the STIX object as stored.
	Object json.RawMessage `json:"object"`
	// Collection is the TAXII collection it was added to.
	Collection string `json:"collection"`
	// Signature is the hub's signature over the object.
	Signature *sign.Signature `json:"signature"`
	// Entry is the log entry's leaf text; Index its record number.
	Entry string `json:"entry"`
	Index int64  `json:"index"`
	// Proof is the inclusion proof of the entry against TreeHead.
	Proof tlog.RecordProof `json:"proof"`
}

// Sign sets f's Signature: the hub key's signature over the canonical JSON
// of f without it.
func (f *File) Sign(key *sign.PrivateKey) error {
	f.Signature = nil
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	sig, err := sign.Sign(key, f.Hub, b)
	if err != nil {
		return fmt.Errorf("evidence: signing: %w", err)
	}
	f.Signature = sig
	return nil
}

// IsEvidence reports whether data looks like an evidence file (its first
// member names the type), without parsing it all; a truncated evidence
// file still looks like one.
func IsEvidence(data []byte) bool {
	i := bytes.Index(data, []byte(`"type"`))
	if i < 0 || i > 64 {
		return false
	}
	rest := bytes.TrimLeft(data[i+len(`"type"`):], " \t\r\n:")
	return bytes.HasPrefix(rest, []byte(`"`+Type+`"`))
}

// Parse decodes an evidence file strictly (unknown members, trailing data
// and a wrong type or version are errors wrapping errkind.Invalid).
func Parse(data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%w: evidence file: %d bytes, limit %d", errkind.TooLarge, len(data), MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: evidence file: %v (truncated or not JSON?)", errkind.Invalid, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: evidence file: data after the JSON value", errkind.Invalid)
	}
	if f.Type != Type || f.Version != Version {
		return nil, fmt.Errorf("%w: evidence file: type %q version %d, want %q version %d", errkind.Invalid, f.Type, f.Version, Type, Version)
	}
	if f.Signature == nil {
		return nil, fmt.Errorf("%w: evidence file: no signature", errkind.Invalid)
	}
	for i, o := range f.Objects {
		if o.Signature == nil || len(o.Object) == 0 {
			return nil, fmt.Errorf("%w: evidence file: object %d: object and signature are required", errkind.Invalid, i)
		}
	}
	return &f, nil
}
