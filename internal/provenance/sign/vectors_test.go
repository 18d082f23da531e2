package sign

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const (
	orgA = "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	orgB = "identity--c8d6c8a1-98a8-4ec1-8a67-0e8a4f6fd6a3"
)

// testKey derives a reproducible key from a name.
func testKey(t testing.TB, alg Alg, name string) *PrivateKey {
	t.Helper()
	_, n, _, _ := alg.sizes()
	var seed []byte
	for i := 0; len(seed) < n; i++ {
		s := sha256.Sum256([]byte(name + string(rune('0'+i))))
		seed = append(seed, s[:]...)
	}
	k, err := NewKeyFromSeed(alg, seed[:n])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectorFile is the layout of testdata/vectors.json.
type vectorFile struct {
	// Keys is the verifier's keyring: public key files.
	Keys []keyFile `json:"keys"`
	// Vectors are checked against the keyring.
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name string `json:"name"`
	// Document is the signed JSON text, byte for byte.
	Document string `json:"document"`
	// Signature is the signature's JSON text, byte for byte.
	Signature string `json:"signature"`
	// Want is "ok", "verification" (wraps provenance.ErrVerification) or
	// "invalid" (the signature or document does not parse).
	Want string `json:"want"`
}

const (
	indicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--a1f4c2f5-7a8b-4c3d-9e0f-1a2b3c4d5e6f",` +
		`"created":"2026-01-02T03:04:05.000Z","modified":"2026-01-02T03:04:05.000Z","pattern_type":"stix",` +
		`"pattern":"[ipv4-addr:value = '198.51.100.7']","valid_from":"2026-01-02T03:04:05Z","name":"C2 \u00e9t\u00e9"}`
	bundle = `{"type":"bundle","id":"bundle--0b7d0d51-5b2c-4a1e-8f3d-2c1b0a9f8e7d","objects":[` + indicator + `]}`
)

// makeVectors builds the vectors from fixed seeds; signing is deterministic
// for both algorithms, so the output is reproducible.
func makeVectors(t testing.TB) vectorFile {
	a := testKey(t, Ed25519, "org A ed25519")
	h := testKey(t, Ed25519MLDSA65, "org A hybrid")
	b := testKey(t, Ed25519, "org B ed25519")
	stranger := testKey(t, Ed25519, "not in the keyring")

	var vf vectorFile
	for _, k := range []struct {
		id  string
		key *PrivateKey
	}{{orgA, a}, {orgA, h}, {orgB, b}} {
		vf.Keys = append(vf.Keys, keyFile{Type: publicKeyFileType, Identity: k.id, Key: k.key.Public().String()})
	}
	sig := func(k *PrivateKey, signer, doc string) *Signature {
		s, err := Sign(k, signer, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	add := func(name, doc string, s any, want string) {
		var text string
		switch s := s.(type) {
		case *Signature:
			text = string(s.Marshal())
		case string:
			text = s
		}
		vf.Vectors = append(vf.Vectors, vector{Name: name, Document: doc, Signature: text, Want: want})
	}
	mod := func(s *Signature, f func(c *Signature)) *Signature {
		c := *s
		c.Sig = append([]byte(nil), s.Sig...)
		f(&c)
		return &c
	}

	goodA, goodH := sig(a, orgA, indicator), sig(h, orgA, indicator)
	add("good ed25519 object", indicator, goodA, "ok")
	add("good hybrid object", indicator, goodH, "ok")
	add("good ed25519 bundle", bundle, sig(a, orgA, bundle), "ok")
	add("good hybrid bundle", bundle, sig(h, orgA, bundle), "ok")
	add("good second organisation", indicator, sig(b, orgB, indicator), "ok")
	reformatted := strings.Replace(indicator, `"type":"indicator",`, "\n  \"type\" : \"indicator\" ,\n", 1)
	reformatted = strings.Replace(reformatted, `"name":"C2 \u00e9t\u00e9"`, `"name":"C2 été"`, 1)
	add("reformatted document still verifies", reformatted, goodA, "ok")

	tampered := strings.Replace(indicator, "198.51.100.7", "198.51.100.8", 1)
	add("tampered document ed25519", tampered, goodA, "verification")
	add("tampered document hybrid", tampered, goodH, "verification")
	add("signature over another document", bundle, goodA, "verification")
	add("tampered signature ed25519", indicator, mod(goodA, func(c *Signature) { c.Sig[10] ^= 1 }), "verification")
	add("tampered ed25519 half of hybrid", indicator, mod(goodH, func(c *Signature) { c.Sig[3] ^= 0x80 }), "verification")
	add("tampered ml-dsa half of hybrid", indicator, mod(goodH, func(c *Signature) { c.Sig[len(c.Sig)-40] ^= 4 }), "verification")
	add("wrong key: signed by B's key, claims A's", indicator,
		mod(sig(b, orgA, indicator), func(c *Signature) { c.KeyID = a.Public().ID() }), "verification")
	add("wrong key: unknown key", indicator, sig(stranger, orgA, indicator), "verification")
	add("wrong signer: A's key claimed for B", indicator, sig(a, orgB, indicator), "verification")
	add("signer relabelled after signing", indicator, mod(goodA, func(c *Signature) { c.Signer = orgB }), "verification")
	add("wrong alg: hybrid key, ed25519 half presented as ed25519", indicator,
		mod(goodH, func(c *Signature) { c.Alg = Ed25519; c.Sig = c.Sig[:64] }), "verification")
	add("wrong alg: ed25519 claimed hybrid", indicator, mod(goodA, func(c *Signature) {
		c.Alg = Ed25519MLDSA65
		c.Sig = append(c.Sig, make([]byte, Ed25519MLDSA65.SignatureSize()-64)...)
	}), "verification")

	ga := string(goodA.Marshal())
	add("truncated signature bytes", indicator, mod(goodA, func(c *Signature) { c.Sig = c.Sig[:63] }), "invalid")
	add("truncated hybrid signature", indicator, mod(goodH, func(c *Signature) { c.Sig = c.Sig[:len(c.Sig)-1] }), "invalid")
	add("truncated envelope", indicator, ga[:len(ga)/2], "invalid")
	add("empty envelope", indicator, "", "invalid")
	add("unknown alg", indicator, strings.Replace(ga, `"alg":"ed25519"`, `"alg":"rsa-pss"`, 1), "invalid")
	add("malformed: not json", indicator, "ed25519 "+base64.StdEncoding.EncodeToString(goodA.Sig), "invalid")
	add("malformed: unknown member", indicator, strings.Replace(ga, `{`, `{"x_extra":1,`, 1), "invalid")
	add("malformed: duplicate member", indicator, strings.Replace(ga, `{`, `{"signer":"`+orgB+`",`, 1), "invalid")
	add("malformed: bad base64", indicator, strings.Replace(ga, `"sig":"`, `"sig":"*`, 1), "invalid")
	add("malformed: kid in upper case", indicator, strings.Replace(ga, goodA.KeyID, strings.ToUpper(goodA.KeyID), 1), "invalid")
	add("malformed: kid truncated", indicator, strings.Replace(ga, goodA.KeyID, goodA.KeyID[:63], 1), "invalid")
	add("malformed: signer not an identity", indicator,
		strings.Replace(ga, orgA, "indicator--a1f4c2f5-7a8b-4c3d-9e0f-1a2b3c4d5e6f", 1), "invalid")
	add("malformed: trailing data", indicator, ga+"{}", "invalid")
	add("malformed document", indicator[:len(indicator)-1], goodA, "invalid")
	return vf
}

func TestVectorsFileUpToDate(t *testing.T) {
	got, err := json.MarshalIndent(makeVectors(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the vectors the code makes (signing or format changed?); run go test -run TestVectorsFileUpToDate -update", path)
	}
}

func loadVectors(t testing.TB) (*Keyring, []vector) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	var ring Keyring
	for _, k := range vf.Keys {
		pub, err := ParsePublicKey(k.Key)
		if err != nil {
			t.Fatal(err)
		}
		if err := ring.Add(k.Identity, pub); err != nil {
			t.Fatal(err)
		}
	}
	return &ring, vf.Vectors
}

func TestVectors(t *testing.T) {
	ring, vectors := loadVectors(t)
	if len(vectors) < 20 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			err := verifyText(ring, v.Signature, v.Document)
			switch v.Want {
			case "ok":
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
			case "verification":
				if !errors.Is(err, provenance.ErrVerification) || !errors.Is(err, errkind.Unprocessable) {
					t.Fatalf("want a verification failure, got %v", err)
				}
				if errors.Is(err, errkind.Invalid) {
					t.Fatalf("verification failure also wraps errkind.Invalid: %v", err)
				}
			case "invalid":
				if !errors.Is(err, errkind.Invalid) {
					t.Fatalf("want errkind.Invalid, got %v", err)
				}
				if errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("malformed input reported as a verification failure: %v", err)
				}
			default:
				t.Fatalf("bad want %q", v.Want)
			}
		})
	}
}

// verifyText is what a hub does with a submission: parse the signature,
// then verify it over the document.
func verifyText(ring *Keyring, sigText, doc string) error {
	s, err := ParseSignature([]byte(sigText))
	if err != nil {
		return err
	}
	return ring.Verify(s, []byte(doc))
}
