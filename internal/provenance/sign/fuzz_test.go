package sign

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// FuzzParseSignature checks that ParseSignature never panics, that what it
// accepts marshals to canonical JSON that parses back to the same
// signature, and that verification of anything parsed does not panic.
func FuzzParseSignature(f *testing.F) {
	ring, vectors := loadVectors(f)
	for _, v := range vectors {
		f.Add([]byte(v.Signature), []byte(v.Document))
	}
	f.Fuzz(func(t *testing.T, sigText, doc []byte) {
		s, err := ParseSignature(sigText)
		if err != nil {
			return
		}
		m := s.Marshal()
		if c, err := stix.Canonical(m); err != nil || !bytes.Equal(c, m) {
			t.Fatalf("Marshal is not canonical JSON: %s (%v)", m, err)
		}
		s2, err := ParseSignature(m)
		if err != nil {
			t.Fatalf("reparse of %s: %v", m, err)
		}
		if !bytes.Equal(s2.Marshal(), m) {
			t.Fatalf("round trip changed %s", m)
		}
		if c, err := stix.Canonical(sigText); err == nil && bytes.Equal(c, sigText) && !bytes.Equal(m, sigText) {
			t.Fatalf("canonical input %s marshals as %s", sigText, m)
		}
		_ = ring.Verify(s, doc)
	})
}

// FuzzParseHeader checks the HTTP header form the same way.
func FuzzParseHeader(f *testing.F) {
	_, vectors := loadVectors(f)
	for _, v := range vectors {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(v.Signature)))
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := ParseHeader(h)
		if err != nil {
			return
		}
		if FormatHeader(s) != h {
			t.Fatalf("header %q formats back as %q", h, FormatHeader(s))
		}
	})
}

// FuzzParsePublicKey checks that key parsing never panics and that an
// accepted key's text form is exactly its input.
func FuzzParsePublicKey(f *testing.F) {
	f.Add(testKey(f, Ed25519, "f").Public().String())
	f.Add(testKey(f, Ed25519MLDSA65, "f").Public().String())
	f.Add("ed25519:")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if k.String() != s {
			t.Fatalf("%q parses as %q", s, k)
		}
	})
}

// FuzzParseKeyFile checks the key file parsers.
func FuzzParseKeyFile(f *testing.F) {
	for _, alg := range []Alg{Ed25519, Ed25519MLDSA65} {
		k := testKey(f, alg, "kf")
		pf, _ := MarshalPublicKeyFile(orgA, k.Public())
		sf, _ := MarshalPrivateKeyFile(orgA, k)
		f.Add(pf)
		f.Add(sf)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if id, pub, err := ParsePublicKeyFile(data); err == nil {
			out, err := MarshalPublicKeyFile(id, pub)
			if err != nil {
				t.Fatal(err)
			}
			if _, pub2, err := ParsePublicKeyFile(out); err != nil || !pub2.Equal(pub) {
				t.Fatalf("round trip: %v", err)
			}
		}
		if _, priv, err := ParsePrivateKeyFile(data); err == nil && priv.Public() == nil {
			t.Fatal("private key without a public key")
		}
	})
}
