package server

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// alertRoutes registers the alerting API (issue #6 item 3):
//
//	GET    /api/v1/alert-rules[?org=ID]                  rules (own organisation; hub admin: all or ?org)
//	POST   /api/v1/alert-rules                           add a rule (org admin; hub admin for any org)
//	DELETE /api/v1/alert-rules/{id}                      remove a rule
//	GET    /api/v1/alerts[?state=S&limit=N]              deliveries (own organisation; hub admin: all)
//	POST   /api/v1/alerts/{id}/ack                       acknowledge a delivery
//	GET    /api/v1/alerts/dead-letters                   dead letters (hub admin)
//	POST   /api/v1/alerts/dead-letters/{id}/redrive      send a dead letter again (hub admin)
func (s *Server) alertRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/alert-rules", s.authed(s.listAlertRules))
	mux.Handle("POST /api/v1/alert-rules", s.authed(s.addAlertRule))
	mux.Handle("DELETE /api/v1/alert-rules/{id}", s.authed(s.removeAlertRule))
	mux.Handle("GET /api/v1/alerts", s.authed(s.listAlerts))
	mux.Handle("POST /api/v1/alerts/{id}/ack", s.authed(s.ackAlert))
	mux.Handle("GET /api/v1/alerts/dead-letters", s.authed(s.listDeadLetters))
	mux.Handle("POST /api/v1/alerts/dead-letters/{id}/redrive", s.authed(s.redriveAlert))
}

