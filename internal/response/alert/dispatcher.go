package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// FileName is the database file Open uses inside the data directory.
const FileName = "alerts.db"

// ErrPermanent marks a delivery failure that retrying cannot fix (a
// webhook answering 4xx, a refused e-mail address, credentials that would
// go out without TLS): the delivery goes to the dead-letter table at once.
var ErrPermanent = errors.New("permanent delivery failure")

// Channel delivers messages of one kind (webhook, e-mail, ...). Deliver
// must return an error unless the message was accepted; an error wrapping
// ErrPermanent is not retried. It must honour ctx.
type Channel interface {
	Deliver(ctx context.Context, d *Delivery) error
}

// ChannelFunc adapts a function to Channel.
type ChannelFunc func(ctx context.Context, d *Delivery) error

// Deliver calls f.
func (f ChannelFunc) Deliver(ctx context.Context, d *Delivery) error { return f(ctx, d) }

// Delivery is one attempt to deliver a message to a rule's target.
type Delivery struct {
	// ID is the delivery id (what the recipient acknowledges).
	ID int64
	// Key is the idempotency key, the same on every attempt.
	Key string
	// Org and Rule are the recipient and its rule.
	Org, Rule string
	// Target is the rule's target when the delivery was enqueued.
	Target Target
	// Attempt counts from 1.
	Attempt int
	// Message is what to deliver; Body is its JSON encoding.
	Message *Message
	Body    []byte
}

// Options configure a Dispatcher.
type Options struct {
	// Visible reports whether members of org may see an object with the
	// label (the lead passes sharing.Policy.CanSee for the organisation).
	// Required: without it nothing could be delivered safely.
	Visible func(org string, label sharing.Label) bool
	// Channels by name (Target.Channel).
	Channels map[string]Channel
	// DefaultTLP is the TLP of unmarked objects for Rule.MaxTLP
	// (default TLP:AMBER).
	DefaultTLP sharing.TLP
	// Workers is the number of concurrent deliveries (default 64).
	Workers int
	// MaxAttempts before a delivery is dead-lettered (default 10).
	MaxAttempts int
	// Backoff is the delay after the first failure, doubled after each
	// further one up to MaxBackoff (defaults 1 s and 1 h); each delay is
	// drawn uniformly from its upper half (jitter).
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// PollInterval bounds how long the worker sleeps without a wake-up
	// (default 1 s).
	PollInterval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives delivery failures (default: discarded).
	Logger *slog.Logger
	// Passive opens the outbox for administration only (rules,
	// acknowledgements, dead letters; the command line while a server
	// delivers): nothing is delivered and leases are left alone.
	Passive bool
}

// Dispatcher matches events against rules and delivers the alerts. It is
// safe for concurrent use.
type Dispatcher struct {
	db    *sql.DB
	owned bool
	opt   Options
	log   *slog.Logger

	mu           sync.RWMutex // guards the following
	rules        map[string]Rule
	rulesVersion int64
	rulesChecked time.Time

	runCtx    context.Context
	cancelRun context.CancelFunc
	stopClaim chan struct{}
	wake      chan struct{}
	work      chan *claimed
	results   chan result
	schedDone chan struct{}
	workersWG sync.WaitGroup
	commitWG  sync.WaitGroup
	closeOnce sync.Once

	fmu      sync.Mutex // guards the following
	inflight map[int64]bool
}

