package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/sqlitelog"
)

// File is the audit database inside the data directory.
const File = "audit.db"

// LogCollection is the collection field of the audit log's entries; their
// object id is EntryID(index).
const LogCollection = "kizuna-audit"

// EntryID is the object id the log entry of record index carries.
func EntryID(index int64) string { return "audit-record-" + strconv.FormatInt(index, 10) }

// DefaultQueue is the capacity of the asynchronous writer's queue.
const DefaultQueue = 8192

// maxBatch is the most records one write transaction carries.
const maxBatch = 1024

const schema = `
CREATE TABLE IF NOT EXISTS audit_records (
	seq        INTEGER PRIMARY KEY, -- the record's index, also its log index
	time       TEXT NOT NULL,
	org_id     TEXT NOT NULL,
	org        TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	user       TEXT NOT NULL,
	token_id   TEXT NOT NULL,
	role       TEXT NOT NULL,
	iface      TEXT NOT NULL,
	action     TEXT NOT NULL,
	method     TEXT NOT NULL,
	path       TEXT NOT NULL,
	collection TEXT NOT NULL,
	objects    TEXT NOT NULL, -- JSON array of ids
	count      INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	client     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time ON audit_records(time);
CREATE INDEX IF NOT EXISTS audit_records_org ON audit_records(org_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
`

// Options configures Open.
type Options struct {
	// Origin names the audit log in its signed tree heads (default
	// ledger.DefaultOrigin + "/audit").
	Origin string
	// HubIdentity is the hub's STIX identity id, for a hub key generated
	// now (see ledger.LoadHubKey).
	HubIdentity string
	// Queue is the capacity of the asynchronous writer's queue (default
	// DefaultQueue). Record blocks while it is full.
	Queue int
	// ReadOnly opens the trail for queries and verification: no catch-up
	// of unlogged records, no writer, no key generated.
	ReadOnly bool
	// Log receives write failures (default: discarded).
	Log *slog.Logger
}

// Trail is the audit trail of a data directory. It is safe for concurrent
// use.
type Trail struct {
	db    *sql.DB
	ls    *sqlitelog.Store
	tl    *translog.Log
	heads *translog.HeadSigner
	log   *slog.Logger

	wmu sync.Mutex // serialises writes (insert, then log append)

	cmu    sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan item
	done   chan struct{}
}

// item is a record to write, or (rec nil) a flush marker.
type item struct {
	rec     *Record
	flushed chan error
}

