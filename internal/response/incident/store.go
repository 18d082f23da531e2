package incident

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// FileName is the database file Open uses inside the data directory.
const FileName = "cases.db"

const schema = `
CREATE TABLE IF NOT EXISTS incident_cases (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT NOT NULL UNIQUE,
	reporter_org TEXT NOT NULL,
	state        TEXT NOT NULL,
	data         TEXT NOT NULL -- the Case as JSON
);
CREATE INDEX IF NOT EXISTS incident_cases_org ON incident_cases (reporter_org);
`

// Cases stores cases. It is safe for concurrent use.
type Cases struct {
	db *sql.DB
	// Dir, when set, checks assignees (hub analysts) and supplies the
	// reporter organisation's sector and anonymity default.
	Dir store.Directory
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Log receives one line per change (discarded when nil).
	Log *slog.Logger
	// Changed, when set, is called after a case was reported (change
	// "reported") or moved to another state (change "state:STATE"), with
	// the whole case; the hub publishes it on the bus for alerting.
	Changed func(ctx context.Context, c Case, change string)
}

// Open opens (creating if needed) the case store in dir/cases.db.
func Open(ctx context.Context, dir string) (*Cases, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cases: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cases: opening %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("cases: creating tables in %s: %w", path, err)
	}
	return &Cases{db: db}, nil
}

// Close closes the database.
func (cs *Cases) Close() error {
	if err := cs.db.Close(); err != nil {
		return fmt.Errorf("cases: closing: %w", err)
	}
	return nil
}

func (cs *Cases) now() time.Time {
	if cs.Now == nil {
		return time.Now().UTC()
	}
	return cs.Now().UTC()
}

func (cs *Cases) log() *slog.Logger {
	if cs.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return cs.Log
}

