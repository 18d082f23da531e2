// Package source runs scheduled vulnerability sources: whole CSAF
// providers (through internal/csaf/fetch: discovery, hashes, signatures,
// ROLIE and directory distributions) and single-URL feeds (the CISA KEV
// catalogue, OSV records or archives, NVD API 2.0 pages, CVE JSON 5
// records or archives). Each run imports what is new or changed into the
// vulnerability database (internal/vuln/vulndb) and records the source's
// health. Sources and their incremental state (HTTP validators, the
// advisories handled) are kept in DIR/vulnsources.db.
package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
)

// FileName is the database file, in the data directory, holding sources.
const FileName = "vulnsources.db"

// Kind is what a source's URL serves.
type Kind string

// The kinds of source.
const (
	// CSAFProvider is a CSAF 2.0 provider: a domain or the URL of its
	// provider-metadata.json.
	CSAFProvider Kind = "csaf-provider"
	// KEV is the CISA Known Exploited Vulnerabilities catalogue (JSON).
	KEV Kind = "kev"
	// OSV is an OSV record, or a zip of records (as osv.dev publishes).
	OSV Kind = "osv"
	// NVD is the NVD CVE API 2.0 (paged, then incremental by last
	// modification date; the token goes in the apiKey header).
	NVD Kind = "nvd"
	// CVE5 is a CVE JSON 5 record, or a zip or gzip'd tar of records.
	CVE5 Kind = "cve5"
)

// Kinds lists the kinds in the order help texts give them.
var Kinds = []Kind{CSAFProvider, KEV, OSV, NVD, CVE5}

// ParseKind validates a kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == strings.ToLower(strings.TrimSpace(s)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w: kind %q: want csaf-provider, kev, osv, nvd or cve5", errkind.Invalid, s)
}

// Source is a configured vulnerability source.
type Source struct {
	// Name identifies the source locally.
	Name string
	Kind Kind
	URL  string
	// Token is a credential: for CSAF providers the Bearer token of
	// access-protected distributions (TLP:GREEN, AMBER, RED), for NVD the
	// API key, otherwise a Bearer token. A secret: never log or print it.
	Token string
	// Every is the interval kizuna serve runs the source at (0: only by
	// hand).
	Every time.Duration
	// InsecureSkipVerify disables TLS verification (test set-ups only).
	InsecureSkipVerify bool
	// RedRecipients are the hub users (store user ids, analysts or hub
	// admins) to whom a csaf-provider source's TLP:RED advisories are
	// restricted. Without any, RED advisories are withheld: TLP:RED is for
	// named people.
	RedRecipients []string
	Created       time.Time
}

// Health is a source's run history.
type Health struct {
	// LastAttempt and LastSuccess are when the last run started and the
	// last successful run ended (zero: never).
	LastAttempt, LastSuccess time.Time
	// LastError is the last run's error ("" when it succeeded).
	LastError string
	// Failures counts consecutive failed runs.
	Failures int
	// Fetched, Imported, Failed and Withheld are totals over the
	// source's life: documents downloaded, vulnerability records added
	// or updated, documents (and lists) that failed, and CSAF advisories
	// not imported because of their TLP label (RED, unknown).
	Fetched, Imported, Failed, Withheld int64
	// LastFetched, LastImported and LastFailed are the last run's.
	LastFetched, LastImported, LastFailed int64
}

// State is a source with its health.
type State struct {
	Source
	Health
}

var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// reUserID is a user id as the store gives them (user--UUID).
var reUserID = regexp.MustCompile(`^user--[0-9a-f-]{36}$`)

