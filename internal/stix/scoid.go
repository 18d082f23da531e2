package stix

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// scoNamespace is the STIX 2.1 UUIDv5 namespace for deterministic
// cyber-observable identifiers, 00abedb4-aa42-466c-9c01-fed23315a9b7.
var scoNamespace = [16]byte{0x00, 0xab, 0xed, 0xb4, 0xaa, 0x42, 0x46, 0x6c, 0x9c, 0x01, 0xfe, 0xd2, 0x33, 0x15, 0xa9, 0xb7}

// hashPreference is the order in which one hash is chosen when "hashes"
// is an ID-contributing property (the order the OASIS stix2 library uses;
// any other algorithm comes after these, by name).
var hashPreference = []string{"MD5", "SHA-1", "SHA-256", "SHA-512", "SHA3-256", "SHA3-512", "SSDEEP", "TLSH"}

// SCOID computes the deterministic identifier of a predefined
// cyber-observable object (STIX 2.1 section 2.9): "TYPE--" followed by the
// UUIDv5, in the STIX namespace, of the RFC 8785 canonical JSON of the
// object's ID-contributing properties that are present (of "hashes" only
// the preferred one). It fails, wrapping errkind.Invalid, for types that
// are not predefined SCOs, for process (which has no ID-contributing
// properties) and for objects carrying none of them: those use UUIDv4.
func SCOID(o *Object) (string, error) {
	contrib, ok := idContrib[o.Type]
	if !ok {
		return "", fmt.Errorf("%w: %s: type %q is not a predefined cyber-observable type", errkind.Invalid, o.ID, o.Type)
	}
	sel := make(map[string]any, len(contrib))
	for _, p := range contrib {
		v, ok := o.Props[p]
		if !ok {
			continue
		}
		if p == "hashes" {
			if h, ok := v.(map[string]any); ok && len(h) > 0 {
				v = chooseHash(h)
			}
		}
		sel[p] = v
	}
	if len(sel) == 0 {
		return "", fmt.Errorf("%w: %s: no ID-contributing properties present; the id must be a UUIDv4", errkind.Invalid, o.ID)
	}
	data, err := json.Marshal(sel)
	if err != nil {
		return "", fmt.Errorf("%w: %s: encoding ID-contributing properties: %v", errkind.Invalid, o.ID, err)
	}
	canon, err := Canonical(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", o.ID, err)
	}
	return o.Type + "--" + UUIDv5(scoNamespace, canon), nil
}

func chooseHash(h map[string]any) map[string]any {
	for _, k := range hashPreference {
		if v, ok := h[k]; ok {
			return map[string]any{k: v}
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return map[string]any{keys[0]: h[keys[0]]}
}

// UUIDv5 computes the name-based (SHA-1) UUID of name in namespace ns,
// RFC 4122 section 4.3.
func UUIDv5(ns [16]byte, name []byte) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write(name)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