// alerts returns the dispatcher, or an error when alerting is off.
func (s *Server) alerts() (*alert.Dispatcher, error) {
	if s.cfg.Alerts == nil {
		return nil, fmt.Errorf("%w: alerting is not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.Alerts, nil
}

// RuleJSON is an alert rule as the API and the command line show it:
// severities, TLP and the digest interval as text, the webhook secret
// write-only.
type RuleJSON struct {
	ID               string       `json:"id,omitempty"`
	Org              string       `json:"org,omitempty"`
	Kinds            []alert.Kind `json:"kinds,omitempty"`
	Types            []string     `json:"types,omitempty"`
	Labels           []string     `json:"labels,omitempty"`
	Sectors          []string     `json:"sectors,omitempty"`
	MinSeverity      string       `json:"min_severity,omitempty"`
	MinConfidence    int          `json:"min_confidence,omitempty"`
	MaxConfidence    int          `json:"max_confidence,omitempty"`
	MaxTLP           string       `json:"max_tlp,omitempty"`
	KillChainPhases  []string     `json:"kill_chain_phases,omitempty"`
	ConstituencyOnly bool         `json:"constituency_only,omitempty"`
	Digest           string       `json:"digest,omitempty"`
	Channel          string       `json:"channel"`
	URL              string       `json:"url,omitempty"`
	// Secret keys webhook signatures; never shown (SecretSet tells).
	Secret    string   `json:"secret,omitempty"`
	SecretSet bool     `json:"secret_set,omitempty"`
	To        []string `json:"to,omitempty"`
}

// RuleToJSON converts a rule for display (without its secret).
func RuleToJSON(r alert.Rule) RuleJSON {
	out := RuleJSON{ID: r.ID, Org: r.Org, Kinds: r.Kinds, Types: r.Types, Labels: r.Labels, Sectors: r.Sectors,
		MinConfidence: r.MinConfidence, MaxConfidence: r.MaxConfidence, KillChainPhases: r.KillChainPhases,
		ConstituencyOnly: r.ConstituencyOnly, Channel: r.Target.Channel, URL: r.Target.URL,
		SecretSet: len(r.Target.Secret) > 0, To: r.Target.To}
	if r.MinSeverity != alert.SeverityNone {
		out.MinSeverity = r.MinSeverity.String()
	}
	if r.MaxTLP != sharing.TLPNone {
		out.MaxTLP = r.MaxTLP.String()
	}
	if r.Digest > 0 {
		out.Digest = r.Digest.String()
	}
	return out
}

// RuleOptions are the hub's settings Rule checks against.
type RuleOptions struct {
	// AllowPrivateWebhooks accepts webhook URLs on loopback, private,
	// link-local and other reserved addresses (serve
	// --allow-private-webhooks); without it they are refused.
	AllowPrivateWebhooks bool
}

// Rule converts the JSON form into a rule (ID and Org as given), checking
// every field.
func (j RuleJSON) Rule(opt RuleOptions) (alert.Rule, error) {
	r := alert.Rule{ID: j.ID, Org: j.Org, Kinds: j.Kinds, Types: j.Types, Labels: j.Labels, Sectors: lower(j.Sectors),
		MinConfidence: j.MinConfidence, MaxConfidence: j.MaxConfidence, KillChainPhases: j.KillChainPhases,
		ConstituencyOnly: j.ConstituencyOnly, Target: alert.Target{Channel: j.Channel, URL: j.URL, To: j.To}}
	if j.Secret != "" {
		r.Target.Secret = []byte(j.Secret)
	}
	var err error
	if r.MinSeverity, err = alert.ParseSeverity(j.MinSeverity); err != nil {
		return alert.Rule{}, fmt.Errorf("field \"min_severity\": %w", err)
	}
	if j.MaxTLP != "" {
		if r.MaxTLP, err = sharing.ParseTLP(j.MaxTLP); err != nil {
			return alert.Rule{}, fmt.Errorf("%w: field \"max_tlp\": %v", errkind.Invalid, err)
		}
	}
	if j.Digest != "" {
		if r.Digest, err = time.ParseDuration(j.Digest); err != nil || r.Digest < time.Minute || r.Digest > 7*24*time.Hour {
			return alert.Rule{}, fmt.Errorf("%w: field \"digest\": %q is not a duration between 1m and 168h", errkind.Invalid, j.Digest)
		}
	}
	switch j.Channel {
	case "webhook":
		u, err := url.Parse(j.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return alert.Rule{}, fmt.Errorf("%w: field \"url\": %q is not an http(s) URL", errkind.Invalid, j.URL)
		}
		if !opt.AllowPrivateWebhooks {
			if err := webhook.CheckURL(j.URL); err != nil {
				return alert.Rule{}, fmt.Errorf("field \"url\": %w", err)
			}
		}
		if len(j.Secret) < 16 {
			return alert.Rule{}, fmt.Errorf("%w: field \"secret\": a webhook needs a signing secret of at least 16 characters", errkind.Invalid)
		}
	case "taxii":
		// The alert collection holds STIX objects: object and sighting
		// alerts (findings, cases and notifications are not STIX).
		if len(r.Kinds) == 0 {
			r.Kinds = []alert.Kind{alert.ObjectAdded, alert.Sighting}
		}
		for _, k := range r.Kinds {
			if k != alert.ObjectAdded && k != alert.Sighting {
				return alert.Rule{}, fmt.Errorf("%w: field \"kinds\": a taxii rule stores STIX objects in the alert collection: kinds object-added and sighting only, not %q", errkind.Invalid, k)
			}
		}
	case "email":
		if len(j.To) == 0 || len(j.To) > 20 {
			return alert.Rule{}, fmt.Errorf("%w: field \"to\": an e-mail rule needs 1 to 20 recipients", errkind.Invalid)
		}
		for _, a := range j.To {
			if !strings.Contains(a, "@") || strings.ContainsAny(a, "\r\n<>,") {
				return alert.Rule{}, fmt.Errorf("%w: field \"to\": %q is not an e-mail address", errkind.Invalid, a)
			}
		}
	}
	if err := r.Validate(); err != nil {
		return alert.Rule{}, err
	}
	return r, nil
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// NewRuleID returns a fresh random rule id.
func NewRuleID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rule-" + hex.EncodeToString(b[:])
}

// listAlertRules serves GET /api/v1/alert-rules.
func (s *Server) listAlertRules(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	org := r.URL.Query().Get("org")
	switch {
	case org == "" && s.cfg.Policy.CanAdministerAlerts(p):
		// every organisation's
	case org == "":
		org = p.OrgID
		fallthrough
	default:
		if !s.cfg.Policy.CanSeeAlerts(p, org) {
			return fmt.Errorf("%w: the alert rules of organisation %s", errkind.Forbidden, truncate(org, 100))
		}
	}
	rules := d.Rules(org)
	out := make([]RuleJSON, len(rules))
	for i, x := range rules {
		out[i] = RuleToJSON(x)
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"rules": out})
}

// addAlertRule serves POST /api/v1/alert-rules: the body is a RuleJSON
// (id assigned by the hub; org defaults to the caller's). Answers 201.
func (s *Server) addAlertRule(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readBodyError(err)
	}
	var j RuleJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: alert rule: %v", errkind.Invalid, err)
	}
	if j.ID != "" {
		return fmt.Errorf("%w: field \"id\": the hub assigns rule ids", errkind.Invalid)
	}
	if j.Org == "" {
		j.Org = p.OrgID
	}
	if !s.cfg.Policy.CanManageAlerts(p, j.Org) {
		return fmt.Errorf("%w: only the organisation's admins (or hub admins) add its alert rules", errkind.Forbidden)
	}
	if _, err := s.cfg.Store.Org(r.Context(), j.Org); err != nil {
		return fmt.Errorf("%w: field \"org\": unknown organisation %s", errkind.Invalid, truncate(j.Org, 100))
	}
	j.ID = NewRuleID()
	rule, err := j.Rule(RuleOptions{AllowPrivateWebhooks: s.cfg.AllowPrivateWebhooks})
	if err != nil {
		return err
	}
	if err := d.PutRule(r.Context(), rule); err != nil {
		return err
	}
	if s.cfg.AlertRuleAdded != nil {
		if err := s.cfg.AlertRuleAdded(r.Context(), rule); err != nil {
			s.log.WarnContext(r.Context(), "alert rule added: follow-up failed", "rule", rule.ID, "err", err)
		}
	}
	s.log.InfoContext(r.Context(), "alert rule added", "rule", rule.ID, "org", rule.Org, "channel", rule.Target.Channel, "by", p.UserID)
	return writeAPIJSON(w, http.StatusCreated, RuleToJSON(rule))
}

