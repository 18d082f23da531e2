package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// distSep separates the entries of the encoded distribution lists
// (dist_orgs, dist_users): "\x1fa\x1fb\x1f", so that membership is
// instr(column, "\x1f" || x || "\x1f") > 0.
const distSep = "\x1f"

func encodeList(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return distSep + strings.Join(l, distSep) + distSep
}

func decodeList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s[1:len(s)-1], distSep)
}

// versionFormat renders a date_added used as a version (objects without
// modified or created).
const versionFormat = "2006-01-02T15:04:05.000000Z"

// parseVersion parses a STIX timestamp into microseconds.
func parseVersion(v string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, err
	}
	return t.UnixMicro(), nil
}

// Add stores records into a collection in one transaction; see
// store.Objects.Add and the package documentation for versions.
func (s *Store) Add(ctx context.Context, collection string, recs []store.Record, statusID string) ([]store.AddResult, error) {
	key, err := s.collKey(ctx, collection)
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("adding %d objects to collection %s: %w", len(recs), collection, err)
	}
	defer tx.Rollback()
	if statusID != "" {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM statuses WHERE id = ?`, statusID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: status %s", errkind.NotFound, statusID)
		}
		if err != nil {
			return nil, fmt.Errorf("adding to collection %s: reading status %s: %w", collection, statusID, err)
		}
	}
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT last FROM clock`).Scan(&last); err != nil {
		return nil, fmt.Errorf("adding to collection %s: reading clock: %w", collection, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO objects (date_added, coll, id, idh, type, version, vtext, spec, tlp, producer_org, producer_user, anonymous, dist_orgs, dist_users, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (coll, idh, version) DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("adding to collection %s: %w", collection, err)
	}
	defer ins.Close()
	sel, err := tx.PrepareContext(ctx, `SELECT date_added, id, raw FROM objects WHERE coll = ? AND idh = ? AND version = ?`)
	if err != nil {
		return nil, fmt.Errorf("adding to collection %s: %w", collection, err)
	}
	defer sel.Close()
	var selUnv *sql.Stmt
	nowUS := s.now().UnixMicro()
	specs := map[string]bool{}
	out := make([]store.AddResult, len(recs))
	for i, rec := range recs {
		o := rec.Object
		if o == nil {
			out[i].Err = fmt.Errorf("%w: record %d: no object", errkind.Invalid, i)
			continue
		}
		res := &out[i]
		res.ID = o.ID
		if err := checkRecord(rec); err != nil {
			res.Err = err
			continue
		}
		vtext := o.Version()
		idh := idHash(o.ID)
		next := max(nowUS, last+1)
		var version int64
		if vtext != "" {
			version, err = parseVersion(vtext)
			if err != nil {
				res.Version = vtext
				res.Err = fmt.Errorf("%w: %s: modified/created: not a timestamp: %q", errkind.Invalid, o.ID, vtext)
				continue
			}
			res.Version = vtext
		} else {
			// Unversioned (the version is the date_added): an identical
			// copy already stored under the same label (TLP, producer
			// organisation and user, anonymity, distribution lists) is
			// this object, an idempotent re-submission. The same JSON
			// under another label (another producer, or other sharing
			// terms) is a version of its own, with its own label:
			// answering with the stored copy would hide the submission
			// from its producer, who may not be allowed to read the copy,
			// and tell it that somebody else already holds the
			// observable. (storetest: UnversionedProducers.)
			if selUnv == nil {
				selUnv, err = tx.PrepareContext(ctx, `SELECT date_added FROM objects WHERE coll = ? AND idh = ? AND id = ? AND vtext = '' AND raw = ?
					AND tlp = ? AND producer_org = ? AND producer_user = ? AND anonymous = ? AND dist_orgs = ? AND dist_users = ? ORDER BY date_added LIMIT 1`)
				if err != nil {
					return nil, fmt.Errorf("adding to collection %s: %w", collection, err)
				}
				defer selUnv.Close()
			}
			var da int64
			l := rec.Label
			err := selUnv.QueryRowContext(ctx, key, idh, o.ID, []byte(o.Raw), int64(l.TLP), l.ProducerOrg, l.ProducerUser, l.Anonymous,
				encodeList(l.Orgs), encodeList(l.Users)).Scan(&da)
			if err == nil {
				res.Version = time.UnixMicro(da).UTC().Format(versionFormat)
				res.DateAdded = fromMicro(da)
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("adding %s to collection %s: %w", o.ID, collection, err)
			}
			version = next
			res.Version = time.UnixMicro(next).UTC().Format(versionFormat)
		}
		l := rec.Label
		r, err := ins.ExecContext(ctx, next, key, o.ID, idh, o.Type, version, vtext, o.SpecVersion, int64(l.TLP),
			l.ProducerOrg, l.ProducerUser, l.Anonymous, encodeList(l.Orgs), encodeList(l.Users), []byte(o.Raw))
		if err != nil {
			return nil, fmt.Errorf("adding %s (version %s) to collection %s: %w", o.ID, vtext, collection, err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("adding %s to collection %s: %w", o.ID, collection, err)
		}
		if n == 1 {
			last = next
			res.DateAdded = fromMicro(next)
			specs[o.SpecVersion] = true
			continue
		}
		// This version exists: an identical copy is a success, a
		// different one a conflict.
		var da int64
		var storedID string
		var raw []byte
		if err := sel.QueryRowContext(ctx, key, idh, version).Scan(&da, &storedID, &raw); err != nil {
			return nil, fmt.Errorf("adding %s (version %s) to collection %s: reading stored version: %w", o.ID, vtext, collection, err)
		}
		switch {
		case storedID != o.ID:
			res.Err = fmt.Errorf("%w: %s: version %s: id hash collides with stored %s", errkind.Conflict, o.ID, vtext, storedID)
		case !bytes.Equal(raw, o.Raw):
			res.Err = fmt.Errorf("%w: %s: version %s already stored with different content", errkind.Conflict, o.ID, vtext)
		default:
			res.DateAdded = fromMicro(da)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE clock SET last = ?`, last); err != nil {
		return nil, fmt.Errorf("adding to collection %s: updating clock: %w", collection, err)
	}
	for spec := range specs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO coll_specs (coll, spec) VALUES (?, ?)`, key, spec); err != nil {
			return nil, fmt.Errorf("adding to collection %s: %w", collection, err)
		}
	}
	if statusID != "" {
		details := make([]statusOutcome, len(out))
		for i, r := range out {
			details[i] = statusOutcome{StatusDetail: store.StatusDetail{ID: r.ID, Version: r.Version}, failed: r.Err != nil}
			if r.Err != nil {
				details[i].Message = r.Err.Error()
			}
		}
		if err := recordOutcomes(ctx, tx, statusID, details); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("adding %d objects to collection %s: commit: %w", len(recs), collection, err)
	}
	return out, nil
}

// checkRecord refuses records the schema cannot represent faithfully.
func checkRecord(rec store.Record) error {
	o := rec.Object
	if o.ID == "" || o.Type == "" {
		return fmt.Errorf("%w: %s: id and type are required", errkind.Invalid, o.ID)
	}
	if len(o.Raw) == 0 {
		return fmt.Errorf("%w: %s: no JSON", errkind.Invalid, o.ID)
	}
	for _, l := range [][]string{rec.Label.Orgs, rec.Label.Users} {
		for _, x := range l {
			if x == "" || strings.Contains(x, distSep) {
				return fmt.Errorf("%w: %s: sharing label: invalid recipient %q", errkind.Invalid, o.ID, x)
			}
		}
	}
	return nil
}

// accessSQL translates a visibility predicate into an SQL condition on the
// objects row aliased as alias. It is the only place where sharing.Access
// becomes SQL. The zero Access yields a condition that is always false.
func accessSQL(alias string, a sharing.Access) (string, []any) {
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
			ands = append(ands, alias+".tlp IN ("+strings.Join(lv, ",")+")")
		}
		if c.ProducerOrg != "" {
			ands = append(ands, alias+".producer_org = ?")
			args = append(args, c.ProducerOrg)
		}
		if c.ProducerUser != "" {
			ands = append(ands, alias+".producer_user = ?")
			args = append(args, c.ProducerUser)
		}
		if c.DistOrg != "" {
			ands = append(ands, "instr("+alias+".dist_orgs, ?) > 0")
			args = append(args, distSep+c.DistOrg+distSep)
		}
		if c.DistUser != "" {
			ands = append(ands, "instr("+alias+".dist_users, ?) > 0")
			args = append(args, distSep+c.DistUser+distSep)
		}
		if len(ands) == 0 {
			return "1", nil // an unconstrained clause allows everything
		}
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")", args
}

// cursor encoding: "d" + base-36 date_added of the last entry returned.
func encodeCursor(da int64) string { return "d" + strconv.FormatInt(da, 36) }

func decodeCursor(s string) (int64, error) {
	if len(s) < 2 || s[0] != 'd' {
		return 0, fmt.Errorf("%w: next: malformed cursor %q", errkind.Invalid, s)
	}
	v, err := strconv.ParseInt(s[1:], 36, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: next: malformed cursor %q", errkind.Invalid, s)
	}
	return v, nil
}

// query is an SQL WHERE clause under construction.
type query struct {
	// from is the FROM clause: objects aliased o, with an index hint when
	// the planner, which has no statistics, would otherwise prefer an
	// index giving the date_added order over a selective one.
	from  string
	where []string
	args  []any
}

func (q *query) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys[T any](l []T) []any {
	out := make([]any, len(l))
	for i, x := range l {
		out[i] = x
	}
	return out
}

// filterSQL builds the WHERE clause (on alias o) selecting the versions
// matched by f, paging bounds included.
func (s *Store) filterSQL(ctx context.Context, f store.Filter) (query, error) {
	q := query{from: "objects o"}
	var key int64
	if f.Collection != "" {
		k, err := s.collKey(ctx, f.Collection)
		if err != nil {
			return q, err
		}
		key = k
		q.add("o.coll = ?", key)
	} else if len(f.IDs) > 0 {
		q.add("o.coll IN (SELECT key FROM collections)")
	}
	if len(f.IDs) > 0 {
		// Looking up given objects: a handful of index probes beats
		// walking the collection in date_added order.
		q.from = "objects o INDEXED BY objects_idh"
		hs := make([]any, len(f.IDs))
		for i, id := range f.IDs {
			hs[i] = idHash(id)
		}
		q.add("o.idh IN ("+placeholders(len(hs))+")", hs...)
	}
	lower := int64(-1 << 63)
	if !f.AddedAfter.IsZero() {
		lower = f.AddedAfter.UnixMicro()
	}
	if f.Next != "" {
		c, err := decodeCursor(f.Next)
		if err != nil {
			return q, err
		}
		lower = max(lower, c)
	}
	if lower != -1<<63 {
		q.add("o.date_added > ?", lower)
	}
	switch len(f.IDs) {
	case 0:
	case 1:
		q.add("o.id = ?", f.IDs[0])
	default:
		q.add("o.id IN ("+placeholders(len(f.IDs))+")", anys(f.IDs)...)
	}
	switch len(f.Types) {
	case 0:
	case 1:
		q.add("o.type = ?", f.Types[0])
	default:
		q.add("o.type IN ("+placeholders(len(f.Types))+")", anys(f.Types)...)
	}
	// Candidates: visible versions of the requested spec versions.
	visO, visArgsO := accessSQL("o", f.Access)
	visP, visArgsP := accessSQL("p", f.Access)
	q.add(visO, visArgsO...)
	specP, specArgs := "", []any(nil)
	if len(f.SpecVersions) > 0 {
		q.add("o.spec IN ("+placeholders(len(f.SpecVersions))+")", anys(f.SpecVersions)...)
		specP, specArgs = " AND p.spec IN ("+placeholders(len(f.SpecVersions))+")", anys(f.SpecVersions)
	} else {
		mixed, err := s.mixedSpecs(ctx, f.Collection, key)
		if err != nil {
			return q, err
		}
		if mixed {
			// Only the latest spec version of each object among its
			// visible versions; first/last are taken within it.
			q.add("NOT EXISTS (SELECT 1 FROM objects p WHERE p.coll = o.coll AND p.idh = o.idh AND p.id = o.id AND p.spec > o.spec AND "+visP+")", visArgsP...)
			specP = " AND p.spec = o.spec"
		}
	}
	versions := f.Versions
	if len(versions) == 0 {
		versions = []string{"last"}
	}
	if slices.Contains(versions, "all") {
		return q, nil
	}
	var ors []string
	var orArgs []any
	var exact []any
	for _, v := range versions {
		switch v {
		case "last", "first":
			cmp := ">"
			if v == "first" {
				cmp = "<"
			}
			ors = append(ors, "NOT EXISTS (SELECT 1 FROM objects p WHERE p.coll = o.coll AND p.idh = o.idh AND p.id = o.id AND p.version "+cmp+" o.version"+specP+" AND "+visP+")")
			orArgs = append(orArgs, specArgs...)
			orArgs = append(orArgs, visArgsP...)
		default:
			us, err := parseVersion(v)
			if err != nil {
				return q, fmt.Errorf("%w: match[version]: %q is not first, last, all or a timestamp", errkind.Invalid, v)
			}
			exact = append(exact, us)
		}
	}
	if len(exact) > 0 {
		ors = append(ors, "o.version IN ("+placeholders(len(exact))+")")
		orArgs = append(orArgs, exact...)
	}
	q.add("("+strings.Join(ors, " OR ")+")", orArgs...)
	return q, nil
}

// mixedSpecs reports whether a collection (key; every collection when id is
// "") has ever held more than one spec version.
func (s *Store) mixedSpecs(ctx context.Context, id string, key int64) (bool, error) {
	var n int
	var err error
	if id == "" {
		err = s.r.QueryRowContext(ctx, `SELECT count(DISTINCT spec) FROM coll_specs`).Scan(&n)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM coll_specs WHERE coll = ?`, key).Scan(&n)
	}
	if err != nil {
		return false, fmt.Errorf("reading spec versions of collection %q: %w", id, err)
	}
	return n > 1, nil
}

// Query returns a page of visible versions with their JSON.
func (s *Store) Query(ctx context.Context, f store.Filter) (store.Page, error) {
	return s.page(ctx, f, true)
}

// Manifest returns a page of visible versions without their JSON.
func (s *Store) Manifest(ctx context.Context, f store.Filter) (store.Page, error) {
	return s.page(ctx, f, false)
}

func (s *Store) page(ctx context.Context, f store.Filter, withRaw bool) (store.Page, error) {
	var p store.Page
	limit := f.Limit
	if limit < 0 {
		return p, fmt.Errorf("%w: limit: negative (%d)", errkind.Invalid, limit)
	}
	if limit == 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	q, err := s.filterSQL(ctx, f)
	if err != nil {
		return p, err
	}
	cols := "o.date_added, o.id, o.type, o.version, o.vtext, o.spec, o.tlp, o.producer_org, o.producer_user, o.anonymous, o.dist_orgs, o.dist_users"
	if withRaw {
		cols += ", o.raw"
	}
	stmt := "SELECT " + cols + " FROM " + q.from + " WHERE " + strings.Join(q.where, " AND ") + " ORDER BY o.date_added LIMIT ?"
	args := append(q.args, limit+1)
	rows, err := s.r.QueryContext(ctx, stmt, args...)
	if err != nil {
		return p, fmt.Errorf("querying collection %q: %w", f.Collection, err)
	}
	defer rows.Close()
	p.Entries = make([]store.Entry, 0, min(limit, 1024))
	for rows.Next() {
		if len(p.Entries) == limit {
			p.More = true
			break
		}
		var e store.Entry
		var da, version, tlp int64
		var vtext, orgs, users string
		var raw []byte
		dst := []any{&da, &e.ID, &e.Type, &version, &vtext, &e.SpecVersion, &tlp, &e.Label.ProducerOrg, &e.Label.ProducerUser, &e.Label.Anonymous, &orgs, &users}
		if withRaw {
			dst = append(dst, &raw)
		}
		if err := rows.Scan(dst...); err != nil {
			return p, fmt.Errorf("querying collection %q: %w", f.Collection, err)
		}
		e.DateAdded = fromMicro(da)
		if vtext != "" {
			e.Version = vtext
		} else {
			e.Version = time.UnixMicro(version).UTC().Format(versionFormat)
		}
		e.Label.TLP = sharing.TLP(tlp)
		e.Label.Orgs = decodeList(orgs)
		e.Label.Users = decodeList(users)
		if withRaw {
			e.Raw = raw
		}
		p.Entries = append(p.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("querying collection %q: %w", f.Collection, err)
	}
	if p.More {
		p.Next = encodeCursor(micro(p.Entries[len(p.Entries)-1].DateAdded))
	}
	return p, nil
}

// Delete removes the visible versions of f.IDs[0] matched by f (Versions
// defaults to "last", as everywhere; Limit and Next are ignored).
func (s *Store) Delete(ctx context.Context, f store.Filter) (int, error) {
	if len(f.IDs) == 0 || f.IDs[0] == "" {
		return 0, fmt.Errorf("%w: delete: no object id", errkind.Invalid)
	}
	f.IDs = f.IDs[:1]
	f.Limit, f.Next = 0, ""
	q, err := s.filterSQL(ctx, f)
	if err != nil {
		return 0, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("deleting %s: %w", f.IDs[0], err)
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, "DELETE FROM objects WHERE date_added IN (SELECT o.date_added FROM "+q.from+" WHERE "+strings.Join(q.where, " AND ")+")", q.args...)
	if err != nil {
		return 0, fmt.Errorf("deleting %s: %w", f.IDs[0], err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("deleting %s: %w", f.IDs[0], err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("deleting %s: %w", f.IDs[0], err)
	}
	return int(n), nil
}

// MarkingKnown reports whether a marking-definition with this id is stored
// in any collection.
func (s *Store) MarkingKnown(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM objects WHERE type = 'marking-definition' AND id = ? LIMIT 1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking up marking-definition %s: %w", id, err)
	}
	return true, nil
}

// CountAdded counts the versions, in every collection, whose date_added is
// after after and not after through, reading only the collections' date
// index. The transparency log uses it to confirm that the versions it
// knows of are all the versions added in a range.
func (s *Store) CountAdded(ctx context.Context, after, through time.Time) (int, error) {
	var lo int64
	if !after.IsZero() {
		lo = after.UnixMicro()
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM objects INDEXED BY objects_coll
		WHERE coll IN (SELECT key FROM collections) AND date_added > ? AND date_added <= ?`, lo, through.UnixMicro()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting versions added after %s: %w", after.Format(time.RFC3339Nano), err)
	}
	return n, nil
}
