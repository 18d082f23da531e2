// Package alert turns hub events (new objects, sightings, vulnerability
// findings, cases) into alerts for the organisations that subscribed to
// them, and delivers those alerts at least once through a durable outbox.
//
// An organisation subscribes with Rules: filters on the event's kind, STIX
// type, labels, sectors, severity, confidence range, maximum TLP, kill-chain
// phases and constituency (only events routed to the organisation). A rule
// matches only when the recipient may see the event: the Dispatcher asks a
// visibility function (the lead passes sharing.Policy.CanSee for a member
// of the organisation) before anything is written, so an event an
// organisation may not see never reaches its outbox.
//
// Publish writes one delivery per matching rule in one SQLite transaction
// (DIR/alerts.db). A worker pool claims due deliveries, hands them to the
// rule's Channel (package alert/deliver: webhook, SMTP with STARTTLS,
// RFC 5424 syslog, a TAXII collection hook) and records the outcome;
// failures are retried with exponential back-off and jitter, and after
// Options.MaxAttempts the delivery moves to the dead-letter table. Pending
// deliveries survive a restart and are resumed by Open. Every delivery
// carries an idempotency key (webhook.IdempotencyKey of rule and event) that
// is stable across retries and restarts, so receivers can drop duplicates.
// Rules with a Digest interval collect an organisation's alerts and deliver
// them as one message per interval.
package alert

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// Kind is what happened on the hub.
type Kind string

// The event kinds.
const (
	ObjectAdded Kind = "object-added"
	Sighting    Kind = "sighting"
	Finding     Kind = "finding"
	Case        Kind = "case"
	// Notification is a third-party report routed to the organisation
	// owning what it names (package notify).
	Notification Kind = "notification"
)

// ParseKind returns the Kind named s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case ObjectAdded, Sighting, Finding, Case, Notification:
		return k, nil
	}
	return "", fmt.Errorf("alert: event kind %q (want object-added, sighting, finding, case or notification): %w", s, errkind.Invalid)
}

// Severity orders findings and cases; zero means not given.
type Severity int

// The severities, lowest first.
const (
	SeverityNone Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

// String returns the lowercase name of the severity.
func (s Severity) String() string {
	switch s {
	case SeverityLow:
		return "low"
	case SeverityMedium:
		return "medium"
	case SeverityHigh:
		return "high"
	case SeverityCritical:
		return "critical"
	default:
		return "none"
	}
}

// ParseSeverity returns the Severity named s ("" is SeverityNone).
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return SeverityNone, nil
	case "low":
		return SeverityLow, nil
	case "medium":
		return SeverityMedium, nil
	case "high":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	return 0, fmt.Errorf("alert: severity %q (want low, medium, high or critical): %w", s, errkind.Invalid)
}

// Event is one thing that happened on the hub that alerts may be about.
// ID must be unique per event (for object-added, the object id and its
// modified time, for instance); together with the rule id it derives the
// idempotency key, so publishing the same event twice enqueues it once.
type Event struct {
	// ID identifies the event.
	ID string
	// Kind is what happened.
	Kind Kind
	// Time is when it happened (the hub's clock).
	Time time.Time
	// Object is the STIX object (or, for findings and cases, the payload)
	// the alert carries.
	Object json.RawMessage
	// Label is the sharing label of the object version. It decides who may
	// be alerted and is never sent to recipients.
	Label sharing.Label
	// Type is the STIX type (FromObject fills it from Object).
	Type string
	// Labels are the object's STIX labels (FromObject fills them).
	Labels []string
	// Confidence is the STIX confidence 0–100, or -1 when absent
	// (FromObject fills it).
	Confidence int
	// KillChainPhases are "kill_chain_name:phase_name" pairs (FromObject
	// fills them).
	KillChainPhases []string
	// Sectors are the sectors the event concerns (for instance those of
	// the targeted identities), lowercase.
	Sectors []string
	// Severity of a finding or case.
	Severity Severity
	// AffectedOrgs are the organisations (identity ids) constituency
	// routing assigned the event to. Never sent to recipients.
	AffectedOrgs []string
}

