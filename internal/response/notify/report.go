package notify

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// Report is an observation reported outside a feed, such as an address or
// domain a STIX sighting observed.
type Report struct {
	// Value is the observed value as written (an IPv4/IPv6 address or
	// CIDR, a domain name, a URL).
	Value string
	// Field tells where the value came from (for a sighting, the
	// property of the object that named it).
	Field string
	// Time is when it was observed, as written.
	Time string
	// Fields are extra facts passed on to the owner.
	Fields map[string]string
	// Key identifies the report (for a sighting, its id and version): a
	// report whose key is stored for the same owner, source and value is
	// not stored again, so a redelivered event adds nothing.
	Key string
}

// Route routes each report's value through rt and stores one notification
// per owner (the most specific registration's, as rt decides) that allow
// accepts for the report (reports[i]; nil accepts every owner), from
// source, produced by producer. It
// is one transaction and returns the notifications of the reports, the
// first new of them stored now, the rest stored by an earlier call with
// the same keys (so a caller that failed to pass them on may again);
// unparsable and unowned values are skipped.
func (s *Store) Route(ctx context.Context, rt Router, source string, reports []Report, producer sharing.Principal, allow func(owner string, i int) bool) (ns []Notification, new int, err error) {
	if err := CheckSource(source); err != nil {
		return nil, 0, fmt.Errorf("notify: %w", err)
	}
	type pending struct {
		n   Notification
		key string
	}
	var todo []pending
	var owners []route.Owner
	for i, r := range reports {
		o, err := route.ParseObservation(r.Value)
		if err != nil {
			continue
		}
		owners = rt.AppendOwners(owners[:0], o)
		if len(owners) == 0 {
			continue
		}
		hits := rt.Hits(o)
		for _, ow := range owners {
			if allow != nil && !allow(string(ow), i) {
				continue
			}
			n := Notification{OrgID: string(ow), Source: source, Seen: 1, Value: r.Value, Observation: o.String(),
				Field: r.Field, Matched: matched(hits, ow), Time: r.Time, Fields: map[string]string{}}
			for k, v := range r.Fields {
				n.Fields[k] = v
			}
			n.label = label(producer, n.OrgID)
			n.TLP = n.label.TLP.String()
			todo = append(todo, pending{n: n, key: reportKey(n, r.Key)})
		}
	}
	if len(todo) == 0 {
		return nil, 0, nil
	}
	now := s.Now().UTC()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("notify %s: %w", source, err)
	}
	defer tx.Rollback()
	var out, old []Notification
	for _, p := range todo {
		switch n, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM notifications WHERE dedup = ? LIMIT 1`, p.key)); {
		case err == nil:
			old = append(old, n) // stored already: a redelivery
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, 0, fmt.Errorf("notify %s: %w", source, err)
		}
		n := p.n
		n.Received, n.LastSeen = now, now
		fields, err := json.Marshal(n.Fields)
		if err != nil {
			return nil, 0, fmt.Errorf("notify %s: %w", source, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO notifications
			(org, tlp, producer_org, producer_user, source, received, last_seen, seen, value, observation, field, matched, line, time, fields, dedup)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, 0, ?, ?, ?)`,
			n.OrgID, int(n.label.TLP), n.label.ProducerOrg, n.label.ProducerUser, n.Source, now.UnixNano(), now.UnixNano(),
			n.Value, n.Observation, n.Field, n.Matched, n.Time, string(fields), p.key)
		if err != nil {
			return nil, 0, fmt.Errorf("notify %s: %w", source, err)
		}
		if n.ID, err = res.LastInsertId(); err != nil {
			return nil, 0, fmt.Errorf("notify %s: %w", source, err)
		}
		out = append(out, n)
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("notify %s: commit: %w", source, err)
	}
	return append(out, old...), len(out), nil
}

// reportKey identifies a report for an owner: owner, source, canonical
// value and the report's key.
func reportKey(n Notification, key string) string {
	h := sha256.New()
	for _, s := range []string{"report", n.OrgID, n.Source, n.Observation, key} {
		h.Write([]byte(strconv.Quote(s)))
	}
	return hex.EncodeToString(h.Sum(nil))
}
