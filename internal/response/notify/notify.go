// Package notify keeps the notifications third-party reports become: each
// row of a scan feed (package feed) that names a resource an organisation
// registered (package constituency) is stored as a notification for that
// organisation alone.
//
// A notification carries the feed's name, when the hub received it, the
// value as the feed wrote it and in canonical form, the registration that
// matched, and the mapped extra fields (port, product, vulnerability, ...).
// Its sharing label is TLP:AMBER+STRICT produced by the importing hub
// organisation and distributed to the owner only, so sharing.Policy decides
// who reads it: the owner's members, and the hub's staff who imported it;
// nobody else, however the owners' resources overlap. Reads translate the
// caller's sharing.Access into the query, so counts and pages cover only
// visible rows.
//
// Reports repeat: a report of the same value with the same key fields from
// the same source for the same owner within a window (DefaultWindow) is
// folded into the earlier notification (its Seen count and LastSeen grow).
// An owner acknowledges a notification once. Notifications live in
// DIR/notifications.db; an import is one transaction, so a failed import
// stores nothing.
package notify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/feed"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
)

// FileName is the database file Open uses inside the data directory.
const FileName = "notifications.db"

const schema = `
CREATE TABLE IF NOT EXISTS notifications (
	id            INTEGER PRIMARY KEY,
	org           TEXT NOT NULL,    -- the owner's identity id (the one recipient)
	tlp           INTEGER NOT NULL, -- sharing.TLP
	producer_org  TEXT NOT NULL,
	producer_user TEXT NOT NULL,
	source        TEXT NOT NULL,
	received      INTEGER NOT NULL, -- Unix ns, UTC
	last_seen     INTEGER NOT NULL, -- Unix ns, UTC
	seen          INTEGER NOT NULL,
	value         TEXT NOT NULL,
	observation   TEXT NOT NULL,
	field         TEXT NOT NULL,
	matched       TEXT NOT NULL,
	line          INTEGER NOT NULL,
	time          TEXT NOT NULL,
	fields        TEXT NOT NULL,    -- JSON object of the extra fields
	dedup         TEXT NOT NULL,    -- hex SHA-256 of org, source, observation, key fields
	acked         INTEGER,          -- Unix ns, NULL until acknowledged
	acked_by      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS notifications_org ON notifications (org, id);
CREATE INDEX IF NOT EXISTS notifications_dedup ON notifications (dedup, last_seen);
`

// Notification is one stored notification.
type Notification struct {
	ID int64 `json:"id"`
	// OrgID is the owner's identity id, the one organisation it is for.
	OrgID string `json:"org_id"`
	// Org is the owner's name when the reader filled it in.
	Org string `json:"org,omitempty"`
	// Source names the feed.
	Source string `json:"source"`
	// Received is when the hub first stored it; LastSeen when the same
	// report was last folded into it; Seen how many reports it stands for.
	Received time.Time `json:"received"`
	LastSeen time.Time `json:"last_seen"`
	Seen     int       `json:"seen"`
	// Value is as the feed wrote it, Observation its canonical form and
	// Field the feed column it came from.
	Value       string `json:"value"`
	Observation string `json:"observation"`
	Field       string `json:"field"`
	// Matched is the owner's registration that decided (route.Resource
	// text).
	Matched string `json:"matched"`
	// Line is the report's line in the feed first imported.
	Line int `json:"line"`
	// Time is the feed's own time of the observation, as written.
	Time string `json:"time,omitempty"`
	// Fields are the mapped extra fields.
	Fields map[string]string `json:"fields"`
	// TLP is the notification's TLP 2.0 name.
	TLP string `json:"tlp"`
	// Acked is when the owner acknowledged it, and AckedBy who.
	Acked   *time.Time `json:"acked,omitempty"`
	AckedBy string     `json:"acked_by,omitempty"`

	label sharing.Label
}

// Label returns the notification's sharing label.
func (n Notification) Label() sharing.Label { return n.label }

