package evidence

import (
	"encoding/json"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

// Trust pins the keys a verifier accepts. The zero Trust accepts the keys
// the file carries (integrity only). When Keys or LogKeys is set, every
// key the file uses must be pinned: the hub's signing key, the signer keys
// its entries name and the log key (which is pinned too when it is the
// note form of a pinned hub key, as the hub's always is).
type Trust struct {
	// Keys are trusted public keys with their organisations.
	Keys []Key
	// LogKeys are trusted note verifier keys of the hub's log.
	LogKeys []string
}

// Key is a public key and the organisation (STIX identity id) it belongs to.
type Key struct {
	Identity string
	Key      *sign.PublicKey
}

// pinned reports whether t pins keys.
func (t Trust) pinned() bool { return len(t.Keys) > 0 || len(t.LogKeys) > 0 }

// Result is what Verify found.
type Result struct {
	// Pinned reports whether the keys were pinned by a Trust.
	Pinned bool
	// Hub is the hub's identity; HubKey its signing key's id.
	Hub, HubKey string
	// Keys are the keys the file carries, for their fingerprints.
	Keys []Key
	// LogKey is the log's note verifier key; Tree the verified tree head.
	LogKey string
	Tree   tlog.Tree
	// Objects are the per-object results, in file order.
	Objects []ObjectResult
	// Errs are failures about the whole file (signature, tree head, keys).
	Errs []error
}

// ObjectResult is the verification of one object.
type ObjectResult struct {
	// ID, Version and Collection name the object version.
	ID, Version, Collection string
	// Index is its log record.
	Index int64
	// Signer and KeyID are the organisation whose verified signature came
	// with its submission (empty when unsigned), as the hub logged it.
	Signer, KeyID string
	// Err is the first failed check, nil when everything holds.
	Err error
}

// Err returns nil when every check held, else an error wrapping
// provenance.ErrVerification naming the first failure (an object's when
// one failed).
func (r *Result) Err() error {
	for _, o := range r.Objects {
		if o.Err != nil {
			return o.Err
		}
	}
	if len(r.Errs) > 0 {
		return r.Errs[0]
	}
	return nil
}

// Failures counts the failed checks.
func (r *Result) Failures() int {
	n := len(r.Errs)
	for _, o := range r.Objects {
		if o.Err != nil {
			n++
		}
	}
	return n
}

func failf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{provenance.ErrVerification}, args...)...)
}

// Verify checks an evidence file offline: the hub's signature over the
// file, the signed tree head, and for every object its canonical hash
// against its log entry, its inclusion proof and the hub's signature over
// it, all with the keys of trust (or, when trust pins nothing, the file's
// own). A file that does not parse is an error wrapping errkind.Invalid;
// failed checks are in the Result (see Result.Err).
func Verify(data []byte, trust Trust) (*Result, error) {
	f, err := Parse(data)
	if err != nil {
		return nil, err
	}
	res := &Result{Pinned: trust.pinned(), Hub: f.Hub, LogKey: f.LogKey, HubKey: f.Signature.KeyID}
	fileRing := &sign.Keyring{}
	for i, kb := range f.Keys {
		id, pub, err := sign.ParsePublicKeyFile(kb)
		if err != nil {
			return nil, fmt.Errorf("evidence file: key %d: %w", i, err)
		}
		if err := fileRing.Add(id, pub); err != nil {
			return nil, fmt.Errorf("evidence file: key %d: %w", i, err)
		}
		res.Keys = append(res.Keys, Key{Identity: id, Key: pub})
	}
	ring := fileRing
	if res.Pinned {
		ring = &sign.Keyring{}
		for _, k := range trust.Keys {
			if err := ring.Add(k.Identity, k.Key); err != nil {
				return nil, fmt.Errorf("trusted key %s: %w", k.Key.ID(), err)
			}
		}
	}

	// The file's own signature covers everything else in it.
	if f.Signature.Signer != f.Hub {
		res.Errs = append(res.Errs, failf("file signed by %s, but it names %s as the hub", f.Signature.Signer, f.Hub))
	} else if err := verifyFile(f, ring); err != nil {
		res.Errs = append(res.Errs, fmt.Errorf("file signature: %w", err))
	}

	head, headErr := openHead(f, ring, trust)
	if headErr != nil {
		res.Errs = append(res.Errs, headErr)
	}
	res.Tree = head
	for i := range f.Objects {
		res.Objects = append(res.Objects, verifyObject(f, i, ring, head, headErr, res.Pinned))
	}
	return res, nil
}

