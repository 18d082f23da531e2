package sign

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// HeaderName is the HTTP header in which a submission carries its detached
// signature: the base64url (unpadded) encoding of the signature's JSON. The
// signature covers the RFC 8785 canonical form of the whole request body
// (a STIX object, a bundle or a TAXII envelope), so nothing is embedded in
// the objects and they are stored exactly as submitted.
const HeaderName = "Kizuna-Signature"

// MaxSignatureSize bounds the JSON form of a signature accepted by
// ParseSignature; a hybrid signature takes about 4.6 KiB.
const MaxSignatureSize = 16 << 10

// domain starts every signed message, separating Kizuna signatures from
// any other use of the same keys.
const domain = "kizuna-signature-v1"

// Signature is a detached signature over the canonical JSON of a document
// (a STIX object or bundle). Its JSON form is
//
//	{"alg":"ed25519","kid":"<key id>","sig":"<base64>","signer":"identity--…"}
//
// The signed message binds the algorithm, key id and signer, so none of
// them can be changed without invalidating the signature:
//
//	kizuna-signature-v1 LF alg LF kid LF signer LF hex(SHA-256(JCS(document))) LF
type Signature struct {
	// Alg is the signature algorithm; it must match the key's.
	Alg Alg `json:"alg"`
	// KeyID is the id of the signing key (see PublicKey.ID).
	KeyID string `json:"kid"`
	// Sig is the signature; for the hybrid, the Ed25519 signature followed
	// by the ML-DSA-65 signature.
	Sig []byte `json:"sig"`
	// Signer is the STIX identity id of the signing organisation.
	Signer string `json:"signer"`
}

// Digest returns the SHA-256 of the RFC 8785 canonical form of the JSON
// document doc: the value a signature covers, and for a single STIX object
// the same as stix.Hash.
func Digest(doc []byte) ([32]byte, error) {
	h, err := stix.CanonicalHash(doc)
	if err != nil {
		return [32]byte{}, fmt.Errorf("signed document: %w", err)
	}
	return h, nil
}

func message(alg Alg, kid, signer string, digest [32]byte) []byte {
	var b bytes.Buffer
	b.Grow(len(domain) + len(alg) + len(kid) + len(signer) + 2*len(digest) + 5)
	for _, s := range []string{domain, string(alg), kid, signer, hex.EncodeToString(digest[:])} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Sign signs the JSON document doc (an object or bundle) with key on
// behalf of the organisation signer (a STIX identity id).
func Sign(key *PrivateKey, signer string, doc []byte) (*Signature, error) {
	d, err := Digest(doc)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return SignDigest(key, signer, d)
}

// SignDigest signs a document given its Digest.
func SignDigest(key *PrivateKey, signer string, digest [32]byte) (*Signature, error) {
	if err := checkIdentity(signer); err != nil {
		return nil, fmt.Errorf("sign: signer: %w", err)
	}
	pub := key.Public()
	sig, err := key.signRaw(message(pub.Alg(), pub.ID(), signer, digest))
	if err != nil {
		return nil, err
	}
	return &Signature{Alg: pub.Alg(), KeyID: pub.ID(), Signer: signer, Sig: sig}, nil
}

// Verify checks sig over the JSON document doc against the keyring: the
// key must be known, belong to sig.Signer, be of sig.Alg, and every
// component signature must verify. A failure wraps
// provenance.ErrVerification; a document that is not I-JSON wraps
// errkind.Invalid.
func (r *Keyring) Verify(sig *Signature, doc []byte) error {
	d, err := Digest(doc)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return r.VerifyDigest(sig, d)
}

// VerifyDigest is Verify for a document given its Digest.
func (r *Keyring) VerifyDigest(sig *Signature, digest [32]byte) error {
	identity, pub, ok := r.Lookup(sig.KeyID)
	switch {
	case !ok:
		return fmt.Errorf("%w: signature by unknown key %s", provenance.ErrVerification, sig.KeyID)
	case identity != sig.Signer:
		return fmt.Errorf("%w: key %s belongs to %s, not to the claimed signer %s",
			provenance.ErrVerification, sig.KeyID, identity, sig.Signer)
	case pub.Alg() != sig.Alg:
		return fmt.Errorf("%w: key %s is an %s key, the signature claims %s",
			provenance.ErrVerification, sig.KeyID, pub.Alg(), sig.Alg)
	case !pub.verifyRaw(message(sig.Alg, sig.KeyID, sig.Signer, digest), sig.Sig):
		return fmt.Errorf("%w: %s signature by key %s of %s does not match the document",
			provenance.ErrVerification, sig.Alg, sig.KeyID, sig.Signer)
	}
	return nil
}

// Marshal returns the signature's JSON form, which is in RFC 8785
// canonical form.
func (s *Signature) Marshal() []byte {
	// The members are declared in JCS order and hold only ASCII.
	b, err := json.Marshal(s)
	if err != nil {
		panic("sign: marshal signature: " + err.Error()) // impossible: plain strings and bytes
	}
	return b
}

// ParseSignature parses the JSON form of a signature strictly: I-JSON with
// no unknown or duplicate members, a known algorithm, a well-formed key id
// and signer, and a signature of the algorithm's length. Errors wrap
// errkind.Invalid (or errkind.TooLarge).
func ParseSignature(data []byte) (*Signature, error) {
	if len(data) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: signature: %d bytes, limit %d", errkind.TooLarge, len(data), MaxSignatureSize)
	}
	if _, err := stix.Canonical(data); err != nil { // rejects duplicate members, bad UTF-8
		return nil, fmt.Errorf("signature: %w", err)
	}
	var s Signature
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", errkind.Invalid, err)
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Signature) check() error {
	n := s.Alg.SignatureSize()
	if n == 0 {
		return fmt.Errorf("%w: signature: unknown algorithm %q", errkind.Invalid, s.Alg)
	}
	if len(s.KeyID) != 64 || !isLowerHex(s.KeyID) {
		return fmt.Errorf("%w: signature: kid %q is not a key id (64 lowercase hex digits)", errkind.Invalid, s.KeyID)
	}
	if err := checkIdentity(s.Signer); err != nil {
		return fmt.Errorf("signature: signer: %w", err)
	}
	if len(s.Sig) != n {
		return fmt.Errorf("%w: signature: %s signature is %d bytes, want %d", errkind.Invalid, s.Alg, len(s.Sig), n)
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// FormatHeader returns the value of the HeaderName header carrying s.
func FormatHeader(s *Signature) string {
	return base64.RawURLEncoding.EncodeToString(s.Marshal())
}

// ParseHeader parses the value of the HeaderName header.
func ParseHeader(v string) (*Signature, error) {
	if base64.RawURLEncoding.DecodedLen(len(v)) > MaxSignatureSize {
		return nil, fmt.Errorf("%w: %s header: %d bytes", errkind.TooLarge, HeaderName, len(v))
	}
	data, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s header: %v", errkind.Invalid, HeaderName, err)
	}
	s, err := ParseSignature(data)
	if err != nil {
		return nil, fmt.Errorf("%s header: %w", HeaderName, err)
	}
	return s, nil
}