// newCaseID returns "case--" and a random UUID.
func newCaseID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("case--%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Create opens a case for a report by p (a member of an organisation).
// attached are the ids of the report's objects already stored through
// the ingest pipeline. The reporter's organisation is always affected.
func (cs *Cases) Create(ctx context.Context, p sharing.Principal, r Report, attached []string) (Case, error) {
	if p.Public || p.OrgID == "" {
		return Case{}, fmt.Errorf("%w: only members of an organisation report incidents", errkind.Forbidden)
	}
	now := cs.now()
	if r.Detected.After(now.Add(5 * time.Minute)) {
		return Case{}, fieldErr("detected", "%s is in the future", r.Detected.Format(time.RFC3339))
	}
	c := Case{
		ID: newCaseID(), Report: r, ReporterOrg: p.OrgID, ReporterUser: p.UserID,
		Anonymous: r.Anonymous, Sector: r.Sector, State: StateNew, Reported: now,
		Affected: []string{p.OrgID}, Links: []Link{}, Comments: []Comment{}, Acks: []Ack{},
	}
	if cs.Dir != nil {
		if org, err := cs.Dir.Org(ctx, p.OrgID); err == nil {
			c.Anonymous = c.Anonymous || org.Anonymous
			if c.Sector == "" {
				c.Sector = org.Sector
			}
		}
	}
	for _, id := range r.AffectedOrganizations {
		if !slices.Contains(c.Affected, id) {
			c.Affected = append(c.Affected, id)
		}
	}
	for _, id := range attached {
		if !c.hasLink(id) {
			c.Links = append(c.Links, Link{ObjectID: id, Kind: LinkAttached, At: now, By: p.UserID})
		}
	}
	c.Report.Objects = nil // stored in the hub; the case links them
	detail := "reported"
	if c.Anonymous {
		detail = "reported anonymously"
	}
	c.event(now, p.UserID, "reported", detail)
	data, err := json.Marshal(c)
	if err != nil {
		return Case{}, fmt.Errorf("cases: encoding case: %w", err)
	}
	if _, err := cs.db.ExecContext(ctx, `INSERT INTO incident_cases (id, reporter_org, state, data) VALUES (?, ?, ?, ?)`,
		c.ID, c.ReporterOrg, string(c.State), string(data)); err != nil {
		return Case{}, fmt.Errorf("cases: storing case: %w", err)
	}
	cs.log().InfoContext(ctx, "incident reported", "case", c.ID, "org", p.OrgID, "anonymous", c.Anonymous)
	if cs.Changed != nil {
		cs.Changed(ctx, c, "reported")
	}
	return c, nil
}

// Get returns a case as p may see it (errkind.NotFound when p may not).
func (cs *Cases) Get(ctx context.Context, p sharing.Principal, id string) (Case, error) {
	c, err := cs.load(ctx, cs.db, id)
	if err != nil {
		return Case{}, err
	}
	if err := Authorize(p, &c, ActView); err != nil {
		return Case{}, err
	}
	return c.View(p), nil
}

// List returns the cases p may see, oldest first: every case for hub
// analysts, the own organisation's for others. The restriction is part of
// the query. state, when not empty, selects one state.
func (cs *Cases) List(ctx context.Context, p sharing.Principal, state State) ([]Case, error) {
	if p.Public || p.OrgID == "" {
		return []Case{}, nil
	}
	q := `SELECT data FROM incident_cases WHERE 1=1`
	var args []any
	if !p.HubAnalyst() {
		q += ` AND reporter_org = ?`
		args = append(args, p.OrgID)
	}
	if state != "" {
		q += ` AND state = ?`
		args = append(args, string(state))
	}
	all, err := cs.query(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, err
	}
	out := make([]Case, len(all))
	for i := range all {
		out[i] = all[i].View(p)
	}
	return out, nil
}

// all returns every case (for metrics).
func (cs *Cases) all(ctx context.Context) ([]Case, error) {
	return cs.query(ctx, `SELECT data FROM incident_cases ORDER BY seq`)
}

func (cs *Cases) query(ctx context.Context, q string, args ...any) ([]Case, error) {
	rows, err := cs.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("cases: listing: %w", err)
	}
	defer rows.Close()
	out := []Case{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("cases: listing: %w", err)
		}
		var c Case
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return nil, fmt.Errorf("cases: decoding a stored case: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cases: listing: %w", err)
	}
	return out, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (cs *Cases) load(ctx context.Context, db querier, id string) (Case, error) {
	var data string
	err := db.QueryRowContext(ctx, `SELECT data FROM incident_cases WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return Case{}, fmt.Errorf("%w: case %s", errkind.NotFound, clip(id))
	}
	if err != nil {
		return Case{}, fmt.Errorf("cases: reading case %s: %w", clip(id), err)
	}
	var c Case
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return Case{}, fmt.Errorf("cases: decoding case %s: %w", id, err)
	}
	return c, nil
}

// update runs fn on the cases ids in one transaction, after checking that
// p may do act on each, and stores them when fn succeeds.
func (cs *Cases) update(ctx context.Context, p sharing.Principal, act Action, ids []string, fn func(now time.Time, cs []*Case) error) ([]Case, error) {
	tx, err := cs.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	defer tx.Rollback()
	cases := make([]*Case, len(ids))
	for i, id := range ids {
		c, err := cs.load(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if err := Authorize(p, &c, act); err != nil {
			return nil, err
		}
		cases[i] = &c
	}
	now := cs.now()
	if err := fn(now, cases); err != nil {
		return nil, err
	}
	out := make([]Case, len(cases))
	for i, c := range cases {
		data, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("cases: encoding case %s: %w", c.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incident_cases SET state = ?, data = ? WHERE id = ?`, string(c.State), string(data), c.ID); err != nil {
			return nil, fmt.Errorf("cases: storing case %s: %w", c.ID, err)
		}
		if Authorize(p, c, ActView) == nil {
			out[i] = c.View(p)
		} else {
			// An affected organisation acknowledging a case it may
			// not see learns nothing about it.
			out[i] = Case{ID: c.ID, State: c.State}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("cases: committing: %w", err)
	}
	cs.log().InfoContext(ctx, "case changed", "action", string(act), "cases", strings.Join(ids, ","), "by", p.UserID)
	return out, nil
}

