package translog

import (
	"bytes"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
)

// MaxProofSize bounds the JSON proofs and receipts the Parse functions
// accept; a proof for a log of 2^63 records has at most 63 hashes, and
// receipts carry a signed tree head and an entry besides.
const MaxProofSize = 64 << 10

// maxProofHashes bounds the hashes of an inclusion proof; a consistency
// proof has at most twice as many.
const maxProofHashes = 63

// InclusionProof proves that record Index is in the tree of TreeSize
// records (RFC 9162 section 2.1.3). Its JSON form is
// {"index":5,"tree_size":10,"hashes":["<base64>",…]}.
type InclusionProof struct {
	// Index is the record's position in the log.
	Index int64 `json:"index"`
	// TreeSize is the size of the tree the proof is for.
	TreeSize int64 `json:"tree_size"`
	// Hashes is the audit path.
	Hashes tlog.RecordProof `json:"hashes"`
}

// ConsistencyProof proves that the tree of OldSize records is a prefix of
// the tree of NewSize records (RFC 9162 section 2.1.4). Its JSON form is
// {"old_size":5,"new_size":10,"hashes":["<base64>",…]}.
type ConsistencyProof struct {
	// OldSize is the size of the earlier tree.
	OldSize int64 `json:"old_size"`
	// NewSize is the size of the later tree.
	NewSize int64 `json:"new_size"`
	// Hashes is the consistency path.
	Hashes tlog.TreeProof `json:"hashes"`
}

// Receipt is everything a client needs to check offline that an object
// version was logged: the entry's leaf text, its index, the signed tree
// head and the inclusion proof against it.
type Receipt struct {
	// Entry is the leaf text (Entry.Marshal).
	Entry string `json:"entry"`
	// Index is the record's position in the log.
	Index int64 `json:"index"`
	// Proof is the inclusion proof against the tree head.
	Proof tlog.RecordProof `json:"proof"`
	// TreeHead is the signed tree head (a checkpoint note).
	TreeHead string `json:"tree_head"`
}

// decodeStrict decodes one JSON value into v, rejecting unknown members and
// trailing data.
func decodeStrict(data []byte, v any, what string) error {
	if len(data) > MaxProofSize {
		return fmt.Errorf("%w: %s: %d bytes, limit %d", errkind.TooLarge, what, len(data), MaxProofSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %v", errkind.Invalid, what, err)
	}
	if _, err := dec.Token(); err == nil {
		return fmt.Errorf("%w: %s: data after the JSON value", errkind.Invalid, what)
	}
	return nil
}

// ParseInclusionProof parses the JSON form of an inclusion proof.
func ParseInclusionProof(data []byte) (*InclusionProof, error) {
	var p InclusionProof
	if err := decodeStrict(data, &p, "inclusion proof"); err != nil {
		return nil, err
	}
	if p.Index < 0 || p.Index >= p.TreeSize || len(p.Hashes) > maxProofHashes {
		return nil, fmt.Errorf("%w: inclusion proof: index %d, tree size %d, %d hashes", errkind.Invalid, p.Index, p.TreeSize, len(p.Hashes))
	}
	return &p, nil
}

// ParseConsistencyProof parses the JSON form of a consistency proof.
func ParseConsistencyProof(data []byte) (*ConsistencyProof, error) {
	var p ConsistencyProof
	if err := decodeStrict(data, &p, "consistency proof"); err != nil {
		return nil, err
	}
	if p.OldSize < 1 || p.OldSize > p.NewSize || len(p.Hashes) > 2*maxProofHashes {
		return nil, fmt.Errorf("%w: consistency proof: old size %d, new size %d, %d hashes", errkind.Invalid, p.OldSize, p.NewSize, len(p.Hashes))
	}
	return &p, nil
}

// ParseReceipt parses the JSON form of a receipt.
func ParseReceipt(data []byte) (*Receipt, error) {
	var r Receipt
	if err := decodeStrict(data, &r, "receipt"); err != nil {
		return nil, err
	}
	if r.Index < 0 || len(r.Proof) > maxProofHashes {
		return nil, fmt.Errorf("%w: receipt: index %d, %d proof hashes", errkind.Invalid, r.Index, len(r.Proof))
	}
	return &r, nil
}

// VerifyInclusion checks that the record with leaf hash leaf (see
// Entry.LeafHash) is in the tree head by the proof. It does no I/O.
func VerifyInclusion(p *InclusionProof, head tlog.Tree, leaf tlog.Hash) error {
	if p.TreeSize != head.N {
		return fmt.Errorf("%w: inclusion proof for a tree of %d records, tree head has %d", provenance.ErrVerification, p.TreeSize, head.N)
	}
	if err := tlog.CheckRecord(p.Hashes, head.N, head.Hash, p.Index, leaf); err != nil {
		return fmt.Errorf("%w: record %d in tree of %d: %v", provenance.ErrVerification, p.Index, head.N, err)
	}
	return nil
}

// VerifyConsistency checks that tree old is a prefix of tree new by the
// proof. It does no I/O. Trees of equal size must be equal; every tree
// extends the empty tree.
func VerifyConsistency(p *ConsistencyProof, old, new tlog.Tree) error {
	if p.OldSize != old.N || p.NewSize != new.N {
		return fmt.Errorf("%w: consistency proof for sizes %d→%d, tree heads have %d→%d",
			provenance.ErrVerification, p.OldSize, p.NewSize, old.N, new.N)
	}
	if err := tlog.CheckTree(p.Hashes, new.N, new.Hash, old.N, old.Hash); err != nil {
		return fmt.Errorf("%w: tree of %d is not a prefix of tree of %d: %v", provenance.ErrVerification, old.N, new.N, err)
	}
	return nil
}

// VerifyReceipt checks a receipt offline: the tree head's signature by v,
// the entry's object hash against objectHash (stix.Hash of the object in
// hand), and the inclusion proof. It returns the verified entry and tree.
func VerifyReceipt(r *Receipt, v note.Verifier, objectHash [32]byte) (*Entry, tlog.Tree, error) {
	head, err := OpenTreeHead([]byte(r.TreeHead), v)
	if err != nil {
		return nil, tlog.Tree{}, fmt.Errorf("receipt: %w", err)
	}
	e, err := ParseEntry([]byte(r.Entry))
	if err != nil {
		return nil, tlog.Tree{}, fmt.Errorf("receipt: %w", err)
	}
	if e.ObjectHash != objectHash {
		return nil, tlog.Tree{}, fmt.Errorf("%w: receipt: logged object hash %x, object in hand has %x", provenance.ErrVerification, e.ObjectHash, objectHash)
	}
	p := &InclusionProof{Index: r.Index, TreeSize: head.N, Hashes: r.Proof}
	if err := VerifyInclusion(p, head, tlog.RecordHash([]byte(r.Entry))); err != nil {
		return nil, tlog.Tree{}, fmt.Errorf("receipt: %w", err)
	}
	return e, head, nil
}
