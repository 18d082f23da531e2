// Package ledger wires Kizuna's transparency log (package translog) into
// the hub: the log lives in the data directory (DIR/translog.db) next to the
// object store, tree heads are signed with the hub's log key (DIR/keys/hub.key,
// generated on first use, mode 0600), every version the store commits is
// appended after its transaction, and deletes are logged as delete entries.
//
// The log keeps no state of its own besides its records: its high-water mark
// is the date_added of the last version logged as added. On Open, and after
// every commit, Sync appends every stored version added after that mark, in
// date_added order (the store's date_added is global and strictly increasing
// in commit order), so a crash between a store commit and the log append
// loses nothing: the next Open logs the gap.
package ledger

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/sqlitelog"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// File names inside the data directory.
const (
	// LogFile is the SQLite database holding the transparency log.
	LogFile = "translog.db"
	// KeyDir holds the hub's log key and the organisations' public keys.
	KeyDir = "keys"
	// HubKeyFile is the hub's private log-signing key (inside KeyDir).
	HubKeyFile = "hub.key"
)

// DefaultOrigin names the log in its signed tree heads when Options.Origin
// is empty.
const DefaultOrigin = "kizuna/log"

// DateAddedFormat is how an entry spells date_added (UTC, microseconds).
const DateAddedFormat = "2006-01-02T15:04:05.000000Z"

// placeholderIdentity owns the hub key when the hub has no identity.
const placeholderIdentity = "identity--00000000-0000-4000-8000-000000000000"

// syncPage is the number of versions read per collection and query by Sync.
const syncPage = 1000

// allSpecs lists the spec versions a scan asks for explicitly, so that a
// collection with mixed spec versions still yields every stored version.
var allSpecs = []string{"", "2.0", "2.1"}

// Options configures Open.
type Options struct {
	// Origin names the log in tree heads (default DefaultOrigin). It must
	// not contain spaces or '+'.
	Origin string
	// HubIdentity is the hub's STIX identity id, recorded in its key file
	// (optional).
	HubIdentity string
	// NoSync skips the catch-up on open (for audits, which must see the
	// log exactly as it is).
	NoSync bool
	// Deferred makes Commit of unsigned batches hand the log append to a
	// background goroutine instead of doing it before returning, so that a
	// bulk import's next store transaction overlaps the hashing and
	// appending of the previous one. Close waits for the log to catch up.
	// Versions committed but not yet appended when the process dies are
	// appended by the catch-up of the next Open, as after any crash.
	Deferred bool
}

