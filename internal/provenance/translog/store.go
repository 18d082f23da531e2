package translog

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Record is one appended entry with the stored hashes it adds to the tree:
// in the order tlog.StoredHashes returns them, its leaf hash first, then
// the interior hashes it completes (one per trailing 1 bit of its index).
type Record struct {
	// Entry is the log entry.
	Entry Entry
	// Hashes are the stored hashes from tlog.StoredHashIndex(0, index)
	// up to (not including) tlog.StoredHashIndex(0, index+1).
	Hashes []tlog.Hash
}

// Store is the append-only storage of a log. Implementations must be safe
// for concurrent use; the storage conformance suite is in package
// translog/storetest. Errors that are not about the arguments are
// storage failures.
type Store interface {
	// Size returns the number of records in the log.
	Size(ctx context.Context) (int64, error)
	// Append stores recs as records start, start+1, … in one atomic step.
	// It fails with an error wrapping errkind.Conflict, storing nothing,
	// when the log does not hold exactly start records.
	Append(ctx context.Context, start int64, recs []Record) error
	// ReadHashes returns the stored hashes at the tlog storage indexes
	// (see tlog.StoredHashIndex and HashLocation), in order. An index
	// beyond the stored hashes is an error wrapping errkind.NotFound.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// ReadEntries returns up to n entries from index start on (fewer at
	// the end of the log).
	ReadEntries(ctx context.Context, start int64, n int) ([]Entry, error)
	// Find returns the indexes of the records whose entries have the
	// object hash, in increasing order.
	Find(ctx context.Context, objectHash [32]byte) ([]int64, error)
}

// HashLocation maps a tlog storage index to the record that stores it and
// the position in that record's Hashes, for Store implementations that
// keep a record's hashes together.
func HashLocation(index int64) (record int64, pos int) {
	level, n := tlog.SplitStoredHashIndex(index)
	// The n-th hash of the level is completed by the last record under it.
	return (n+1)<<uint(level) - 1, level
}

// MemStore is an in-memory Store, for tests, benchmarks and short-lived
// hubs. Its zero value is an empty log.
type MemStore struct {
	mu sync.RWMutex // guards the following
	// entries[i] is record i's entry.
	entries []Entry
	// hashes are all stored hashes, by tlog storage index.
	hashes []tlog.Hash
	// byHash maps an object hash to the records holding it.
	byHash map[[32]byte][]int64
}

var _ Store = (*MemStore)(nil)

// Size implements Store.
func (m *MemStore) Size(context.Context) (int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.entries)), nil
}

// Append implements Store.
func (m *MemStore) Append(_ context.Context, start int64, recs []Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if start != int64(len(m.entries)) {
		return fmt.Errorf("%w: log append at %d, log has %d records", errkind.Conflict, start, len(m.entries))
	}
	for i, r := range recs {
		n := start + int64(i)
		if want := tlog.StoredHashIndex(0, n+1) - tlog.StoredHashIndex(0, n); int64(len(r.Hashes)) != want {
			return fmt.Errorf("%w: log append: record %d has %d hashes, want %d", errkind.Invalid, n, len(r.Hashes), want)
		}
	}
	if m.byHash == nil {
		m.byHash = make(map[[32]byte][]int64)
	}
	for i, r := range recs {
		m.entries = append(m.entries, r.Entry)
		m.hashes = append(m.hashes, r.Hashes...)
		m.byHash[r.Entry.ObjectHash] = append(m.byHash[r.Entry.ObjectHash], start+int64(i))
	}
	return nil
}

// ReadHashes implements Store.
func (m *MemStore) ReadHashes(_ context.Context, indexes []int64) ([]tlog.Hash, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("%w: stored hash %d (log holds %d)", errkind.NotFound, x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// ReadEntries implements Store.
func (m *MemStore) ReadEntries(_ context.Context, start int64, n int) ([]Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if start < 0 || n < 0 {
		return nil, fmt.Errorf("%w: read entries %d+%d", errkind.Invalid, start, n)
	}
	if start >= int64(len(m.entries)) {
		return nil, nil
	}
	end := min(start+int64(n), int64(len(m.entries)))
	return append([]Entry(nil), m.entries[start:end]...), nil
}

// Find implements Store.
func (m *MemStore) Find(_ context.Context, objectHash [32]byte) ([]int64, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return append([]int64(nil), m.byHash[objectHash]...), nil
}
