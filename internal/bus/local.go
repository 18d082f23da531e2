package bus

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// LocalFile is the database file OpenLocal uses inside the data directory.
const LocalFile = "bus.db"

// LocalOptions configure a Local bus.
type LocalOptions struct {
	// PollInterval bounds how long a subscription waits before looking for
	// messages published by other processes (default 250 ms); messages
	// published through the same Local are handed over at once.
	PollInterval time.Duration
	// Retention drops messages older than this even when a consumer has
	// not acknowledged them (default 7 days), like a stream's maximum age.
	Retention time.Duration
	// Backoff is the delay before a message whose handler failed is tried
	// again (default 1 s, doubled up to 1 min).
	Backoff time.Duration
	// Logger receives handler failures (default: discarded).
	Logger *slog.Logger
}

// Local is the embedded bus: an append-only event table and one
// acknowledged position per durable consumer in DIR/bus.db. Several
// processes may publish to the same file; a consumer name should be
// subscribed by one process at a time. Messages are delivered in order,
// one at a time per subscription; a failing handler holds its consumer
// back (with back-off) until it succeeds.
type Local struct {
	db  *sql.DB
	opt LocalOptions
	log *slog.Logger

	mu   sync.Mutex // guards wake
	wake []chan struct{}
}

const localSchema = `
CREATE TABLE IF NOT EXISTS bus_messages (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	topic   TEXT NOT NULL,
	id      TEXT NOT NULL,
	data    BLOB NOT NULL,
	created INTEGER NOT NULL -- Unix ns
);
CREATE TABLE IF NOT EXISTS bus_consumers (
	name  TEXT PRIMARY KEY,
	acked INTEGER NOT NULL -- highest seq acknowledged
);
`

// OpenLocal opens (creating if needed) the embedded bus in dir/bus.db.
func OpenLocal(ctx context.Context, dir string, opt LocalOptions) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bus: creating data directory %s: %w", dir, err)
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = 250 * time.Millisecond
	}
	if opt.Retention <= 0 {
		opt.Retention = 7 * 24 * time.Hour
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dir, LocalFile)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bus: opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, localSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("bus: creating tables in %s: %w", path, err)
	}
	return &Local{db: db, opt: opt, log: log}, nil
}

// Publish implements Publisher: the messages are durable, in one
// transaction, when it returns.
func (l *Local) Publish(ctx context.Context, ms ...Message) error {
	for _, m := range ms {
		if err := checkMessage(m); err != nil {
			return err
		}
	}
	if len(ms) == 0 {
		return nil
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("bus: publishing %d messages: %w", len(ms), err)
	}
	defer tx.Rollback()
	// Up to rowsPerInsert messages per INSERT statement: a bulk import
	// publishes one message per object.
	var full *sql.Stmt
	now := time.Now().UnixNano()
	args := make([]any, 0, 4*min(len(ms), rowsPerInsert))
	for rest := ms; len(rest) > 0; {
		k := min(len(rest), rowsPerInsert)
		args = args[:0]
		for _, m := range rest[:k] {
			args = append(args, m.Topic, m.ID, m.Data, now)
		}
		if k == rowsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertSQL(k)); err != nil {
					return fmt.Errorf("bus: publishing %d messages: %w", len(ms), err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(k), args...)
		}
		if err != nil {
			return fmt.Errorf("bus: publishing %d messages (%s %q ...): %w", k, rest[0].Topic, rest[0].ID, err)
		}
		rest = rest[k:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("bus: publishing %d messages: %w", len(ms), err)
	}
	l.mu.Lock()
	for _, w := range l.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	l.mu.Unlock()
	return nil
}

// rowsPerInsert is how many messages one INSERT statement carries.
const rowsPerInsert = 100

// insertSQL is an INSERT of n messages.
func insertSQL(n int) string {
	return `INSERT INTO bus_messages (topic, id, data, created) VALUES (?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?)`, n-1)
}

// Close closes the database.
func (l *Local) Close() error {
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("bus: closing: %w", err)
	}
	return nil
}

type localSub struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Stop implements Subscription.
func (s *localSub) Stop() { s.cancel(); <-s.done }

