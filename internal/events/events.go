// Package events puts the hub's events on the bus and feeds them to the
// alert dispatcher.
//
// Publishers: Store wraps a store.Store so that every object version a
// write commits (TAXII, import, feed pulls, MISP, sightings from
// telemetry, case attachments: everything goes through Store.Add) becomes
// an object-added event, or a sighting event for STIX sightings, carrying
// the version's sharing label; Findings is a vulndb subscriber for new
// vulnerability findings; Case is the incident store's change hook (new
// case, state changes). Events are alert.Event values encoded as JSON.
//
// Consumer: Deliver subscribes a durable consumer ("alerts") that routes
// each event to its constituency (organisations owning addresses and
// domains the object names) and hands it to alert.Dispatcher.Publish,
// which deduplicates by idempotency key, so redelivery is harmless.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// Consumer is the durable consumer name of alerting on the bus.
const Consumer = "alerts"

// Publisher encodes hub events and publishes them on a bus. Publishing
// happens after the change committed and never fails the write. With a
// Durable publisher, a failed publish of object versions written through
// Store is retried with back-off, then left to a catch-up that publishes
// them again from the store; findings, cases and notifications are kept
// in the outbox until the bus took them, and published again by the
// catch-up. Without Durable, a failed publish is logged as lost.
type Publisher struct {
	bus   bus.Publisher
	dir   store.Directory // producers' sectors; may be nil
	log   *slog.Logger
	now   func() time.Time
	retry OutboxOptions // back-off of failed publishes
	ob    *outbox       // set by Durable

	failing atomic.Bool // the last publish of a store batch failed

	mu      sync.Mutex // guards sectors
	sectors map[string]string

	// Committed versions are published by a background goroutine (see
	// Store): queue carries their events, done closes when it ends.
	qmu    sync.RWMutex // guards queue against Close
	queue  chan queued
	closed bool
	done   chan struct{}
}

// queued is a batch of committed versions' events waiting for the bus:
// with an outbox, its pending row, collection and latest date_added (µs).
type queued struct {
	ctx  context.Context
	ws   []wire
	row  int64
	coll string
	upto int64
	// recs and res, when set, are a committed store batch whose events
	// the background goroutine builds (off the writer's path) into ws.
	recs []store.Record
	res  []store.AddResult
}

// NewPublisher returns a publisher on b; dir, when not nil, supplies the
// producing organisation's sector for rules filtering on sectors.
func NewPublisher(b bus.Publisher, dir store.Directory, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{bus: b, dir: dir, log: log, now: time.Now, sectors: map[string]string{}}
	p.retry.defaults()
	return p
}

// Publish encodes es and publishes them in one batch.
func (p *Publisher) Publish(ctx context.Context, es ...alert.Event) error {
	ws := make([]wire, len(es))
	for i, e := range es {
		ws[i].Event = e
	}
	return p.publishWires(ctx, ws)
}

// refsPerMessage is how many reference events (object-added, sighting)
// one bus message carries at most: a bulk import commits thousands of
// versions per transaction, and one message per version cost a tenth of
// the import's CPU.
const refsPerMessage = 500

