// Package constituency keeps the hub's constituency registrations: which
// organisation (by its STIX identity id) owns which resource — an IPv4/IPv6
// block, an autonomous system or a domain name — in their canonical form
// (route.Resource.String()).
//
// Registrations live in their own SQLite table, by default in their own
// database file in the data directory (DIR/constituency.db, see Open), or
// in any database handed to New. Adding is idempotent and all-or-nothing:
// every resource is parsed before anything is written, and one bad
// resource stores none. Table builds the route.Table the registrations
// describe, with the organisation ids as owners.
package constituency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
)

// FileName is the database file Open uses inside the data directory.
const FileName = "constituency.db"

const schema = `
CREATE TABLE IF NOT EXISTS constituency_registrations (
	org      TEXT NOT NULL,
	resource TEXT NOT NULL, -- route.Resource.String()
	created  TEXT NOT NULL, -- RFC 3339, UTC
	PRIMARY KEY (org, resource)
) WITHOUT ROWID;
`

// Registration is one stored registration.
type Registration struct {
	// OrgID is the owning organisation's identity id.
	OrgID    string
	Resource route.Resource
	// Created is when the registration was first added.
	Created time.Time
}

// Registry stores registrations. It is safe for concurrent use.
type Registry struct {
	db    *sql.DB
	owned bool
	now   func() time.Time
}

// Open opens (creating if needed) the registry in dir/constituency.db.
// Close closes the database.
func Open(ctx context.Context, dir string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("constituency: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	db, err := sqlitedb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("constituency: opening %s: %w", path, err)
	}
	r, err := New(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	r.owned = true
	return r, nil
}

// New keeps the registry in db, creating its table when missing. Close
// does not close db.
func New(ctx context.Context, db *sql.DB) (*Registry, error) {
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("constituency: creating table: %w", err)
	}
	return &Registry{db: db, now: time.Now}, nil
}

// Close closes the database when Open opened it.
func (r *Registry) Close() error {
	if !r.owned {
		return nil
	}
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("constituency: closing: %w", err)
	}
	return nil
}

// ParseResources parses every resource with route.ParseResource. When
// some do not parse, the error joins one error per bad resource, each
// quoting it and wrapping errkind.Invalid.
func ParseResources(resources []string) ([]route.Resource, error) {
	out := make([]route.Resource, 0, len(resources))
	var errs []error
	for _, s := range resources {
		res, err := route.ParseResource(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, res)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func checkOrg(orgID string) error {
	if strings.TrimSpace(orgID) == "" {
		return fmt.Errorf("constituency: %w: empty organisation id", errkind.Invalid)
	}
	return nil
}

// Add registers resources to the organisation orgID and returns how many
// were new. It is idempotent (a resource already registered to orgID is
// left as it is, under any spelling) and all-or-nothing: if any resource
// does not parse, nothing is stored and the error (wrapping
// errkind.Invalid) names every bad one.
func (r *Registry) Add(ctx context.Context, orgID string, resources ...string) (added int, err error) {
	if err := checkOrg(orgID); err != nil {
		return 0, err
	}
	res, err := ParseResources(resources)
	if err != nil {
		return 0, fmt.Errorf("constituency add: %w", err)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("constituency add: %w", err)
	}
	defer tx.Rollback()
	now := r.now().UTC().Format(time.RFC3339Nano)
	for _, x := range res {
		n, err := tx.ExecContext(ctx,
			`INSERT OR IGNORE INTO constituency_registrations (org, resource, created) VALUES (?, ?, ?)`,
			orgID, x.String(), now)
		if err != nil {
			return 0, fmt.Errorf("constituency add %s: %w", x, err)
		}
		k, err := n.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("constituency add %s: %w", x, err)
		}
		added += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("constituency add: commit: %w", err)
	}
	return added, nil
}

// NotRegisteredError is Remove's error for resources not registered to
// the organisation. It wraps errkind.NotFound.
type NotRegisteredError struct {
	OrgID string
	// Resources are the canonical forms of the resources not registered.
	Resources []string
}

// Error returns "not found: A, B not registered to ORG".
func (e *NotRegisteredError) Error() string {
	return fmt.Sprintf("%v: %s not registered to %s", errkind.NotFound, strings.Join(e.Resources, ", "), e.OrgID)
}

// Unwrap returns errkind.NotFound.
func (e *NotRegisteredError) Unwrap() error { return errkind.NotFound }

// Remove deletes registrations of orgID. It is all-or-nothing: if any
// resource does not parse (errkind.Invalid) or is not registered to orgID
// (a *NotRegisteredError naming every such resource), nothing is removed.
// Resources are compared in canonical form, so any spelling that
// ParseResource accepts removes the registration.
func (r *Registry) Remove(ctx context.Context, orgID string, resources ...string) (removed int, err error) {
	if err := checkOrg(orgID); err != nil {
		return 0, err
	}
	res, err := ParseResources(resources)
	if err != nil {
		return 0, fmt.Errorf("constituency remove: %w", err)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("constituency remove: %w", err)
	}
	defer tx.Rollback()
	var missing []string
	seen := make(map[string]bool, len(res))
	for _, x := range res {
		key := x.String()
		if seen[key] {
			continue
		}
		seen[key] = true
		n, err := tx.ExecContext(ctx, `DELETE FROM constituency_registrations WHERE org = ? AND resource = ?`, orgID, key)
		if err != nil {
			return 0, fmt.Errorf("constituency remove %s: %w", key, err)
		}
		k, err := n.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("constituency remove %s: %w", key, err)
		}
		if k == 0 {
			missing = append(missing, key)
		}
		removed += int(k)
	}
	if len(missing) > 0 {
		return 0, fmt.Errorf("constituency remove: %w", &NotRegisteredError{OrgID: orgID, Resources: missing})
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("constituency remove: commit: %w", err)
	}
	return removed, nil
}

// List returns the registrations of orgID, or of every organisation when
// orgID is empty, sorted by organisation id and resource text.
func (r *Registry) List(ctx context.Context, orgID string) ([]Registration, error) {
	query := `SELECT org, resource, created FROM constituency_registrations ORDER BY org, resource`
	var args []any
	if orgID != "" {
		query = `SELECT org, resource, created FROM constituency_registrations WHERE org = ? ORDER BY org, resource`
		args = append(args, orgID)
	}
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("constituency list: %w", err)
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		var org, res, created string
		if err := rows.Scan(&org, &res, &created); err != nil {
			return nil, fmt.Errorf("constituency list: %w", err)
		}
		x, err := route.ParseResource(res)
		if err != nil {
			return nil, fmt.Errorf("constituency list: stored registration of %s: %w", org, err)
		}
		t, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return nil, fmt.Errorf("constituency list: stored registration %s of %s: %w: created %q", res, org, errkind.Invalid, created)
		}
		out = append(out, Registration{OrgID: org, Resource: x, Created: t})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("constituency list: %w", err)
	}
	return out, nil
}

// Table loads every registration and builds the routing table, with the
// organisation ids as owners.
func (r *Registry) Table(ctx context.Context, opts route.Options) (*route.Table, error) {
	regs, err := r.List(ctx, "")
	if err != nil {
		return nil, err
	}
	rs := make([]route.Registration, len(regs))
	for i, x := range regs {
		rs[i] = route.Registration{Owner: route.Owner(x.OrgID), Resource: x.Resource}
	}
	t, err := route.New(rs, opts)
	if err != nil {
		return nil, fmt.Errorf("constituency: building table: %w", err)
	}
	return t, nil
}
