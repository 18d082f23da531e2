package translog

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance"
)

// ObjectKey identifies an object version in a collection.
type ObjectKey struct {
	// Collection is the TAXII collection id.
	Collection string
	// ObjectID is the STIX id.
	ObjectID string
	// Version is the object's version (modified, else created; may be empty).
	Version string
}

func (k ObjectKey) String() string {
	return fmt.Sprintf("%s version %q in collection %s", k.ObjectID, k.Version, k.Collection)
}

// Current is an object version the hub's store holds now.
type Current struct {
	// Key identifies the version.
	Key ObjectKey
	// Hash is the SHA-256 of the stored object's canonical JSON (stix.Hash).
	Hash [32]byte
}

// FindingKind classifies an audit finding.
type FindingKind string

// The kinds of finding.
const (
	// Edited: the stored object's hash differs from the logged one.
	Edited FindingKind = "edited"
	// Removed: the log says the version was added (and not deleted), but the
	// store no longer has it.
	Removed FindingKind = "removed"
	// Unlogged: the store has a version the log never recorded.
	Unlogged FindingKind = "unlogged"
	// Resurrected: the store has a version the log records as deleted.
	Resurrected FindingKind = "resurrected"
	// LogTampered: the log's own storage does not reproduce a trusted tree
	// head or its stored hashes (entries edited, removed or rewritten).
	LogTampered FindingKind = "log-tampered"
)

// Finding is one discrepancy found by Audit.
type Finding struct {
	// Kind classifies the finding.
	Kind FindingKind
	// Key is the object version concerned (zero for LogTampered findings
	// about the whole tree).
	Key ObjectKey
	// Index is the log record concerned, or -1.
	Index int64
	// Logged and Stored are the logged and the stored object hashes, where
	// known.
	Logged, Stored [32]byte
	// Detail says what was compared, for LogTampered findings.
	Detail string
}

// String describes the finding in one line.
func (f Finding) String() string {
	switch f.Kind {
	case Edited:
		return fmt.Sprintf("edited: %s: stored hash %s, logged %s (record %d)", f.Key, hex.EncodeToString(f.Stored[:]), hex.EncodeToString(f.Logged[:]), f.Index)
	case Removed:
		return fmt.Sprintf("removed: %s: logged as record %d with hash %s, missing from the store", f.Key, f.Index, hex.EncodeToString(f.Logged[:]))
	case Unlogged:
		return fmt.Sprintf("unlogged: %s: stored with hash %s, never logged", f.Key, hex.EncodeToString(f.Stored[:]))
	case Resurrected:
		return fmt.Sprintf("resurrected: %s: stored with hash %s, logged as deleted (record %d)", f.Key, hex.EncodeToString(f.Stored[:]), f.Index)
	}
	return fmt.Sprintf("%s: %s", f.Kind, f.Detail)
}

// Report is the result of Audit.
type Report struct {
	// Tree is the tree recomputed from the log's entries.
	Tree tlog.Tree
	// Objects is the number of stored object versions examined.
	Objects int64
	// Findings lists the discrepancies: log tampering first, then by kind,
	// record index and key.
	Findings []Finding
}

// Err returns nil for a clean report, else an error wrapping
// provenance.ErrVerification that counts and names the first findings.
func (r *Report) Err() error {
	if len(r.Findings) == 0 {
		return nil
	}
	first := r.Findings[0].String()
	return fmt.Errorf("%w: audit: %d finding(s), first: %s", provenance.ErrVerification, len(r.Findings), first)
}

// auditChunk is how many entries Audit reads at a time.
const auditChunk = 8192

type logged struct {
	index int64
	op    Op
	hash  [32]byte
	seen  bool
}

