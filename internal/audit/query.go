package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// MaxLimit bounds the records one List call returns.
const MaxLimit = 1000

// DefaultLimit is List's page size when Filter.Limit is 0.
const DefaultLimit = 100

// Filter selects records. Empty fields match everything.
type Filter struct {
	// Org matches the organisation id or name.
	Org string
	// User matches the user id or name.
	User string
	// Action and Interface match exactly.
	Action    Action
	Interface Interface
	// Object matches records naming this object id.
	Object string
	// Since and Until bound the time (inclusive, exclusive).
	Since, Until time.Time
	// From is the first index a listing may return (a page's Next
	// continues the listing).
	From int64
	// Limit is the page size (default DefaultLimit, at most MaxLimit).
	Limit int
}

// Entry is a stored record with its index in the trail (and the audit log)
// and its hash (hex; the log entry's object hash).
type Entry struct {
	Index int64 `json:"index"`
	Record
	Hash string `json:"hash"`
}

// Page is one page of a listing.
type Page struct {
	Records []Entry `json:"records"`
	// Next, when not empty, is the From of the next page.
	Next string `json:"next,omitempty"`
}

// ParseAction checks an action name.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Read, Write, Delete, Admin, AuthFailure:
		return a, nil
	}
	return "", fmt.Errorf("%w: action %q: want read, write, delete, admin or auth-failure", errkind.Invalid, s)
}

// ParseInterface checks an interface name.
func ParseInterface(s string) (Interface, error) {
	switch i := Interface(s); i {
	case TAXII, API, MISPFeed, CSAF, Public, CLI:
		return i, nil
	}
	return "", fmt.Errorf("%w: interface %q: want taxii, api, misp-feed, csaf, public or cli", errkind.Invalid, s)
}

// ParseTime accepts RFC 3339 times and plain dates (YYYY-MM-DD, UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: time %q: want RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02)", errkind.Invalid, s)
}

const selectCols = `seq, time, org_id, org, user_id, user, token_id, role, iface, action, method, path, collection, objects, count, status, client`

// List returns the records f selects, in index (time) order.
func (t *Trail) List(ctx context.Context, f Filter) (*Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d: at most %d", errkind.Invalid, limit, MaxLimit)
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("seq >= ?", max(f.From, 0))
	if f.Org != "" {
		add("(org_id = ? OR org = ?)", f.Org, f.Org)
	}
	if f.User != "" {
		add("(user_id = ? OR user = ?)", f.User, f.User)
	}
	if f.Action != "" {
		add("action = ?", string(f.Action))
	}
	if f.Interface != "" {
		add("iface = ?", string(f.Interface))
	}
	if f.Object != "" {
		q, _ := json.Marshal(f.Object)
		add("instr(objects, ?) > 0", string(q))
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UTC().Format(TimeFormat))
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UTC().Format(TimeFormat))
	}
	q := `SELECT ` + selectCols + ` FROM audit_records WHERE ` + strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ?`
	args = append(args, limit+1)
	pg := &Page{}
	for e, err := range t.rows(ctx, q, args...) {
		if err != nil {
			return nil, err
		}
		if len(pg.Records) == limit {
			pg.Next = strconv.FormatInt(pg.Records[limit-1].Index+1, 10)
			break
		}
		h, err := Hash(e.Index, &e.Record)
		if err == nil {
			e.Hash = hex.EncodeToString(h[:])
		}
		pg.Records = append(pg.Records, e)
	}
	return pg, nil
}

// All iterates over the records f selects from f.From on (ignoring its
// Limit), for exports.
func (t *Trail) All(ctx context.Context, f Filter) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		f.Limit = MaxLimit
		for {
			pg, err := t.List(ctx, f)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range pg.Records {
				if !yield(e, nil) {
					return
				}
			}
			if pg.Next == "" {
				return
			}
			f.From = pg.Records[len(pg.Records)-1].Index + 1
		}
	}
}

// scan iterates over every stored record from index from on.
func (t *Trail) scan(ctx context.Context, from int64) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		const chunk = 4096
		for {
			n := 0
			for e, err := range t.rows(ctx, `SELECT `+selectCols+` FROM audit_records WHERE seq >= ? ORDER BY seq LIMIT ?`, from, chunk) {
				if err != nil || !yield(e, err) {
					return
				}
				n++
				from = e.Index + 1
			}
			if n < chunk {
				return
			}
		}
	}
}

// rows runs a query over audit_records and decodes its rows.
func (t *Trail) rows(ctx context.Context, q string, args ...any) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		rows, err := t.db.QueryContext(ctx, q, args...)
		if err != nil {
			yield(Entry{}, fmt.Errorf("reading %s: %w", File, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var e Entry
			var ts, objs, iface, action string
			if err := rows.Scan(&e.Index, &ts, &e.OrgID, &e.Org, &e.UserID, &e.User, &e.TokenID, &e.Role, &iface, &action,
				&e.Method, &e.Path, &e.Collection, &objs, &e.Count, &e.Status, &e.Client); err != nil {
				yield(Entry{}, fmt.Errorf("reading %s: %w", File, err))
				return
			}
			e.Interface, e.Action = Interface(iface), Action(action)
			// A field that no longer parses was edited: keep the record
			// (its hash will not match) rather than fail the scan.
			e.Time, _ = time.Parse(TimeFormat, ts)
			if json.Unmarshal([]byte(objs), &e.Objects) != nil {
				e.Objects = []string{objs}
			}
			if len(e.Objects) == 0 {
				e.Objects = nil
			}
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Entry{}, fmt.Errorf("reading %s: %w", File, err))
		}
	}
}
