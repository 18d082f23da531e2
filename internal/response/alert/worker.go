package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/webhook"
)

// claimed is a delivery handed to a worker.
type claimed struct {
	Delivery
	target, alerts string
	digest         bool
}

// result is the outcome of one attempt.
type result struct {
	id        int64
	attempt   int
	err       error
	abandoned bool // cancelled by Close: not an attempt
}

// scheduler claims due deliveries for free workers, flushes digests and
// sleeps until the next due time, a Publish or a finished delivery.
func (d *Dispatcher) scheduler() {
	defer close(d.schedDone)
	ctx := d.runCtx
	for {
		free := d.opt.Workers - d.inflightLen()
		var batch []*claimed
		var err error
		if free > 0 {
			if err = d.flushDigests(ctx); err != nil {
				d.log.Error("alert: flushing digests", "err", err)
			}
			batch, err = d.claim(ctx, free)
			if err != nil {
				d.log.Error("alert: claiming deliveries", "err", err)
			}
		}
		for i, c := range batch {
			select {
			case d.work <- c:
			case <-d.stopClaim:
				d.release(batch[i:])
				return
			}
		}
		if len(batch) > 0 && len(batch) == free {
			continue // maybe more due
		}
		wait := d.opt.PollInterval
		if next, ok := d.nextDue(ctx); ok {
			wait = min(wait, max(next.Sub(d.opt.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-d.stopClaim:
			t.Stop()
			return
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

func (d *Dispatcher) inflightLen() int {
	d.fmu.Lock()
	defer d.fmu.Unlock()
	return len(d.inflight)
}

// claim leases up to n due deliveries not already in flight.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]*claimed, error) {
	now := d.opt.Now()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("alert: claim: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, key, org, rule, target, alerts, digest, attempts FROM alert_deliveries
		WHERE state = 'pending' AND leased = 0 AND next_at <= ? ORDER BY next_at, id LIMIT ?`, now.UnixNano(), n)
	if err != nil {
		return nil, fmt.Errorf("alert: claim: %w", err)
	}
	var out []*claimed
	for rows.Next() {
		c := &claimed{}
		var attempts int
		if err := rows.Scan(&c.ID, &c.Key, &c.Org, &c.Rule, &c.target, &c.alerts, &c.digest, &attempts); err != nil {
			rows.Close()
			return nil, fmt.Errorf("alert: claim: %w", err)
		}
		c.Attempt = attempts + 1
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alert: claim: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// The lease outlives one attempt; Open clears leases left by a crash.
	stmt, err := tx.PrepareContext(ctx, `UPDATE alert_deliveries SET leased = 1 WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("alert: claim: %w", err)
	}
	defer stmt.Close()
	for _, c := range out {
		if _, err := stmt.ExecContext(ctx, c.ID); err != nil {
			return nil, fmt.Errorf("alert: claim: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("alert: claim: %w", err)
	}
	d.fmu.Lock()
	for _, c := range out {
		d.inflight[c.ID] = true
	}
	d.fmu.Unlock()
	return out, nil
}

// release returns claimed but unstarted deliveries to pending.
func (d *Dispatcher) release(cs []*claimed) {
	for _, c := range cs {
		d.results <- result{id: c.ID, abandoned: true}
	}
}

// nextDue is the earliest time a delivery or digest becomes due.
func (d *Dispatcher) nextDue(ctx context.Context) (time.Time, bool) {
	var next sql.NullInt64
	if err := d.db.QueryRowContext(ctx, `SELECT MIN(next_at) FROM alert_deliveries WHERE state = 'pending' AND leased = 0`).Scan(&next); err != nil {
		return time.Time{}, false
	}
	t, ok := time.Time{}, false
	if next.Valid {
		t, ok = time.Unix(0, next.Int64), true
	}
	if dt, dok := d.nextDigest(ctx); dok && (!ok || dt.Before(t)) {
		t, ok = dt, true
	}
	return t, ok
}

func (d *Dispatcher) digestRules() map[string]time.Duration {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[string]time.Duration{}
	for _, r := range d.rules {
		if r.Digest > 0 {
			out[r.ID] = r.Digest
		}
	}
	return out
}

// digestHeads returns, per rule with waiting digest items, the creation
// time of its oldest item.
func (d *Dispatcher) digestHeads(ctx context.Context) (map[string]int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT rule, MIN(created) FROM alert_digest_items GROUP BY rule`)
	if err != nil {
		return nil, fmt.Errorf("alert: digests: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var rule string
		var created int64
		if err := rows.Scan(&rule, &created); err != nil {
			return nil, fmt.Errorf("alert: digests: %w", err)
		}
		out[rule] = created
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alert: digests: %w", err)
	}
	return out, nil
}

func (d *Dispatcher) nextDigest(ctx context.Context) (time.Time, bool) {
	heads, err := d.digestHeads(ctx)
	if err != nil || len(heads) == 0 {
		return time.Time{}, false
	}
	rules := d.digestRules()
	var t time.Time
	ok := false
	for rule, created := range heads {
		iv, found := rules[rule]
		if !found {
			iv = 0 // rule removed or no longer a digest: flush now
		}
		due := time.Unix(0, created).Add(iv)
		if !ok || due.Before(t) {
			t, ok = due, true
		}
	}
	return t, ok
}

// flushDigests turns the items of every rule whose oldest item has waited
// a full interval into one delivery.
func (d *Dispatcher) flushDigests(ctx context.Context) error {
	heads, err := d.digestHeads(ctx)
	if err != nil || len(heads) == 0 {
		return err
	}
	rules := d.digestRules()
	now := d.opt.Now()
	for rule, created := range heads {
		iv := rules[rule]
		if time.Unix(0, created).Add(iv).After(now) {
			continue
		}
		if err := d.flushDigest(ctx, rule, now); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dispatcher) flushDigest(ctx context.Context, rule string, now time.Time) error {
	d.mu.RLock()
	r, ok := d.rules[rule]
	d.mu.RUnlock()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, key, org, alert FROM alert_digest_items WHERE rule = ? ORDER BY id`, rule)
	if err != nil {
		return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
	}
	var ids []int64
	var keys []string
	var org string
	var b strings.Builder
	b.WriteByte('[')
	for rows.Next() {
		var id int64
		var key, a string
		if err := rows.Scan(&id, &key, &org, &a); err != nil {
			rows.Close()
			return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
		}
		if len(ids) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a)
		ids = append(ids, id)
		keys = append(keys, key)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
	}
	b.WriteByte(']')
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM alert_digest_items WHERE rule = ? AND id <= ?`, rule, ids[len(ids)-1]); err != nil {
		return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
	}
	if ok {
		target, err := json.Marshal(r.Target)
		if err != nil {
			return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
		}
		// The key names the first and last item, so a digest re-formed
		// after a crash before commit gets the same key.
		key := webhook.IdempotencyKey(rule, "digest:"+keys[0]+":"+keys[len(keys)-1])
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (key, org, rule, target, alerts, digest, state, next_at, created)
			VALUES (?, ?, ?, ?, ?, 1, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING`,
			key, org, rule, string(target), b.String(), now.UnixNano(), now.UnixNano()); err != nil {
			return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alert: digest of rule %q: %w", rule, err)
	}
	return nil
}

// worker delivers claimed deliveries.
func (d *Dispatcher) worker() {
	defer d.workersWG.Done()
	for c := range d.work {
		if d.runCtx.Err() != nil {
			d.results <- result{id: c.ID, abandoned: true}
			continue
		}
		err := d.deliver(c)
		d.results <- result{id: c.ID, attempt: c.Attempt, err: err, abandoned: err != nil && d.runCtx.Err() != nil}
	}
}

func (d *Dispatcher) deliver(c *claimed) error {
	if err := json.Unmarshal([]byte(c.target), &c.Target); err != nil {
		return fmt.Errorf("alert: delivery %d: target: %w: %w", c.ID, ErrPermanent, err)
	}
	m := &Message{Delivery: c.ID, Key: c.Key, Org: c.Org, Rule: c.Rule, Digest: c.digest}
	if err := json.Unmarshal([]byte(c.alerts), &m.Alerts); err != nil {
		return fmt.Errorf("alert: delivery %d: alerts: %w: %w", c.ID, ErrPermanent, err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("alert: delivery %d: %w: %w", c.ID, ErrPermanent, err)
	}
	c.Message, c.Body = m, body
	ch, ok := d.opt.Channels[c.Target.Channel]
	if !ok {
		return fmt.Errorf("alert: delivery %d: unknown channel %q: %w", c.ID, c.Target.Channel, ErrPermanent)
	}
	ctx, cancel := context.WithTimeout(d.runCtx, d.opt.Timeout)
	defer cancel()
	dl := c.Delivery
	return ch.Deliver(ctx, &dl)
}

// committer records outcomes, many per transaction.
func (d *Dispatcher) committer() {
	defer d.commitWG.Done()
	for r := range d.results {
		batch := []result{r}
	drain:
		for len(batch) < 512 {
			select {
			case r, ok := <-d.results:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		// Recording must outlive Close's cancellation. A batch that cannot
		// be recorded stays leased until the next Open, which sends it again.
		for try := 1; ; try++ {
			err := d.record(context.Background(), batch)
			if err == nil {
				break
			}
			d.log.Error("alert: recording deliveries", "err", err, "n", len(batch), "try", try)
			if try == 5 {
				break
			}
			time.Sleep(time.Duration(try) * 100 * time.Millisecond)
		}
		d.fmu.Lock()
		for _, r := range batch {
			delete(d.inflight, r.id)
		}
		d.fmu.Unlock()
		d.signal()
	}
}

func (d *Dispatcher) record(ctx context.Context, batch []result) error {
	now := d.opt.Now()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alert: record: %w", err)
	}
	defer tx.Rollback()
	for _, r := range batch {
		switch {
		case r.abandoned:
			_, err = tx.ExecContext(ctx, `UPDATE alert_deliveries SET leased = 0 WHERE id = ?`, r.id)
		case r.err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE alert_deliveries SET leased = 0, state = 'delivered', attempts = ?,
				delivered_at = ?, last_error = '' WHERE id = ? AND state = 'pending'`, r.attempt, now.UnixNano(), r.id)
		case errors.Is(r.err, ErrPermanent) || r.attempt >= d.opt.MaxAttempts:
			d.log.Warn("alert: delivery dead-lettered", "delivery", r.id, "attempt", r.attempt, "err", r.err)
			if _, err = tx.ExecContext(ctx, `UPDATE alert_deliveries SET leased = 0, state = 'dead', attempts = ?,
				last_error = ? WHERE id = ? AND state = 'pending'`, r.attempt, r.err.Error(), r.id); err == nil {
				_, err = tx.ExecContext(ctx, `INSERT INTO alert_dead_letters (delivery, died, attempts, last_error) VALUES (?, ?, ?, ?)
					ON CONFLICT (delivery) DO UPDATE SET died = excluded.died, attempts = excluded.attempts, last_error = excluded.last_error`,
					r.id, now.UnixNano(), r.attempt, r.err.Error())
			}
		default:
			d.log.Info("alert: delivery failed, will retry", "delivery", r.id, "attempt", r.attempt, "err", r.err)
			_, err = tx.ExecContext(ctx, `UPDATE alert_deliveries SET leased = 0, attempts = ?, last_error = ?, next_at = ?
				WHERE id = ? AND state = 'pending'`, r.attempt, r.err.Error(), now.Add(d.backoff(r.attempt)).UnixNano(), r.id)
		}
		if err != nil {
			return fmt.Errorf("alert: record delivery %d: %w", r.id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alert: record: %w", err)
	}
	return nil
}
