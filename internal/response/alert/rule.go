package alert

import (
	"fmt"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// Target says where a rule's alerts go.
type Target struct {
	// Channel names the channel registered with Options.Channels
	// ("webhook", "email", "syslog", "taxii").
	Channel string `json:"channel"`
	// URL is the webhook endpoint.
	URL string `json:"url,omitempty"`
	// Secret keys the webhook signature.
	Secret []byte `json:"secret,omitempty"`
	// To are the e-mail recipients.
	To []string `json:"to,omitempty"`
}

// Rule is one organisation's subscription. Empty filters do not constrain.
type Rule struct {
	// ID identifies the rule; it is part of every idempotency key.
	ID string `json:"id"`
	// Org is the subscribing organisation's identity id.
	Org string `json:"org"`
	// Kinds are the event kinds wanted.
	Kinds []Kind `json:"kinds,omitempty"`
	// Types are the STIX types wanted.
	Types []string `json:"types,omitempty"`
	// Labels: at least one must be among the object's labels.
	Labels []string `json:"labels,omitempty"`
	// Sectors: at least one must be among the event's sectors.
	Sectors []string `json:"sectors,omitempty"`
	// MinSeverity is the lowest severity wanted (findings and cases).
	MinSeverity Severity `json:"min_severity,omitempty"`
	// MinConfidence and MaxConfidence bound the STIX confidence; when
	// either is set, events without a confidence do not match.
	MinConfidence int `json:"min_confidence,omitempty"`
	MaxConfidence int `json:"max_confidence,omitempty"`
	// MaxTLP is the highest TLP wanted (TLPNone: any the org may see).
	// Unmarked objects count at the Dispatcher's default TLP.
	MaxTLP sharing.TLP `json:"max_tlp,omitempty"`
	// KillChainPhases: at least one "chain:phase" must be the object's.
	KillChainPhases []string `json:"kill_chain_phases,omitempty"`
	// ConstituencyOnly keeps only events routed to Org.
	ConstituencyOnly bool `json:"constituency_only,omitempty"`
	// Digest batches the rule's alerts into one message per interval.
	Digest time.Duration `json:"digest,omitempty"`
	// Target is where the alerts go.
	Target Target `json:"target"`
}

// Validate checks the rule's fields.
func (r *Rule) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("alert: rule without id: %w", errkind.Invalid)
	case r.Org == "":
		return fmt.Errorf("alert: rule %q without org: %w", r.ID, errkind.Invalid)
	case r.Target.Channel == "":
		return fmt.Errorf("alert: rule %q without target channel: %w", r.ID, errkind.Invalid)
	case r.MinConfidence < 0 || r.MaxConfidence < 0 || r.MinConfidence > 100 || r.MaxConfidence > 100,
		r.MaxConfidence != 0 && r.MaxConfidence < r.MinConfidence:
		return fmt.Errorf("alert: rule %q: confidence range %d..%d: %w", r.ID, r.MinConfidence, r.MaxConfidence, errkind.Invalid)
	case r.Digest < 0:
		return fmt.Errorf("alert: rule %q: negative digest interval: %w", r.ID, errkind.Invalid)
	}
	for _, k := range r.Kinds {
		if _, err := ParseKind(string(k)); err != nil {
			return fmt.Errorf("alert: rule %q: %w", r.ID, err)
		}
	}
	return nil
}

// tlpRank orders TLP levels for MaxTLP; unknown markings rank above RED.
func tlpRank(t sharing.TLP) int {
	switch t {
	case sharing.TLPClear:
		return 1
	case sharing.TLPGreen:
		return 2
	case sharing.TLPAmber:
		return 3
	case sharing.TLPAmberStrict:
		return 4
	case sharing.TLPRed:
		return 5
	default:
		return 6
	}
}

// Matches reports whether the event passes the rule's filters, with def as
// the TLP of unmarked objects. It does not check visibility: the Dispatcher
// does that first.
func (r *Rule) Matches(e *Event, def sharing.TLP) bool {
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, e.Kind) {
		return false
	}
	if len(r.Types) > 0 && !slices.Contains(r.Types, e.Type) {
		return false
	}
	if len(r.Labels) > 0 && !hasAny(r.Labels, e.Labels) {
		return false
	}
	if len(r.Sectors) > 0 && !hasAny(r.Sectors, e.Sectors) {
		return false
	}
	if r.MinSeverity > SeverityNone && e.Severity < r.MinSeverity {
		return false
	}
	if r.MinConfidence > 0 || r.MaxConfidence > 0 {
		if e.Confidence < 0 || e.Confidence < r.MinConfidence {
			return false
		}
		if r.MaxConfidence > 0 && e.Confidence > r.MaxConfidence {
			return false
		}
	}
	if r.MaxTLP != sharing.TLPNone {
		t := e.Label.TLP
		if t == sharing.TLPNone {
			t = def
		}
		if tlpRank(t) > tlpRank(r.MaxTLP) {
			return false
		}
	}
	if len(r.KillChainPhases) > 0 && !hasAny(r.KillChainPhases, e.KillChainPhases) {
		return false
	}
	if r.ConstituencyOnly && !slices.Contains(e.AffectedOrgs, r.Org) {
		return false
	}
	return true
}
