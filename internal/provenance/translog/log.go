// Package translog implements Kizuna's transparency log: an append-only
// Merkle tree in the structure of RFC 6962 / RFC 9162 (leaf hash
// SHA-256(0x00 || leaf), node hash SHA-256(0x01 || left || right)) over one
// Entry per accepted object version, computed with the stored-hash layout
// of golang.org/x/mod/sumdb/tlog.
//
// The hub appends entries with Log.Append, publishes tree heads signed in
// the C2SP tlog-checkpoint note format (HeadSigner), and serves inclusion
// and consistency proofs and receipts. Clients check them offline with
// VerifyInclusion, VerifyConsistency, OpenTreeHead and VerifyReceipt, which
// do no I/O. Audit recomputes the tree from the stored entries and compares
// them with the objects the hub's store holds now.
//
// Failures to verify wrap provenance.ErrVerification; malformed proofs,
// entries and tree heads wrap errkind.Invalid.
package translog

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Log is a transparency log over a Store. It is safe for concurrent use;
// appends are serialised within the process, and the store's start check
// rejects a concurrent append by another process.
type Log struct {
	store Store
	mu    sync.Mutex // serialises Append
}

// New returns the log kept in store.
func New(store Store) *Log { return &Log{store: store} }

// Store returns the log's storage.
func (l *Log) Store() Store { return l.store }

// Append appends the entries in one atomic step and returns the index of
// the first. Appending in batches is much faster than one at a time.
func (l *Log) Append(ctx context.Context, entries ...Entry) (first int64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start, err := l.store.Size(ctx)
	if err != nil {
		return 0, fmt.Errorf("log append: %w", err)
	}
	if len(entries) == 0 {
		return start, nil
	}
	r := &batchReader{ctx: ctx, store: l.store, base: tlog.StoredHashIndex(0, start)}
	recs := make([]Record, len(entries))
	var buf []byte
	for i := range entries {
		e := &entries[i]
		if err := e.check(); err != nil {
			return 0, fmt.Errorf("log append: entry %d (%s): %w", i, e.ObjectID, err)
		}
		buf = e.appendText(buf[:0])
		hs, err := tlog.StoredHashesForRecordHash(start+int64(i), tlog.RecordHash(buf), r)
		if err != nil {
			return 0, fmt.Errorf("log append: %w", err)
		}
		r.pending = append(r.pending, hs...)
		recs[i] = Record{Entry: *e, Hashes: hs}
	}
	if err := l.store.Append(ctx, start, recs); err != nil {
		return 0, fmt.Errorf("log append: %w", err)
	}
	return start, nil
}

// batchReader reads stored hashes for a batch being appended: those the
// batch computed, else the store's (cached, since the batch's records keep
// asking for the same few hashes on the tree's right edge).
type batchReader struct {
	ctx     context.Context
	store   Store
	base    int64       // storage index of pending[0]
	pending []tlog.Hash // hashes computed by this batch
	cache   map[int64]tlog.Hash
}

func (r *batchReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var miss []int64
	for _, x := range indexes {
		if _, ok := r.cache[x]; !ok && x < r.base {
			miss = append(miss, x)
		}
	}
	if len(miss) > 0 {
		hs, err := r.store.ReadHashes(r.ctx, miss)
		if err != nil {
			return nil, err
		}
		if r.cache == nil {
			r.cache = make(map[int64]tlog.Hash)
		}
		for i, x := range miss {
			r.cache[x] = hs[i]
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		switch {
		case x < r.base:
			out[i] = r.cache[x]
		case x-r.base < int64(len(r.pending)):
			out[i] = r.pending[x-r.base]
		default:
			return nil, fmt.Errorf("log append: hash %d not yet computed", x)
		}
	}
	return out, nil
}

// storeReader adapts a Store to tlog.HashReader for one call.
type storeReader struct {
	ctx   context.Context
	store Store
}

func (r storeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return r.store.ReadHashes(r.ctx, indexes)
}

// Head returns the current tree: its size and root hash.
func (l *Log) Head(ctx context.Context) (tlog.Tree, error) {
	n, err := l.store.Size(ctx)
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("log head: %w", err)
	}
	return l.TreeAt(ctx, n)
}

// TreeAt returns the tree of the first n records.
func (l *Log) TreeAt(ctx context.Context, n int64) (tlog.Tree, error) {
	if err := l.checkSize(ctx, n); err != nil {
		return tlog.Tree{}, fmt.Errorf("log tree: %w", err)
	}
	h, err := tlog.TreeHash(n, storeReader{ctx, l.store})
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("log tree %d: %w", n, err)
	}
	return tlog.Tree{N: n, Hash: h}, nil
}

func (l *Log) checkSize(ctx context.Context, n int64) error {
	size, err := l.store.Size(ctx)
	if err != nil {
		return err
	}
	if n < 0 || n > size {
		return fmt.Errorf("%w: tree size %d (log has %d records)", errkind.NotFound, n, size)
	}
	return nil
}

// InclusionProof returns the proof that record index is in the tree of
// size treeSize (index < treeSize <= the log's size).
func (l *Log) InclusionProof(ctx context.Context, index, treeSize int64) (*InclusionProof, error) {
	if err := l.checkSize(ctx, treeSize); err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	if index < 0 || index >= treeSize {
		return nil, fmt.Errorf("%w: inclusion proof: record %d not in a tree of %d", errkind.NotFound, index, treeSize)
	}
	p, err := tlog.ProveRecord(treeSize, index, storeReader{ctx, l.store})
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return &InclusionProof{Index: index, TreeSize: treeSize, Hashes: p}, nil
}

// ConsistencyProof returns the proof that the tree of size oldSize is a
// prefix of the tree of size newSize (0 < oldSize <= newSize <= the log's
// size).
func (l *Log) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (*ConsistencyProof, error) {
	if err := l.checkSize(ctx, newSize); err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	if oldSize < 1 || oldSize > newSize {
		return nil, fmt.Errorf("%w: consistency proof: old size %d, new size %d", errkind.Invalid, oldSize, newSize)
	}
	p, err := tlog.ProveTree(newSize, oldSize, storeReader{ctx, l.store})
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return &ConsistencyProof{OldSize: oldSize, NewSize: newSize, Hashes: p}, nil
}

// Entry returns record index's entry.
func (l *Log) Entry(ctx context.Context, index int64) (*Entry, error) {
	es, err := l.store.ReadEntries(ctx, index, 1)
	if err != nil {
		return nil, fmt.Errorf("log entry %d: %w", index, err)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("%w: log entry %d", errkind.NotFound, index)
	}
	return &es[0], nil
}

// Receipt returns what a client needs to check offline that record index
// is in the log: its entry, the signed tree head hs makes of the current
// tree, and the inclusion proof against it.
func (l *Log) Receipt(ctx context.Context, index int64, hs *HeadSigner) (*Receipt, error) {
	head, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	signed, err := hs.SignTree(head)
	if err != nil {
		return nil, err
	}
	e, err := l.Entry(ctx, index)
	if err != nil {
		return nil, err
	}
	p, err := l.InclusionProof(ctx, index, head.N)
	if err != nil {
		return nil, err
	}
	text, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	return &Receipt{Entry: string(text), Index: index, Proof: p.Hashes, TreeHead: string(signed)}, nil
}
