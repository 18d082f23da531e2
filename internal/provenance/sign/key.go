// Package sign implements organisation signing keys and detached signatures
// over the RFC 8785 (JCS) canonical JSON of STIX objects and bundles.
//
// Two algorithms are supported:
//
//   - "ed25519": Ed25519 (RFC 8032), 64-byte signatures;
//   - "ed25519+ml-dsa-65": a hybrid of Ed25519 and ML-DSA-65 (FIPS 204, from
//     github.com/cloudflare/circl) as post-quantum preparation. Both
//     component signatures cover the same message, which names the
//     algorithm, and both must verify, so stripping one half does not
//     produce a valid signature of another algorithm.
//
// A public key is written as "<alg>:<base64>" and identified by its key id,
// the lowercase hex SHA-256 of that text. Key files are small JSON
// documents naming the organisation (a STIX identity id) the key belongs to;
// see MarshalPublicKeyFile and MarshalPrivateKeyFile.
package sign

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Alg names a signature algorithm.
type Alg string

// The supported algorithms.
const (
	// Ed25519 is plain Ed25519 (RFC 8032).
	Ed25519 Alg = "ed25519"
	// Ed25519MLDSA65 is the hybrid: an Ed25519 signature followed by an
	// ML-DSA-65 signature of the same message; both must verify.
	Ed25519MLDSA65 Alg = "ed25519+ml-dsa-65"
)

// mldsaContext is the FIPS 204 context string of every ML-DSA signature.
var mldsaContext = []byte("kizuna")

// sizes of the encodings, per algorithm.
func (a Alg) sizes() (pub, seed, sig int, ok bool) {
	switch a {
	case Ed25519:
		return ed25519.PublicKeySize, ed25519.SeedSize, ed25519.SignatureSize, true
	case Ed25519MLDSA65:
		return ed25519.PublicKeySize + mldsa65.PublicKeySize,
			ed25519.SeedSize + mldsa65.SeedSize,
			ed25519.SignatureSize + mldsa65.SignatureSize, true
	}
	return 0, 0, 0, false
}

// SignatureSize returns the length in bytes of a signature of the
// algorithm, or 0 for an unknown algorithm.
func (a Alg) SignatureSize() int {
	_, _, n, _ := a.sizes()
	return n
}

// PublicKey is a verification key. Its zero value is not usable; obtain one
// from PrivateKey.Public or ParsePublicKey.
type PublicKey struct {
	alg  Alg
	raw  []byte // the encoded key: Ed25519 key, then the packed ML-DSA key
	ed   ed25519.PublicKey
	ml   *mldsa65.PublicKey
	text string
	id   string
}

func newPublicKey(alg Alg, raw []byte) (*PublicKey, error) {
	n, _, _, ok := alg.sizes()
	if !ok {
		return nil, fmt.Errorf("%w: public key: unknown algorithm %q", errkind.Invalid, alg)
	}
	if len(raw) != n {
		return nil, fmt.Errorf("%w: public key: %s key is %d bytes, want %d", errkind.Invalid, alg, len(raw), n)
	}
	k := &PublicKey{alg: alg, raw: append([]byte(nil), raw...)}
	k.ed = ed25519.PublicKey(k.raw[:ed25519.PublicKeySize])
	if alg == Ed25519MLDSA65 {
		k.ml = new(mldsa65.PublicKey)
		if err := k.ml.UnmarshalBinary(k.raw[ed25519.PublicKeySize:]); err != nil {
			return nil, fmt.Errorf("%w: public key: ml-dsa-65 part: %v", errkind.Invalid, err)
		}
	}
	k.text = string(alg) + ":" + base64.StdEncoding.EncodeToString(k.raw)
	sum := sha256.Sum256([]byte(k.text))
	k.id = hex.EncodeToString(sum[:])
	return k, nil
}

// Alg returns the key's algorithm.
func (k *PublicKey) Alg() Alg { return k.alg }

// ID returns the key id: the lowercase hex SHA-256 of the key's text form.
func (k *PublicKey) ID() string { return k.id }

// String returns the key's text form, "<alg>:<base64 key>".
func (k *PublicKey) String() string { return k.text }

// Ed25519 returns the Ed25519 part of the key (the whole key for Ed25519).
// The transparency log signs its tree heads with it.
func (k *PublicKey) Ed25519() ed25519.PublicKey { return k.ed }

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool { return o != nil && k.text == o.text }