// Validate checks a source's configuration.
func (s Source) Validate() error {
	if !reName.MatchString(s.Name) {
		return fmt.Errorf("%w: source name %q: use 1-64 letters, digits, '.', '_' or '-'", errkind.Invalid, s.Name)
	}
	if _, err := ParseKind(string(s.Kind)); err != nil {
		return fmt.Errorf("source %s: %w", s.Name, err)
	}
	raw := s.URL
	if s.Kind == CSAFProvider && !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%w: source %s: url %q: want an https URL", errkind.Invalid, s.Name, s.URL)
	}
	if len(s.RedRecipients) > 0 && s.Kind != CSAFProvider {
		return fmt.Errorf("%w: source %s: RED recipients are for csaf-provider sources", errkind.Invalid, s.Name)
	}
	if len(s.RedRecipients) > 64 {
		return fmt.Errorf("%w: source %s: %d RED recipients, at most 64", errkind.Invalid, s.Name, len(s.RedRecipients))
	}
	for _, u := range s.RedRecipients {
		if !reUserID.MatchString(u) {
			return fmt.Errorf("%w: source %s: RED recipient %q is not a user id", errkind.Invalid, s.Name, u)
		}
	}
	if s.Every < 0 || (s.Every > 0 && s.Every < time.Second) {
		return fmt.Errorf("%w: source %s: interval %s: want 0 (manual) or at least 1s", errkind.Invalid, s.Name, s.Every)
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS vuln_sources (
	name            TEXT PRIMARY KEY,
	kind            TEXT NOT NULL,
	url             TEXT NOT NULL,
	token           TEXT NOT NULL,
	every_ms        INTEGER NOT NULL,
	insecure        INTEGER NOT NULL,
	created_ns      INTEGER NOT NULL,
	last_attempt_ns INTEGER NOT NULL DEFAULT 0,
	last_success_ns INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	failures        INTEGER NOT NULL DEFAULT 0,
	fetched         INTEGER NOT NULL DEFAULT 0,
	imported        INTEGER NOT NULL DEFAULT 0,
	failed          INTEGER NOT NULL DEFAULT 0,
	withheld        INTEGER NOT NULL DEFAULT 0,
	last_fetched    INTEGER NOT NULL DEFAULT 0,
	last_imported   INTEGER NOT NULL DEFAULT 0,
	last_failed     INTEGER NOT NULL DEFAULT 0,
	red_recipients  TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE TABLE IF NOT EXISTS vuln_source_lists (
	source        TEXT NOT NULL,
	url           TEXT NOT NULL,
	etag          TEXT NOT NULL,
	last_modified TEXT NOT NULL,
	PRIMARY KEY (source, url)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vuln_source_nvd (
	source       TEXT PRIMARY KEY,
	done_ns      INTEGER NOT NULL,
	win_start_ns INTEGER NOT NULL,
	win_end_ns   INTEGER NOT NULL,
	next_index   INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS vuln_source_docs (
	source  TEXT NOT NULL,
	url     TEXT NOT NULL,
	updated TEXT NOT NULL,
	PRIMARY KEY (source, url)
) STRICT, WITHOUT ROWID;
`

// Registry keeps sources, their incremental state and health in
// DIR/vulnsources.db.
type Registry struct {
	db *sql.DB
}

// OpenRegistry opens (creating if needed) the source registry of a data
// directory. The file is readable by its owner only: it holds tokens.
func OpenRegistry(ctx context.Context, dir string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating source tables in %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upgrading the source tables in %s: %w", path, err)
	}
	return &Registry{db: db}, nil
}

// migrate adds the columns that registries created by earlier versions
// lack.
func migrate(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pragma_table_info('vuln_sources') WHERE name = 'red_recipients'`).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := db.ExecContext(ctx, `ALTER TABLE vuln_sources ADD COLUMN red_recipients TEXT NOT NULL DEFAULT ''`); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (r *Registry) Close() error { return r.db.Close() }

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

// Add stores a new source (errkind.Conflict if the name is taken).
func (r *Registry) Add(ctx context.Context, s Source) error {
	if err := s.Validate(); err != nil {
		return err
	}
	insecure := 0
	if s.InsecureSkipVerify {
		insecure = 1
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO vuln_sources (name, kind, url, token, every_ms, insecure, created_ns, red_recipients)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.Name, string(s.Kind), s.URL, s.Token, s.Every.Milliseconds(), insecure, ns(s.Created),
		strings.Join(s.RedRecipients, ","))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "constraint") {
			return fmt.Errorf("%w: source %q already exists", errkind.Conflict, s.Name)
		}
		return fmt.Errorf("adding source %s: %w", s.Name, err)
	}
	return nil
}

const columns = `name, kind, url, token, every_ms, insecure, created_ns, last_attempt_ns, last_success_ns,
	last_error, failures, fetched, imported, failed, withheld, last_fetched, last_imported, last_failed, red_recipients`

func scanState(sc interface{ Scan(...any) error }) (State, error) {
	var s State
	var kind string
	var every, created, attempt, success int64
	var insecure int
	var red string
	err := sc.Scan(&s.Name, &kind, &s.URL, &s.Token, &every, &insecure, &created, &attempt, &success,
		&s.LastError, &s.Failures, &s.Fetched, &s.Imported, &s.Failed, &s.Withheld, &s.LastFetched, &s.LastImported, &s.LastFailed, &red)
	if err != nil {
		return s, err
	}
	if red != "" {
		s.RedRecipients = strings.Split(red, ",")
	}
	s.Kind, s.Every, s.InsecureSkipVerify = Kind(kind), time.Duration(every)*time.Millisecond, insecure != 0
	s.Created, s.LastAttempt, s.LastSuccess = fromNS(created), fromNS(attempt), fromNS(success)
	return s, nil
}

// Get returns a source and its health (errkind.NotFound if absent).
func (r *Registry) Get(ctx context.Context, name string) (State, error) {
	s, err := scanState(r.db.QueryRowContext(ctx, `SELECT `+columns+` FROM vuln_sources WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("%w: source %q", errkind.NotFound, name)
	}
	if err != nil {
		return s, fmt.Errorf("reading source %s: %w", name, err)
	}
	return s, nil
}

// List returns every source, by name.
func (r *Registry) List(ctx context.Context) ([]State, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+columns+` FROM vuln_sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing sources: %w", err)
	}
	defer rows.Close()
	var out []State
	for rows.Next() {
		s, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("listing sources: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing sources: %w", err)
	}
	return out, nil
}

// Remove deletes a source and its state (errkind.NotFound if absent).
func (r *Registry) Remove(ctx context.Context, name string) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("removing source %s: %w", name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM vuln_sources WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("removing source %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: source %q", errkind.NotFound, name)
	}
	for _, t := range []string{"vuln_source_lists", "vuln_source_docs", "vuln_source_nvd"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE source = ?`, name); err != nil {
			return fmt.Errorf("removing source %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("removing source %s: %w", name, err)
	}
	return nil
}

// loadState reads a source's incremental state.
func (r *Registry) loadState(ctx context.Context, name string) (*fetch.State, error) {
	st := &fetch.State{Lists: map[string]fetch.Validators{}, Docs: map[string]string{}}
	rows, err := r.db.QueryContext(ctx, `SELECT url, etag, last_modified FROM vuln_source_lists WHERE source = ?`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the state of source %s: %w", name, err)
	}
	for rows.Next() {
		var u string
		var v fetch.Validators
		if err := rows.Scan(&u, &v.ETag, &v.LastModified); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading the state of source %s: %w", name, err)
		}
		st.Lists[u] = v
	}
	rows.Close()
	rows, err = r.db.QueryContext(ctx, `SELECT url, updated FROM vuln_source_docs WHERE source = ?`, name)
	if err != nil {
		return nil, fmt.Errorf("reading the state of source %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u, up string
		if err := rows.Scan(&u, &up); err != nil {
			return nil, fmt.Errorf("reading the state of source %s: %w", name, err)
		}
		st.Docs[u] = up
	}
	return st, rows.Err()
}

// saveState replaces a source's incremental state.
func (r *Registry) saveState(ctx context.Context, name string, st *fetch.State) error {
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("saving the state of source %s: %w", name, err)
	}
	defer tx.Rollback()
	for _, t := range []string{"vuln_source_lists", "vuln_source_docs"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE source = ?`, name); err != nil {
			return fmt.Errorf("saving the state of source %s: %w", name, err)
		}
	}
	for u, v := range st.Lists {
		if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_source_lists (source, url, etag, last_modified) VALUES (?, ?, ?, ?)`,
			name, u, v.ETag, v.LastModified); err != nil {
			return fmt.Errorf("saving the state of source %s: %w", name, err)
		}
	}
	for u, up := range st.Docs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO vuln_source_docs (source, url, updated) VALUES (?, ?, ?)`, name, u, up); err != nil {
			return fmt.Errorf("saving the state of source %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("saving the state of source %s: %w", name, err)
	}
	return nil
}

// exec runs one update of a source row.
func (r *Registry) exec(ctx context.Context, name, set string, args ...any) error {
	res, err := r.db.ExecContext(ctx, `UPDATE vuln_sources SET `+set+` WHERE name = ?`, append(args, name)...)
	if err != nil {
		return fmt.Errorf("updating source %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: source %q", errkind.NotFound, name)
	}
	return nil
}

// begin records the start of a run.
func (r *Registry) begin(ctx context.Context, name string, now time.Time) error {
	return r.exec(ctx, name, `last_attempt_ns = ?, last_fetched = 0, last_imported = 0, last_failed = 0`, ns(now))
}

// finish records the end of a run: its counts, and success or its error.
func (r *Registry) finish(ctx context.Context, name string, now time.Time, res Result, runErr error) error {
	imported := int64(res.Added + res.Updated)
	counts := `fetched = fetched + ?, imported = imported + ?, failed = failed + ?, withheld = withheld + ?,
		last_fetched = ?, last_imported = ?, last_failed = ?, `
	args := []any{res.Fetched, imported, res.Failed, res.Withheld, res.Fetched, imported, res.Failed}
	if runErr == nil {
		return r.exec(ctx, name, counts+`last_success_ns = ?, last_error = '', failures = 0`, append(args, ns(now))...)
	}
	msg := runErr.Error()
	if len(msg) > 1000 {
		msg = msg[:1000] + "..."
	}
	return r.exec(ctx, name, counts+`last_error = ?, failures = failures + 1`, append(args, msg)...)
}
