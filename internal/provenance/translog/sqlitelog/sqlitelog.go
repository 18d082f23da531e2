// Package sqlitelog stores a translog transparency log in SQLite
// (modernc.org/sqlite, no cgo). Each record is one row holding its leaf
// text, object hash and the stored tree hashes it adds, so a proof reads
// about log2(n) rows by primary key. Triggers refuse UPDATE and DELETE:
// the table is append-only for anyone going through SQLite's own rules.
package sqlitelog

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

const schema = `
CREATE TABLE IF NOT EXISTS translog_records (
	seq    INTEGER PRIMARY KEY,
	ohash8 INTEGER NOT NULL, -- the object hash's first 8 bytes: a small index
	ohash  BLOB NOT NULL,
	entry  BLOB NOT NULL,
	hashes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS translog_records_ohash8 ON translog_records(ohash8);
CREATE TRIGGER IF NOT EXISTS translog_no_update BEFORE UPDATE ON translog_records
BEGIN SELECT RAISE(ABORT, 'translog_records is append-only'); END;
CREATE TRIGGER IF NOT EXISTS translog_no_delete BEFORE DELETE ON translog_records
BEGIN SELECT RAISE(ABORT, 'translog_records is append-only'); END;
`

// Store is a translog.Store in an SQLite database.
type Store struct {
	db    *sql.DB
	owned bool
}

var _ translog.Store = (*Store)(nil)

// Open opens (creating if needed) the log database file at path.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-65536)",
		// A multi-row INSERT keeps a statement journal: in memory, not in
		// a temporary file. Checkpoints every 64 MiB rather than 4 MiB.
		"temp_store(MEMORY)", "wal_autocheckpoint(16384)", "journal_size_limit(67108864)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", path, err)
	}
	s, err := New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New keeps the log in db (for instance the hub's own database), creating
// its table when missing. Close does not close db.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("creating log table: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database if Open opened it.
func (s *Store) Close() error {
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// DB returns the database, for tests and maintenance.
func (s *Store) DB() *sql.DB { return s.db }

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func size(ctx context.Context, q querier) (int64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq)+1, 0) FROM translog_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("log size: %w", err)
	}
	return n, nil
}

// Size implements translog.Store.
func (s *Store) Size(ctx context.Context) (int64, error) { return size(ctx, s.db) }

// rowsPerInsert is how many records one INSERT statement carries.
const rowsPerInsert = 200

// Append implements translog.Store.
func (s *Store) Append(ctx context.Context, start int64, recs []translog.Record) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("log append: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	n, err := size(ctx, tx)
	if err != nil {
		return err
	}
	if n != start {
		return fmt.Errorf("%w: log append at %d, log has %d records", errkind.Conflict, start, n)
	}
	var full *sql.Stmt
	args := make([]any, 0, 5*rowsPerInsert)
	for len(recs) > 0 {
		k := min(len(recs), rowsPerInsert)
		args = args[:0]
		for i, r := range recs[:k] {
			seq := start + int64(i)
			if want := tlog.StoredHashIndex(0, seq+1) - tlog.StoredHashIndex(0, seq); int64(len(r.Hashes)) != want {
				return fmt.Errorf("%w: log append: record %d has %d hashes, want %d", errkind.Invalid, seq, len(r.Hashes), want)
			}
			text, err := r.Entry.Marshal()
			if err != nil {
				return fmt.Errorf("log append: record %d: %w", seq, err)
			}
			hs := make([]byte, 0, len(r.Hashes)*tlog.HashSize)
			for _, h := range r.Hashes {
				hs = append(hs, h[:]...)
			}
			oh := r.Entry.ObjectHash
			args = append(args, seq, prefix(oh), oh[:], text, hs)
		}
		query := insertSQL(k)
		var stmt *sql.Stmt
		if k == rowsPerInsert {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, query); err != nil {
					return fmt.Errorf("log append: %w", err)
				}
				defer full.Close()
			}
			stmt = full
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, query, args...)
		}
		if err != nil {
			return fmt.Errorf("log append: %w", err)
		}
		recs, start = recs[k:], start+int64(k)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("log append: commit: %w", err)
	}
	return nil
}

