package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// CreateOrg adds an organisation (errkind.Conflict if its id or name is
// taken).
func (s *Store) CreateOrg(ctx context.Context, o store.Org) error {
	if o.ID == "" || o.Name == "" {
		return fmt.Errorf("%w: organisation %q: id and name are required", errkind.Invalid, o.ID)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO orgs (id, name, sector, type, anonymous, created) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.Sector, o.Type, o.Anonymous, micro(o.Created))
	if isConstraint(err) {
		return fmt.Errorf("%w: organisation %s (%q): id or name already taken", errkind.Conflict, o.ID, o.Name)
	}
	if err != nil {
		return fmt.Errorf("creating organisation %s: %w", o.ID, err)
	}
	return nil
}

const orgCols = `id, name, sector, type, anonymous, created`

func scanOrg(sc interface{ Scan(...any) error }) (store.Org, error) {
	var o store.Org
	var created int64
	err := sc.Scan(&o.ID, &o.Name, &o.Sector, &o.Type, &o.Anonymous, &created)
	o.Created = fromMicro(created)
	return o, err
}

func (s *Store) org(ctx context.Context, what, where string, arg any) (store.Org, error) {
	o, err := scanOrg(s.r.QueryRowContext(ctx, `SELECT `+orgCols+` FROM orgs WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("%w: organisation %s", errkind.NotFound, what)
	}
	if err != nil {
		return o, fmt.Errorf("reading organisation %s: %w", what, err)
	}
	return o, nil
}

// Org returns an organisation by id.
func (s *Store) Org(ctx context.Context, id string) (store.Org, error) {
	return s.org(ctx, id, "id = ?", id)
}

// OrgByName returns an organisation by name.
func (s *Store) OrgByName(ctx context.Context, name string) (store.Org, error) {
	return s.org(ctx, fmt.Sprintf("named %q", name), "name = ?", name)
}

// Orgs lists the organisations by name.
func (s *Store) Orgs(ctx context.Context) ([]store.Org, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+orgCols+` FROM orgs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing organisations: %w", err)
	}
	defer rows.Close()
	var out []store.Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("listing organisations: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing organisations: %w", err)
	}
	return out, nil
}

// CreateUser adds a user to an existing organisation (errkind.NotFound for
// an unknown organisation, errkind.Conflict if the id or the name within
// the organisation is taken).
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if u.ID == "" || u.Name == "" {
		return fmt.Errorf("%w: user %q: id and name are required", errkind.Invalid, u.ID)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating user %s: %w", u.ID, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = ?`, u.OrgID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: user %s: organisation %s", errkind.NotFound, u.ID, u.OrgID)
	}
	if err != nil {
		return fmt.Errorf("creating user %s: %w", u.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO users (id, org_id, name, role, created) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Name, string(u.Role), micro(u.Created))
	if isConstraint(err) {
		return fmt.Errorf("%w: user %s (%q): id or name already taken", errkind.Conflict, u.ID, u.Name)
	}
	if err != nil {
		return fmt.Errorf("creating user %s: %w", u.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating user %s: %w", u.ID, err)
	}
	return nil
}

const userCols = `id, org_id, name, role, created`

func scanUser(sc interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var created int64
	var role string
	err := sc.Scan(&u.ID, &u.OrgID, &u.Name, &role, &created)
	u.Role = sharing.Role(role)
	u.Created = fromMicro(created)
	return u, err
}

// User returns a user by id.
func (s *Store) User(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: user %s", errkind.NotFound, id)
	}
	if err != nil {
		return u, fmt.Errorf("reading user %s: %w", id, err)
	}
	return u, nil
}

// UserByName returns a user of an organisation by name.
func (s *Store) UserByName(ctx context.Context, orgID, name string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE org_id = ? AND name = ?`, orgID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("%w: user %q of organisation %s", errkind.NotFound, name, orgID)
	}
	if err != nil {
		return u, fmt.Errorf("reading user %q of organisation %s: %w", name, orgID, err)
	}
	return u, nil
}

// Users lists an organisation's users by name ("" lists every user).
func (s *Store) Users(ctx context.Context, orgID string) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE ? = '' OR org_id = ? ORDER BY name, id`, orgID, orgID)
	if err != nil {
		return nil, fmt.Errorf("listing users of %q: %w", orgID, err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("listing users of %q: %w", orgID, err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing users of %q: %w", orgID, err)
	}
	return out, nil
}

// CreateToken stores a token of an existing user (errkind.NotFound for an
// unknown user, errkind.Conflict if the id or hash exists).
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	if t.ID == "" {
		return fmt.Errorf("%w: token: id is empty", errkind.Invalid)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating token %s: %w", t.ID, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, t.UserID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: token %s: user %s", errkind.NotFound, t.ID, t.UserID)
	}
	if err != nil {
		return fmt.Errorf("creating token %s: %w", t.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO tokens (id, user_id, hash, created, revoked) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Hash[:], micro(t.Created), t.Revoked)
	if isConstraint(err) {
		return fmt.Errorf("%w: token %s: id or hash already exists", errkind.Conflict, t.ID)
	}
	if err != nil {
		return fmt.Errorf("creating token %s: %w", t.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash finds a live token with its user and organisation
// (errkind.NotFound if none or revoked).
func (s *Store) TokenByHash(ctx context.Context, hash [32]byte) (store.Token, store.User, store.Org, error) {
	var t store.Token
	var u store.User
	var o store.Org
	var tc, uc, oc int64
	var h []byte
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT t.id, t.user_id, t.hash, t.created, t.revoked,
			u.id, u.org_id, u.name, u.role, u.created,
			o.id, o.name, o.sector, o.type, o.anonymous, o.created
		FROM tokens t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id
		WHERE t.hash = ? AND t.revoked = 0`, hash[:]).Scan(
		&t.ID, &t.UserID, &h, &tc, &t.Revoked,
		&u.ID, &u.OrgID, &u.Name, &role, &uc,
		&o.ID, &o.Name, &o.Sector, &o.Type, &o.Anonymous, &oc)
	if errors.Is(err, sql.ErrNoRows) {
		return t, u, o, fmt.Errorf("%w: token", errkind.NotFound)
	}
	if err != nil {
		return t, u, o, fmt.Errorf("looking up token: %w", err)
	}
	copy(t.Hash[:], h)
	t.Created, u.Created, o.Created = fromMicro(tc), fromMicro(uc), fromMicro(oc)
	u.Role = sharing.Role(role)
	return t, u, o, nil
}

// RevokeToken revokes a token (errkind.NotFound if unknown).
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	r, err := s.w.ExecContext(ctx, `UPDATE tokens SET revoked = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: token %s", errkind.NotFound, id)
	}
	return nil
}
