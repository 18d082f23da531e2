package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Status entry states.
const (
	statePending = 0
	stateSuccess = 1
	stateFailure = 2
)

// CreateStatus stores a new status resource (errkind.Conflict if the id
// exists). Its Pendings are stored pending; Successes and Failures given
// are kept as they are.
func (s *Store) CreateStatus(ctx context.Context, st store.Status) error {
	if st.ID == "" {
		return fmt.Errorf("%w: status: id is empty", errkind.Invalid)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("creating status %s: %w", st.ID, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO statuses (id, collection, owner_org, owner_user, requested) VALUES (?, ?, ?, ?, ?)`,
		st.ID, st.Collection, st.OwnerOrg, st.OwnerUser, micro(st.Requested))
	if isConstraint(err) {
		return fmt.Errorf("%w: status %s already exists", errkind.Conflict, st.ID)
	}
	if err != nil {
		return fmt.Errorf("creating status %s: %w", st.ID, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO status_entries (status, seq, obj_id, version, state, message) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("creating status %s: %w", st.ID, err)
	}
	defer ins.Close()
	seq := 0
	for _, part := range []struct {
		state int
		l     []store.StatusDetail
	}{{stateSuccess, st.Successes}, {stateFailure, st.Failures}, {statePending, st.Pendings}} {
		for _, d := range part.l {
			if _, err := ins.ExecContext(ctx, st.ID, seq, d.ID, d.Version, part.state, d.Message); err != nil {
				return fmt.Errorf("creating status %s: entry %s: %w", st.ID, d.ID, err)
			}
			seq++
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("creating status %s: %w", st.ID, err)
	}
	return nil
}

// statusOutcome is one object's outcome to record in a status.
type statusOutcome struct {
	store.StatusDetail
	failed bool
}

// recordOutcomes moves the matching pending entries of a status to success
// or failure inside tx. A pending entry matches an outcome with the same
// object id and the same (or an unspecified) version; outcomes without a
// pending entry are appended.
func recordOutcomes(ctx context.Context, tx *sql.Tx, statusID string, outs []statusOutcome) error {
	find, err := tx.PrepareContext(ctx, `SELECT seq FROM status_entries WHERE status = ? AND obj_id = ? AND state = 0
		ORDER BY (version = ?) DESC, (version = '') DESC, seq LIMIT 1`)
	if err != nil {
		return fmt.Errorf("updating status %s: %w", statusID, err)
	}
	defer find.Close()
	upd, err := tx.PrepareContext(ctx, `UPDATE status_entries SET state = ?, version = ?, message = ? WHERE status = ? AND seq = ?`)
	if err != nil {
		return fmt.Errorf("updating status %s: %w", statusID, err)
	}
	defer upd.Close()
	var next int64 = -1
	for _, o := range outs {
		state := stateSuccess
		if o.failed {
			state = stateFailure
		}
		var seq int64
		err := find.QueryRowContext(ctx, statusID, o.ID, o.Version).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			if next < 0 {
				if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), -1) + 1 FROM status_entries WHERE status = ?`, statusID).Scan(&next); err != nil {
					return fmt.Errorf("updating status %s: %w", statusID, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO status_entries (status, seq, obj_id, version, state, message) VALUES (?, ?, ?, ?, ?, ?)`,
				statusID, next, o.ID, o.Version, state, o.Message); err != nil {
				return fmt.Errorf("updating status %s: entry %s: %w", statusID, o.ID, err)
			}
			next++
			continue
		}
		if err != nil {
			return fmt.Errorf("updating status %s: entry %s: %w", statusID, o.ID, err)
		}
		if _, err := upd.ExecContext(ctx, state, o.Version, o.Message, statusID, seq); err != nil {
			return fmt.Errorf("updating status %s: entry %s: %w", statusID, o.ID, err)
		}
	}
	return nil
}

// FailStatus records failures of objects refused before storage
// (errkind.NotFound for an unknown status).
func (s *Store) FailStatus(ctx context.Context, id string, failures []store.StatusDetail) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("updating status %s: %w", id, err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM statuses WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: status %s", errkind.NotFound, id)
	}
	if err != nil {
		return fmt.Errorf("updating status %s: %w", id, err)
	}
	outs := make([]statusOutcome, len(failures))
	for i, f := range failures {
		outs[i] = statusOutcome{StatusDetail: f, failed: true}
	}
	if err := recordOutcomes(ctx, tx, id, outs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("updating status %s: %w", id, err)
	}
	return nil
}

// Status reads a status resource (errkind.NotFound if unknown). Complete is
// set when no entry is pending.
func (s *Store) Status(ctx context.Context, id string) (store.Status, error) {
	st := store.Status{ID: id}
	var req int64
	err := s.r.QueryRowContext(ctx, `SELECT collection, owner_org, owner_user, requested FROM statuses WHERE id = ?`, id).
		Scan(&st.Collection, &st.OwnerOrg, &st.OwnerUser, &req)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("%w: status %s", errkind.NotFound, id)
	}
	if err != nil {
		return st, fmt.Errorf("reading status %s: %w", id, err)
	}
	st.Requested = fromMicro(req)
	rows, err := s.r.QueryContext(ctx, `SELECT obj_id, version, state, message FROM status_entries WHERE status = ? ORDER BY seq`, id)
	if err != nil {
		return st, fmt.Errorf("reading status %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var d store.StatusDetail
		var state int
		if err := rows.Scan(&d.ID, &d.Version, &state, &d.Message); err != nil {
			return st, fmt.Errorf("reading status %s: %w", id, err)
		}
		switch state {
		case stateSuccess:
			st.Successes = append(st.Successes, d)
		case stateFailure:
			st.Failures = append(st.Failures, d)
		default:
			st.Pendings = append(st.Pendings, d)
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("reading status %s: %w", id, err)
	}
	st.Complete = len(st.Pendings) == 0
	return st, nil
}

// FailPending marks every pending status entry as failed; see
// store.Statuses.
func (s *Store) FailPending(ctx context.Context, message string) (int, error) {
	r, err := s.w.ExecContext(ctx, `UPDATE status_entries SET state = ?, message = ? WHERE state = ?`, stateFailure, message, statePending)
	if err != nil {
		return 0, fmt.Errorf("failing pending status entries: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("failing pending status entries: %w", err)
	}
	return int(n), nil
}