// prefix returns the first 8 bytes of an object hash as an SQLite integer.
func prefix(h [32]byte) int64 { return int64(binary.BigEndian.Uint64(h[:8])) }

func insertSQL(rows int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO translog_records (seq, ohash8, ohash, entry, hashes) VALUES `)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	return b.String()
}

// ReadHashes implements translog.Store.
func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	rows := make(map[int64][]byte, len(indexes))
	var seqs []any
	for _, x := range indexes {
		if x < 0 {
			return nil, fmt.Errorf("%w: stored hash %d", errkind.NotFound, x)
		}
		rec, _ := translog.HashLocation(x)
		if _, ok := rows[rec]; !ok {
			rows[rec] = nil
			seqs = append(seqs, rec)
		}
	}
	if len(seqs) > 0 {
		q := `SELECT seq, hashes FROM translog_records WHERE seq IN (?` + strings.Repeat(",?", len(seqs)-1) + `)`
		rs, err := s.db.QueryContext(ctx, q, seqs...)
		if err != nil {
			return nil, fmt.Errorf("log hashes: %w", err)
		}
		defer rs.Close()
		for rs.Next() {
			var seq int64
			var hs []byte
			if err := rs.Scan(&seq, &hs); err != nil {
				return nil, fmt.Errorf("log hashes: %w", err)
			}
			rows[seq] = hs
		}
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("log hashes: %w", err)
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		rec, pos := translog.HashLocation(x)
		hs := rows[rec]
		if hs == nil {
			return nil, fmt.Errorf("%w: stored hash %d (record %d)", errkind.NotFound, x, rec)
		}
		if len(hs) < (pos+1)*tlog.HashSize {
			return nil, fmt.Errorf("log hashes: record %d holds %d bytes of hashes, want position %d", rec, len(hs), pos)
		}
		copy(out[i][:], hs[pos*tlog.HashSize:])
	}
	return out, nil
}

// ReadEntries implements translog.Store.
func (s *Store) ReadEntries(ctx context.Context, start int64, n int) ([]translog.Entry, error) {
	if start < 0 || n < 0 {
		return nil, fmt.Errorf("%w: read entries %d+%d", errkind.Invalid, start, n)
	}
	rs, err := s.db.QueryContext(ctx, `SELECT seq, entry FROM translog_records WHERE seq >= ? ORDER BY seq LIMIT ?`, start, n)
	if err != nil {
		return nil, fmt.Errorf("log entries: %w", err)
	}
	defer rs.Close()
	var out []translog.Entry
	for rs.Next() {
		var seq int64
		var text []byte
		if err := rs.Scan(&seq, &text); err != nil {
			return nil, fmt.Errorf("log entries: %w", err)
		}
		if want := start + int64(len(out)); seq != want {
			return nil, fmt.Errorf("log entries: record %d missing (next is %d)", want, seq)
		}
		e, err := translog.ParseEntry(text)
		if err != nil {
			// Stored text that does not parse was written behind the log's back.
			return nil, fmt.Errorf("%w: log entries: record %d is corrupt: %s",
				provenance.ErrVerification, seq, strings.TrimPrefix(err.Error(), errkind.Invalid.Error()+": "))
		}
		out = append(out, *e)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("log entries: %w", err)
	}
	return out, nil
}

// Find implements translog.Store.
func (s *Store) Find(ctx context.Context, objectHash [32]byte) ([]int64, error) {
	rs, err := s.db.QueryContext(ctx, `SELECT seq FROM translog_records WHERE ohash8 = ? AND ohash = ? ORDER BY seq`,
		prefix(objectHash), objectHash[:])
	if err != nil {
		return nil, fmt.Errorf("log find: %w", err)
	}
	defer rs.Close()
	var out []int64
	for rs.Next() {
		var seq int64
		if err := rs.Scan(&seq); err != nil {
			return nil, fmt.Errorf("log find: %w", err)
		}
		out = append(out, seq)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("log find: %w", err)
	}
	return out, nil
}