// Ledger is the hub's transparency log over its object store. It is safe
// for concurrent use.
type Ledger struct {
	st    store.Store
	all   sharing.Access
	log   *slog.Logger
	db    *sqlitelog.Store
	tl    *translog.Log
	heads *translog.HeadSigner

	mu  sync.Mutex // guards the following; held while appending
	hwm time.Time  // date_added of the last version logged as added

	hmu   sync.Mutex // guards the following
	hints map[hintKey]*hint
	// known holds the versions this process committed and the log has
	// not appended yet, with the hashes computed by the submitter
	// (Record.Hash): Sync uses them instead of reading and hashing the
	// stored JSON, and appends them without reading the store at all when
	// the store confirms they are every version added after the mark.
	known map[knownKey]knownVersion

	// kick wakes the background syncer of a Deferred ledger (nil
	// otherwise); done is closed when it has stopped.
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// hintKey identifies a version about to be committed by a signed submission.
type hintKey struct {
	collection, id string
	hash           [32]byte
}

// knownKey identifies a stored version: date_added is unique.
type knownKey struct {
	collection string
	dateAdded  int64 // microseconds
}

// knownVersion is a version committed by this process, as the log records it.
type knownVersion struct {
	id, version string
	hash        [32]byte
}

// addedCounter is implemented by stores that count the versions added in
// a date_added range, in all collections, without reading them; Sync uses
// it to append the versions this process committed without reading them
// back (internal/store/sqlite implements it).
type addedCounter interface {
	CountAdded(ctx context.Context, after, through time.Time) (int, error)
}

// hint is the signer of a version about to be committed.
type hint struct {
	signer, keyID string
	n             int
}

// Open opens (creating when missing) the log in the data directory dir over
// the store st, loads or generates the hub's log key and, unless
// opts.NoSync, appends the versions the store holds beyond the log's
// high-water mark. policy provides the predicate under which the log sees
// every stored version.
func Open(ctx context.Context, dir string, st store.Store, policy *sharing.Policy, log *slog.Logger, opts Options) (*Ledger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Origin == "" {
		opts.Origin = DefaultOrigin
	}
	key, err := LoadHubKey(dir, opts.HubIdentity, true)
	if err != nil {
		return nil, err
	}
	heads, err := translog.NewHeadSigner(opts.Origin, key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	db, err := sqlitelog.Open(ctx, filepath.Join(dir, LogFile))
	if err != nil {
		return nil, fmt.Errorf("opening transparency log: %w", err)
	}
	l := &Ledger{
		st: st, all: policy.DeleteAccess(sharing.Principal{Role: sharing.RoleHubAdmin}), log: log,
		db: db, tl: translog.New(db), heads: heads, hints: map[hintKey]*hint{}, known: map[knownKey]knownVersion{},
	}
	if err := l.loadMark(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.NoSync {
		n, err := l.Sync(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if n > 0 {
			log.InfoContext(ctx, "transparency log caught up", "versions", n)
		}
	}
	if opts.Deferred {
		l.kick, l.stop, l.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go l.syncer()
	}
	return l, nil
}

// LoadHubKey reads the hub's log key from DIR/keys/hub.key; when it is
// missing and create is set, it generates an Ed25519 key and writes it with
// mode 0600 (the directory 0700).
func LoadHubKey(dir, identity string, create bool) (*sign.PrivateKey, error) {
	path := filepath.Join(dir, KeyDir, HubKeyFile)
	data, err := os.ReadFile(path)
	if err == nil {
		_, key, err := sign.ParsePrivateKeyFile(data)
		if err != nil {
			return nil, fmt.Errorf("hub log key %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		return nil, fmt.Errorf("hub log key: %w: %v", errkind.NotFound, err)
	}
	if identity == "" {
		identity = placeholderIdentity
	}
	key, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		return nil, fmt.Errorf("generating hub log key: %w", err)
	}
	b, err := sign.MarshalPrivateKeyFile(identity, key)
	if err != nil {
		return nil, fmt.Errorf("hub log key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process won the race
			return LoadHubKey(dir, identity, false)
		}
		return nil, fmt.Errorf("writing hub log key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing hub log key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing hub log key: %w", err)
	}
	return key, nil
}

// Close closes the log database (not the object store).
func (l *Ledger) Close() error {
	var serr error
	if l.kick != nil {
		close(l.stop)
		<-l.done
		_, serr = l.Sync(context.Background())
		if serr != nil {
			serr = fmt.Errorf("appending the last versions to the log (appended on the next open): %w", serr)
		}
	}
	return errors.Join(serr, l.db.Close())
}

// syncer is the background goroutine of a Deferred ledger.
func (l *Ledger) syncer() {
	defer close(l.done)
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
			if !l.gather() {
				return // Close syncs what is left
			}
			if _, err := l.Sync(context.Background()); err != nil {
				l.log.Error("appending to the transparency log (retried on the next commit)", "err", err)
			}
		}
	}
}

// Deferred appends gather the commits of up to gatherDelay, or until
// gatherVersions versions are pending, into one log transaction: the log's
// object-hash index is random, so each append rewrites most of its pages
// once a log holds millions of entries, and fewer, larger appends rewrite
// them less often (a bulk import of 1,000,000 objects wrote 15 % fewer
// bytes with 3 s / 150,000 than with 250 ms / 20,000).
const (
	gatherDelay    = 2 * time.Second
	gatherVersions = 100000
)

// gather waits, after a kick, for more commits to append together; it
// reports false when the ledger is closing.
func (l *Ledger) gather() bool {
	t := time.NewTimer(gatherDelay)
	defer t.Stop()
	for {
		l.hmu.Lock()
		n := len(l.known)
		l.hmu.Unlock()
		if n >= gatherVersions {
			return true
		}
		select {
		case <-l.stop:
			return false
		case <-t.C:
			return true
		case <-l.kick:
		}
	}
}

// Log returns the transparency log.
func (l *Ledger) Log() *translog.Log { return l.tl }

// VerifierKey returns the note verifier key clients configure to check the
// hub's tree heads and receipts.
func (l *Ledger) VerifierKey() string { return l.heads.VerifierKey() }

// Checkpoint returns the signed tree head of the current log.
func (l *Ledger) Checkpoint(ctx context.Context) ([]byte, error) {
	t, err := l.tl.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading log head: %w", err)
	}
	return l.heads.SignTree(t)
}

// Receipt returns the receipt of log record index against the current
// signed tree head.
func (l *Ledger) Receipt(ctx context.Context, index int64) (*translog.Receipt, error) {
	return l.tl.Receipt(ctx, index, l.heads)
}

// loadMark finds the high-water mark: the date_added of the last entry
// logged as added (deletes carry the older date of the version removed).
func (l *Ledger) loadMark(ctx context.Context) error {
	n, err := l.tl.Head(ctx)
	if err != nil {
		return fmt.Errorf("reading log head: %w", err)
	}
	const chunk = 256
	for end := n.N; end > 0; end -= chunk {
		start := max(0, end-chunk)
		es, err := l.db.ReadEntries(ctx, start, int(end-start))
		if err != nil {
			return fmt.Errorf("reading log entries: %w", err)
		}
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].Op != translog.Add {
				continue
			}
			t, err := time.Parse(DateAddedFormat, es[i].DateAdded)
			if err != nil {
				return fmt.Errorf("%w: log record %d: date_added %q", errkind.Invalid, start+int64(i), es[i].DateAdded)
			}
			l.hwm = t
			return nil
		}
	}
	return nil
}