const schema = `
CREATE TABLE IF NOT EXISTS alert_rules (
	id   TEXT PRIMARY KEY,
	org  TEXT NOT NULL,
	body TEXT NOT NULL -- JSON Rule
);
CREATE TABLE IF NOT EXISTS alert_deliveries (
	id           INTEGER PRIMARY KEY,
	key          TEXT NOT NULL UNIQUE,
	org          TEXT NOT NULL,
	rule         TEXT NOT NULL,
	target       TEXT NOT NULL, -- JSON Target
	alerts       TEXT NOT NULL, -- JSON []Alert
	digest       INTEGER NOT NULL DEFAULT 0,
	state        TEXT NOT NULL, -- pending, delivered, dead
	leased       INTEGER NOT NULL DEFAULT 0,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      INTEGER NOT NULL, -- Unix ns
	last_error   TEXT NOT NULL DEFAULT '',
	created      INTEGER NOT NULL,
	delivered_at INTEGER,
	acked_at     INTEGER
);
CREATE INDEX IF NOT EXISTS alert_deliveries_due ON alert_deliveries(state, next_at);
CREATE INDEX IF NOT EXISTS alert_deliveries_org ON alert_deliveries(org, id);
CREATE TABLE IF NOT EXISTS alert_dead_letters (
	delivery   INTEGER PRIMARY KEY REFERENCES alert_deliveries(id),
	died       INTEGER NOT NULL,
	attempts   INTEGER NOT NULL,
	last_error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_digest_items (
	id      INTEGER PRIMARY KEY,
	key     TEXT NOT NULL UNIQUE,
	org     TEXT NOT NULL,
	rule    TEXT NOT NULL,
	alert   TEXT NOT NULL, -- JSON Alert
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_digest_items_rule ON alert_digest_items(rule, id);
-- rules_version changes with every rule change, so a dispatcher notices
-- rules written by another process (the command line).
CREATE TABLE IF NOT EXISTS alert_meta (rules_version INTEGER NOT NULL);
INSERT INTO alert_meta (rules_version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM alert_meta);
CREATE TRIGGER IF NOT EXISTS alert_rules_ins AFTER INSERT ON alert_rules BEGIN UPDATE alert_meta SET rules_version = rules_version + 1; END;
CREATE TRIGGER IF NOT EXISTS alert_rules_upd AFTER UPDATE ON alert_rules BEGIN UPDATE alert_meta SET rules_version = rules_version + 1; END;
CREATE TRIGGER IF NOT EXISTS alert_rules_del AFTER DELETE ON alert_rules BEGIN UPDATE alert_meta SET rules_version = rules_version + 1; END;
`

// rulesCheck is how often Publish looks for rules changed by another
// process.
const rulesCheck = 500 * time.Millisecond

// Open opens (creating if needed) the outbox in dir/alerts.db and starts
// delivering: deliveries left pending by a previous run are resumed. Close
// stops it.
func Open(ctx context.Context, dir string, opt Options) (*Dispatcher, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("alert: creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("alert: opening %s: %w", path, err)
	}
	d, err := New(ctx, db, opt)
	if err != nil {
		db.Close()
		return nil, err
	}
	d.owned = true
	return d, nil
}