func (cs *Cases) one(ctx context.Context, p sharing.Principal, act Action, id string, fn func(now time.Time, c *Case) error) (Case, error) {
	out, err := cs.update(ctx, p, act, []string{id}, func(now time.Time, c []*Case) error { return fn(now, c[0]) })
	if err != nil {
		return Case{}, err
	}
	return out[0], nil
}

func notMerged(c *Case) error {
	if c.MergedInto != "" {
		return fmt.Errorf("%w: case %s was merged into %s; act on that case", errkind.Conflict, c.ID, c.MergedInto)
	}
	return nil
}

// Transition moves a case to another state (hub analysts only).
func (cs *Cases) Transition(ctx context.Context, p sharing.Principal, id string, to State) (Case, error) {
	if _, err := ParseState(string(to)); err != nil {
		return Case{}, err
	}
	var full Case
	out, err := cs.one(ctx, p, ActTransition, id, func(now time.Time, c *Case) error {
		if err := notMerged(c); err != nil {
			return err
		}
		if !CanTransition(c.State, to) {
			return fmt.Errorf("%w: case %s: field \"state\": cannot move from %s to %s (allowed: %v)", errkind.Conflict, c.ID, c.State, to, transitions[c.State])
		}
		c.event(now, p.UserID, "transition", string(c.State)+" -> "+string(to))
		c.State = to
		full = *c
		return nil
	})
	if err == nil && cs.Changed != nil {
		cs.Changed(ctx, full, "state:"+string(to))
	}
	return out, err
}

// Assign gives a case to a hub analyst (a user id; "" unassigns).
func (cs *Cases) Assign(ctx context.Context, p sharing.Principal, id, assignee string) (Case, error) {
	if assignee != "" && cs.Dir != nil {
		u, err := cs.Dir.User(ctx, assignee)
		if errors.Is(err, errkind.NotFound) {
			return Case{}, fmt.Errorf("%w: field \"assignee\": no user %q", errkind.Invalid, clip(assignee))
		}
		if err != nil {
			return Case{}, fmt.Errorf("cases: looking up assignee: %w", err)
		}
		if u.Role != sharing.RoleAnalyst && u.Role != sharing.RoleHubAdmin {
			return Case{}, fmt.Errorf("%w: field \"assignee\": user %s is not a hub analyst", errkind.Invalid, assignee)
		}
	}
	return cs.one(ctx, p, ActAssign, id, func(now time.Time, c *Case) error {
		if err := notMerged(c); err != nil {
			return err
		}
		c.Assignee = assignee
		c.event(now, p.UserID, "assigned", assignee)
		return nil
	})
}

// AddComment adds a comment; internal comments are for hub analysts only.
func (cs *Cases) AddComment(ctx context.Context, p sharing.Principal, id, text string, internal bool) (Case, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > maxText {
		return Case{}, fmt.Errorf("%w: field \"text\": want 1 to %d bytes", errkind.Invalid, maxText)
	}
	if internal && !p.HubAnalyst() {
		return Case{}, fmt.Errorf("%w: field \"internal\": only hub analysts write internal comments", errkind.Forbidden)
	}
	return cs.one(ctx, p, ActComment, id, func(now time.Time, c *Case) error {
		c.Comments = append(c.Comments, Comment{At: now, By: p.UserID, Text: text, Internal: internal})
		kind := "comment"
		if internal {
			kind = "comment-internal"
		}
		c.event(now, p.UserID, kind, "")
		return nil
	})
}