// Mark returns the high-water mark: the date_added of the last version
// logged as added (zero for an empty log).
func (l *Ledger) Mark() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hwm
}

// collections lists the ids of every collection of every API root.
func (l *Ledger) collections(ctx context.Context) ([]string, error) {
	roots, err := l.st.APIRoots(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing API roots: %w", err)
	}
	var ids []string
	for _, r := range roots {
		cs, err := l.st.Collections(ctx, r.Name)
		if err != nil {
			return nil, fmt.Errorf("listing collections of %s: %w", r.Name, err)
		}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}

// stored is a version read from the store.
type stored struct {
	collection string
	e          store.Entry
}

// Sync appends every stored version added after the high-water mark, in
// date_added order, and returns how many it appended.
func (l *Ledger) Sync(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncLocked(ctx)
}

func (l *Ledger) syncLocked(ctx context.Context) (int, error) {
	n, done, err := l.syncKnown(ctx)
	if err != nil || done {
		return n, err
	}
	colls, err := l.collections(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		var batch []stored
		var bound time.Time // every version up to it has been read
		for _, c := range colls {
			pg, err := l.versions(ctx, c)
			if err != nil {
				return total, err
			}
			for _, e := range pg.Entries {
				batch = append(batch, stored{c, e})
			}
			if pg.More {
				last := pg.Entries[len(pg.Entries)-1].DateAdded
				if bound.IsZero() || last.Before(bound) {
					bound = last
				}
			}
		}
		if !bound.IsZero() {
			batch = slices.DeleteFunc(batch, func(s stored) bool { return s.e.DateAdded.After(bound) })
		}
		if len(batch) == 0 {
			return total, nil
		}
		slices.SortFunc(batch, func(a, b stored) int { return a.e.DateAdded.Compare(b.e.DateAdded) })
		entries := make([]translog.Entry, len(batch))
		hashes, err := l.digests(batch)
		if err != nil {
			return total, err
		}
		for i, s := range batch {
			entries[i] = translog.Entry{
				Op: translog.Add, Collection: s.collection, ObjectID: s.e.ID, Version: s.e.Version,
				DateAdded: s.e.DateAdded.UTC().Format(DateAddedFormat), ObjectHash: hashes[i],
			}
		}
		if err := l.appendAdded(ctx, entries, batch[len(batch)-1].e.DateAdded); err != nil {
			return total, err
		}
		total += len(entries)
		if bound.IsZero() {
			return total, nil
		}
	}
}

// appendAdded appends entries of added versions (in date_added order, the
// last added at mark) with the signers hinted for them, and moves the
// high-water mark to mark.
func (l *Ledger) appendAdded(ctx context.Context, entries []translog.Entry, mark time.Time) error {
	l.hmu.Lock()
	if len(l.hints) > 0 {
		for i := range entries {
			e := &entries[i]
			if hn := l.hints[hintKey{e.Collection, e.ObjectID, e.ObjectHash}]; hn != nil {
				e.Signer, e.KeyID = hn.signer, hn.keyID
			}
		}
	}
	l.hmu.Unlock()
	if _, err := l.tl.Append(ctx, entries...); err != nil {
		return fmt.Errorf("appending %d versions to the log: %w", len(entries), err)
	}
	l.hwm = mark
	l.forget(l.hwm)
	return nil
}

// syncKnown appends the versions this process committed after the mark
// without reading them back from the store, when the store counts exactly
// as many versions added in that range (no other writer added any, none
// was deleted meanwhile). done reports whether it did; otherwise Sync
// reads the store as usual.
func (l *Ledger) syncKnown(ctx context.Context) (n int, done bool, err error) {
	counter, ok := l.st.(addedCounter)
	if !ok {
		return 0, false, nil
	}
	type pending struct {
		k knownKey
		v knownVersion
	}
	mark := l.hwm.UnixMicro()
	l.hmu.Lock()
	batch := make([]pending, 0, len(l.known))
	for k, v := range l.known {
		if k.dateAdded > mark {
			batch = append(batch, pending{k, v})
		}
	}
	l.hmu.Unlock()
	if len(batch) == 0 {
		return 0, false, nil
	}
	slices.SortFunc(batch, func(a, b pending) int { return cmp.Compare(a.k.dateAdded, b.k.dateAdded) })
	through := fromMicro(batch[len(batch)-1].k.dateAdded)
	count, err := counter.CountAdded(ctx, l.hwm, through)
	if err != nil || count != len(batch) {
		return 0, false, nil // read the store instead
	}
	entries := make([]translog.Entry, len(batch))
	for i, p := range batch {
		entries[i] = translog.Entry{
			Op: translog.Add, Collection: p.k.collection, ObjectID: p.v.id, Version: p.v.version,
			DateAdded: fromMicro(p.k.dateAdded).Format(DateAddedFormat), ObjectHash: p.v.hash,
		}
	}
	if err := l.appendAdded(ctx, entries, through); err != nil {
		return 0, true, err
	}
	return len(entries), true, nil
}

// fromMicro converts microseconds since the epoch to a UTC time.
func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }

// versions reads the next page of versions of collection c added after the
// high-water mark: without their JSON when the hashes of all of them are
// known, else with it.
func (l *Ledger) versions(ctx context.Context, c string) (store.Page, error) {
	f := store.Filter{
		Collection: c, Access: l.all, AddedAfter: l.hwm, Limit: syncPage,
		Versions: []string{"all"}, SpecVersions: allSpecs,
	}
	pg, err := l.st.Manifest(ctx, f)
	if err == nil {
		l.hmu.Lock()
		missing := slices.ContainsFunc(pg.Entries, func(e store.Entry) bool {
			_, ok := l.known[knownKey{c, e.DateAdded.UnixMicro()}]
			return !ok
		})
		l.hmu.Unlock()
		if !missing {
			return pg, nil
		}
		pg, err = l.st.Query(ctx, f)
	}
	if err != nil {
		return pg, fmt.Errorf("reading versions of collection %s: %w", c, err)
	}
	return pg, nil
}

// forget drops the known hashes of versions added up to mark.
func (l *Ledger) forget(mark time.Time) {
	m := mark.UnixMicro()
	l.hmu.Lock()
	defer l.hmu.Unlock()
	for k := range l.known {
		if k.dateAdded <= m {
			delete(l.known, k)
		}
	}
}