// New is Open on an open database; Close does not close db.
func New(ctx context.Context, db *sql.DB, opt Options) (*Dispatcher, error) {
	if opt.Visible == nil {
		return nil, fmt.Errorf("alert: Options.Visible is required: %w", errkind.Invalid)
	}
	if opt.DefaultTLP == sharing.TLPNone {
		opt.DefaultTLP = sharing.TLPAmber
	}
	if opt.Workers <= 0 {
		opt.Workers = 64
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.Backoff <= 0 {
		opt.Backoff = time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = time.Hour
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("alert: creating tables: %w", err)
	}
	if opt.Passive {
		d := &Dispatcher{db: db, opt: opt, log: log, rules: map[string]Rule{}}
		if err := d.loadRules(ctx); err != nil {
			return nil, err
		}
		return d, nil
	}
	// Resume: whatever a previous run had claimed is due again now.
	if _, err := db.ExecContext(ctx, `UPDATE alert_deliveries SET leased = 0, next_at = ? WHERE state = 'pending' AND leased = 1`,
		opt.Now().UnixNano()); err != nil {
		return nil, fmt.Errorf("alert: resuming deliveries: %w", err)
	}
	d := &Dispatcher{
		db: db, opt: opt, log: log,
		rules:     map[string]Rule{},
		stopClaim: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		work:      make(chan *claimed),
		results:   make(chan result, opt.Workers),
		schedDone: make(chan struct{}),
		inflight:  map[int64]bool{},
	}
	if err := d.loadRules(ctx); err != nil {
		return nil, err
	}
	d.runCtx, d.cancelRun = context.WithCancel(context.WithoutCancel(ctx))
	for range opt.Workers {
		d.workersWG.Add(1)
		go d.worker()
	}
	d.commitWG.Add(1)
	go d.committer()
	go d.scheduler()
	return d, nil
}

// Close stops delivering: no new delivery starts, deliveries in flight
// get until ctx is done to finish and are then cancelled (a cancelled
// delivery stays pending, without counting as an attempt, and is resumed
// by the next Open). It closes the database when Open opened it.
func (d *Dispatcher) Close(ctx context.Context) error {
	var err error
	d.closeOnce.Do(func() {
		if d.opt.Passive {
			if d.owned {
				if cerr := d.db.Close(); cerr != nil {
					err = fmt.Errorf("alert: closing: %w", cerr)
				}
			}
			return
		}
		close(d.stopClaim)
		<-d.schedDone
		close(d.work)
		done := make(chan struct{})
		go func() { d.workersWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			d.cancelRun()
			<-done
		}
		d.cancelRun()
		close(d.results)
		d.commitWG.Wait()
		if d.owned {
			if cerr := d.db.Close(); cerr != nil {
				err = fmt.Errorf("alert: closing: %w", cerr)
			}
		}
	})
	return err
}

// loadRules reads the rules into the cache (d.mu held for writing, or
// during construction).
func (d *Dispatcher) loadRules(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("alert: loading rules: %w", err)
	}
	defer tx.Rollback()
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT rules_version FROM alert_meta`).Scan(&version); err != nil {
		return fmt.Errorf("alert: loading rules: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT body FROM alert_rules`)
	if err != nil {
		return fmt.Errorf("alert: loading rules: %w", err)
	}
	defer rows.Close()
	rules := map[string]Rule{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return fmt.Errorf("alert: loading rules: %w", err)
		}
		var r Rule
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return fmt.Errorf("alert: loading rules: %w", err)
		}
		rules[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("alert: loading rules: %w", err)
	}
	d.rules, d.rulesVersion, d.rulesChecked = rules, version, time.Now()
	return nil
}

// refreshRules reloads the rules when another process changed them,
// looking at most every rulesCheck.
func (d *Dispatcher) refreshRules(ctx context.Context) error {
	d.mu.RLock()
	fresh := time.Since(d.rulesChecked) < rulesCheck
	d.mu.RUnlock()
	if fresh {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.rulesChecked) < rulesCheck {
		return nil
	}
	var version int64
	if err := d.db.QueryRowContext(ctx, `SELECT rules_version FROM alert_meta`).Scan(&version); err != nil {
		return fmt.Errorf("alert: checking rules: %w", err)
	}
	if version == d.rulesVersion {
		d.rulesChecked = time.Now()
		return nil
	}
	return d.loadRules(ctx)
}