// FromObject returns an event of kind about the STIX object raw with its
// label, taking the type, labels, confidence and kill-chain phases from the
// object. id may be empty: then it is the object's id and modified time.
func FromObject(kind Kind, id string, raw json.RawMessage, label sharing.Label) (Event, error) {
	var o struct {
		ID              string   `json:"id"`
		Type            string   `json:"type"`
		Modified        string   `json:"modified"`
		Labels          []string `json:"labels"`
		Confidence      *int     `json:"confidence"`
		KillChainPhases []struct {
			Chain string `json:"kill_chain_name"`
			Phase string `json:"phase_name"`
		} `json:"kill_chain_phases"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return Event{}, fmt.Errorf("alert: event object: %w: %w", errkind.Invalid, err)
	}
	if o.Type == "" {
		return Event{}, fmt.Errorf("alert: event object %q has no type: %w", o.ID, errkind.Invalid)
	}
	if id == "" {
		id = o.ID + "@" + o.Modified
	}
	e := Event{ID: id, Kind: kind, Object: raw, Label: label, Type: o.Type, Labels: o.Labels, Confidence: -1}
	if o.Confidence != nil {
		e.Confidence = *o.Confidence
	}
	for _, k := range o.KillChainPhases {
		e.KillChainPhases = append(e.KillChainPhases, k.Chain+":"+k.Phase)
	}
	return e, nil
}

// FromDecoded is FromObject for an object already decoded into props (as
// stix.Object.Props holds it, numbers as json.Number): it reads the type,
// labels, confidence and kill-chain phases from props instead of parsing
// raw again. raw is kept as the event's object.
func FromDecoded(kind Kind, id string, raw json.RawMessage, props map[string]any, label sharing.Label) (Event, error) {
	typ, _ := props["type"].(string)
	oid, _ := props["id"].(string)
	if typ == "" {
		return Event{}, fmt.Errorf("alert: event object %q has no type: %w", oid, errkind.Invalid)
	}
	if id == "" {
		mod, _ := props["modified"].(string)
		id = oid + "@" + mod
	}
	e := Event{ID: id, Kind: kind, Object: raw, Label: label, Type: typ, Confidence: -1}
	if ls, ok := props["labels"].([]any); ok {
		for _, l := range ls {
			if s, ok := l.(string); ok {
				e.Labels = append(e.Labels, s)
			}
		}
	}
	switch c := props["confidence"].(type) {
	case json.Number:
		if n, err := c.Int64(); err == nil {
			e.Confidence = int(n)
		}
	case float64:
		e.Confidence = int(c)
	}
	if ks, ok := props["kill_chain_phases"].([]any); ok {
		for _, k := range ks {
			m, _ := k.(map[string]any)
			chain, _ := m["kill_chain_name"].(string)
			phase, _ := m["phase_name"].(string)
			e.KillChainPhases = append(e.KillChainPhases, chain+":"+phase)
		}
	}
	return e, nil
}

func (e Event) validate() error {
	if e.ID == "" {
		return fmt.Errorf("alert: event without id: %w", errkind.Invalid)
	}
	if _, err := ParseKind(string(e.Kind)); err != nil {
		return err
	}
	if len(e.Object) > 0 && !json.Valid(e.Object) {
		return fmt.Errorf("alert: event %q: object is not JSON: %w", e.ID, errkind.Invalid)
	}
	return nil
}

// Alert is what a recipient receives (the JSON body of a webhook, the
// attachment of an e-mail, the message of a syslog record). It carries only
// what the recipient may see: the object, its TLP and the recipient's own
// rule; never the producer behind the label, the distribution list or the
// other organisations the event was routed to.
type Alert struct {
	// Key is the idempotency key of the delivery.
	Key string `json:"idempotency_key"`
	// Org is the recipient organisation.
	Org string `json:"org"`
	// Rule is the recipient's rule that matched.
	Rule string `json:"rule"`
	// Event is the event id.
	Event string `json:"event"`
	// Kind is the event kind.
	Kind Kind `json:"kind"`
	// Time is when the event happened, RFC 3339 UTC.
	Time string `json:"time"`
	// Type is the STIX type of the object.
	Type string `json:"type,omitempty"`
	// TLP is the object's TLP 2.0 name.
	TLP string `json:"tlp"`
	// Severity is the finding or case severity.
	Severity string `json:"severity,omitempty"`
	// Constituency tells that the event was routed to the recipient.
	Constituency bool `json:"constituency,omitempty"`
	// Object is the STIX object or payload.
	Object json.RawMessage `json:"object,omitempty"`
}

// Message is the body of one delivery: a single alert, or a digest of
// several alerts of one rule.
type Message struct {
	// Delivery is the delivery id (for acknowledgement).
	Delivery int64 `json:"delivery"`
	// Key is the idempotency key of the delivery.
	Key string `json:"idempotency_key"`
	// Org is the recipient organisation.
	Org string `json:"org"`
	// Rule is the recipient's rule.
	Rule string `json:"rule"`
	// Digest is set when Alerts batches several alerts.
	Digest bool `json:"digest,omitempty"`
	// Alerts are the alerts delivered.
	Alerts []Alert `json:"alerts"`
}

// Objects returns the STIX objects the message carries.
func (m *Message) Objects() []json.RawMessage {
	out := make([]json.RawMessage, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		if len(a.Object) > 0 {
			out = append(out, a.Object)
		}
	}
	return out
}

// Subject is a one-line summary (e-mail subject, syslog text).
func (m *Message) Subject() string {
	if m.Digest || len(m.Alerts) != 1 {
		return fmt.Sprintf("Kizuna digest: %d alerts (rule %s)", len(m.Alerts), m.Rule)
	}
	a := m.Alerts[0]
	s := fmt.Sprintf("Kizuna alert: %s %s", a.Kind, a.Type)
	if a.Severity != "" {
		s += " (" + a.Severity + ")"
	}
	return s + " [" + a.TLP + "]"
}

func hasAny(want, have []string) bool {
	for _, w := range want {
		if slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, w) }) {
			return true
		}
	}
	return false
}
