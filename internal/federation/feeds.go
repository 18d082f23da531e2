package federation

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

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
)

// FileName is the database file, in the data directory, holding feeds.
const FileName = "federation.db"

// Direction says which way a feed moves objects.
type Direction string

// The directions of a feed.
const (
	Pull Direction = "pull"
	Push Direction = "push"
	Both Direction = "both"
)

// ParseDirection validates a direction name.
func ParseDirection(s string) (Direction, error) {
	switch d := Direction(strings.ToLower(strings.TrimSpace(s))); d {
	case Pull, Push, Both:
		return d, nil
	}
	return "", fmt.Errorf("%w: direction %q: want pull, push or both", errkind.Invalid, s)
}

// pulls and pushes report what the direction includes.
func (d Direction) pulls() bool  { return d == Pull || d == Both }
func (d Direction) pushes() bool { return d == Push || d == Both }

// Feed is a configured partner feed.
type Feed struct {
	// Name identifies the feed locally.
	Name string
	// URL is the partner's TAXII 2.1 API root URL.
	URL string
	// Collection is the partner's collection id.
	Collection string
	// Token is the partner-issued API token (sent as Bearer). It is a
	// secret: never log or print it.
	Token     string
	Direction Direction
	// Every is the synchronisation interval for the scheduler (0: only
	// when run by hand).
	Every time.Duration
	// InsecureSkipVerify disables TLS verification of the partner.
	InsecureSkipVerify bool
	// OrgID is the local organisation (identity id) the partner acts as:
	// pulled objects are submitted as this organisation, and pushing sends
	// exactly what it may see.
	OrgID string
	// LocalCollection is the local collection pulled into and pushed from.
	LocalCollection string
	Created         time.Time
}

// Health is a feed's synchronisation state.
type Health struct {
	// PullMark is the partner's X-TAXII-Date-Added-Last of the last pulled
	// page that was stored: the next pull asks for added_after it.
	PullMark time.Time
	// PushMark is the local date_added of the last pushed version.
	PushMark time.Time
	// LastAttempt and LastSuccess are when the last run started and the
	// last successful run ended (zero: never).
	LastAttempt, LastSuccess time.Time
	// LastError is the last run's error ("" when it succeeded).
	LastError string
	// Failures counts consecutive failed runs.
	Failures int
	// Pulled and Pushed count objects stored locally and accepted by the
	// partner over the feed's life; Rejected counts objects refused on
	// either side; Withheld counts objects the partner sent that are
	// never accepted from outside (AMBER+STRICT, RED).
	Pulled, Pushed, Rejected, Withheld int64
	// LastPulled and LastPushed count the last run's objects.
	LastPulled, LastPushed int64
}

// State is a feed with its health.
type State struct {
	Feed
	Health
}

var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks a feed's configuration.
func (f Feed) Validate() error {
	if !reName.MatchString(f.Name) {
		return fmt.Errorf("%w: feed name %q: use 1-64 letters, digits, '.', '_' or '-'", errkind.Invalid, f.Name)
	}
	u, err := url.Parse(f.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: feed %s: url %q: want the partner's TAXII API root, e.g. https://hub.example/taxii2/hub/", errkind.Invalid, f.Name, f.URL)
	}
	if strings.TrimSpace(f.Collection) == "" || strings.ContainsAny(f.Collection, "/?#") {
		return fmt.Errorf("%w: feed %s: collection %q: want the partner's collection id", errkind.Invalid, f.Name, f.Collection)
	}
	if f.Token == "" {
		return fmt.Errorf("%w: feed %s: a token is required", errkind.Invalid, f.Name)
	}
	if _, err := ParseDirection(string(f.Direction)); err != nil {
		return fmt.Errorf("feed %s: %w", f.Name, err)
	}
	if f.Every < 0 || (f.Every > 0 && f.Every < time.Second) {
		return fmt.Errorf("%w: feed %s: interval %s: want 0 (manual) or at least 1s", errkind.Invalid, f.Name, f.Every)
	}
	if f.OrgID == "" || f.LocalCollection == "" {
		return fmt.Errorf("%w: feed %s: a local organisation and collection are required", errkind.Invalid, f.Name)
	}
	return nil
}

const schema = `
CREATE TABLE IF NOT EXISTS federation_feeds (
	name             TEXT PRIMARY KEY,
	url              TEXT NOT NULL,
	collection       TEXT NOT NULL,
	token            TEXT NOT NULL,
	direction        TEXT NOT NULL,
	every_ms         INTEGER NOT NULL,
	insecure         INTEGER NOT NULL,
	org_id           TEXT NOT NULL,
	local_collection TEXT NOT NULL,
	created_ns       INTEGER NOT NULL,
	pull_mark_ns     INTEGER NOT NULL DEFAULT 0,
	push_mark_ns     INTEGER NOT NULL DEFAULT 0,
	last_attempt_ns  INTEGER NOT NULL DEFAULT 0,
	last_success_ns  INTEGER NOT NULL DEFAULT 0,
	last_error       TEXT NOT NULL DEFAULT '',
	failures         INTEGER NOT NULL DEFAULT 0,
	pulled           INTEGER NOT NULL DEFAULT 0,
	pushed           INTEGER NOT NULL DEFAULT 0,
	rejected         INTEGER NOT NULL DEFAULT 0,
	withheld         INTEGER NOT NULL DEFAULT 0,
	last_pulled      INTEGER NOT NULL DEFAULT 0,
	last_pushed      INTEGER NOT NULL DEFAULT 0
) STRICT;
`