// Link ties a STIX object to a case. kind is LinkRelated (default) or
// LinkAdvisory; an object of type report also counts as an advisory.
// affectedOrg, when set, adds an affected organisation instead.
func (cs *Cases) Link(ctx context.Context, p sharing.Principal, id, objectID, kind string) (Case, error) {
	typ, _, ok := stix.SplitID(objectID)
	if !ok {
		return Case{}, fmt.Errorf("%w: field \"object_id\": %q is not a STIX id", errkind.Invalid, clip(objectID))
	}
	if kind == "" {
		kind = LinkRelated
		if typ == "report" {
			kind = LinkAdvisory
		}
	}
	if kind != LinkRelated && kind != LinkAdvisory {
		return Case{}, fmt.Errorf("%w: field \"kind\": want %s or %s", errkind.Invalid, LinkRelated, LinkAdvisory)
	}
	return cs.one(ctx, p, ActLink, id, func(now time.Time, c *Case) error {
		if err := notMerged(c); err != nil {
			return err
		}
		if c.hasLink(objectID) {
			return nil
		}
		c.Links = append(c.Links, Link{ObjectID: objectID, Kind: kind, At: now, By: p.UserID})
		c.event(now, p.UserID, "linked", kind+" "+objectID)
		return nil
	})
}

// AddAffected adds an affected organisation (an identity id), asked to
// acknowledge (hub analysts only).
func (cs *Cases) AddAffected(ctx context.Context, p sharing.Principal, id, org string) (Case, error) {
	if typ, _, ok := stix.SplitID(org); !ok || typ != "identity" {
		return Case{}, fmt.Errorf("%w: field \"organization\": %q is not an identity id", errkind.Invalid, clip(org))
	}
	return cs.one(ctx, p, ActLink, id, func(now time.Time, c *Case) error {
		if err := notMerged(c); err != nil {
			return err
		}
		if !slices.Contains(c.Affected, org) {
			c.Affected = append(c.Affected, org)
			c.event(now, p.UserID, "affected", org)
		}
		return nil
	})
}

// Acknowledge records that p's organisation, an affected one, has
// acknowledged the case. Only the first acknowledgement per organisation
// counts.
func (cs *Cases) Acknowledge(ctx context.Context, p sharing.Principal, id string) (Case, error) {
	return cs.one(ctx, p, ActAck, id, func(now time.Time, c *Case) error {
		if err := notMerged(c); err != nil {
			return err
		}
		if slices.ContainsFunc(c.Acks, func(a Ack) bool { return a.Org == p.OrgID }) {
			return nil
		}
		c.Acks = append(c.Acks, Ack{Org: p.OrgID, User: p.UserID, At: now})
		c.event(now, p.UserID, "acknowledged", p.OrgID)
		return nil
	})
}

// Merge merges the duplicate into the survivor: the duplicate is closed
// and points to the survivor, which takes over its links, affected
// organisations and acknowledgements; both timelines record it.
func (cs *Cases) Merge(ctx context.Context, p sharing.Principal, duplicate, survivor string) (Case, error) {
	if duplicate == survivor {
		return Case{}, fmt.Errorf("%w: field \"into\": a case cannot be merged into itself", errkind.Invalid)
	}
	out, err := cs.update(ctx, p, ActMerge, []string{duplicate, survivor}, func(now time.Time, c []*Case) error {
		dup, surv := c[0], c[1]
		if err := notMerged(dup); err != nil {
			return err
		}
		if err := notMerged(surv); err != nil {
			return fmt.Errorf("field \"into\": %w", err)
		}
		for _, l := range dup.Links {
			if !surv.hasLink(l.ObjectID) {
				surv.Links = append(surv.Links, l)
			}
		}
		for _, o := range dup.Affected {
			if !slices.Contains(surv.Affected, o) {
				surv.Affected = append(surv.Affected, o)
			}
		}
		for _, a := range dup.Acks {
			if !slices.ContainsFunc(surv.Acks, func(b Ack) bool { return a.Org == b.Org }) {
				surv.Acks = append(surv.Acks, a)
			}
		}
		surv.Merged = append(surv.Merged, dup.ID)
		surv.event(now, p.UserID, "merged", dup.ID+" merged into this case")
		dup.MergedInto = surv.ID
		dup.event(now, p.UserID, "merged-into", surv.ID)
		if dup.State != StateClosed {
			dup.event(now, p.UserID, "transition", string(dup.State)+" -> closed")
			dup.State = StateClosed
		}
		return nil
	})
	if err != nil {
		return Case{}, err
	}
	return out[1], nil
}
