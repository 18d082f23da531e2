// Package sqlite is Kizuna's embedded storage backend: one SQLite database
// file (dir/kizuna.db) in WAL mode, written through a single connection
// (BEGIN IMMEDIATE, so writes are serialised even across processes) and read
// through a small pool of read-only connections.
//
// Object versions are kept in one table whose INTEGER PRIMARY KEY is the
// version's date_added in microseconds since the Unix epoch. date_added is
// assigned as max(now, last+1) from a clock row updated in the same
// transaction, so it is unique in the whole database (hence per collection)
// and strictly increasing in insertion order; keyset pagination and the
// "added_after" filter are rowid range scans.
//
// Versions: an object's version is its modified timestamp, else its created
// timestamp. Objects with neither (most SCOs) take their date_added as their
// version, as TAXII 2.1 prescribes for the manifest; re-submitting such an
// object with byte-identical JSON is idempotent (the stored version and its
// date_added are returned), while different JSON under the same id is stored
// as a new version. Versions are compared as microsecond timestamps: two
// spellings of the same instant ("...00Z" and "...00.000Z") are the same
// version.
//
// Versions are found through a unique index on (collection, 64-bit FNV-1a
// hash of the id, version); the id itself is always compared too. Two
// different ids of one collection with equal hashes and equal versions
// (probability about n²/2⁶⁵) cannot both be stored: the second is refused
// with errkind.Conflict naming the other id.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// FileName is the database file's name inside the data directory.
const FileName = "kizuna.db"

// MaxPageSize is the page size used when a Filter has no Limit, and the
// largest Limit honoured.
const MaxPageSize = 10000

// readers is the number of read-only connections.
const readers = 4

