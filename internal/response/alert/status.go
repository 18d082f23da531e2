package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// State is where a delivery stands.
type State string

// The delivery states.
const (
	Pending   State = "pending"
	Delivered State = "delivered"
	Dead      State = "dead"
)

// Status is the record of one delivery.
type Status struct {
	ID        int64
	Key       string
	Org, Rule string
	Digest    bool
	State     State
	Attempts  int
	LastError string
	Created   time.Time
	// Delivered and Acked are zero until the delivery was accepted by the
	// target and acknowledged by the recipient.
	Delivered, Acked time.Time
}

const statusCols = `id, key, org, rule, digest, state, attempts, last_error, created, delivered_at, acked_at`

func scanStatus(sc interface{ Scan(...any) error }) (Status, error) {
	var s Status
	var created int64
	var delivered, acked sql.NullInt64
	if err := sc.Scan(&s.ID, &s.Key, &s.Org, &s.Rule, &s.Digest, &s.State, &s.Attempts, &s.LastError, &created, &delivered, &acked); err != nil {
		return Status{}, err
	}
	s.Created = time.Unix(0, created).UTC()
	if delivered.Valid {
		s.Delivered = time.Unix(0, delivered.Int64).UTC()
	}
	if acked.Valid {
		s.Acked = time.Unix(0, acked.Int64).UTC()
	}
	return s, nil
}

// Deliveries returns org's deliveries ("" for every organisation) in the
// given state ("" for all), oldest first, at most limit (0: no limit).
func (d *Dispatcher) Deliveries(ctx context.Context, org string, state State, limit int) ([]Status, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+statusCols+` FROM alert_deliveries
		WHERE (? = '' OR org = ?) AND (? = '' OR state = ?) ORDER BY id LIMIT ?`, org, org, string(state), string(state), limit)
	if err != nil {
		return nil, fmt.Errorf("alert: listing deliveries: %w", err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		s, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("alert: listing deliveries: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alert: listing deliveries: %w", err)
	}
	return out, nil
}

// Get returns org's delivery id; another organisation's is NotFound.
func (d *Dispatcher) Get(ctx context.Context, org string, id int64) (Status, error) {
	s, err := scanStatus(d.db.QueryRowContext(ctx, `SELECT `+statusCols+` FROM alert_deliveries WHERE id = ? AND org = ?`, id, org))
	if errors.Is(err, sql.ErrNoRows) {
		return Status{}, fmt.Errorf("alert: delivery %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return Status{}, fmt.Errorf("alert: delivery %d: %w", id, err)
	}
	return s, nil
}

// Alerts returns the alerts of org's delivery id (one, or a digest's);
// another organisation's is NotFound.
func (d *Dispatcher) Alerts(ctx context.Context, org string, id int64) ([]Alert, error) {
	var body string
	err := d.db.QueryRowContext(ctx, `SELECT alerts FROM alert_deliveries WHERE id = ? AND org = ?`, id, org).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("alert: delivery %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("alert: delivery %d: %w", id, err)
	}
	var out []Alert
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return nil, fmt.Errorf("alert: delivery %d: decoding alerts: %w", id, err)
	}
	return out, nil
}

// Ack records that org received delivery id. Acknowledging is idempotent
// (the first time is kept). A receipt proves delivery, so a pending
// delivery becomes delivered and is not sent again; a dead-lettered one is
// a Conflict, another organisation's NotFound.
func (d *Dispatcher) Ack(ctx context.Context, org string, id int64) error {
	now := d.opt.Now().UnixNano()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alert: ack %d: %w", id, err)
	}
	defer tx.Rollback()
	var state State
	err = tx.QueryRowContext(ctx, `SELECT state FROM alert_deliveries WHERE id = ? AND org = ?`, id, org).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("alert: ack delivery %d: %w", id, errkind.NotFound)
	}
	if err != nil {
		return fmt.Errorf("alert: ack %d: %w", id, err)
	}
	if state == Dead {
		return fmt.Errorf("alert: ack delivery %d: dead-lettered: %w", id, errkind.Conflict)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = 'delivered',
		delivered_at = COALESCE(delivered_at, ?), acked_at = COALESCE(acked_at, ?) WHERE id = ?`, now, now, id); err != nil {
		return fmt.Errorf("alert: ack %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alert: ack %d: %w", id, err)
	}
	return nil
}

// DeadLetter is a delivery that ran out of attempts or failed permanently.
type DeadLetter struct {
	Status
	// Died is when it was dead-lettered.
	Died time.Time
}

// DeadLetters returns the dead-letter table, oldest first.
func (d *Dispatcher) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT d.id, d.key, d.org, d.rule, d.digest, d.state, l.attempts, l.last_error, d.created,
		d.delivered_at, d.acked_at, l.died FROM alert_dead_letters l JOIN alert_deliveries d ON d.id = l.delivery ORDER BY l.died, d.id`)
	if err != nil {
		return nil, fmt.Errorf("alert: dead letters: %w", err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var died int64
		var dl DeadLetter
		var created int64
		var delivered, acked sql.NullInt64
		s := &dl.Status
		if err := rows.Scan(&s.ID, &s.Key, &s.Org, &s.Rule, &s.Digest, &s.State, &s.Attempts, &s.LastError, &created, &delivered, &acked, &died); err != nil {
			return nil, fmt.Errorf("alert: dead letters: %w", err)
		}
		s.Created = time.Unix(0, created).UTC()
		dl.Died = time.Unix(0, died).UTC()
		out = append(out, dl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alert: dead letters: %w", err)
	}
	return out, nil
}

// Redrive moves a dead letter back to pending with its attempts reset
// (after the receiver was fixed); it keeps its idempotency key.
func (d *Dispatcher) Redrive(ctx context.Context, id int64) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alert: redrive %d: %w", id, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE alert_deliveries SET state = 'pending', attempts = 0, next_at = ? WHERE id = ? AND state = 'dead'`,
		d.opt.Now().UnixNano(), id)
	if err != nil {
		return fmt.Errorf("alert: redrive %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("alert: redrive: dead letter %d: %w", id, errkind.NotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM alert_dead_letters WHERE delivery = ?`, id); err != nil {
		return fmt.Errorf("alert: redrive %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alert: redrive %d: %w", id, err)
	}
	d.signal()
	return nil
}