// Open opens (creating when missing) DIR/audit.db, loads the hub's log key
// (DIR/keys/hub.key; generated unless ReadOnly) and, unless ReadOnly,
// appends to the log any record stored but not yet logged (after a crash)
// and starts the asynchronous writer.
func Open(ctx context.Context, dir string, opts Options) (*Trail, error) {
	if opts.Origin == "" {
		opts.Origin = ledger.DefaultOrigin + "/audit"
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	key, err := ledger.LoadHubKey(dir, opts.HubIdentity, !opts.ReadOnly)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	heads, err := translog.NewHeadSigner(opts.Origin, key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("audit log key: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	path := filepath.Join(dir, File)
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating audit tables in %s: %w", path, err)
	}
	ls, err := sqlitelog.New(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("audit log in %s: %w", path, err)
	}
	t := &Trail{db: db, ls: ls, tl: translog.New(ls), heads: heads, log: opts.Log}
	if opts.ReadOnly {
		return t, nil
	}
	if err := t.catchUp(ctx, nil); err != nil {
		db.Close()
		return nil, err
	}
	t.queue, t.done = make(chan item, opts.Queue), make(chan struct{})
	go t.writer()
	return t, nil
}

// Close flushes the queue, stops the writer and closes the database.
func (t *Trail) Close() error {
	t.cmu.Lock()
	wasOpen := !t.closed && t.queue != nil
	t.closed = true
	if wasOpen {
		close(t.queue)
	}
	t.cmu.Unlock()
	if wasOpen {
		<-t.done
	}
	return t.db.Close()
}

// ErrClosed is returned by Record and Flush after Close.
var ErrClosed = errors.New("audit trail closed")

// Record queues r for the asynchronous writer. It blocks while the queue
// is full (a record is never dropped) until ctx ends. The writer batches
// queued records into one transaction and one log append.
func (t *Trail) Record(ctx context.Context, r Record) error {
	t.cmu.RLock()
	defer t.cmu.RUnlock()
	if t.closed || t.queue == nil {
		return ErrClosed
	}
	select {
	case t.queue <- item{rec: &r}:
		return nil
	default:
	}
	select {
	case t.queue <- item{rec: &r}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit: queue full: %w", ctx.Err())
	}
}

// Flush waits until every record queued before it is written.
func (t *Trail) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	t.cmu.RLock()
	if t.closed || t.queue == nil {
		t.cmu.RUnlock()
		return ErrClosed
	}
	select {
	case t.queue <- item{flushed: ch}:
	case <-ctx.Done():
		t.cmu.RUnlock()
		return ctx.Err()
	}
	t.cmu.RUnlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer drains the queue in batches until Close.
func (t *Trail) writer() {
	defer close(t.done)
	batch := make([]Record, 0, maxBatch)
	var flushes []chan error
	for it := range t.queue {
		batch, flushes = batch[:0], flushes[:0]
		add := func(it item) {
			if it.rec != nil {
				batch = append(batch, *it.rec)
			} else {
				flushes = append(flushes, it.flushed)
			}
		}
		add(it)
	more:
		for len(batch) < maxBatch {
			select {
			case it, ok := <-t.queue:
				if !ok {
					break more
				}
				add(it)
			default:
				break more
			}
		}
		err := t.writeRetry(batch)
		for _, ch := range flushes {
			ch <- err
		}
	}
}

// writeRetry writes a batch, retrying with back-off; a batch that still
// fails is logged record by record at level ERROR, never dropped silently.
func (t *Trail) writeRetry(batch []Record) error {
	if len(batch) == 0 {
		return nil
	}
	var err error
	for attempt, wait := 0, 50*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		if err = t.Write(context.Background(), batch...); err == nil {
			return nil
		}
		time.Sleep(wait)
	}
	for _, r := range batch {
		b, _ := json.Marshal(r)
		t.log.Error("audit record not stored", "err", err, "record", string(b))
	}
	return err
}

// Write stores records synchronously in one transaction and appends them
// to the audit log (the CLI's path; the server uses Record).
func (t *Trail) Write(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	entries, first, err := t.insert(ctx, recs)
	if err != nil {
		return err
	}
	return t.catchUp(ctx, &pending{first: first, entries: entries})
}

// pending are the log entries of records just inserted from index first.
type pending struct {
	first   int64
	entries []translog.Entry
}

// insert stores recs after the last record in one transaction and
// returns their log entries and the index of the first.
func (t *Trail) insert(ctx context.Context, recs []Record) (_ []translog.Entry, first int64, err error) {
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("audit write: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq)+1, 0) FROM audit_records`).Scan(&first); err != nil {
		return nil, 0, fmt.Errorf("audit write: %w", err)
	}
	entries := make([]translog.Entry, len(recs))
	const cols = 17
	const perStmt = 50
	args := make([]any, 0, cols*perStmt)
	var sb strings.Builder
	flush := func(n int) error {
		sb.Reset()
		sb.WriteString(`INSERT INTO audit_records (seq, time, org_id, org, user_id, user, token_id, role, iface, action, method, path, collection, objects, count, status, client) VALUES `)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
		}
		_, err := tx.ExecContext(ctx, sb.String(), args...)
		args = args[:0]
		return err
	}
	for i := range recs {
		r := &recs[i]
		r.normalise()
		idx := first + int64(i)
		h, err := Hash(idx, r)
		if err != nil {
			return nil, 0, err
		}
		objs := r.Objects
		if objs == nil {
			objs = []string{}
		}
		ob, err := json.Marshal(objs)
		if err != nil {
			return nil, 0, fmt.Errorf("audit write: %w", err)
		}
		ts := r.Time.Format(TimeFormat)
		args = append(args, idx, ts, r.OrgID, r.Org, r.UserID, r.User, r.TokenID, r.Role, string(r.Interface),
			string(r.Action), r.Method, r.Path, r.Collection, string(ob), r.Count, r.Status, r.Client)
		entries[i] = translog.Entry{Op: translog.Add, Collection: LogCollection, ObjectID: EntryID(idx), DateAdded: ts, ObjectHash: h}
		if len(args) == cols*perStmt {
			if err := flush(perStmt); err != nil {
				return nil, 0, fmt.Errorf("audit write: %w", err)
			}
		}
	}
	if len(args) > 0 {
		if err := flush(len(args) / cols); err != nil {
			return nil, 0, fmt.Errorf("audit write: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("audit write: %w", err)
	}
	return entries, first, nil
}

// catchUp appends to the log every stored record it does not hold yet:
// p's entries when the log ends right before them (the usual case), else
// entries recomputed from the stored records (after a crash, or when
// another process wrote in between). Appends conflicting with another
// process are retried.
func (t *Trail) catchUp(ctx context.Context, p *pending) error {
	for attempt := 0; ; attempt++ {
		size, err := t.ls.Size(ctx)
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		var entries []translog.Entry
		if p != nil && size == p.first {
			entries = p.entries
		} else {
			entries, err = t.storedEntries(ctx, size)
			if err != nil {
				return err
			}
		}
		if len(entries) == 0 {
			return nil
		}
		_, err = t.tl.Append(ctx, entries...)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errkind.Conflict) || attempt >= 10 {
			return fmt.Errorf("audit log: %w", err)
		}
	}
}

// storedEntries returns the log entries of the stored records from index
// from on.
func (t *Trail) storedEntries(ctx context.Context, from int64) ([]translog.Entry, error) {
	var entries []translog.Entry
	for e, err := range t.scan(ctx, from) {
		if err != nil {
			return nil, err
		}
		if e.Index != from+int64(len(entries)) {
			return nil, fmt.Errorf("audit log: record %d missing from %s (next stored is %d)", from+int64(len(entries)), File, e.Index)
		}
		h, err := Hash(e.Index, &e.Record)
		if err != nil {
			return nil, err
		}
		entries = append(entries, translog.Entry{Op: translog.Add, Collection: LogCollection, ObjectID: EntryID(e.Index),
			DateAdded: e.Time.Format(TimeFormat), ObjectHash: h})
	}
	return entries, nil
}

// Log returns the audit transparency log.
func (t *Trail) Log() *translog.Log { return t.tl }

// VerifierKey returns the note verifier key of the audit log's tree heads.
func (t *Trail) VerifierKey() string { return t.heads.VerifierKey() }

// Checkpoint returns the signed tree head of the audit log.
func (t *Trail) Checkpoint(ctx context.Context) ([]byte, error) {
	h, err := t.tl.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit log head: %w", err)
	}
	return t.heads.SignTree(h)
}

// Receipt returns the receipt (entry, inclusion proof, signed tree head)
// of record index.
func (t *Trail) Receipt(ctx context.Context, index int64) (*translog.Receipt, error) {
	return t.tl.Receipt(ctx, index, t.heads)
}

// Verify checks the audit log against itself, against trusted (a tree
// head verified earlier; the zero Tree skips that check) and against
// every stored record: a record edited, removed or added behind the hub's
// back is a finding naming it (EntryID). See translog.Audit.
func (t *Trail) Verify(ctx context.Context, trusted tlog.Tree) (*translog.Report, error) {
	current := func(yield func(translog.Current, error) bool) {
		for e, err := range t.scan(ctx, 0) {
			if err != nil {
				yield(translog.Current{}, err)
				return
			}
			h, err := Hash(e.Index, &e.Record)
			if err != nil {
				h = [32]byte{} // unhashable: reported as edited
			}
			if !yield(translog.Current{Key: translog.ObjectKey{Collection: LogCollection, ObjectID: EntryID(e.Index)}, Hash: h}, nil) {
				return
			}
		}
	}
	return translog.Audit(ctx, t.tl, trusted, current)
}