// Audit checks the log against itself, against a trusted tree head, and
// against the objects the hub's store holds now:
//
//   - the entries, rehashed, must reproduce trusted (a tree head the
//     auditor verified earlier, for instance with OpenTreeHead; the zero
//     Tree skips this) and the log's stored tree hash;
//   - every stored object version must have been logged with the same
//     hash, and every version logged as added (and not since deleted)
//     must still be stored.
//
// It returns a Report listing each discrepancy; an error only when the
// log or current cannot be read. Memory grows with the number of distinct
// object versions logged.
func Audit(ctx context.Context, l *Log, trusted tlog.Tree, current iter.Seq2[Current, error]) (*Report, error) {
	rep := &Report{}
	size, err := l.store.Size(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if trusted.N > size {
		rep.Findings = append(rep.Findings, Finding{Kind: LogTampered, Index: -1,
			Detail: fmt.Sprintf("the log has %d records, fewer than the trusted tree head's %d", size, trusted.N)})
	}
	latest := make(map[ObjectKey]*logged)
	var c compactRange
	var buf []byte
	for start := int64(0); start < size; start += auditChunk {
		es, err := l.store.ReadEntries(ctx, start, auditChunk)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if len(es) == 0 {
			return nil, fmt.Errorf("audit: log of %d records ends at %d", size, start)
		}
		for i := range es {
			e := &es[i]
			idx := start + int64(i)
			if err := e.check(); err != nil {
				rep.Findings = append(rep.Findings, Finding{Kind: LogTampered, Index: idx, Detail: fmt.Sprintf("record %d: %v", idx, err)})
			}
			buf = e.appendText(buf[:0])
			c.push(tlog.RecordHash(buf))
			if c.n == trusted.N && trusted.N > 0 {
				checkTrusted(rep, c.root(), trusted)
			}
			if p := latest[e.Key()]; p == nil {
				latest[e.Key()] = &logged{index: idx, op: e.Op, hash: e.ObjectHash}
			} else {
				*p = logged{index: idx, op: e.Op, hash: e.ObjectHash}
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	rep.Tree = tlog.Tree{N: c.n, Hash: c.root()}
	if stored, err := l.TreeAt(ctx, c.n); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	} else if stored.Hash != rep.Tree.Hash {
		rep.Findings = append(rep.Findings, Finding{Kind: LogTampered, Index: -1,
			Detail: fmt.Sprintf("the log's stored hashes give root %s for %d records, its entries give %s", stored.Hash, c.n, rep.Tree.Hash)})
	}

	for cur, err := range current {
		if err != nil {
			return nil, fmt.Errorf("audit: reading the store: %w", err)
		}
		rep.Objects++
		p := latest[cur.Key]
		switch {
		case p == nil:
			rep.Findings = append(rep.Findings, Finding{Kind: Unlogged, Key: cur.Key, Index: -1, Stored: cur.Hash})
			continue
		case p.op == Delete:
			rep.Findings = append(rep.Findings, Finding{Kind: Resurrected, Key: cur.Key, Index: p.index, Logged: p.hash, Stored: cur.Hash})
		case p.hash != cur.Hash:
			rep.Findings = append(rep.Findings, Finding{Kind: Edited, Key: cur.Key, Index: p.index, Logged: p.hash, Stored: cur.Hash})
		}
		p.seen = true
	}
	for k, p := range latest {
		if !p.seen && p.op == Add {
			rep.Findings = append(rep.Findings, Finding{Kind: Removed, Key: k, Index: p.index, Logged: p.hash})
		}
	}
	order := map[FindingKind]int{LogTampered: 0, Edited: 1, Removed: 2, Resurrected: 3, Unlogged: 4}
	slices.SortStableFunc(rep.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(order[a.Kind], order[b.Kind]), cmp.Compare(a.Index, b.Index),
			cmp.Compare(a.Key.Collection, b.Key.Collection), cmp.Compare(a.Key.ObjectID, b.Key.ObjectID),
			cmp.Compare(a.Key.Version, b.Key.Version))
	})
	return rep, nil
}

func checkTrusted(rep *Report, root tlog.Hash, trusted tlog.Tree) {
	if root != trusted.Hash {
		rep.Findings = append(rep.Findings, Finding{Kind: LogTampered, Index: -1,
			Detail: fmt.Sprintf("the first %d entries give root %s, the trusted tree head says %s", trusted.N, root, trusted.Hash)})
	}
}

// compactRange computes RFC 6962 tree hashes from leaf hashes in O(log n)
// memory: stack holds the roots of the complete subtrees that make up the
// leaves so far, largest first (one per 1 bit of n).
type compactRange struct {
	n     int64
	stack []tlog.Hash
}

func (c *compactRange) push(h tlog.Hash) {
	for k := c.n; k&1 == 1; k >>= 1 {
		h = tlog.NodeHash(c.stack[len(c.stack)-1], h)
		c.stack = c.stack[:len(c.stack)-1]
	}
	c.stack = append(c.stack, h)
	c.n++
}

// root returns the tree hash of the leaves pushed so far (for none, the
// RFC 6962 hash of the empty tree, SHA-256 of the empty string, as
// tlog.TreeHash gives it).
func (c *compactRange) root() tlog.Hash {
	if len(c.stack) == 0 {
		return sha256.Sum256(nil)
	}
	h := c.stack[len(c.stack)-1]
	for i := len(c.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(c.stack[i], h)
	}
	return h
}