// Store is the SQLite implementation of store.Store. It is safe for
// concurrent use.
type Store struct {
	w    *sql.DB // single writer connection
	r    *sql.DB // read-only pool
	path string
	// collKeys caches collection id -> internal key (collections are never
	// deleted, so entries never go stale).
	collKeys sync.Map
	// now returns the current time (replaceable in tests of this package).
	now func() time.Time
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir, applies pending
// schema migrations and creates the default API root and collection when
// they are missing.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, path: path, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r
	if err := s.ensureDefaults(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds the connection string. Every connection waits up to 10 s for
// locks; the writer begins transactions IMMEDIATE; readers are query-only.
// synchronous=NORMAL in WAL mode keeps committed transactions across a
// process crash (only an OS crash or power loss may lose the last ones).
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Add("_pragma", "cache_size(-65536)") // 64 MiB
		// Checkpoint every 512 MiB of WAL rather than 4 MiB: fewer fsyncs,
		// and the pages of the random version index, which every bulk
		// transaction rewrites, copied once per checkpoint (a 1,000,000-
		// object import used 9 % less CPU than with 64 MiB). The WAL is
		// truncated back to journal_size_limit after a checkpoint.
		q.Add("_pragma", "wal_autocheckpoint(131072)")
		q.Add("_pragma", "journal_size_limit(67108864)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "cache_size(-16384)") // 16 MiB per reader
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Close releases both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		// Checkpoint so the WAL does not linger; failures are harmless.
		_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// DB returns the writer's database handle, for integrity checks in tests
// and administration tools. Do not write through it.
func (s *Store) DB() *sql.DB { return s.w }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// migration is one schema step: SQL, then optional Go code, then more SQL,
// all inside the migrating transaction.
type migration struct {
	sql   string
	fn    func(ctx context.Context, tx *sql.Tx) error
	after string
}

// migrations are applied in order; schema_version holds how many ran.
var migrations = []migration{
	// 1: initial schema.
	{sql: `
CREATE TABLE api_roots (
	name TEXT PRIMARY KEY,
	title TEXT NOT NULL,
	description TEXT NOT NULL,
	max_content_length INTEGER NOT NULL
);
CREATE TABLE collections (
	key INTEGER PRIMARY KEY,
	id TEXT NOT NULL UNIQUE,
	api_root TEXT NOT NULL,
	title TEXT NOT NULL,
	description TEXT NOT NULL,
	alias TEXT NOT NULL,
	read_orgs TEXT NOT NULL,
	write_orgs TEXT NOT NULL
);
CREATE INDEX collections_root ON collections(api_root, id);
CREATE TABLE objects (
	date_added INTEGER PRIMARY KEY,
	coll INTEGER NOT NULL,
	id TEXT NOT NULL,
	type TEXT NOT NULL,
	version INTEGER NOT NULL,
	vtext TEXT NOT NULL,
	spec TEXT NOT NULL,
	tlp INTEGER NOT NULL,
	producer_org TEXT NOT NULL,
	producer_user TEXT NOT NULL,
	anonymous INTEGER NOT NULL,
	dist_orgs TEXT NOT NULL,
	dist_users TEXT NOT NULL,
	raw BLOB NOT NULL
);
CREATE UNIQUE INDEX objects_version ON objects(coll, id, version);
CREATE INDEX objects_coll ON objects(coll, date_added);
CREATE INDEX objects_type ON objects(coll, type, date_added);
CREATE INDEX objects_marking ON objects(id) WHERE type = 'marking-definition';
CREATE TABLE clock (last INTEGER NOT NULL);
INSERT INTO clock VALUES (0);
CREATE TABLE coll_specs (
	coll INTEGER NOT NULL,
	spec TEXT NOT NULL,
	PRIMARY KEY (coll, spec)
) WITHOUT ROWID;
CREATE TABLE statuses (
	id TEXT PRIMARY KEY,
	collection TEXT NOT NULL,
	owner_org TEXT NOT NULL,
	owner_user TEXT NOT NULL,
	requested INTEGER NOT NULL
);
CREATE TABLE status_entries (
	status TEXT NOT NULL,
	seq INTEGER NOT NULL,
	obj_id TEXT NOT NULL,
	version TEXT NOT NULL,
	state INTEGER NOT NULL,
	message TEXT NOT NULL,
	PRIMARY KEY (status, seq)
) WITHOUT ROWID;
CREATE INDEX status_entries_obj ON status_entries(status, obj_id, state);
CREATE TABLE orgs (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL UNIQUE,
	sector TEXT NOT NULL,
	type TEXT NOT NULL,
	anonymous INTEGER NOT NULL,
	created INTEGER NOT NULL
);
CREATE TABLE users (
	id TEXT PRIMARY KEY,
	org_id TEXT NOT NULL,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	created INTEGER NOT NULL,
	UNIQUE (org_id, name)
);
CREATE TABLE tokens (
	id TEXT PRIMARY KEY,
	user_id TEXT NOT NULL,
	hash BLOB NOT NULL UNIQUE,
	created INTEGER NOT NULL,
	revoked INTEGER NOT NULL
);
`},
	// 2: version lookups through a 64-bit hash of the id, so that the
	// randomly inserted index stays small enough for the page cache at
	// millions of objects (the id itself is still compared).
	{
		sql: `ALTER TABLE objects ADD COLUMN idh INTEGER NOT NULL DEFAULT 0;`,
		fn:  fillIDHashes,
		after: `DROP INDEX objects_version;
CREATE INDEX objects_idh ON objects(coll, idh, version);`,
	},
	// 3: (coll, idh, version) unique, so that Add inserts with ON CONFLICT
	// instead of probing first (a third less CPU per object). Two different
	// ids of one collection with equal 64-bit hashes and equal versions
	// (probability about n²/2⁶⁵) make the second an errkind.Conflict.
	{sql: `DROP INDEX objects_idh;
CREATE UNIQUE INDEX objects_idh ON objects(coll, idh, version);`},
}

// idHash is the stored 64-bit FNV-1a hash of an object id. It is part of
// the on-disk format: never change it.
func idHash(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64())
}

func fillIDHashes(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT date_added, id FROM objects`)
	if err != nil {
		return err
	}
	type pair struct {
		da int64
		h  int64
	}
	var ps []pair
	for rows.Next() {
		var p pair
		var id string
		if err := rows.Scan(&p.da, &id); err != nil {
			rows.Close()
			return err
		}
		p.h = idHash(id)
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	upd, err := tx.PrepareContext(ctx, `UPDATE objects SET idh = ? WHERE date_added = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	for _, p := range ps {
		if _, err := upd.ExecContext(ctx, p.h, p.da); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the schema version this code writes: the number of
// migrations.
const SchemaVersion = 3

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return fmt.Errorf("migrating %s: %w", s.path, err)
		}
	case err != nil:
		return fmt.Errorf("migrating %s: reading schema_version: %w", s.path, err)
	}
	if v > len(migrations) {
		return fmt.Errorf("%w: %s has schema version %d, newer than this program's %d", errkind.Invalid, s.path, v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		m := migrations[i]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrating %s to schema version %d: %w", s.path, i+1, err)
		}
		if m.fn != nil {
			if err := m.fn(ctx, tx); err != nil {
				return fmt.Errorf("migrating %s to schema version %d: %w", s.path, i+1, err)
			}
		}
		if m.after != "" {
			if _, err := tx.ExecContext(ctx, m.after); err != nil {
				return fmt.Errorf("migrating %s to schema version %d: %w", s.path, i+1, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(migrations)); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrating %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) ensureDefaults(ctx context.Context) error {
	err := s.CreateAPIRoot(ctx, store.APIRoot{
		Name: store.DefaultAPIRoot, Title: "Kizuna hub",
		Description: "Kizuna threat-intelligence sharing hub", MaxContentLength: 100 << 20,
	})
	if err != nil && !errors.Is(err, errkind.Conflict) {
		return err
	}
	err = s.CreateCollection(ctx, store.Collection{
		ID: store.DefaultCollectionID, APIRoot: store.DefaultAPIRoot,
		Title: "Shared intelligence", Description: "Intelligence shared by all member organisations under TLP 2.0.",
		ReadOrgs: []string{"*"}, WriteOrgs: []string{"*"},
	})
	if err != nil && !errors.Is(err, errkind.Conflict) {
		return err
	}
	return nil
}

// isConstraint reports whether err is an SQLite constraint violation.
func isConstraint(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == 19 // SQLITE_CONSTRAINT
}

// micro encodes a time as microseconds since the epoch (0 for the zero
// time); fromMicro decodes it as UTC.
func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// CreateAPIRoot adds an API root (errkind.Conflict if the name exists).
func (s *Store) CreateAPIRoot(ctx context.Context, r store.APIRoot) error {
	if r.Name == "" {
		return fmt.Errorf("%w: API root: name is empty", errkind.Invalid)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_roots (name, title, description, max_content_length) VALUES (?, ?, ?, ?)`,
		r.Name, r.Title, r.Description, r.MaxContentLength)
	if isConstraint(err) {
		return fmt.Errorf("%w: API root %q already exists", errkind.Conflict, r.Name)
	}
	if err != nil {
		return fmt.Errorf("creating API root %q: %w", r.Name, err)
	}
	return nil
}

// APIRoots lists the API roots by name.
func (s *Store) APIRoots(ctx context.Context) ([]store.APIRoot, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, title, description, max_content_length FROM api_roots ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing API roots: %w", err)
	}
	defer rows.Close()
	var out []store.APIRoot
	for rows.Next() {
		var r store.APIRoot
		if err := rows.Scan(&r.Name, &r.Title, &r.Description, &r.MaxContentLength); err != nil {
			return nil, fmt.Errorf("listing API roots: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing API roots: %w", err)
	}
	return out, nil
}

// CreateCollection adds a collection to an existing API root
// (errkind.NotFound for an unknown root, errkind.Conflict if the id exists).
func (s *Store) CreateCollection(ctx context.Context, c store.Collection) error {
	if c.ID == "" {
		return fmt.Errorf("%w: collection: id is empty", errkind.Invalid)
	}
	ro, err := json.Marshal(nonNil(c.ReadOrgs))
	if err != nil {
		return fmt.Errorf("collection %s: read_orgs: %w", c.ID, err)
	}
	wo, err := json.Marshal(nonNil(c.WriteOrgs))
	if err != nil {
		return fmt.Errorf("collection %s: write_orgs: %w", c.ID, err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating collection %s: %w", c.ID, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM api_roots WHERE name = ?`, c.APIRoot).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: collection %s: API root %q", errkind.NotFound, c.ID, c.APIRoot)
	}
	if err != nil {
		return fmt.Errorf("creating collection %s: %w", c.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO collections (id, api_root, title, description, alias, read_orgs, write_orgs) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.APIRoot, c.Title, c.Description, c.Alias, string(ro), string(wo))
	if isConstraint(err) {
		return fmt.Errorf("%w: collection %s already exists", errkind.Conflict, c.ID)
	}
	if err != nil {
		return fmt.Errorf("creating collection %s: %w", c.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating collection %s: %w", c.ID, err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const collCols = `id, api_root, title, description, alias, read_orgs, write_orgs`

func scanCollection(sc interface{ Scan(...any) error }) (store.Collection, error) {
	var c store.Collection
	var ro, wo string
	if err := sc.Scan(&c.ID, &c.APIRoot, &c.Title, &c.Description, &c.Alias, &ro, &wo); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(ro), &c.ReadOrgs); err != nil {
		return c, fmt.Errorf("collection %s: read_orgs: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(wo), &c.WriteOrgs); err != nil {
		return c, fmt.Errorf("collection %s: write_orgs: %w", c.ID, err)
	}
	return c, nil
}

// Collections lists an API root's collections by id (errkind.NotFound for
// an unknown root).
func (s *Store) Collections(ctx context.Context, apiRoot string) ([]store.Collection, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM api_roots WHERE name = ?`, apiRoot).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: API root %q", errkind.NotFound, apiRoot)
	}
	if err != nil {
		return nil, fmt.Errorf("listing collections of %q: %w", apiRoot, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+collCols+` FROM collections WHERE api_root = ? ORDER BY id`, apiRoot)
	if err != nil {
		return nil, fmt.Errorf("listing collections of %q: %w", apiRoot, err)
	}
	defer rows.Close()
	var out []store.Collection
	for rows.Next() {
		c, err := scanCollection(rows)
		if err != nil {
			return nil, fmt.Errorf("listing collections of %q: %w", apiRoot, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing collections of %q: %w", apiRoot, err)
	}
	return out, nil
}

// Collection returns one collection of an API root (errkind.NotFound if
// there is none with this id under this root).
func (s *Store) Collection(ctx context.Context, apiRoot, id string) (store.Collection, error) {
	c, err := scanCollection(s.r.QueryRowContext(ctx, `SELECT `+collCols+` FROM collections WHERE api_root = ? AND id = ?`, apiRoot, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("%w: collection %s in API root %q", errkind.NotFound, id, apiRoot)
	}
	if err != nil {
		return c, fmt.Errorf("reading collection %s: %w", id, err)
	}
	return c, nil
}

// collKey returns a collection's internal key (errkind.NotFound if unknown).
func (s *Store) collKey(ctx context.Context, id string) (int64, error) {
	if k, ok := s.collKeys.Load(id); ok {
		return k.(int64), nil
	}
	var k int64
	err := s.r.QueryRowContext(ctx, `SELECT key FROM collections WHERE id = ?`, id).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: collection %s", errkind.NotFound, id)
	}
	if err != nil {
		return 0, fmt.Errorf("looking up collection %s: %w", id, err)
	}
	s.collKeys.Store(id, k)
	return k, nil
}