// verifyFile checks the file signature over the canonical JSON of the
// file without it.
func verifyFile(f *File, ring *sign.Keyring) error {
	sig := f.Signature
	f.Signature = nil
	b, err := json.Marshal(f)
	f.Signature = sig
	if err != nil {
		return err
	}
	return ring.Verify(sig, b)
}

// openHead checks the tree head with the log key, which must be pinned
// (or derived from a pinned hub key) when trust pins keys.
func openHead(f *File, ring *sign.Keyring, trust Trust) (tlog.Tree, error) {
	v, err := translog.NewHeadVerifier(f.LogKey)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("log key: %w", err)
	}
	if trust.pinned() && !logKeyTrusted(f.LogKey, f.Hub, ring, trust) {
		return tlog.Tree{}, failf("log key %s is not among the trusted keys", f.LogKey)
	}
	t, err := translog.OpenTreeHead([]byte(f.TreeHead), v)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("tree head: %w", err)
	}
	return t, nil
}

// logKeyTrusted reports whether vkey is a pinned log key, or the note
// verifier key of a pinned Ed25519 key of the hub.
func logKeyTrusted(vkey, hub string, ring *sign.Keyring, trust Trust) bool {
	for _, k := range trust.LogKeys {
		if k == vkey {
			return true
		}
	}
	name, _, _ := strings.Cut(vkey, "+")
	for _, k := range trust.Keys {
		if k.Identity != hub || k.Key.Alg() != sign.Ed25519 {
			continue
		}
		if want, err := note.NewEd25519VerifierKey(name, k.Key.Ed25519()); err == nil && want == vkey {
			return true
		}
	}
	return false
}

// verifyObject checks one object: entry, hash, inclusion, signature.
func verifyObject(f *File, i int, ring *sign.Keyring, head tlog.Tree, headErr error, pinned bool) ObjectResult {
	o := &f.Objects[i]
	var head0 struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(o.Object, &head0)
	r := ObjectResult{ID: head0.ID, Collection: o.Collection, Index: o.Index}
	if r.ID == "" {
		r.ID = fmt.Sprintf("object #%d", i)
	}
	fail := func(err error) ObjectResult {
		r.Err = fmt.Errorf("%s (record %d): %w", r.ID, o.Index, err)
		return r
	}
	e, err := translog.ParseEntry([]byte(o.Entry))
	if err != nil {
		return fail(fmt.Errorf("log entry: %w", err))
	}
	r.Version, r.Signer, r.KeyID = e.Version, e.Signer, e.KeyID
	h, err := sign.Digest(o.Object)
	if err != nil {
		return fail(fmt.Errorf("%w: object: %v", provenance.ErrVerification, err))
	}
	switch {
	case e.Op != translog.Add:
		return fail(failf("the log entry records a %s, not an add", e.Op))
	case e.ObjectID != r.ID || e.Collection != o.Collection:
		return fail(failf("the log entry is for %s in collection %s", e.ObjectID, e.Collection))
	case e.ObjectHash != h:
		return fail(failf("the object's canonical hash %x is not the logged %x (object changed)", h, e.ObjectHash))
	}
	if headErr != nil {
		return fail(fmt.Errorf("inclusion not checked: %w", headErr))
	}
	p := &translog.InclusionProof{Index: o.Index, TreeSize: head.N, Hashes: o.Proof}
	if err := translog.VerifyInclusion(p, head, tlog.RecordHash([]byte(o.Entry))); err != nil {
		return fail(fmt.Errorf("inclusion proof: %w", err))
	}
	if o.Signature.Signer != f.Hub {
		return fail(failf("signed by %s, not by the hub %s", o.Signature.Signer, f.Hub))
	}
	if err := ring.VerifyDigest(o.Signature, h); err != nil {
		return fail(fmt.Errorf("hub signature: %w", err))
	}
	if pinned && e.KeyID != "" {
		if id, _, ok := ring.Lookup(e.KeyID); !ok || id != e.Signer {
			return fail(failf("submitted signed by %s with key %s, which is not among the trusted keys", e.Signer, e.KeyID))
		}
	}
	return r
}