// Registry keeps feeds, their high-water marks and health in
// DIR/federation.db (a file of its own, so that feed bookkeeping never
// contends with the object store's single writer).
type Registry struct {
	db *sql.DB
}

// OpenRegistry opens (creating if needed) the feed registry of a data
// directory. The file is created readable by its owner only: it holds
// partner tokens.
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
		return nil, fmt.Errorf("creating feed table in %s: %w", path, err)
	}
	return &Registry{db: db}, nil
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

// Add stores a new feed (errkind.Conflict if the name is taken).
func (r *Registry) Add(ctx context.Context, f Feed) error {
	if err := f.Validate(); err != nil {
		return err
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO federation_feeds
		(name, url, collection, token, direction, every_ms, insecure, org_id, local_collection, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.Name, f.URL, f.Collection, f.Token, string(f.Direction), f.Every.Milliseconds(),
		boolInt(f.InsecureSkipVerify), f.OrgID, f.LocalCollection, ns(f.Created))
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") || strings.Contains(err.Error(), "constraint") {
			return fmt.Errorf("%w: feed %q already exists", errkind.Conflict, f.Name)
		}
		return fmt.Errorf("adding feed %s: %w", f.Name, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const columns = `name, url, collection, token, direction, every_ms, insecure, org_id, local_collection, created_ns,
	pull_mark_ns, push_mark_ns, last_attempt_ns, last_success_ns, last_error, failures,
	pulled, pushed, rejected, withheld, last_pulled, last_pushed`

func scanState(sc interface{ Scan(...any) error }) (State, error) {
	var s State
	var dir string
	var every, created, pull, push, attempt, success int64
	var insecure int
	err := sc.Scan(&s.Name, &s.URL, &s.Collection, &s.Token, &dir, &every, &insecure, &s.OrgID, &s.LocalCollection, &created,
		&pull, &push, &attempt, &success, &s.LastError, &s.Failures,
		&s.Pulled, &s.Pushed, &s.Rejected, &s.Withheld, &s.LastPulled, &s.LastPushed)
	if err != nil {
		return s, err
	}
	s.Direction, s.Every, s.InsecureSkipVerify = Direction(dir), time.Duration(every)*time.Millisecond, insecure != 0
	s.Created, s.PullMark, s.PushMark = fromNS(created), fromNS(pull), fromNS(push)
	s.LastAttempt, s.LastSuccess = fromNS(attempt), fromNS(success)
	return s, nil
}

// Get returns a feed and its health (errkind.NotFound if absent).
func (r *Registry) Get(ctx context.Context, name string) (State, error) {
	s, err := scanState(r.db.QueryRowContext(ctx, `SELECT `+columns+` FROM federation_feeds WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("%w: feed %q", errkind.NotFound, name)
	}
	if err != nil {
		return s, fmt.Errorf("reading feed %s: %w", name, err)
	}
	return s, nil
}

// List returns every feed, by name.
func (r *Registry) List(ctx context.Context) ([]State, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+columns+` FROM federation_feeds ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing feeds: %w", err)
	}
	defer rows.Close()
	var out []State
	for rows.Next() {
		s, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("listing feeds: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing feeds: %w", err)
	}
	return out, nil
}

// Remove deletes a feed (errkind.NotFound if absent).
func (r *Registry) Remove(ctx context.Context, name string) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM federation_feeds WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("removing feed %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: feed %q", errkind.NotFound, name)
	}
	return nil
}

// exec runs one update of a feed row.
func (r *Registry) exec(ctx context.Context, name, set string, args ...any) error {
	res, err := r.db.ExecContext(ctx, `UPDATE federation_feeds SET `+set+` WHERE name = ?`, append(args, name)...)
	if err != nil {
		return fmt.Errorf("updating feed %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: feed %q", errkind.NotFound, name)
	}
	return nil
}

// advancePull records a stored pull batch: the new mark and its counts.
func (r *Registry) advancePull(ctx context.Context, name string, mark time.Time, stored, rejected, withheld int64) error {
	return r.exec(ctx, name, `pull_mark_ns = MAX(pull_mark_ns, ?), pulled = pulled + ?, rejected = rejected + ?,
		withheld = withheld + ?, last_pulled = last_pulled + ?`, ns(mark), stored, rejected, withheld, stored)
}

// advancePush records a pushed batch: the new mark and its counts.
func (r *Registry) advancePush(ctx context.Context, name string, mark time.Time, pushed, rejected int64) error {
	return r.exec(ctx, name, `push_mark_ns = MAX(push_mark_ns, ?), pushed = pushed + ?, rejected = rejected + ?,
		last_pushed = last_pushed + ?`, ns(mark), pushed, rejected, pushed)
}

// begin records the start of a run.
func (r *Registry) begin(ctx context.Context, name string, now time.Time) error {
	return r.exec(ctx, name, `last_attempt_ns = ?, last_pulled = 0, last_pushed = 0`, ns(now))
}

// finish records the end of a run: success, or its error.
func (r *Registry) finish(ctx context.Context, name string, now time.Time, runErr error) error {
	if runErr == nil {
		return r.exec(ctx, name, `last_success_ns = ?, last_error = '', failures = 0`, ns(now))
	}
	return r.exec(ctx, name, `last_error = ?, failures = failures + 1`, clip(runErr.Error(), 1000))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