// digests returns the canonical hashes of a batch: known ones as they
// are, the others computed from the stored JSON on every CPU.
func (l *Ledger) digests(batch []stored) ([][32]byte, error) {
	out := make([][32]byte, len(batch))
	var todo []int
	l.hmu.Lock()
	for i, s := range batch {
		v, ok := l.known[knownKey{s.collection, s.e.DateAdded.UnixMicro()}]
		if ok {
			out[i] = v.hash
		} else {
			todo = append(todo, i)
		}
	}
	l.hmu.Unlock()
	errs := make([]error, len(batch))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(todo)/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := w; j < len(todo); j += workers {
				i := todo[j]
				h, err := sign.Digest(batch[i].e.Raw)
				if err != nil {
					errs[i] = fmt.Errorf("hashing %s in collection %s: %w", batch[i].e.ID, batch[i].collection, err)
				}
				out[i] = h
			}
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Commit runs commit, the store transaction of a batch of recs submitted
// into collection (signed by the organisation signer with key keyID when
// signer is not empty), then appends the versions it stored to the log,
// using the records' Hash where set. It returns commit's results and
// error: a failure to append is logged and healed by the next Sync (at the
// latest on the next Open), since the versions are already stored. It
// implements ingest.Recorder.
func (l *Ledger) Commit(ctx context.Context, collection string, recs []store.Record, signer, keyID string, commit func() ([]store.AddResult, error)) ([]store.AddResult, error) {
	var keys []hintKey
	if signer != "" {
		keys = make([]hintKey, 0, len(recs))
		l.hmu.Lock()
		for _, r := range recs {
			h := r.Hash
			if h == ([32]byte{}) {
				h = stix.Hash(r.Object)
			}
			k := hintKey{collection, r.Object.ID, h}
			keys = append(keys, k)
			if h := l.hints[k]; h != nil {
				h.n++
			} else {
				l.hints[k] = &hint{signer: signer, keyID: keyID, n: 1}
			}
		}
		l.hmu.Unlock()
	}
	res, err := commit()
	if err == nil && len(res) == len(recs) {
		// The stored JSON of a version with a date_added is exactly its
		// record's (a new version, or an identical copy already stored).
		l.hmu.Lock()
		for i, r := range res {
			if r.Err == nil && !r.DateAdded.IsZero() && recs[i].Hash != ([32]byte{}) {
				l.known[knownKey{collection, r.DateAdded.UnixMicro()}] = knownVersion{id: r.ID, version: r.Version, hash: recs[i].Hash}
			}
		}
		l.hmu.Unlock()
	}
	if err == nil && l.kick != nil && len(keys) == 0 {
		// Deferred: the background syncer appends (signed batches are
		// appended here, while their signer hints are held).
		select {
		case l.kick <- struct{}{}:
		default: // a sync is already due; it will see this commit too
		}
		return res, nil
	}
	if err == nil {
		if _, serr := l.Sync(context.WithoutCancel(ctx)); serr != nil {
			l.log.ErrorContext(ctx, "appending to the transparency log (retried on the next commit)", "collection", collection, "err", serr)
		}
	}
	if len(keys) > 0 {
		l.hmu.Lock()
		for _, k := range keys {
			if h := l.hints[k]; h != nil {
				if h.n--; h.n <= 0 {
					delete(l.hints, k)
				}
			}
		}
		l.hmu.Unlock()
	}
	return res, err
}

// Wrap returns st with Delete logging the versions it removes as delete
// entries. Use the wrapped store wherever the hub deletes objects.
func (l *Ledger) Wrap(st store.Store) store.Store { return &loggedStore{Store: st, l: l} }

// loggedStore logs deletes.
type loggedStore struct {
	store.Store
	l *Ledger
}

// Delete implements store.Objects: it reads the versions f selects, deletes
// them, and logs those that are gone as delete entries.
func (s *loggedStore) Delete(ctx context.Context, f store.Filter) (int, error) {
	l := s.l
	if f.Collection == "" || len(f.IDs) == 0 {
		return s.Store.Delete(ctx, f)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.syncLocked(ctx); err != nil {
		l.log.ErrorContext(ctx, "appending to the transparency log before a delete", "err", err)
	}
	pre := f
	pre.IDs, pre.Limit, pre.Next = f.IDs[:1], 0, ""
	before, err := s.Store.Query(ctx, pre)
	if err != nil {
		return 0, err
	}
	n, err := s.Store.Delete(ctx, f)
	if err != nil || n == 0 {
		return n, err
	}
	after, err := s.Store.Query(ctx, store.Filter{
		Collection: f.Collection, IDs: f.IDs[:1], Access: l.all, Versions: []string{"all"}, SpecVersions: allSpecs,
	})
	if err != nil {
		l.log.ErrorContext(ctx, "reading versions after a delete", "id", f.IDs[0], "err", err)
		return n, nil
	}
	left := map[int64]bool{}
	for _, e := range after.Entries {
		left[e.DateAdded.UnixMicro()] = true
	}
	var entries []translog.Entry
	for _, e := range before.Entries {
		if left[e.DateAdded.UnixMicro()] {
			continue
		}
		h, err := sign.Digest(e.Raw)
		if err != nil {
			l.log.ErrorContext(ctx, "hashing a deleted version", "id", e.ID, "err", err)
			continue
		}
		entries = append(entries, translog.Entry{
			Op: translog.Delete, Collection: f.Collection, ObjectID: e.ID, Version: e.Version,
			DateAdded: e.DateAdded.UTC().Format(DateAddedFormat), ObjectHash: h,
		})
	}
	if len(entries) > 0 {
		if _, err := l.tl.Append(context.WithoutCancel(ctx), entries...); err != nil {
			l.log.ErrorContext(ctx, "logging deleted versions", "id", f.IDs[0], "err", err)
		}
	}
	return n, nil
}

// Audit checks the log against itself, against trusted (a tree head
// verified earlier; the zero Tree skips that check) and against every
// version the store holds now; see translog.Audit.
func (l *Ledger) Audit(ctx context.Context, trusted tlog.Tree) (*translog.Report, error) {
	colls, err := l.collections(ctx)
	if err != nil {
		return nil, err
	}
	current := func(yield func(translog.Current, error) bool) {
		for _, c := range colls {
			f := store.Filter{Collection: c, Access: l.all, Limit: syncPage, Versions: []string{"all"}, SpecVersions: allSpecs}
			for {
				pg, err := l.st.Query(ctx, f)
				if err != nil {
					yield(translog.Current{}, fmt.Errorf("reading collection %s: %w", c, err))
					return
				}
				for _, e := range pg.Entries {
					h, err := sign.Digest(e.Raw)
					if err != nil {
						// Stored JSON that no longer parses was edited:
						// hash its bytes so the audit reports it.
						h = rawHash(e.Raw)
					}
					if !yield(translog.Current{Key: translog.ObjectKey{Collection: c, ObjectID: e.ID, Version: e.Version}, Hash: h}, nil) {
						return
					}
				}
				if !pg.More {
					break
				}
				f.Next = pg.Next
			}
		}
	}
	return translog.Audit(ctx, l.tl, trusted, current)
}

// rawHash is the SHA-256 of bytes that are not valid JSON any more.
func rawHash(b []byte) [32]byte { return sha256.Sum256(b) }
