package alert

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// recorder is a channel that counts deliveries per idempotency key.
type recorder struct {
	mu    sync.Mutex
	byKey map[string]int
	msgs  []Message
	fail  func(ctx context.Context, d *Delivery) error
}

func newRecorder() *recorder { return &recorder{byKey: map[string]int{}} }

func (r *recorder) Deliver(ctx context.Context, d *Delivery) error {
	if r.fail != nil {
		if err := r.fail(ctx, d); err != nil {
			return err
		}
	}
	var m Message
	if err := json.Unmarshal(d.Body, &m); err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[d.Key]++
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) snapshot() (map[string]int, []Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := map[string]int{}
	for a, b := range r.byKey {
		k[a] = b
	}
	return k, append([]Message(nil), r.msgs...)
}

func testOptions(ch Channel) Options {
	p := sharing.NewPolicy(sharing.TLPAmber)
	return Options{
		Visible: func(org string, l sharing.Label) bool {
			return p.CanSee(sharing.Principal{OrgID: org, UserID: "user--" + org, Role: sharing.RoleMember}, l)
		},
		Channels:     map[string]Channel{"test": ch},
		Backoff:      5 * time.Millisecond,
		MaxBackoff:   20 * time.Millisecond,
		PollInterval: 20 * time.Millisecond,
		Timeout:      2 * time.Second,
	}
}