// ParsePublicKey parses a key's text form, "<alg>:<base64 key>".
func ParsePublicKey(s string) (*PublicKey, error) {
	alg, b64, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%w: public key: want \"<alg>:<base64>\"", errkind.Invalid)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", errkind.Invalid, err)
	}
	k, err := newPublicKey(Alg(alg), raw)
	if err != nil {
		return nil, err
	}
	if k.text != s { // non-canonical base64 padding and the like
		return nil, fmt.Errorf("%w: public key: not in canonical form", errkind.Invalid)
	}
	return k, nil
}

// PrivateKey is a signing key. It is derived from a seed (32 bytes for
// Ed25519, 64 for the hybrid: the Ed25519 seed then the ML-DSA-65 seed).
type PrivateKey struct {
	pub  *PublicKey
	seed []byte
	ed   ed25519.PrivateKey
	ml   *mldsa65.PrivateKey
}

// GenerateKey returns a new key of the algorithm, with randomness from
// rand (crypto/rand.Reader in production).
func GenerateKey(rand io.Reader, alg Alg) (*PrivateKey, error) {
	_, n, _, ok := alg.sizes()
	if !ok {
		return nil, fmt.Errorf("%w: generate key: unknown algorithm %q", errkind.Invalid, alg)
	}
	seed := make([]byte, n)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return NewKeyFromSeed(alg, seed)
}

// NewKeyFromSeed derives the key of the algorithm from seed.
func NewKeyFromSeed(alg Alg, seed []byte) (*PrivateKey, error) {
	_, n, _, ok := alg.sizes()
	if !ok {
		return nil, fmt.Errorf("%w: private key: unknown algorithm %q", errkind.Invalid, alg)
	}
	if len(seed) != n {
		return nil, fmt.Errorf("%w: private key: %s seed is %d bytes, want %d", errkind.Invalid, alg, len(seed), n)
	}
	k := &PrivateKey{seed: append([]byte(nil), seed...)}
	k.ed = ed25519.NewKeyFromSeed(k.seed[:ed25519.SeedSize])
	raw := append([]byte(nil), k.ed.Public().(ed25519.PublicKey)...)
	if alg == Ed25519MLDSA65 {
		var ms [mldsa65.SeedSize]byte
		copy(ms[:], k.seed[ed25519.SeedSize:])
		mpub, mpriv := mldsa65.NewKeyFromSeed(&ms)
		k.ml = mpriv
		raw = append(raw, mpub.Bytes()...)
	}
	pub, err := newPublicKey(alg, raw)
	if err != nil {
		return nil, err
	}
	k.pub = pub
	return k, nil
}

// Public returns the key's public half.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// Ed25519 returns the Ed25519 part of the key, for signing tree heads.
func (k *PrivateKey) Ed25519() ed25519.PrivateKey { return k.ed }

// String returns the private key's text form, "<alg>-private:<base64 seed>".
// It is secret: never log it.
func (k *PrivateKey) String() string {
	return string(k.pub.alg) + "-private:" + base64.StdEncoding.EncodeToString(k.seed)
}

// ParsePrivateKey parses a private key's text form (see String).
func ParsePrivateKey(s string) (*PrivateKey, error) {
	alg, b64, ok := strings.Cut(s, ":")
	if !ok || !strings.HasSuffix(alg, "-private") {
		return nil, fmt.Errorf("%w: private key: want \"<alg>-private:<base64>\"", errkind.Invalid)
	}
	seed, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", errkind.Invalid, err)
	}
	return NewKeyFromSeed(Alg(strings.TrimSuffix(alg, "-private")), seed)
}

// signRaw signs msg with every component of the key.
func (k *PrivateKey) signRaw(msg []byte) ([]byte, error) {
	sig := ed25519.Sign(k.ed, msg)
	if k.ml != nil {
		ms := make([]byte, mldsa65.SignatureSize)
		// Deterministic signing: no randomness needed, reproducible vectors.
		if err := mldsa65.SignTo(k.ml, msg, mldsaContext, false, ms); err != nil {
			return nil, fmt.Errorf("sign: ml-dsa-65: %w", err)
		}
		sig = append(sig, ms...)
	}
	return sig, nil
}

// verifyRaw reports whether every component signature verifies.
func (k *PublicKey) verifyRaw(msg, sig []byte) bool {
	if len(sig) != k.alg.SignatureSize() {
		return false
	}
	ok := ed25519.Verify(k.ed, msg, sig[:ed25519.SignatureSize])
	if k.ml != nil {
		// Evaluate both, so timing does not tell which half failed.
		ok = mldsa65.Verify(k.ml, msg, mldsaContext, sig[ed25519.SignatureSize:]) && ok
	}
	return ok
}