// PutRule adds or replaces a rule (by id).
func (d *Dispatcher) PutRule(ctx context.Context, r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if _, ok := d.opt.Channels[r.Target.Channel]; !ok {
		return fmt.Errorf("alert: rule %q: unknown channel %q: %w", r.ID, r.Target.Channel, errkind.Invalid)
	}
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("alert: rule %q: %w", r.ID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadRules(ctx); err != nil { // another process may have changed them
		return err
	}
	if old, ok := d.rules[r.ID]; ok && old.Org != r.Org {
		return fmt.Errorf("alert: rule %q belongs to another organisation: %w", r.ID, errkind.Conflict)
	}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO alert_rules (id, org, body) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET org = excluded.org, body = excluded.body`, r.ID, r.Org, string(body)); err != nil {
		return fmt.Errorf("alert: storing rule %q: %w", r.ID, err)
	}
	d.rules[r.ID] = r
	return nil
}

// RemoveRule deletes org's rule id. Deliveries already enqueued stay.
func (d *Dispatcher) RemoveRule(ctx context.Context, org, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.loadRules(ctx); err != nil {
		return err
	}
	if r, ok := d.rules[id]; !ok || r.Org != org {
		return fmt.Errorf("alert: rule %q: %w", id, errkind.NotFound)
	}
	if _, err := d.db.ExecContext(ctx, `DELETE FROM alert_rules WHERE id = ?`, id); err != nil {
		return fmt.Errorf("alert: removing rule %q: %w", id, err)
	}
	delete(d.rules, id)
	return nil
}

// Wants reports whether any rule could match an event of kind k: when
// none does, a consumer may skip preparing such events (loading their
// object, routing them). Rules apply to events published after them.
func (d *Dispatcher) Wants(ctx context.Context, k Kind) bool {
	if err := d.refreshRules(ctx); err != nil {
		d.log.Warn("alert: reloading rules", "err", err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, r := range d.rules {
		if len(r.Kinds) == 0 || slices.Contains(r.Kinds, k) {
			return true
		}
	}
	return false
}

// Rules returns org's rules ("" for all).
func (d *Dispatcher) Rules(org string) []Rule {
	if err := d.refreshRules(context.Background()); err != nil {
		d.log.Warn("alert: reloading rules", "err", err)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	var out []Rule
	for _, r := range d.rules {
		if org == "" || r.Org == org {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Publish enqueues the event's alerts: one delivery (or digest item) per
// rule whose organisation may see the event and whose filters it passes,
// all in one transaction. Publishing an event again enqueues nothing new
// (the idempotency keys already exist), so a bus may redeliver events.
func (d *Dispatcher) Publish(ctx context.Context, e Event) error {
	if err := e.validate(); err != nil {
		return err
	}
	if err := d.refreshRules(ctx); err != nil {
		return err
	}
	d.mu.RLock()
	var matched []Rule
	for _, r := range d.rules {
		if !r.Matches(&e, d.opt.DefaultTLP) {
			continue
		}
		if !d.opt.Visible(r.Org, e.Label) {
			continue
		}
		matched = append(matched, r)
	}
	d.mu.RUnlock()
	if len(matched) == 0 {
		return nil
	}
	now := d.opt.Now().UnixNano()
	tlp := e.Label.TLP
	if tlp == sharing.TLPNone {
		tlp = d.opt.DefaultTLP
	}
	when := e.Time
	if when.IsZero() {
		when = d.opt.Now()
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
	}
	defer tx.Rollback()
	insDel, err := tx.PrepareContext(ctx, `INSERT INTO alert_deliveries (key, org, rule, target, alerts, state, next_at, created)
		VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (key) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
	}
	defer insDel.Close()
	insDig, err := tx.PrepareContext(ctx, `INSERT INTO alert_digest_items (key, org, rule, alert, created)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`)
	if err != nil {
		return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
	}
	defer insDig.Close()
	for _, r := range matched {
		a := Alert{
			Key: webhook.IdempotencyKey(r.ID, e.ID), Org: r.Org, Rule: r.ID, Event: e.ID, Kind: e.Kind,
			Time: when.UTC().Format(time.RFC3339Nano), Type: e.Type, TLP: tlp.String(), Object: e.Object,
		}
		if e.Severity != SeverityNone {
			a.Severity = e.Severity.String()
		}
		for _, o := range e.AffectedOrgs {
			if o == r.Org {
				a.Constituency = true
			}
		}
		if r.Digest > 0 {
			body, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
			}
			if _, err := insDig.ExecContext(ctx, a.Key, r.Org, r.ID, string(body), now); err != nil {
				return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
			}
			continue
		}
		body, err := json.Marshal([]Alert{a})
		if err != nil {
			return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
		}
		target, err := json.Marshal(r.Target)
		if err != nil {
			return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
		}
		if _, err := insDel.ExecContext(ctx, a.Key, r.Org, r.ID, string(target), string(body), now, now); err != nil {
			return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("alert: publishing event %q: %w", e.ID, err)
	}
	d.signal()
	return nil
}

func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// backoff returns the delay after the n-th failed attempt (n >= 1).
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.opt.Backoff
	for i := 1; i < n && b < d.opt.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.opt.MaxBackoff)
	half := b / 2
	return half + rand.N(b-half+1)
}
