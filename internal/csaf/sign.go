package csaf

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer signs advisories with the hub's OpenPGP key (CSAF 2.0
// requirement 19: a detached, ASCII-armored signature per document).
type Signer struct {
	entity *openpgp.Entity
	public []byte
}

// LoadOrCreateKey reads the armored private key at path, or, when the file
// does not exist, generates an Ed25519 OpenPGP key named after name and
// writes it there with mode 0600 (its directory 0700).
func LoadOrCreateKey(path, name string, now time.Time) (*Signer, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("reading OpenPGP key %s: %w", path, err)
		}
		if len(ents) == 0 || ents[0].PrivateKey == nil {
			return nil, fmt.Errorf("OpenPGP key %s: no private key", path)
		}
		return newSigner(ents[0])
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading OpenPGP key: %w", err)
	}
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA512, Time: func() time.Time { return now }}
	e, err := openpgp.NewEntity(name, "CSAF signing key", "", cfg)
	if err != nil {
		return nil, fmt.Errorf("generating OpenPGP key: %w", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.SerializePrivate(w, cfg); err != nil {
		return nil, fmt.Errorf("serialising OpenPGP key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // created concurrently: use that one
			return LoadOrCreateKey(path, name, now)
		}
		return nil, fmt.Errorf("writing OpenPGP key: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing OpenPGP key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing OpenPGP key: %w", err)
	}
	return newSigner(e)
}

func newSigner(e *openpgp.Entity) (*Signer, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("serialising public key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return &Signer{entity: e, public: buf.Bytes()}, nil
}

// Fingerprint returns the key's fingerprint in upper-case hex, as
// provider-metadata.json gives it.
func (s *Signer) Fingerprint() string {
	return strings.ToUpper(fmt.Sprintf("%x", s.entity.PrimaryKey.Fingerprint))
}

// PublicKey returns the armored public key.
func (s *Signer) PublicKey() []byte { return bytes.Clone(s.public) }

// Sign returns a detached, armored OpenPGP signature of data.
func (s *Signer) Sign(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, bytes.NewReader(data), &packet.Config{DefaultHash: crypto.SHA512}); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Verify checks a detached armored signature of data made by this key.
func (s *Signer) Verify(data, sig []byte) error {
	_, err := openpgp.CheckArmoredDetachedSignature(openpgp.EntityList{s.entity}, bytes.NewReader(data), bytes.NewReader(sig), nil)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}
