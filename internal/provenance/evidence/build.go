package evidence

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

// KeyLookup finds a registered organisation key by key id.
type KeyLookup interface {
	Lookup(keyID string) (identity string, pub *sign.PublicKey, ok bool)
}

// Builder assembles an evidence file from object versions the hub stored
// and logged. Create it with NewBuilder; it is not safe for concurrent use.
type Builder struct {
	log     *translog.Log
	key     *sign.PrivateKey
	orgKeys KeyLookup
	f       File
	tree    tlog.Tree
	signers map[string]bool // key ids already in f.Keys
}

// NewBuilder starts an evidence file signed by the hub (identity hub, key
// key) over the log l, whose tree head treeHead (verified with logKey) all
// proofs will be against. orgKeys resolves the signer keys entries name
// (nil: none are included).
func NewBuilder(l *translog.Log, treeHead []byte, logKey, hub string, key *sign.PrivateKey, orgKeys KeyLookup, now time.Time) (*Builder, error) {
	v, err := translog.NewHeadVerifier(logKey)
	if err != nil {
		return nil, err
	}
	tree, err := translog.OpenTreeHead(treeHead, v)
	if err != nil {
		return nil, fmt.Errorf("evidence: the hub's own tree head: %w", err)
	}
	hubKey, err := sign.MarshalPublicKeyFile(hub, key.Public())
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return &Builder{
		log: l, key: key, orgKeys: orgKeys, tree: tree, signers: map[string]bool{key.Public().ID(): true},
		f: File{
			Type: Type, Version: Version, Created: now.UTC().Format(time.RFC3339), Hub: hub,
			Keys: []json.RawMessage{hubKey}, LogKey: logKey, TreeHead: string(treeHead), Objects: []Object{},
		},
	}, nil
}

// Add adds a stored object version of collection with its log entry,
// inclusion proof and the hub's signature. The version must be logged in
// the tree head's tree (else an error wrapping errkind.NotFound).
func (b *Builder) Add(ctx context.Context, collection string, raw json.RawMessage) error {
	h, err := sign.Digest(raw)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	var head struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &head)
	idx, err := b.log.Store().Find(ctx, h)
	if err != nil {
		return fmt.Errorf("evidence: finding %s in the log: %w", head.ID, err)
	}
	for i := len(idx) - 1; i >= 0; i-- {
		if idx[i] >= b.tree.N {
			continue
		}
		e, err := b.log.Entry(ctx, idx[i])
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if e.Op != translog.Add || e.Collection != collection || e.ObjectID != head.ID {
			continue
		}
		p, err := b.log.InclusionProof(ctx, idx[i], b.tree.N)
		if err != nil {
			return fmt.Errorf("evidence: %s: %w", head.ID, err)
		}
		text, err := e.Marshal()
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		sig, err := sign.SignDigest(b.key, b.f.Hub, h)
		if err != nil {
			return fmt.Errorf("evidence: signing %s: %w", head.ID, err)
		}
		b.f.Objects = append(b.f.Objects, Object{
			Object: raw, Collection: collection, Signature: sig, Entry: string(text), Index: idx[i], Proof: p.Hashes,
		})
		b.addSigner(e.KeyID)
		return nil
	}
	return fmt.Errorf("%w: evidence: %s (collection %s) is not in the transparency log's tree of %d records", errkind.NotFound, head.ID, collection, b.tree.N)
}

// addSigner includes the public key file of a signer key entries name.
func (b *Builder) addSigner(keyID string) {
	if keyID == "" || b.signers[keyID] || b.orgKeys == nil {
		return
	}
	id, pub, ok := b.orgKeys.Lookup(keyID)
	if !ok {
		return // revoked since: the entry still names it
	}
	if kf, err := sign.MarshalPublicKeyFile(id, pub); err == nil {
		b.f.Keys = append(b.f.Keys, kf)
		b.signers[keyID] = true
	}
}

// Len returns the number of objects added.
func (b *Builder) Len() int { return len(b.f.Objects) }

// Finish signs the file and returns its JSON.
func (b *Builder) Finish() ([]byte, error) {
	if err := b.f.Sign(b.key); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(&b.f, "", " ")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return append(out, '\n'), nil
}
