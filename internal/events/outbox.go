package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// OutboxFile is the database Durable keeps in the data directory; the
// owners' lock files live in the directory OutboxFile+".owners" beside it.
const OutboxFile = "outbox.db"

// OutboxOptions tune Durable. The zero value is the default.
type OutboxOptions struct {
	// CatchUpEvery is how often parked batches, and those a dead process
	// left, are looked for and published again (default 30 s).
	CatchUpEvery time.Duration
	// Backoff is the delay after a failed publish, doubled after each
	// further failure up to MaxBackoff (defaults 100 ms and 5 s).
	Backoff, MaxBackoff time.Duration
	// Attempts is how many times a batch is tried before it is parked
	// for the next catch-up (default 6). While the bus keeps failing,
	// later batches are tried once.
	Attempts int
	// PageSize is how many object versions a catch-up reads at a time
	// (default 1000).
	PageSize int
}

func (o *OutboxOptions) defaults() {
	if o.CatchUpEvery <= 0 {
		o.CatchUpEvery = 30 * time.Second
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 6
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
}

// The outbox's two tables (times are date_added values in Unix µs):
//
//   - outbox_marks: per collection, the high-water mark: every version
//     added at or before it was published, or is covered by a pending
//     row;
//   - outbox_pending: one row per batch being written or published (and
//     per catch-up under way): versions of coll added after "after" by
//     the row's owner may not be on the bus yet. A row is written before
//     the store commits the batch, and deleted (advancing the mark) once
//     its events are on the bus. A row whose owner process is gone, or
//     that its owner parked after the bus kept failing, is claimed by a
//     catch-up, which publishes every version of coll added after it.
//
// The mark only moves forward and one row per batch is written, so the
// cost does not depend on the batch size.
//
// Events that carry their payload (findings, cases, notifications) are
// not in the object store: outbox_events keeps each batch's encoded
// events from before its publish until the bus took them. A batch the bus
// refused is parked; the catch-up publishes parked batches of its owner
// and every batch of a dead owner again.
const outboxSchema = `
CREATE TABLE IF NOT EXISTS outbox_marks (
	coll TEXT PRIMARY KEY,
	mark INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_pending (
	id     INTEGER PRIMARY KEY,
	coll   TEXT NOT NULL,
	after  INTEGER NOT NULL,
	owner  TEXT NOT NULL,
	parked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox_events (
	id     INTEGER PRIMARY KEY,
	owner  TEXT NOT NULL,
	parked INTEGER NOT NULL DEFAULT 0,
	events BLOB NOT NULL -- JSON array of the batch's events as the bus carries them
);
`

// outbox is a durable publisher's record of what is on the bus.
type outbox struct {
	db     *sql.DB
	st     store.Objects
	owners string   // directory of the owners' lock files
	owner  string   // this publisher's token
	lock   *os.File // held while this publisher lives
	opt    OutboxOptions

	mu     sync.Mutex // guards lower and closed
	lower  int64      // µs: below the date_added of any future commit
	closed bool

	stop chan struct{} // closed by close: the catch-up loop ends
	done chan struct{} // closed when the catch-up loop ended
	kick chan struct{} // asks the loop for a catch-up now
}

// Durable makes the publisher's events survive a failing bus and a crash
// (at-least-once: the consumer deduplicates by event id). Finding, case
// and notification events are written to the outbox before their publish
// and deleted once the bus took them; a batch the bus refuses is parked
// and published again by the catch-up (as are the batches of a process
// that died before publishing).
//
// For object-added and sighting events, it keeps an outbox in dir/outbox.db: before the store commits a batch,
// a row saying "versions of this collection added after T may not be on
// the bus yet" is written; once the batch's events are on the bus the row
// is deleted and the collection's high-water mark advances. A publish
// that fails is retried with back-off, then parked; a catch-up, at once
// in the background and then every CatchUpEvery, publishes again every
// version added after the mark (at the first catch-up), after parked
// rows, and after the rows of processes that died. Call it before the
// first write through Store; Close ends it.
func (p *Publisher) Durable(ctx context.Context, dir string, st store.Objects, opt OutboxOptions) error {
	opt.defaults()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("events: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, OutboxFile)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return fmt.Errorf("events: opening %s: %w", path, err)
	}
	// One connection: the writer's rows and the publisher's marks queue in
	// the pool (microseconds) instead of SQLite's busy handler (sleeps of
	// a millisecond and more).
	db.SetMaxOpenConns(1)
	ob := &outbox{db: db, st: st, owners: path + ".owners", opt: opt,
		stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	if err := ob.open(ctx); err != nil {
		db.Close()
		return err
	}
	p.ob = ob
	go p.catchUpLoop(context.WithoutCancel(ctx))
	return nil
}

// open creates the tables, takes the owner lock and sets missing marks.
func (ob *outbox) open(ctx context.Context) error {
	if _, err := ob.db.ExecContext(ctx, outboxSchema); err != nil {
		return fmt.Errorf("events: creating the outbox tables: %w", err)
	}
	if err := os.MkdirAll(ob.owners, 0o750); err != nil {
		return fmt.Errorf("events: outbox owners directory: %w", err)
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	ob.owner = hex.EncodeToString(raw[:])
	lock, err := lockOwner(ob.ownerFile(ob.owner))
	if err != nil {
		return fmt.Errorf("events: outbox owner lock: %w", err)
	}
	ob.lock = lock
	// A collection seen for the first time starts at the present: what it
	// already holds predates alerting (or was published before).
	now := time.Now().UnixMicro() - 1
	roots, err := ob.st.APIRoots(ctx)
	if err != nil {
		ob.unlock()
		return fmt.Errorf("events: outbox: listing API roots: %w", err)
	}
	for _, r := range roots {
		cs, err := ob.st.Collections(ctx, r.Name)
		if err != nil {
			ob.unlock()
			return fmt.Errorf("events: outbox: listing collections of %s: %w", r.Name, err)
		}
		for _, c := range cs {
			if _, err := ob.db.ExecContext(ctx, `INSERT INTO outbox_marks (coll, mark) VALUES (?, ?) ON CONFLICT (coll) DO NOTHING`, c.ID, now); err != nil {
				ob.unlock()
				return fmt.Errorf("events: outbox mark of %s: %w", c.ID, err)
			}
		}
	}
	if err := ob.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(mark), 0) FROM outbox_marks`).Scan(&ob.lower); err != nil {
		ob.unlock()
		return fmt.Errorf("events: outbox marks: %w", err)
	}
	return nil
}

func (ob *outbox) ownerFile(owner string) string { return filepath.Join(ob.owners, owner+".lock") }

func (ob *outbox) unlock() {
	if ob.lock != nil {
		ob.lock.Close()
		os.Remove(ob.lock.Name())
		ob.lock = nil
	}
}

// observe records a committed date_added: later commits are after it
// (the store's date_added is unique and increasing).
func (ob *outbox) observe(us int64) {
	ob.mu.Lock()
	ob.lower = max(ob.lower, us)
	ob.mu.Unlock()
}

// begin writes the pending row of a batch about to be committed to coll
// and returns its id (0 when the outbox is closed).
func (ob *outbox) begin(ctx context.Context, coll string) (int64, error) {
	ob.mu.Lock()
	after, closed := ob.lower, ob.closed
	ob.mu.Unlock()
	if closed {
		return 0, nil
	}
	r, err := ob.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO outbox_pending (coll, after, owner) VALUES (?, ?, ?)`, coll, after, ob.owner)
	if err != nil {
		return 0, fmt.Errorf("events: outbox: %w", err)
	}
	return r.LastInsertId()
}

// finish deletes a published batch's row and advances coll's mark to
// upto (µs; 0 leaves it).
func (ob *outbox) finish(ctx context.Context, row int64, coll string, upto int64) error {
	tx, err := ob.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`DELETE FROM outbox_pending WHERE id = ?`, row); err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	if upto > 0 {
		if _, err := tx.Exec(`INSERT INTO outbox_marks (coll, mark) VALUES (?, ?)
			ON CONFLICT (coll) DO UPDATE SET mark = MAX(mark, excluded.mark)`, coll, upto); err != nil {
			return fmt.Errorf("events: outbox: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	return nil
}

// The outbox's tables of batches (for park and forget).
const (
	pendingTable = "outbox_pending" // batches of object versions
	eventsTable  = "outbox_events"  // batches of payload events
)

// park leaves a batch (a row of table) the bus refused to the next
// catch-up.
func (ob *outbox) park(ctx context.Context, table string, row int64) error {
	if _, err := ob.db.ExecContext(context.WithoutCancel(ctx), `UPDATE `+table+` SET parked = 1 WHERE id = ?`, row); err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	ob.wake()
	return nil
}

// forget deletes a row of table: a batch of object versions the store did
// not commit, or a batch of payload events the bus took.
func (ob *outbox) forget(ctx context.Context, table string, row int64) error {
	if _, err := ob.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM `+table+` WHERE id = ?`, row); err != nil {
		return fmt.Errorf("events: outbox: %w", err)
	}
	return nil
}

func (ob *outbox) wake() {
	select {
	case ob.kick <- struct{}{}:
	default:
	}
}

// claim takes over, in one transaction, the rows a catch-up must
// republish (parked rows of this owner, every row of a dead owner; with
// fromMarks also the collections' marks) and replaces them with one
// parked row of this owner per collection. It returns the collections
// with their lower bounds and new row ids.
func (ob *outbox) claim(ctx context.Context, fromMarks bool) (map[string]claimed, error) {
	type row struct {
		id          int64
		coll, owner string
		after       int64
		parked      bool
	}
	rows, err := ob.db.QueryContext(ctx, `SELECT id, coll, after, owner, parked FROM outbox_pending`)
	all, err := collect(rows, err, func(r *row) []any { return []any{&r.id, &r.coll, &r.after, &r.owner, &r.parked} })
	if err != nil {
		return nil, err
	}
	isDead := ob.deadOwners()
	dead := map[string]bool{}
	var take []row
	for _, r := range all {
		if r.owner == ob.owner {
			if r.parked {
				take = append(take, r)
			}
			continue
		}
		if isDead(r.owner) {
			dead[r.owner] = true
			take = append(take, r)
		}
	}
	from := map[string]int64{}
	if fromMarks {
		type mark struct {
			coll string
			at   int64
		}
		rows, err := ob.db.QueryContext(ctx, `SELECT coll, mark FROM outbox_marks`)
		ms, err := collect(rows, err, func(m *mark) []any { return []any{&m.coll, &m.at} })
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			from[m.coll] = m.at
		}
	}
	for _, r := range take {
		if f, ok := from[r.coll]; !ok || r.after < f {
			from[r.coll] = r.after
		}
	}
	if len(from) == 0 {
		return nil, nil
	}
	// Versions committed from now on are after upto (the store's
	// date_added is at least the wall clock at commit, and above every
	// date_added observed) and covered by their own rows.
	ob.mu.Lock()
	upto := max(ob.lower, time.Now().UnixMicro()-1)
	ob.mu.Unlock()
	tx, err := ob.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("events: outbox: %w", err)
	}
	defer tx.Rollback()
	for _, r := range take {
		if _, err := tx.Exec(`DELETE FROM outbox_pending WHERE id = ?`, r.id); err != nil {
			return nil, fmt.Errorf("events: outbox: %w", err)
		}
	}
	out := make(map[string]claimed, len(from))
	for c, f := range from {
		res, err := tx.Exec(`INSERT INTO outbox_pending (coll, after, owner, parked) VALUES (?, ?, ?, 1)`, c, f, ob.owner)
		if err != nil {
			return nil, fmt.Errorf("events: outbox: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return nil, fmt.Errorf("events: outbox: %w", err)
		}
		out[c] = claimed{row: id, after: f, upto: upto}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("events: outbox: %w", err)
	}
	for o := range dead {
		os.Remove(ob.ownerFile(o))
	}
	return out, nil
}

// claimed is a collection a catch-up republishes: versions added after
// after and up to upto, under the pending row row.
type claimed struct {
	row         int64
	after, upto int64
}

// close ends the catch-up loop (interrupting a catch-up under way),
// releases the owner lock and closes the database. Rows still pending (parked) are claimed by the next catch-up
// of any publisher.
func (ob *outbox) close() {
	ob.mu.Lock()
	if ob.closed {
		ob.mu.Unlock()
		return
	}
	ob.closed = true
	ob.mu.Unlock()
	close(ob.stop)
	<-ob.done
	ob.unlock()
	ob.db.Close()
}

// catchUpLoop runs a catch-up from the marks at once, then one for
// parked and orphaned rows every CatchUpEvery or when a batch is parked.
func (p *Publisher) catchUpLoop(ctx context.Context) {
	ob := p.ob
	defer close(ob.done)
	ctx, cancel := context.WithCancel(ctx) // Close interrupts a catch-up: its rows stay parked
	defer cancel()
	go func() {
		select {
		case <-ob.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	fromMarks := true
	t := time.NewTicker(ob.opt.CatchUpEvery)
	defer t.Stop()
	for {
		if err := p.catchUp(ctx, fromMarks); err != nil {
			if ctx.Err() == nil {
				p.log.WarnContext(ctx, "events: catching up with the bus (tried again later)", "err", err)
			}
		} else {
			fromMarks = false
		}
		select {
		case <-ob.stop:
			return
		case <-t.C:
		case <-ob.kick:
			select { // a parked batch: give the bus a moment
			case <-ob.stop:
				return
			case <-time.After(ob.opt.Backoff):
			}
		}
	}
}

// catchUp republishes the parked and orphaned batches of payload events,
// then the versions of the claimed collections, oldest first, and
// advances their marks.
func (p *Publisher) catchUp(ctx context.Context, fromMarks bool) error {
	ob := p.ob
	errs := []error{p.republishEvents(ctx)}
	cs, err := ob.claim(ctx, fromMarks)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for coll, c := range cs {
		n, err := p.republish(ctx, coll, c)
		if n > 0 {
			p.log.InfoContext(ctx, "events: caught up with the bus", "collection", coll, "events", n)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// everyone is the access predicate that sees every version (publishing
// is not reading: the dispatcher decides who may see an event).
var everyone = sharing.Access{Clauses: []sharing.Clause{{}}}

// republish publishes the events of coll's versions added after c.after
// and up to c.upto, then deletes c.row and advances the mark to c.upto.
// On an error the row stays parked, for the next catch-up.
func (p *Publisher) republish(ctx context.Context, coll string, c claimed) (int, error) {
	ob := p.ob
	f := store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}, Limit: ob.opt.PageSize}
	if c.after > 0 {
		f.AddedAfter = time.UnixMicro(c.after)
	}
	n := 0
	for more := true; more; {
		pg, err := ob.st.Query(ctx, f)
		if err != nil {
			return n, fmt.Errorf("events: catch-up of collection %s: %w", coll, err)
		}
		more, f.Next = pg.More, pg.Next
		ws := make([]wire, 0, len(pg.Entries))
		for _, e := range pg.Entries {
			if e.DateAdded.UnixMicro() > c.upto {
				more = false // committed after the claim: its own row covers it
				break
			}
			ev, err := alert.FromObject(objectKind(e.Type), e.ID+"@"+e.Version, e.Raw, e.Label)
			if err != nil {
				p.log.WarnContext(ctx, "hub event for a stored object", "id", e.ID, "err", err)
				continue
			}
			ev.Object, ev.Time = nil, e.DateAdded.UTC()
			ws = append(ws, p.refWire(ctx, ev, e.Label, Ref{Collection: coll, ID: e.ID, Version: e.Version}))
		}
		if len(ws) > 0 {
			if err := p.publishWires(ctx, ws); err != nil {
				return n, err
			}
			n += len(ws)
		}
	}
	return n, ob.finish(ctx, c.row, coll, c.upto)
}

// save writes a batch of payload events before its publish and returns
// its row (0 when the outbox is closed).
func (ob *outbox) save(ctx context.Context, ws []wire) (int64, error) {
	ob.mu.Lock()
	closed := ob.closed
	ob.mu.Unlock()
	if closed {
		return 0, nil
	}
	data, err := json.Marshal(ws)
	if err != nil {
		return 0, fmt.Errorf("events: outbox: encoding events: %w", err)
	}
	r, err := ob.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO outbox_events (owner, events) VALUES (?, ?)`, ob.owner, data)
	if err != nil {
		return 0, fmt.Errorf("events: outbox: %w", err)
	}
	return r.LastInsertId()
}

// claimEvents takes over the batches of payload events a catch-up
// publishes again: this owner's parked ones and every one of a dead
// owner (made this owner's and parked, so that no other catch-up takes
// them too). It returns their rows.
func (ob *outbox) claimEvents(ctx context.Context) ([]int64, error) {
	type row struct {
		id     int64
		owner  string
		parked bool
	}
	rows, err := ob.db.QueryContext(ctx, `SELECT id, owner, parked FROM outbox_events ORDER BY id`)
	all, err := collect(rows, err, func(r *row) []any { return []any{&r.id, &r.owner, &r.parked} })
	if err != nil {
		return nil, err
	}
	isDead := ob.deadOwners()
	var out []int64
	for _, r := range all {
		if r.owner == ob.owner {
			if r.parked {
				out = append(out, r.id)
			}
			continue
		}
		if !isDead(r.owner) {
			continue
		}
		res, err := ob.db.ExecContext(ctx, `UPDATE outbox_events SET owner = ?, parked = 1 WHERE id = ? AND owner = ?`, ob.owner, r.id, r.owner)
		if err != nil {
			return nil, fmt.Errorf("events: outbox: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			out = append(out, r.id)
		}
	}
	return out, nil
}

// republishEvents publishes the claimed batches of payload events again,
// in the order they were written, deleting each once on the bus; it stops
// at the first the bus refuses (left parked).
func (p *Publisher) republishEvents(ctx context.Context) error {
	ob := p.ob
	ids, err := ob.claimEvents(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, id := range ids {
		var data []byte
		switch err := ob.db.QueryRowContext(ctx, `SELECT events FROM outbox_events WHERE id = ?`, id).Scan(&data); {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return fmt.Errorf("events: outbox: %w", err)
		}
		var ws []wire
		if err := json.Unmarshal(data, &ws); err != nil {
			p.log.ErrorContext(ctx, "events: dropping an undecodable outbox batch", "row", id, "err", err)
		} else if err := p.publishWires(ctx, ws); err != nil {
			return err
		}
		if err := ob.forget(ctx, eventsTable, id); err != nil {
			return err
		}
		n += len(ws)
	}
	if n > 0 {
		p.log.InfoContext(ctx, "events: published parked events", "events", n)
	}
	return nil
}

// collect reads every row of a query (rows and err as QueryContext
// returned them) into values of T, scanning into the fields dest names.
func collect[T any](rows *sql.Rows, err error, dest func(*T) []any) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("events: outbox: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(dest(&v)...); err != nil {
			return nil, fmt.Errorf("events: outbox: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: outbox: %w", err)
	}
	return out, nil
}

// deadOwners returns a function telling whether another publisher is
// dead (its owner lock is not held), looking each owner up once.
func (ob *outbox) deadOwners() func(owner string) bool {
	alive := map[string]bool{ob.owner: true}
	return func(o string) bool {
		a, known := alive[o]
		if !known {
			a = ownerAlive(ob.ownerFile(o))
			alive[o] = a
		}
		return !a
	}
}