// removeAlertRule serves DELETE /api/v1/alert-rules/{id}.
func (s *Server) removeAlertRule(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	org := ""
	for _, x := range d.Rules("") {
		if x.ID == id {
			org = x.Org
		}
	}
	// Another organisation's rule is NotFound, like a missing one.
	if org == "" || !s.cfg.Policy.CanSeeAlerts(p, org) {
		return fmt.Errorf("%w: alert rule %s", errkind.NotFound, truncate(id, 100))
	}
	if !s.cfg.Policy.CanManageAlerts(p, org) {
		return fmt.Errorf("%w: only the organisation's admins (or hub admins) remove its alert rules", errkind.Forbidden)
	}
	if err := d.RemoveRule(r.Context(), org, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// AlertJSON is a delivery record as the API and the command line show it.
type AlertJSON struct {
	ID        int64       `json:"id"`
	Key       string      `json:"idempotency_key"`
	Org       string      `json:"org"`
	Rule      string      `json:"rule"`
	Digest    bool        `json:"digest,omitempty"`
	State     alert.State `json:"state"`
	Attempts  int         `json:"attempts"`
	LastError string      `json:"last_error,omitempty"`
	Created   time.Time   `json:"created"`
	Delivered *time.Time  `json:"delivered,omitempty"`
	Acked     *time.Time  `json:"acknowledged,omitempty"`
	Died      *time.Time  `json:"dead_lettered,omitempty"`
}

// AlertToJSON converts a delivery record.
func AlertToJSON(st alert.Status) AlertJSON {
	out := AlertJSON{ID: st.ID, Key: st.Key, Org: st.Org, Rule: st.Rule, Digest: st.Digest, State: st.State,
		Attempts: st.Attempts, LastError: st.LastError, Created: st.Created}
	if !st.Delivered.IsZero() {
		out.Delivered = &st.Delivered
	}
	if !st.Acked.IsZero() {
		out.Acked = &st.Acked
	}
	return out
}

// listAlerts serves GET /api/v1/alerts.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var state alert.State
	switch v := alert.State(q.Get("state")); v {
	case "", alert.Pending, alert.Delivered, alert.Dead:
		state = v
	default:
		return fmt.Errorf("%w: parameter state: %q (want pending, delivered or dead)", errkind.Invalid, truncate(string(v), 40))
	}
	limit, err := limitParam(q.Get("limit"))
	if err != nil {
		return err
	}
	org := p.OrgID
	if s.cfg.Policy.CanAdministerAlerts(p) {
		org = q.Get("org") // "" for every organisation
	} else if !s.cfg.Policy.CanSeeAlerts(p, org) {
		return fmt.Errorf("%w: only members of an organisation have alerts", errkind.Forbidden)
	}
	list, err := d.Deliveries(r.Context(), org, state, limit)
	if err != nil {
		return err
	}
	out := make([]AlertJSON, len(list))
	for i, x := range list {
		out[i] = AlertToJSON(x)
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"alerts": out})
}