// Store keeps notifications. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	owned bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Open opens (creating if needed) the store in dir/notifications.db.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("notify: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("notify: opening %s: %w", path, err)
	}
	s, err := New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New keeps notifications in db, creating the table when missing. Close
// does not close db.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("notify: creating table: %w", err)
	}
	return &Store{db: db, Now: time.Now}, nil
}

// Close closes the database when Open opened it.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("notify: closing: %w", err)
	}
	return nil
}

// Router is what an import needs of a routing table; *route.Table
// implements it.
type Router interface {
	feed.Router
	Hits(o route.Observation) []route.Hit
}

// MaxAdded bounds the new notifications an Import returns.
const MaxAdded = 10000

// Result is what an import did.
type Result struct {
	feed.Stats
	// Unrouted are the records without an owner (among them records whose
	// values did not parse).
	Unrouted int
	// New are the notifications stored, Duplicates the reports folded into
	// an earlier notification.
	New, Duplicates int
	// Added are the new notifications (the first MaxAdded).
	Added []Notification
}

// Import reads a feed, routes each record through rt and stores one
// notification per (record, owner), produced by producer (the hub's
// organisation and user importing it). It is one transaction: on an
// error (reading r, a mapping that does not fit the feed, ctx) nothing is
// stored. Malformed lines are counted in the Result, never fatal.
func (s *Store) Import(ctx context.Context, r io.Reader, rt Router, req ImportRequest, producer sharing.Principal) (Result, error) {
	if err := CheckSource(req.Source); err != nil {
		return Result{}, fmt.Errorf("notify import: %w", err)
	}
	window := req.Window
	if window <= 0 {
		window = DefaultWindow
	}
	names := make(map[string]string, len(req.Mapping.Names)) // column -> field
	for i, c := range req.Mapping.Feed.Extra {
		names[c] = req.Mapping.Names[i]
	}
	now := s.Now().UTC()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("notify import: %w", err)
	}
	defer tx.Rollback()
	find, err := tx.PrepareContext(ctx, `SELECT id FROM notifications WHERE dedup = ? AND last_seen >= ? ORDER BY id DESC LIMIT 1`)
	if err != nil {
		return Result{}, fmt.Errorf("notify import: %w", err)
	}
	defer find.Close()
	bump, err := tx.PrepareContext(ctx, `UPDATE notifications SET seen = seen + 1, last_seen = ? WHERE id = ?`)
	if err != nil {
		return Result{}, fmt.Errorf("notify import: %w", err)
	}
	defer bump.Close()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO notifications
		(org, tlp, producer_org, producer_user, source, received, last_seen, seen, value, observation, field, matched, line, time, fields, dedup)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return Result{}, fmt.Errorf("notify import: %w", err)
	}
	defer insert.Close()

	var res Result
	cfg := feed.Config{Mapping: req.Mapping.Feed, Source: req.Source}
	st, err := feed.Route(ctx, r, rt, cfg, func(fn feed.Notification) error {
		n := Notification{
			OrgID: string(fn.Owner), Source: req.Source, Received: now, LastSeen: now, Seen: 1,
			Value: fn.Value, Observation: fn.Observation.String(), Field: fn.Field,
			Matched: matched(rt.Hits(fn.Observation), fn.Owner), Line: fn.Line, Time: fn.Time,
			Fields: make(map[string]string, len(fn.Extra)),
		}
		for _, f := range fn.Extra {
			n.Fields[names[f.Name]] = f.Value
		}
		n.label = label(producer, n.OrgID)
		n.TLP = n.label.TLP.String()
		key := dedupKey(n, req.Mapping)
		var id int64
		switch err := find.QueryRowContext(ctx, key, now.Add(-window).UnixNano()).Scan(&id); {
		case err == nil:
			res.Duplicates++
			if _, err := bump.ExecContext(ctx, now.UnixNano(), id); err != nil {
				return fmt.Errorf("notify import, line %d: %w", fn.Line, err)
			}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("notify import, line %d: %w", fn.Line, err)
		}
		fields, err := json.Marshal(n.Fields)
		if err != nil {
			return fmt.Errorf("notify import, line %d: %w", fn.Line, err)
		}
		out, err := insert.ExecContext(ctx, n.OrgID, int(n.label.TLP), n.label.ProducerOrg, n.label.ProducerUser,
			n.Source, now.UnixNano(), now.UnixNano(), n.Value, n.Observation, n.Field, n.Matched, n.Line, n.Time,
			string(fields), key)
		if err != nil {
			return fmt.Errorf("notify import, line %d: %w", fn.Line, err)
		}
		if n.ID, err = out.LastInsertId(); err != nil {
			return fmt.Errorf("notify import, line %d: %w", fn.Line, err)
		}
		res.New++
		if len(res.Added) < MaxAdded {
			res.Added = append(res.Added, n)
		}
		return nil
	})
	res.Stats = st
	res.Unrouted = st.Records - st.Routed
	if err != nil {
		return Result{Stats: st}, fmt.Errorf("notify import %s: %w", req.Source, err)
	}
	if err := tx.Commit(); err != nil {
		return Result{Stats: st}, fmt.Errorf("notify import %s: commit: %w", req.Source, err)
	}
	return res, nil
}