// Subscribe implements Bus.
func (l *Local) Subscribe(ctx context.Context, name string, h Handler) (Subscription, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, err := l.db.ExecContext(ctx, `INSERT INTO bus_consumers (name, acked) VALUES (?, 0) ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return nil, fmt.Errorf("bus: creating consumer %q: %w", name, err)
	}
	wake := make(chan struct{}, 1)
	l.mu.Lock()
	l.wake = append(l.wake, wake)
	l.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	s := &localSub{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer l.unwake(wake)
		l.run(ctx, name, h, wake)
	}()
	return s, nil
}

func (l *Local) unwake(w chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.wake {
		if x == w {
			l.wake = append(l.wake[:i], l.wake[i+1:]...)
			return
		}
	}
}

// run delivers name's messages until ctx is done.
func (l *Local) run(ctx context.Context, name string, h Handler, wake chan struct{}) {
	backoff := l.opt.Backoff
	for {
		n, err := l.deliver(ctx, name, h)
		wait := l.opt.PollInterval
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.log.WarnContext(ctx, "bus: delivery failed; retrying", "consumer", name, "retry_in", backoff.String(), "err", err)
			wait = backoff
			backoff = min(backoff*2, time.Minute)
		case n > 0:
			backoff = l.opt.Backoff
			continue // there may be more
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			if err == nil {
				t.Stop()
				continue
			}
			<-t.C // a failing handler waits out its back-off
		case <-t.C:
		}
	}
}

// deliverBytes bounds the data read per delivery batch (at least one
// message is read): a message may carry hundreds of events.
const deliverBytes = 1 << 20

// deliver hands the next batch of unacknowledged messages to h, recording
// the position after each acknowledged one; it returns how many were
// acknowledged.
func (l *Local) deliver(ctx context.Context, name string, h Handler) (int, error) {
	var acked int64
	if err := l.db.QueryRowContext(ctx, `SELECT acked FROM bus_consumers WHERE name = ?`, name).Scan(&acked); err != nil {
		return 0, fmt.Errorf("bus: consumer %q: %w", name, err)
	}
	cutoff := time.Now().Add(-l.opt.Retention).UnixNano()
	rows, err := l.db.QueryContext(ctx, `SELECT seq, topic, id, data FROM bus_messages WHERE seq > ? AND created >= ? ORDER BY seq LIMIT 256`, acked, cutoff)
	if err != nil {
		return 0, fmt.Errorf("bus: reading messages for %q: %w", name, err)
	}
	type row struct {
		seq int64
		m   Message
	}
	var batch []row
	size := 0
	for size < deliverBytes && rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.m.Topic, &r.m.ID, &r.m.Data); err != nil {
			rows.Close()
			return 0, fmt.Errorf("bus: reading messages for %q: %w", name, err)
		}
		batch = append(batch, r)
		size += len(r.m.Data)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("bus: reading messages for %q: %w", name, err)
	}
	n, last := 0, acked
	var herr error
	for _, r := range batch {
		if herr = h(ctx, r.m); herr != nil {
			herr = fmt.Errorf("bus: %s %q: %w", r.m.Topic, r.m.ID, herr)
			break
		}
		n, last = n+1, r.seq
	}
	if n > 0 {
		// One commit for the handled prefix of the batch: a crash before it
		// only redelivers (at-least-once).
		if _, err := l.db.ExecContext(context.WithoutCancel(ctx), `UPDATE bus_consumers SET acked = ? WHERE name = ? AND acked < ?`, last, name, last); err != nil {
			return 0, fmt.Errorf("bus: acknowledging for %q: %w", name, err)
		}
		l.prune(ctx, cutoff)
	}
	return n, herr
}

// prune drops messages every consumer acknowledged and those past the
// retention.
func (l *Local) prune(ctx context.Context, cutoff int64) {
	// Two range deletes on the rowid: what every consumer acknowledged,
	// and what is older than the retention (messages are appended in time
	// order, so those are the ones before the first recent message; the
	// search for it starts at the oldest message left, which after the
	// first delete is near). An OR of both conditions would scan the whole
	// table on every batch, quadratic in a backlog.
	if _, err := l.db.ExecContext(ctx, `DELETE FROM bus_messages
		WHERE seq <= (SELECT COALESCE(MIN(acked), 0) FROM bus_consumers)`); err != nil {
		l.log.WarnContext(ctx, "bus: pruning acknowledged messages", "err", err)
	}
	if _, err := l.db.ExecContext(ctx, `DELETE FROM bus_messages
		WHERE seq < COALESCE((SELECT seq FROM bus_messages WHERE created >= ? ORDER BY seq LIMIT 1),
			(SELECT MAX(seq) + 1 FROM bus_messages))`, cutoff); err != nil {
		l.log.WarnContext(ctx, "bus: pruning messages past the retention", "err", err)
	}
}