// publishWires encodes ws and publishes them in one batch: consecutive
// reference events of one kind as a JSON array per message (up to
// refsPerMessage, Decode reads both forms), the others one per message.
func (p *Publisher) publishWires(ctx context.Context, ws []wire) error {
	ms := make([]bus.Message, 0, len(ws)/refsPerMessage+1)
	for i := 0; i < len(ws); {
		e := &ws[i].Event
		if e.Time.IsZero() {
			e.Time = p.now().UTC()
		}
		n := 1
		if ws[i].Ref != nil {
			for n < refsPerMessage && i+n < len(ws) && ws[i+n].Ref != nil && ws[i+n].Kind == e.Kind {
				if ws[i+n].Time.IsZero() {
					ws[i+n].Time = p.now().UTC()
				}
				n++
			}
		}
		var data []byte
		var err error
		id := string(e.Kind) + ":" + e.ID
		if n == 1 {
			data, err = json.Marshal(ws[i])
		} else {
			data, err = json.Marshal(ws[i : i+n])
			id += "+" + strconv.Itoa(n-1) + ":" + ws[i+n-1].ID
		}
		if err != nil {
			return fmt.Errorf("events: encoding %s %q: %w", e.Kind, e.ID, err)
		}
		ms = append(ms, bus.Message{Topic: string(e.Kind), ID: id, Data: data})
		i += n
	}
	if err := p.bus.Publish(ctx, ms...); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// publish publishes events that carry their payload (findings, cases,
// notifications) after a commit, detached from the caller's cancellation.
// A Durable publisher writes them to the outbox first: refused by the bus,
// they are parked for the catch-up; otherwise a failure is logged.
func (p *Publisher) publish(ctx context.Context, es []alert.Event) {
	if len(es) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	ws := make([]wire, len(es))
	for i, e := range es {
		if e.Time.IsZero() {
			e.Time = p.now().UTC() // stored as published, so a republished event is the same
		}
		ws[i].Event = e
	}
	var row int64
	if p.ob != nil {
		var err error
		if row, err = p.ob.save(ctx, ws); err != nil {
			p.log.ErrorContext(ctx, "outbox row of hub events (they are published, but not durably)", "err", err)
		}
	}
	err := p.publishWires(ctx, ws)
	switch {
	case err != nil && row == 0:
		p.log.ErrorContext(ctx, "publishing hub events (their alerts are lost)", "events", len(ws), "err", err)
	case err != nil:
		p.log.WarnContext(ctx, "publishing hub events failed; parked for the catch-up", "events", len(ws), "err", err)
		if perr := p.ob.park(ctx, eventsTable, row); perr != nil {
			p.log.ErrorContext(ctx, "parking hub events (a restart publishes them)", "err", perr)
		}
	case row != 0:
		if serr := p.ob.forget(ctx, eventsTable, row); serr != nil {
			p.log.WarnContext(ctx, "recording published hub events (they may be published again)", "err", serr)
		}
	}
}

// sector returns org's sector (cached), "" when unknown.
func (p *Publisher) sector(ctx context.Context, org string) string {
	if p.dir == nil || org == "" {
		return ""
	}
	p.mu.Lock()
	s, ok := p.sectors[org]
	p.mu.Unlock()
	if ok {
		return s
	}
	if o, err := p.dir.Org(ctx, org); err == nil {
		s = strings.ToLower(o.Sector)
	}
	p.mu.Lock()
	p.sectors[org] = s
	p.mu.Unlock()
	return s
}

// Ref names the stored object version an event is about. Object-added
// and sighting events carry a Ref instead of the object's JSON, so a bulk
// write does not copy every object onto the bus; the consumer loads the
// version from the store (Loader).
type Ref struct {
	Collection, ID, Version string
}

// wire is an event as the bus carries it.
type wire struct {
	alert.Event
	Ref *Ref `json:",omitempty"`
}

// objectEvents returns the events of committed versions: recs with their
// results from Store.Add (failed ones are skipped), each with a Ref to
// the stored version and no JSON.
func (p *Publisher) objectEvents(ctx context.Context, collection string, recs []store.Record, res []store.AddResult) []wire {
	out := make([]wire, 0, len(res))
	for i, r := range res {
		if r.Err != nil || i >= len(recs) || recs[i].Object == nil {
			continue
		}
		o, l := recs[i].Object, recs[i].Label
		kind := objectKind(o.Type)
		var e alert.Event
		var err error
		if o.Props != nil {
			e, err = alert.FromDecoded(kind, o.ID+"@"+r.Version, nil, o.Props, l)
		} else {
			e, err = alert.FromObject(kind, o.ID+"@"+r.Version, o.Raw, l)
			e.Object = nil
		}
		if err != nil {
			p.log.WarnContext(ctx, "hub event for a committed object", "id", o.ID, "err", err)
			continue
		}
		if !r.DateAdded.IsZero() {
			e.Time = r.DateAdded.UTC()
		}
		out = append(out, p.refWire(ctx, e, l, Ref{Collection: collection, ID: o.ID, Version: r.Version}))
	}
	return out
}

// objectKind is the event kind of a stored object of STIX type typ.
func objectKind(typ string) alert.Kind {
	if typ == "sighting" {
		return alert.Sighting
	}
	return alert.ObjectAdded
}

// refWire is the wire form of e, the event of the stored version ref
// labelled l: with its producer's sector (unless anonymous) and ref.
func (p *Publisher) refWire(ctx context.Context, e alert.Event, l sharing.Label, ref Ref) wire {
	if s := p.sector(ctx, l.ProducerOrg); s != "" && !l.Anonymous {
		e.Sectors = []string{s}
	}
	return wire{Event: e, Ref: &ref}
}

// Store returns st whose Add publishes the versions it committed. Their
// events are encoded and appended to the bus by one background goroutine,
// off the writer's path (a bulk import commits its next batch meanwhile);
// a bounded queue holds the writer back when the bus falls behind. Close
// waits until every queued event is on the bus.
func (p *Publisher) Store(st store.Store) store.Store { return &publishingStore{Store: st, p: p} }

// storeQueue is how many committed batches may wait for the bus.
const storeQueue = 8

// enqueue hands a batch to the background publisher (started on first
// use); it publishes in place once the publisher is closed.
func (p *Publisher) enqueue(ctx context.Context, b queued) {
	p.qmu.RLock()
	if p.closed {
		p.qmu.RUnlock()
		p.publishBatch(ctx, b)
		return
	}
	if p.queue == nil {
		p.qmu.RUnlock()
		p.qmu.Lock()
		if p.queue == nil && !p.closed {
			p.queue, p.done = make(chan queued, storeQueue), make(chan struct{})
			go p.drain(p.queue, p.done)
		}
		p.qmu.Unlock()
		p.enqueue(ctx, b)
		return
	}
	b.ctx = context.WithoutCancel(ctx)
	p.queue <- b
	p.qmu.RUnlock()
}

// drain publishes queued batches until the queue is closed.
func (p *Publisher) drain(q <-chan queued, done chan<- struct{}) {
	defer close(done)
	for b := range q {
		p.publishBatch(b.ctx, b)
	}
}

// publishBatch publishes a committed batch, retrying with back-off (once
// while the bus keeps failing). Published, its outbox row is deleted and
// the mark advanced; refused, the row is parked for the catch-up (without
// an outbox the events are lost).
func (p *Publisher) publishBatch(ctx context.Context, b queued) {
	ctx = context.WithoutCancel(ctx)
	if b.recs != nil {
		b.ws = p.objectEvents(ctx, b.coll, b.recs, b.res)
		b.recs, b.res = nil, nil
	}
	attempts := p.retry.Attempts
	if p.failing.Load() {
		attempts = 1
	}
	var err error
	if len(b.ws) > 0 {
		delay := p.retry.Backoff
		for i := range attempts {
			if i > 0 {
				time.Sleep(delay)
				delay = min(2*delay, p.retry.MaxBackoff)
			}
			if err = p.publishWires(ctx, b.ws); err == nil {
				break
			}
		}
	}
	p.failing.Store(err != nil)
	switch {
	case err != nil && b.row == 0:
		p.log.ErrorContext(ctx, "publishing hub events (their alerts are lost)", "events", len(b.ws), "err", err)
	case err != nil:
		p.log.WarnContext(ctx, "publishing hub events failed; parked for the catch-up", "events", len(b.ws), "err", err)
		if perr := p.ob.park(ctx, pendingTable, b.row); perr != nil {
			p.log.ErrorContext(ctx, "parking hub events (a restart catches up)", "err", perr)
		}
	case b.row != 0:
		if ferr := p.ob.finish(ctx, b.row, b.coll, b.upto); ferr != nil {
			p.log.WarnContext(ctx, "recording published hub events (they may be published again)", "err", ferr)
		}
	}
}

// Close waits until the events of every committed version handed to a
// Store wrapper are on the bus (or, for a Durable publisher whose bus
// fails, parked for the next catch-up) and ends the outbox; later writes
// publish synchronously. Close the publisher before the bus.
func (p *Publisher) Close() {
	p.qmu.Lock()
	if p.closed {
		p.qmu.Unlock()
		return
	}
	p.closed = true
	q, done := p.queue, p.done
	if q != nil {
		close(q)
	}
	p.qmu.Unlock()
	if done != nil {
		<-done
	}
	if p.ob != nil {
		p.ob.close()
	}
}

type publishingStore struct {
	store.Store
	p *Publisher
}

// Add implements store.Objects: st.Add, then the committed versions as
// events. A Durable publisher writes the batch's outbox row first.
func (s *publishingStore) Add(ctx context.Context, collection string, recs []store.Record, statusID string) ([]store.AddResult, error) {
	var row int64
	if ob := s.p.ob; ob != nil {
		var err error
		if row, err = ob.begin(ctx, collection); err != nil {
			s.p.log.ErrorContext(ctx, "outbox row of a batch (its events are published, but not durably)", "err", err)
		}
	}
	res, err := s.Store.Add(ctx, collection, recs, statusID)
	if err != nil {
		if row != 0 {
			if ferr := s.p.ob.forget(ctx, pendingTable, row); ferr != nil {
				s.p.log.WarnContext(ctx, "outbox row of a failed batch", "err", ferr)
			}
		}
		return res, err
	}
	// Cloned: the caller may reuse its slices once Add returned.
	b := queued{recs: slices.Clone(recs), res: slices.Clone(res), row: row, coll: collection}
	stored := false
	for _, r := range res {
		if r.Err == nil {
			b.upto = max(b.upto, r.DateAdded.UnixMicro())
			stored = true
		}
	}
	if row != 0 {
		s.p.ob.observe(b.upto)
	}
	if !stored && row == 0 {
		return res, err
	}
	s.p.enqueue(ctx, b)
	return res, err
}

// findingPayload is what a finding alert carries (the finding as the
// findings API shows it).
type findingPayload struct {
	Type string `json:"type"` // "finding"
	vulndb.Finding
}

// Findings publishes new findings; pass it to vulndb.DB.Subscribe. A
// finding is visible to its organisation only (TLP:AMBER+STRICT, produced
// by that organisation).
func (p *Publisher) Findings(ctx context.Context, fs []vulndb.Finding) {
	es := make([]alert.Event, 0, len(fs))
	for _, f := range fs {
		raw, err := json.Marshal(findingPayload{Type: "finding", Finding: f})
		if err != nil {
			p.log.WarnContext(ctx, "encoding a finding event", "vulnerability", f.Vulnerability, "err", err)
			continue
		}
		sev, _ := alert.ParseSeverity(strings.ToLower(f.Severity)) // UNKNOWN: none
		id := fmt.Sprintf("%s/%s/%d/%s/%s/%s", f.Org, f.Asset, f.SBOMVersion, f.Component, f.Vulnerability, f.InstalledVersion)
		e := alert.Event{
			ID: id, Kind: alert.Finding, Object: raw, Type: "finding", Confidence: -1, Severity: sev,
			Label:        sharing.Label{TLP: sharing.TLPAmberStrict, ProducerOrg: f.Org},
			AffectedOrgs: []string{f.Org},
		}
		if f.KEV {
			e.Labels = []string{"kev"}
		}
		if s := p.sector(ctx, f.Org); s != "" {
			e.Sectors = []string{s}
		}
		es = append(es, e)
	}
	p.publish(ctx, es)
}

// casePayload is what a case alert carries: never the reporter, the
// contact or internal comments.
type casePayload struct {
	Type           string         `json:"type"` // "case"
	ID             string         `json:"id"`
	Change         string         `json:"change"`
	State          incident.State `json:"state"`
	Title          string         `json:"title"`
	Classification string         `json:"classification,omitempty"`
	Severity       string         `json:"severity,omitempty"`
	Sector         string         `json:"sector,omitempty"`
	Reported       time.Time      `json:"reported"`
}

// Case publishes a case change ("reported" or "state:STATE"); pass it as
// incident.Cases.Changed. Whatever the case's TLP, the event is
// TLP:AMBER+STRICT distributed to the affected organisations (the
// reporter's among them): a case is never visible beyond them.
func (p *Publisher) Case(ctx context.Context, c incident.Case, change string) {
	raw, err := json.Marshal(casePayload{Type: "case", ID: c.ID, Change: change, State: c.State, Title: c.Report.Title,
		Classification: c.Report.Classification, Severity: c.Report.Severity, Sector: c.Sector, Reported: c.Reported})
	if err != nil {
		p.log.WarnContext(ctx, "encoding a case event", "case", c.ID, "err", err)
		return
	}
	sev, _ := alert.ParseSeverity(c.Report.Severity)
	e := alert.Event{
		ID: c.ID + "/" + change, Kind: alert.Case, Object: raw, Type: "case", Confidence: -1, Severity: sev,
		Label:        sharing.Label{TLP: sharing.TLPAmberStrict, ProducerOrg: c.ReporterOrg, Orgs: slices.Clone(c.Affected), Anonymous: c.Anonymous},
		AffectedOrgs: slices.Clone(c.Affected),
	}
	if c.Sector != "" {
		e.Sectors = []string{strings.ToLower(c.Sector)}
	}
	p.publish(ctx, []alert.Event{e})
}

// notificationPayload is what a notification alert carries: the
// notification as its owner reads it.
type notificationPayload struct {
	Type string `json:"type"` // "notification"
	notify.Notification
}

// Notifications publishes newly stored notifications (pass it as the
// server's NotificationsAdded); a failure is parked for the catch-up
// (Durable) or logged. Each event carries the
// notification's own label (TLP:AMBER+STRICT for its owner alone) and
// names the owner as the affected organisation.
func (p *Publisher) Notifications(ctx context.Context, ns []notify.Notification) {
	p.publish(ctx, p.notificationEvents(ctx, ns))
}

// PublishNotifications is Notifications returning the bus's error, for a
// caller that can try again (the event ids are the notifications' ids, so
// the dispatcher alerts once).
func (p *Publisher) PublishNotifications(ctx context.Context, ns []notify.Notification) error {
	return p.Publish(ctx, p.notificationEvents(ctx, ns)...)
}

// notificationEvents returns the alert events of notifications.
func (p *Publisher) notificationEvents(ctx context.Context, ns []notify.Notification) []alert.Event {
	es := make([]alert.Event, 0, len(ns))
	for _, n := range ns {
		raw, err := json.Marshal(notificationPayload{Type: "notification", Notification: n})
		if err != nil {
			p.log.WarnContext(ctx, "encoding a notification event", "notification", n.ID, "err", err)
			continue
		}
		e := alert.Event{
			ID: "notification/" + strconv.FormatInt(n.ID, 10), Kind: alert.Notification, Object: raw, Type: "notification",
			Confidence: -1, Label: n.Label(), AffectedOrgs: []string{n.OrgID}, Time: n.Received,
		}
		if s := p.sector(ctx, n.OrgID); s != "" {
			e.Sectors = []string{s}
		}
		es = append(es, e)
	}
	return es
}