// label is a notification's sharing label: TLP:AMBER+STRICT from the
// importer's organisation to the owner alone.
func label(producer sharing.Principal, owner string) sharing.Label {
	return sharing.Label{TLP: sharing.TLPAmberStrict, ProducerOrg: producer.OrgID, ProducerUser: producer.UserID, Orgs: []string{owner}}
}

// matched returns the owner's most specific registration among hits.
func matched(hits []route.Hit, owner route.Owner) string {
	var best route.Hit
	found := false
	for _, h := range hits {
		if h.Owner == owner && (!found || h.Specificity() > best.Specificity()) {
			best, found = h, true
		}
	}
	if !found {
		return ""
	}
	return best.Resource.String()
}

// dedupKey identifies a report: owner, source, canonical value and the
// key fields (every extra field when the mapping names none).
func dedupKey(n Notification, m Mapping) string {
	keys := m.Key
	if keys == nil {
		keys = m.Names
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	h := sha256.New()
	for _, s := range []string{n.OrgID, n.Source, n.Observation} {
		h.Write([]byte(strconv.Quote(s)))
	}
	for _, k := range keys {
		h.Write([]byte(strconv.Quote(k) + "=" + strconv.Quote(n.Fields[k])))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Filter selects notifications.
type Filter struct {
	// OrgID keeps one owner's notifications ("" : every visible one).
	OrgID string
	// Unacked keeps the ones not yet acknowledged.
	Unacked bool
	// After keeps ids greater than After (paging); Limit bounds the
	// result (0: DefaultLimit; at most MaxLimit).
	After int64
	Limit int
}

// Paging limits of List.
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

const columns = `id, org, tlp, producer_org, producer_user, source, received, last_seen, seen, value, observation, field, matched, line, time, fields, acked, acked_by`

// List returns the notifications acc allows that match f, by id.
func (s *Store) List(ctx context.Context, acc sharing.Access, f Filter) ([]Notification, error) {
	cond, args := accessSQL(acc)
	where := []string{cond}
	if f.OrgID != "" {
		where = append(where, "org = ?")
		args = append(args, f.OrgID)
	}
	if f.Unacked {
		where = append(where, "acked IS NULL")
	}
	if f.After > 0 {
		where = append(where, "id > ?")
		args = append(args, f.After)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM notifications WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("notify list: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("notify list: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notify list: %w", err)
	}
	return out, nil
}

// Get returns the notification id if acc allows it, else an error wrapping
// errkind.NotFound (whether it exists is not revealed).
func (s *Store) Get(ctx context.Context, acc sharing.Access, id int64) (Notification, error) {
	cond, args := accessSQL(acc)
	row := s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM notifications WHERE id = ? AND `+cond, append([]any{id}, args...)...)
	n, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Notification{}, fmt.Errorf("notification %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return Notification{}, fmt.Errorf("notification %d: %w", id, err)
	}
	return n, nil
}

// Ack records that orgID, the owner, acknowledged notification id; by
// names who (a user id or "cli"). A notification acc does not allow is
// NotFound; one of another owner is Forbidden (the hub's staff see but do
// not acknowledge for an organisation). Acknowledging twice keeps the
// first time.
func (s *Store) Ack(ctx context.Context, acc sharing.Access, orgID string, id int64, by string) (Notification, error) {
	n, err := s.Get(ctx, acc, id)
	if err != nil {
		return Notification{}, fmt.Errorf("notify ack: %w", err)
	}
	if orgID == "" || n.OrgID != orgID {
		return Notification{}, fmt.Errorf("notify ack: notification %d: %w: only its owner acknowledges it", id, errkind.Forbidden)
	}
	now := s.Now().UTC()
	if _, err := s.db.ExecContext(ctx, `UPDATE notifications SET acked = ?, acked_by = ? WHERE id = ? AND acked IS NULL`, now.UnixNano(), by, id); err != nil {
		return Notification{}, fmt.Errorf("notify ack: notification %d: %w", id, err)
	}
	return s.Get(ctx, acc, id)
}

type scanner interface{ Scan(...any) error }

func scan(r scanner) (Notification, error) {
	var (
		n                         Notification
		tlp                       int
		received, lastSeen        int64
		acked                     sql.NullInt64
		producerOrg, producerUser string
		fields                    string
	)
	if err := r.Scan(&n.ID, &n.OrgID, &tlp, &producerOrg, &producerUser, &n.Source, &received, &lastSeen, &n.Seen,
		&n.Value, &n.Observation, &n.Field, &n.Matched, &n.Line, &n.Time, &fields, &acked, &n.AckedBy); err != nil {
		return Notification{}, err
	}
	n.label = sharing.Label{TLP: sharing.TLP(tlp), ProducerOrg: producerOrg, ProducerUser: producerUser, Orgs: []string{n.OrgID}}
	n.TLP = n.label.TLP.String()
	n.Received, n.LastSeen = time.Unix(0, received).UTC(), time.Unix(0, lastSeen).UTC()
	if acked.Valid {
		t := time.Unix(0, acked.Int64).UTC()
		n.Acked = &t
	}
	if err := json.Unmarshal([]byte(fields), &n.Fields); err != nil {
		return Notification{}, fmt.Errorf("notification %d: stored fields: %w", n.ID, err)
	}
	return n, nil
}

// accessSQL translates a visibility predicate into a condition on the
// notifications table: the label's recipients are the owner alone, and
// nobody is named as a user. The zero Access allows nothing.
func accessSQL(a sharing.Access) (string, []any) {
	if len(a.Clauses) == 0 {
		return "0", nil
	}
	var args []any
	ors := make([]string, 0, len(a.Clauses))
	for _, c := range a.Clauses {
		var ands []string
		if len(c.TLPs) > 0 {
			lv := make([]string, len(c.TLPs))
			for i, t := range c.TLPs {
				lv[i] = strconv.Itoa(int(t))
			}
			ands = append(ands, "tlp IN ("+strings.Join(lv, ",")+")")
		}
		if c.ProducerOrg != "" {
			ands = append(ands, "producer_org = ?")
			args = append(args, c.ProducerOrg)
		}
		if c.ProducerUser != "" {
			ands = append(ands, "producer_user = ?")
			args = append(args, c.ProducerUser)
		}
		if c.DistOrg != "" {
			ands = append(ands, "org = ?")
			args = append(args, c.DistOrg)
		}
		if c.DistUser != "" {
			ands = append(ands, "0") // notifications name no users
		}
		if len(ands) == 0 {
			return "1", nil
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}
