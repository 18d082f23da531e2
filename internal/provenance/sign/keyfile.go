package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Key file types, the "type" member of a key file.
const (
	publicKeyFileType  = "kizuna-public-key"
	privateKeyFileType = "kizuna-private-key"
)

// keyFile is the JSON form of a key file:
//
//	{"type":"kizuna-public-key","identity":"identity--…","key":"ed25519:…"}
type keyFile struct {
	Type     string `json:"type"`
	Identity string `json:"identity"`
	Key      string `json:"key"`
}

func checkIdentity(id string) error {
	if typ, _, ok := stix.SplitID(id); !ok || typ != "identity" {
		return fmt.Errorf("%w: %q is not a STIX identity id", errkind.Invalid, id)
	}
	return nil
}

func marshalKeyFile(typ, identity, key string) ([]byte, error) {
	if err := checkIdentity(identity); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	b, err := json.MarshalIndent(keyFile{Type: typ, Identity: identity, Key: key}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	return append(b, '\n'), nil
}

func parseKeyFile(data []byte, typ string) (keyFile, error) {
	var f keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%w: key file: %v", errkind.Invalid, err)
	}
	if dec.More() {
		return f, fmt.Errorf("%w: key file: data after the JSON object", errkind.Invalid)
	}
	if f.Type != typ {
		return f, fmt.Errorf("%w: key file: type %q, want %q", errkind.Invalid, f.Type, typ)
	}
	if err := checkIdentity(f.Identity); err != nil {
		return f, fmt.Errorf("key file: %w", err)
	}
	return f, nil
}

// MarshalPublicKeyFile returns the JSON key file that publishes pub as a
// key of the organisation identity (a STIX identity id).
func MarshalPublicKeyFile(identity string, pub *PublicKey) ([]byte, error) {
	return marshalKeyFile(publicKeyFileType, identity, pub.String())
}

// ParsePublicKeyFile parses a public key file, returning the organisation
// identity and its key.
func ParsePublicKeyFile(data []byte) (identity string, pub *PublicKey, err error) {
	f, err := parseKeyFile(data, publicKeyFileType)
	if err != nil {
		return "", nil, err
	}
	pub, err = ParsePublicKey(f.Key)
	if err != nil {
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	return f.Identity, pub, nil
}

// MarshalPrivateKeyFile returns the JSON key file holding priv, the key of
// organisation identity. The result is secret: store it with mode 0600.
func MarshalPrivateKeyFile(identity string, priv *PrivateKey) ([]byte, error) {
	return marshalKeyFile(privateKeyFileType, identity, priv.String())
}

// ParsePrivateKeyFile parses a private key file, returning the
// organisation identity and its key.
func ParsePrivateKeyFile(data []byte) (identity string, priv *PrivateKey, err error) {
	f, err := parseKeyFile(data, privateKeyFileType)
	if err != nil {
		return "", nil, err
	}
	priv, err = ParsePrivateKey(f.Key)
	if err != nil {
		return "", nil, fmt.Errorf("key file: %w", err)
	}
	return f.Identity, priv, nil
}

// Keyring maps key ids to public keys and the organisations (STIX identity
// ids) they belong to. It is safe for concurrent use; the zero value is an
// empty keyring.
type Keyring struct {
	mu sync.RWMutex // guards the following
	// byID maps a key id to its entry.
	byID map[string]ringEntry
}

type ringEntry struct {
	identity string
	key      *PublicKey
}

// Add records pub as a key of the organisation identity. Adding a key that
// is already known for another organisation is a conflict.
func (r *Keyring) Add(identity string, pub *PublicKey) error {
	if err := checkIdentity(identity); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[pub.ID()]; ok && e.identity != identity {
		return fmt.Errorf("%w: keyring: key %s already belongs to %s", errkind.Conflict, pub.ID(), e.identity)
	}
	if r.byID == nil {
		r.byID = make(map[string]ringEntry)
	}
	r.byID[pub.ID()] = ringEntry{identity: identity, key: pub}
	return nil
}

// Remove forgets the key with the id (for instance when it is revoked);
// signatures by it no longer verify. It reports whether the key was known.
func (r *Keyring) Remove(keyID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.byID[keyID]
	delete(r.byID, keyID)
	return ok
}

// Lookup returns the key with the id and the organisation it belongs to.
func (r *Keyring) Lookup(keyID string) (identity string, pub *PublicKey, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[keyID]
	return e.identity, e.key, ok
}

// KeysOf returns the keys of the organisation identity, in no particular
// order.
func (r *Keyring) KeysOf(identity string) []*PublicKey {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var keys []*PublicKey
	for _, e := range r.byID {
		if e.identity == identity {
			keys = append(keys, e.key)
		}
	}
	return keys
}