// limitParam parses limit (default 100, at most 1000).
func limitParam(v string) (int, error) {
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, fmt.Errorf("%w: parameter limit: %q (want 1 to 1000)", errkind.Invalid, truncate(v, 40))
	}
	return n, nil
}

func idParam(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: alert id %q is not a positive number", errkind.Invalid, truncate(r.PathValue("id"), 40))
	}
	return id, nil
}

// ackAlert serves POST /api/v1/alerts/{id}/ack: the caller's organisation
// acknowledges its delivery. For a case alert the acknowledgement also
// counts as the organisation's acknowledgement of the case (the cycle
// metric "time until every affected organisation acknowledged").
func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	id, err := idParam(r)
	if err != nil {
		return err
	}
	if !s.cfg.Policy.CanSeeAlerts(p, p.OrgID) {
		return fmt.Errorf("%w: only members of an organisation acknowledge alerts", errkind.Forbidden)
	}
	ctx := r.Context()
	if err := d.Ack(ctx, p.OrgID, id); err != nil {
		return err
	}
	if s.cfg.Cases != nil {
		alerts, err := d.Alerts(ctx, p.OrgID, id)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Kind != alert.Case {
				continue
			}
			caseID, _, _ := strings.Cut(a.Event, "/")
			if _, err := s.cfg.Cases.Acknowledge(ctx, p, caseID); err != nil {
				s.log.WarnContext(ctx, "acknowledging the case of an alert", "case", caseID, "delivery", id, "err", err)
			}
		}
	}
	st, err := d.Get(ctx, p.OrgID, id)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, AlertToJSON(st))
}

// listDeadLetters serves GET /api/v1/alerts/dead-letters (hub admins).
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	if !s.cfg.Policy.CanAdministerAlerts(p) {
		return fmt.Errorf("%w: dead letters are for hub admins", errkind.Forbidden)
	}
	list, err := d.DeadLetters(r.Context())
	if err != nil {
		return err
	}
	out := make([]AlertJSON, len(list))
	for i, x := range list {
		out[i] = AlertToJSON(x.Status)
		out[i].Died = &list[i].Died
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"dead_letters": out})
}

// redriveAlert serves POST /api/v1/alerts/dead-letters/{id}/redrive (hub
// admins): the delivery is pending again with its idempotency key.
func (s *Server) redriveAlert(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	d, err := s.alerts()
	if err != nil {
		return err
	}
	if !s.cfg.Policy.CanAdministerAlerts(p) {
		return fmt.Errorf("%w: redriving dead letters is for hub admins", errkind.Forbidden)
	}
	id, err := idParam(r)
	if err != nil {
		return err
	}
	if err := d.Redrive(r.Context(), id); err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"id": id, "state": alert.Pending})
}
