package sign

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, alg := range []Alg{Ed25519, Ed25519MLDSA65} {
		t.Run(string(alg), func(t *testing.T) {
			priv, err := GenerateKey(rand.Reader, alg)
			if err != nil {
				t.Fatal(err)
			}
			pub := priv.Public()
			if pub.Alg() != alg || !strings.HasPrefix(pub.String(), string(alg)+":") || len(pub.ID()) != 64 {
				t.Fatalf("key %s id %s", pub, pub.ID())
			}
			pf, err := MarshalPublicKeyFile(orgA, pub)
			if err != nil {
				t.Fatal(err)
			}
			id, pub2, err := ParsePublicKeyFile(pf)
			if err != nil || id != orgA || !pub2.Equal(pub) || pub2.ID() != pub.ID() {
				t.Fatalf("public key file round trip: %v %s %v", err, id, pub2)
			}
			sf, err := MarshalPrivateKeyFile(orgA, priv)
			if err != nil {
				t.Fatal(err)
			}
			id, priv2, err := ParsePrivateKeyFile(sf)
			if err != nil || id != orgA || !priv2.Public().Equal(pub) {
				t.Fatalf("private key file round trip: %v %s", err, id)
			}
			// The reparsed private key signs what the original public key verifies.
			var ring Keyring
			if err := ring.Add(orgA, pub); err != nil {
				t.Fatal(err)
			}
			s, err := Sign(priv2, orgA, []byte(indicator))
			if err != nil {
				t.Fatal(err)
			}
			if err := ring.Verify(s, []byte(indicator)); err != nil {
				t.Fatal(err)
			}
			if len(s.Sig) != alg.SignatureSize() {
				t.Fatalf("signature of %d bytes", len(s.Sig))
			}
			// A public key file is not a private key file and vice versa.
			if _, _, err := ParsePrivateKeyFile(pf); !errors.Is(err, errkind.Invalid) {
				t.Errorf("public file parsed as private: %v", err)
			}
			if _, _, err := ParsePublicKeyFile(sf); !errors.Is(err, errkind.Invalid) {
				t.Errorf("private file parsed as public: %v", err)
			}
		})
	}
}

func TestParsePublicKeyRejects(t *testing.T) {
	good := testKey(t, Ed25519, "x").Public().String()
	hybrid := testKey(t, Ed25519MLDSA65, "x").Public().String()
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"no alg", strings.TrimPrefix(good, "ed25519:")},
		{"unknown alg", "ed448" + strings.TrimPrefix(good, "ed25519")},
		{"truncated", good[:len(good)-4]},
		{"hybrid truncated", hybrid[:len(hybrid)-8]},
		{"alg swapped", "ed25519+ml-dsa-65" + strings.TrimPrefix(good, "ed25519")},
		{"bad base64", good[:len(good)-2] + "!="},
		{"non-canonical padding bits", good[:len(good)-2] + "B="},
		{"private key text", testKey(t, Ed25519, "x").String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if k, err := ParsePublicKey(tc.in); !errors.Is(err, errkind.Invalid) {
				t.Fatalf("ParsePublicKey(%q) = %v, %v; want errkind.Invalid", tc.in, k, err)
			}
		})
	}
}

func TestKeyring(t *testing.T) {
	a, b := testKey(t, Ed25519, "a"), testKey(t, Ed25519MLDSA65, "b")
	var ring Keyring
	if err := ring.Add(orgA, a.Public()); err != nil {
		t.Fatal(err)
	}
	if err := ring.Add(orgA, b.Public()); err != nil {
		t.Fatal(err)
	}
	if err := ring.Add(orgA, a.Public()); err != nil {
		t.Fatalf("re-adding a key to its owner: %v", err)
	}
	if err := ring.Add(orgB, a.Public()); !errors.Is(err, errkind.Conflict) {
		t.Fatalf("key moved to another organisation: %v", err)
	}
	if err := ring.Add("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", a.Public()); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("non-identity owner: %v", err)
	}
	if n := len(ring.KeysOf(orgA)); n != 2 {
		t.Fatalf("KeysOf = %d keys", n)
	}
	if id, k, ok := ring.Lookup(b.Public().ID()); !ok || id != orgA || !k.Equal(b.Public()) {
		t.Fatalf("Lookup = %s %v %v", id, k, ok)
	}
	s, err := Sign(a, orgA, []byte(indicator))
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Verify(s, []byte(indicator)); err != nil {
		t.Fatal(err)
	}
	if !ring.Remove(a.Public().ID()) || ring.Remove(a.Public().ID()) {
		t.Fatal("Remove did not report the key once")
	}
	if err := ring.Verify(s, []byte(indicator)); !errors.Is(err, provenance.ErrVerification) {
		t.Fatalf("signature by a removed key: %v", err)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, alg := range []Alg{Ed25519, Ed25519MLDSA65} {
		s, err := Sign(testKey(t, alg, "h"), orgB, []byte(bundle))
		if err != nil {
			t.Fatal(err)
		}
		h := FormatHeader(s)
		if strings.ContainsAny(h, "+/=\r\n ") {
			t.Fatalf("header value not base64url: %q", h)
		}
		got, err := ParseHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Marshal()) != string(s.Marshal()) {
			t.Fatalf("header round trip changed the signature")
		}
		if _, err := ParseHeader(h[:len(h)-1]); !errors.Is(err, errkind.Invalid) {
			t.Fatalf("truncated header: %v", err)
		}
	}
	if _, err := ParseHeader(strings.Repeat("A", 3*MaxSignatureSize)); !errors.Is(err, errkind.TooLarge) {
		t.Fatalf("huge header: %v", err)
	}
}

func TestDigestMatchesAcrossFormatting(t *testing.T) {
	d1, err := Digest([]byte(indicator))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Digest([]byte(" " + strings.Replace(indicator, ",", " ,\n", -1)))
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Fatal("digest depends on formatting")
	}
	if _, err := Digest([]byte(`{"a":1,"a":2}`)); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("duplicate members: %v", err)
	}
}