func open(t *testing.T, dir string, opt Options) *Dispatcher {
	t.Helper()
	d, err := Open(t.Context(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const indicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111",
"created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","labels":["malicious-activity"],"confidence":80,
"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"command-and-control"}],
"pattern":"[ipv4-addr:value = '192.0.2.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`

func event(t *testing.T, id string, l sharing.Label) Event {
	t.Helper()
	e, err := FromObject(ObjectAdded, id, json.RawMessage(indicator), l)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestFromObject(t *testing.T) {
	e := event(t, "", sharing.Label{TLP: sharing.TLPGreen})
	if e.ID != "indicator--11111111-1111-4111-8111-111111111111@2026-01-01T00:00:00Z" || e.Type != "indicator" ||
		e.Confidence != 80 || len(e.Labels) != 1 || len(e.KillChainPhases) != 1 || e.KillChainPhases[0] != "mitre-attack:command-and-control" {
		t.Fatalf("FromObject = %+v", e)
	}
	if _, err := FromObject(Sighting, "x", json.RawMessage(`{"id":"x"}`), sharing.Label{}); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("object without type: %v", err)
	}
}

func TestRuleMatches(t *testing.T) {
	base := event(t, "e1", sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: "org-a"})
	base.Sectors = []string{"energy"}
	base.Severity = SeverityHigh
	base.AffectedOrgs = []string{"org-b"}
	cases := []struct {
		name string
		rule Rule
		want bool
	}{
		{"empty", Rule{}, true},
		{"kind", Rule{Kinds: []Kind{Sighting}}, false},
		{"kind ok", Rule{Kinds: []Kind{Sighting, ObjectAdded}}, true},
		{"type", Rule{Types: []string{"malware"}}, false},
		{"type ok", Rule{Types: []string{"indicator"}}, true},
		{"labels", Rule{Labels: []string{"benign"}}, false},
		{"labels ok", Rule{Labels: []string{"Malicious-Activity"}}, true},
		{"sector", Rule{Sectors: []string{"finance"}}, false},
		{"sector ok", Rule{Sectors: []string{"energy"}}, true},
		{"severity", Rule{MinSeverity: SeverityCritical}, false},
		{"severity ok", Rule{MinSeverity: SeverityHigh}, true},
		{"confidence low", Rule{MinConfidence: 81}, false},
		{"confidence high", Rule{MaxConfidence: 79}, false},
		{"confidence ok", Rule{MinConfidence: 80, MaxConfidence: 80}, true},
		{"tlp", Rule{MaxTLP: sharing.TLPGreen}, false},
		{"tlp ok", Rule{MaxTLP: sharing.TLPAmber}, true},
		{"phase", Rule{KillChainPhases: []string{"mitre-attack:exfiltration"}}, false},
		{"phase ok", Rule{KillChainPhases: []string{"mitre-attack:command-and-control"}}, true},
		{"constituency", Rule{Org: "org-c", ConstituencyOnly: true}, false},
		{"constituency ok", Rule{Org: "org-b", ConstituencyOnly: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.rule.Matches(&base, sharing.TLPAmber); got != c.want {
				t.Fatalf("Matches = %v, want %v", got, c.want)
			}
		})
	}
	unmarked := base
	unmarked.Label.TLP = sharing.TLPNone
	if (&Rule{MaxTLP: sharing.TLPGreen}).Matches(&unmarked, sharing.TLPAmber) {
		t.Fatal("unmarked object counted below the default TLP")
	}
	if !(&Rule{MaxTLP: sharing.TLPGreen}).Matches(&unmarked, sharing.TLPGreen) {
		t.Fatal("unmarked object with default GREEN refused")
	}
	noConf := base
	noConf.Confidence = -1
	if (&Rule{MinConfidence: 1}).Matches(&noConf, sharing.TLPAmber) {
		t.Fatal("event without confidence matched a confidence range")
	}
}

// TestVisibility: an event the recipient may not see is never enqueued
// nor delivered, whatever its rules say; one it may see is.
func TestVisibility(t *testing.T) {
	rec := newRecorder()
	d := open(t, t.TempDir(), testOptions(rec))
	ctx := t.Context()
	for _, org := range []string{"org-a", "org-b", "org-c"} {
		if err := d.PutRule(ctx, Rule{ID: "r-" + org, Org: org, Target: Target{Channel: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	// AMBER+STRICT from org-a naming org-b: org-c must not hear of it.
	strict := event(t, "strict", sharing.Label{TLP: sharing.TLPAmberStrict, ProducerOrg: "org-a", ProducerUser: "u", Orgs: []string{"org-b"}})
	strict.AffectedOrgs = []string{"org-b", "org-c"}
	if err := d.Publish(ctx, strict); err != nil {
		t.Fatal(err)
	}
	red := event(t, "red", sharing.Label{TLP: sharing.TLPRed, ProducerOrg: "org-a", ProducerUser: "u", Users: []string{"someone"}})
	if err := d.Publish(ctx, red); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two deliveries", func() bool { k, _ := rec.snapshot(); return len(k) == 2 })
	time.Sleep(100 * time.Millisecond) // nothing else may trickle in
	_, msgs := rec.snapshot()
	got := map[string]bool{}
	for _, m := range msgs {
		got[m.Org+"/"+m.Alerts[0].Event] = true
		body, _ := json.Marshal(m)
		if strings.Contains(string(body), "org-c") || strings.Contains(string(body), `"u"`) {
			t.Errorf("alert to %s leaks the label or other recipients: %s", m.Org, body)
		}
	}
	want := map[string]bool{"org-a/strict": true, "org-b/strict": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	all, err := d.Deliveries(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("outbox has %d deliveries, want 2: %+v", len(all), all)
	}
	if _, err := New(ctx, d.db, Options{}); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("New without Visible: %v", err)
	}
}

// TestRetryDeadLetterAck: transient failures are retried with the same key;
// permanent ones and exhausted ones are dead-lettered; acknowledgement is
// per recipient.
func TestRetryDeadLetterAck(t *testing.T) {
	var mu sync.Mutex
	attempts := map[string]int{}
	rec := newRecorder()
	rec.fail = func(_ context.Context, d *Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[d.Org]++
		if d.Attempt != attempts[d.Org] {
			return fmt.Errorf("%w: attempt %d, want %d", ErrPermanent, d.Attempt, attempts[d.Org])
		}
		switch d.Org {
		case "flaky":
			if attempts[d.Org] < 3 {
				return errors.New("503")
			}
		case "down":
			return errors.New("connection refused")
		case "gone":
			return fmt.Errorf("410: %w", ErrPermanent)
		}
		return nil
	}
	opt := testOptions(rec)
	opt.MaxAttempts = 4
	d := open(t, t.TempDir(), opt)
	ctx := t.Context()
	for _, org := range []string{"flaky", "down", "gone"} {
		if err := d.PutRule(ctx, Rule{ID: "r-" + org, Org: org, Target: Target{Channel: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Publish(ctx, event(t, "e", sharing.Label{TLP: sharing.TLPGreen})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two dead letters", func() bool { dl, _ := d.DeadLetters(ctx); return len(dl) == 2 })
	waitFor(t, "flaky delivered", func() bool { s, _ := d.Deliveries(ctx, "flaky", Delivered, 0); return len(s) == 1 })
	mu.Lock()
	if attempts["flaky"] != 3 || attempts["down"] != 4 || attempts["gone"] != 1 {
		t.Errorf("attempts = %v, want flaky 3, down 4, gone 1", attempts)
	}
	mu.Unlock()
	dl, _ := d.DeadLetters(ctx)
	for _, l := range dl {
		if l.State != Dead || (l.Org == "down" && (l.Attempts != 4 || !strings.Contains(l.LastError, "refused"))) {
			t.Errorf("dead letter %+v", l)
		}
	}
	if dl[0].Org == dl[1].Org || dl[0].Org == "flaky" || dl[1].Org == "flaky" {
		t.Errorf("dead letters for %s and %s", dl[0].Org, dl[1].Org)
	}
	s, _ := d.Deliveries(ctx, "flaky", "", 0)
	if err := d.Ack(ctx, "down", s[0].ID); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("ack of another org's delivery: %v", err)
	}
	if err := d.Ack(ctx, "flaky", s[0].ID); err != nil {
		t.Fatal(err)
	}
	st, err := d.Get(ctx, "flaky", s[0].ID)
	if err != nil || st.Acked.IsZero() || st.Attempts != 3 || st.State != Delivered {
		t.Fatalf("after ack: %+v, %v", st, err)
	}
	down, _ := d.Deliveries(ctx, "down", "", 0)
	if err := d.Ack(ctx, "down", down[0].ID); !errors.Is(err, errkind.Conflict) {
		t.Fatalf("ack of a dead letter: %v", err)
	}
	// Redrive after the receiver is fixed.
	mu.Lock()
	attempts["down"] = 0
	mu.Unlock()
	rec.fail = nil
	if err := d.Redrive(ctx, down[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redriven delivery", func() bool { s, _ := d.Deliveries(ctx, "down", Delivered, 0); return len(s) == 1 })
	// Republishing the same event enqueues nothing.
	if err := d.Publish(ctx, event(t, "e", sharing.Label{TLP: sharing.TLPGreen})); err != nil {
		t.Fatal(err)
	}
	if all, _ := d.Deliveries(ctx, "", "", 0); len(all) != 3 {
		t.Fatalf("republishing added deliveries: %d", len(all))
	}
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{opt: Options{Backoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 50 {
			if got := d.backoff(n); got < want/2 || got > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

// TestRestart: the dispatcher is closed while deliveries hang; reopened on
// the same database it delivers every alert, each key once.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(4)
	var mu sync.Mutex
	n := 0
	hang := newRecorder()
	hang.fail = func(ctx context.Context, d *Delivery) error {
		mu.Lock()
		n++
		if n <= 4 {
			started.Done()
		}
		mu.Unlock()
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	opt := testOptions(hang)
	opt.Workers = 4
	d1, err := Open(t.Context(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 20 {
		if err := d1.PutRule(ctx, Rule{ID: fmt.Sprint("r", i), Org: fmt.Sprint("org", i), Target: Target{Channel: "test"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d1.Publish(ctx, event(t, "e", sharing.Label{TLP: sharing.TLPGreen})); err != nil {
		t.Fatal(err)
	}
	started.Wait()
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if err := d1.Close(expired); err != nil {
		t.Fatal(err)
	}
	if k, _ := hang.snapshot(); len(k) != 0 {
		t.Fatalf("deliveries recorded before restart: %v", k)
	}
	close(release)
	// The interrupted attempts did not count.
	{
		db, err := sql.Open("sqlite", filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		var pending, attempts int
		err = db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(attempts) FROM alert_deliveries WHERE state = 'pending'`).Scan(&pending, &attempts)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if pending != 20 || attempts != 0 {
			t.Fatalf("after the crash %d pending with %d attempts, want 20 with 0", pending, attempts)
		}
	}
	rec := newRecorder()
	d2 := open(t, dir, testOptions(rec))
	waitFor(t, "20 deliveries", func() bool { s, _ := d2.Deliveries(ctx, "", Delivered, 0); return len(s) == 20 })
	time.Sleep(100 * time.Millisecond)
	keys, _ := rec.snapshot()
	if len(keys) != 20 {
		t.Fatalf("%d keys delivered after restart, want 20", len(keys))
	}
	for k, c := range keys {
		if c != 1 {
			t.Errorf("key %s delivered %d times", k, c)
		}
	}
	if s, _ := d2.Deliveries(ctx, "", Pending, 0); len(s) != 0 {
		t.Fatalf("still pending: %+v", s)
	}
}

// TestDigest: a digest rule delivers its organisation's alerts as one
// message per interval.
func TestDigest(t *testing.T) {
	rec := newRecorder()
	d := open(t, t.TempDir(), testOptions(rec))
	ctx := t.Context()
	if err := d.PutRule(ctx, Rule{ID: "dig", Org: "org-a", Digest: 300 * time.Millisecond, Target: Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.PutRule(ctx, Rule{ID: "now", Org: "org-b", Target: Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 5 {
		if err := d.Publish(ctx, event(t, fmt.Sprint("e", i), sharing.Label{TLP: sharing.TLPGreen})); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "5 immediate deliveries", func() bool { k, _ := rec.snapshot(); return len(k) == 5 })
	waitFor(t, "digest", func() bool { k, _ := rec.snapshot(); return len(k) == 6 })
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("digest after %v, before its interval", el)
	}
	_, msgs := rec.snapshot()
	var dig *Message
	for i := range msgs {
		if msgs[i].Digest {
			dig = &msgs[i]
		}
	}
	if dig == nil || dig.Org != "org-a" || len(dig.Alerts) != 5 || dig.Alerts[0].Event != "e0" || dig.Alerts[4].Event != "e4" {
		t.Fatalf("digest = %+v", dig)
	}
	if dig.Alerts[0].Key == dig.Key {
		t.Fatal("digest reuses an alert's key")
	}
}

// TestFromDecodedMatchesFromObject: an event built from the decoded
// properties equals the one FromObject parses from the JSON.
func TestFromDecodedMatchesFromObject(t *testing.T) {
	for _, raw := range []string{
		`{"type":"indicator","id":"indicator--11111111-1111-4111-8111-111111111111","modified":"2026-01-01T00:00:00Z","labels":["malicious-activity","c2"],"confidence":80,"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"command-and-control"},{"kill_chain_name":"lockheed","phase_name":"delivery"}]}`,
		`{"type":"malware","id":"malware--22222222-2222-4222-8222-222222222222","modified":"2026-02-01T00:00:00Z","is_family":true}`,
		`{"type":"sighting","id":"sighting--33333333-3333-4333-8333-333333333333","confidence":0}`,
	} {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var props map[string]any
		if err := dec.Decode(&props); err != nil {
			t.Fatal(err)
		}
		l := sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: "identity--x"}
		want, err := FromObject(ObjectAdded, "", json.RawMessage(raw), l)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromDecoded(ObjectAdded, "", json.RawMessage(raw), props, l)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FromDecoded = %+v\nFromObject  = %+v", got, want)
		}
	}
	if _, err := FromDecoded(Sighting, "x", json.RawMessage(`{"id":"x"}`), map[string]any{"id": "x"}, sharing.Label{}); !errors.Is(err, errkind.Invalid) {
		t.Fatalf("object without type: %v", err)
	}
}

// TestWants: a kind is wanted when some rule names it or names no kind.
func TestWants(t *testing.T) {
	ctx := t.Context()
	d := open(t, t.TempDir(), testOptions(newRecorder()))
	for _, k := range []Kind{ObjectAdded, Finding, Case} {
		if d.Wants(ctx, k) {
			t.Errorf("no rules: Wants(%s) = true", k)
		}
	}
	if err := d.PutRule(ctx, Rule{ID: "f", Org: "identity--a", Kinds: []Kind{Finding}, Target: Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	if !d.Wants(ctx, Finding) || d.Wants(ctx, ObjectAdded) {
		t.Errorf("finding rule: Wants(finding) = %v, Wants(object-added) = %v", d.Wants(ctx, Finding), d.Wants(ctx, ObjectAdded))
	}
	if err := d.PutRule(ctx, Rule{ID: "all", Org: "identity--b", Target: Target{Channel: "test"}}); err != nil {
		t.Fatal(err)
	}
	if !d.Wants(ctx, ObjectAdded) || !d.Wants(ctx, Case) {
		t.Error("a rule without kinds wants every kind")
	}
}
