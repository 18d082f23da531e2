package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
)

// OrgKeyDir is the directory (inside KeyDir) holding the organisations'
// public key files, one "<key id>.json" each.
const OrgKeyDir = "orgs"

// OrgKeys is the registry of the organisations' public signing keys, kept
// as public key files in DIR/keys/orgs/. It reloads the files when the
// directory changes, so keys added with `kizuna key add` take effect in a
// running server. It is safe for concurrent use.
type OrgKeys struct {
	dir string

	mu   sync.Mutex // guards the following
	mod  time.Time  // directory modification time ring was loaded at
	ring *sign.Keyring
	keys []OrgKey
}

// OrgKey is one registered key.
type OrgKey struct {
	// Identity is the owning organisation's STIX identity id.
	Identity string
	// Key is the public key.
	Key *sign.PublicKey
}

// NewOrgKeys returns the registry of the data directory dataDir.
func NewOrgKeys(dataDir string) *OrgKeys {
	return &OrgKeys{dir: filepath.Join(dataDir, KeyDir, OrgKeyDir)}
}

// Add registers pub as a key of the organisation identity. Registering a
// key already registered for another organisation is a conflict; for the
// same organisation it is a no-op.
func (k *OrgKeys) Add(identity string, pub *sign.PublicKey) error {
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return fmt.Errorf("creating key directory: %w", err)
	}
	path := filepath.Join(k.dir, pub.ID()+".json")
	if data, err := os.ReadFile(path); err == nil {
		owner, _, err := sign.ParsePublicKeyFile(data)
		if err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		if owner != identity {
			return fmt.Errorf("%w: key %s is already registered for %s", errkind.Conflict, pub.ID(), owner)
		}
		return nil
	}
	b, err := sign.MarshalPublicKeyFile(identity, pub)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}

// List returns the registered keys, ordered by organisation and key id.
func (k *OrgKeys) List() ([]OrgKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadLocked(); err != nil {
		return nil, err
	}
	return slices.Clone(k.keys), nil
}

// Keyring returns a keyring of the registered keys.
func (k *OrgKeys) Keyring() (*sign.Keyring, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.loadLocked(); err != nil {
		return nil, err
	}
	return k.ring, nil
}

// loadLocked (re)reads the key files when the directory changed.
func (k *OrgKeys) loadLocked() error {
	fi, err := os.Stat(k.dir)
	if errors.Is(err, os.ErrNotExist) {
		k.ring, k.keys, k.mod = &sign.Keyring{}, nil, time.Time{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading key directory: %w", err)
	}
	if k.ring != nil && fi.ModTime().Equal(k.mod) {
		return nil
	}
	des, err := os.ReadDir(k.dir)
	if err != nil {
		return fmt.Errorf("reading key directory: %w", err)
	}
	ring := &sign.Keyring{}
	var keys []OrgKey
	for _, de := range des {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		path := filepath.Join(k.dir, de.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("reading key file: %w", err)
		}
		id, pub, err := sign.ParsePublicKeyFile(data)
		if err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		if err := ring.Add(id, pub); err != nil {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		keys = append(keys, OrgKey{Identity: id, Key: pub})
	}
	slices.SortFunc(keys, func(a, b OrgKey) int {
		return strings.Compare(a.Identity+" "+a.Key.ID(), b.Identity+" "+b.Key.ID())
	})
	k.ring, k.keys, k.mod = ring, keys, fi.ModTime()
	return nil
}

// VerifySubmission checks the Kizuna-Signature header value of a submission
// by the organisation orgID over the request body: the signature must
// verify with a registered key of orgID. It returns the signer and key id.
// A signature that does not verify, is by an unknown key or is by another
// organisation wraps provenance.ErrVerification (422); a malformed header
// wraps errkind.Invalid.
func (k *OrgKeys) VerifySubmission(_ context.Context, orgID, header string, body []byte) (signer, keyID string, err error) {
	sig, err := sign.ParseHeader(header)
	if err != nil {
		return "", "", fmt.Errorf("%s header: %w", sign.HeaderName, err)
	}
	if sig.Signer != orgID {
		return "", "", fmt.Errorf("%w: %s header: signed for %s, but the submitting organisation is %s", provenance.ErrVerification, sign.HeaderName, sig.Signer, orgID)
	}
	ring, err := k.Keyring()
	if err != nil {
		return "", "", err
	}
	if err := ring.Verify(sig, body); err != nil {
		return "", "", fmt.Errorf("%s header: %w", sign.HeaderName, err)
	}
	return sig.Signer, sig.KeyID, nil
}
