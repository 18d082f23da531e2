package sharing

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Official TLP marking-definition ids: TLP 2.0 (the OASIS TLP 2.0 extension)
// and the TLP 1.0 markings predefined by STIX 2.1 (mapped to their 2.0
// equivalents, WHITE to CLEAR).
const (
	TLP2Clear       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLP2Green       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLP2Amber       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLP2AmberStrict = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLP2Red         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
	TLP1White       = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLP1Green       = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLP1Amber       = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLP1Red         = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
)

// DistributionExtension is the id of Kizuna's property extension by which a
// producer names the recipients of an object:
//
//	"extensions": {"extension-definition--1f0e3c1d-6c0e-4f0a-9a43-6b2d1d3a4b5c": {
//	    "extension_type": "property-extension",
//	    "organizations": ["identity--..."], "users": ["user--..."]}}
//
// Organisations are named by their identity ids and users by their user ids
// (both printed by `kizuna org list` and `kizuna user list`).
const DistributionExtension = "extension-definition--1f0e3c1d-6c0e-4f0a-9a43-6b2d1d3a4b5c"

// tlpByMarking maps official marking ids to levels.
var tlpByMarking = map[string]TLP{
	TLP2Clear: TLPClear, TLP2Green: TLPGreen, TLP2Amber: TLPAmber,
	TLP2AmberStrict: TLPAmberStrict, TLP2Red: TLPRed,
	TLP1White: TLPClear, TLP1Green: TLPGreen, TLP1Amber: TLPAmber, TLP1Red: TLPRed,
}

// MarkingID returns the official TLP 2.0 marking-definition id of a level
// ("" for TLPNone and TLPUnknown).
func MarkingID(t TLP) string {
	switch t {
	case TLPClear:
		return TLP2Clear
	case TLPGreen:
		return TLP2Green
	case TLPAmber:
		return TLP2Amber
	case TLPAmberStrict:
		return TLP2AmberStrict
	case TLPRed:
		return TLP2Red
	}
	return ""
}

// ParseTLP parses a level name such as "amber+strict" or "TLP:GREEN".
func ParseTLP(s string) (TLP, error) {
	switch strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "tlp:") {
	case "clear", "white":
		return TLPClear, nil
	case "green":
		return TLPGreen, nil
	case "amber":
		return TLPAmber, nil
	case "amber+strict", "amber-strict":
		return TLPAmberStrict, nil
	case "red":
		return TLPRed, nil
	}
	return TLPUnknown, fmt.Errorf("unknown TLP level %q (want clear, green, amber, amber+strict or red)", s)
}

// Role is a user's role.
type Role string

// The roles. Hub admins and analysts belong to the hub's own organisation.
const (
	RoleHubAdmin Role = "hub-admin"
	RoleAnalyst  Role = "analyst"
	RoleOrgAdmin Role = "org-admin"
	RoleMember   Role = "member"
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleHubAdmin, RoleAnalyst, RoleOrgAdmin, RoleMember:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want hub-admin, analyst, org-admin or member)", s)
}

// Principal is who is asking: an authenticated user of an organisation, or
// the public (unauthenticated, TLP:CLEAR only).
type Principal struct {
	// OrgID is the organisation's STIX identity id.
	OrgID   string
	OrgName string
	UserID  string
	User    string
	Role    Role
	TokenID string
	// Public marks an unauthenticated caller.
	Public bool
}

// HubAnalyst reports whether the principal acts for the hub (analyst or
// hub admin).
func (p Principal) HubAnalyst() bool {
	return !p.Public && (p.Role == RoleAnalyst || p.Role == RoleHubAdmin)
}

// Policy holds the configurable parts of the sharing rules. The zero Policy
// is usable and treats unmarked data as TLP:AMBER.
type Policy struct {
	// Default is the level applied to objects without a TLP marking
	// (TLPAmber unless configured; TLPNone and TLPUnknown also mean AMBER).
	Default TLP
}

// NewPolicy returns the policy with the given default for unmarked data
// (TLPNone selects the standard default, TLP:AMBER).
func NewPolicy(def TLP) *Policy {
	if def == TLPNone || def == TLPUnknown {
		def = TLPAmber
	}
	return &Policy{Default: def}
}

// def returns the effective level of unmarked data.
func (p *Policy) def() TLP {
	if p == nil || p.Default == TLPNone || p.Default >= TLPUnknown {
		return TLPAmber
	}
	return p.Default
}

// Effective returns the level a label behaves as under this policy: the
// configured default for unmarked data, the label's own level otherwise.
func (p *Policy) Effective(l Label) TLP {
	if l.TLP == TLPNone {
		return p.def()
	}
	return l.TLP
}

// levels returns the stored levels that behave as the given levels under
// this policy (each level itself, plus TLPNone when one of them is the
// default). The result is a fresh slice.
func (p *Policy) levels(ts ...TLP) []TLP {
	out := make([]TLP, 0, len(ts)+1)
	out = append(out, ts...)
	if slices.Contains(ts, p.def()) {
		out = append(out, TLPNone)
	}
	return out
}

// Access returns the visibility predicate for a principal. It encodes the
// TLP 2.0 meanings of DESIGN.md:
//   - CLEAR: everyone, including the public;
//   - GREEN: every authenticated organisation;
//   - AMBER: the producer's organisation, the organisations it names and
//     hub analysts (analysts and hub admins);
//   - AMBER+STRICT: only the producer's organisation and the organisations
//     it names (not hub analysts);
//   - RED: only named people: the submitting user and the users named;
//   - unknown or malformed markings: the producer's organisation and hub
//     analysts (fail closed).
//
// Unmarked data (TLPNone) is treated as the policy's default level.
func (p *Policy) Access(pr Principal) Access {
	if pr.Public {
		return Access{Clauses: []Clause{{TLPs: p.levels(TLPClear)}}}
	}
	cs := []Clause{{TLPs: p.levels(TLPClear, TLPGreen)}}
	if pr.OrgID != "" {
		cs = append(cs,
			Clause{TLPs: append(p.levels(TLPAmber, TLPAmberStrict), TLPUnknown), ProducerOrg: pr.OrgID},
			Clause{TLPs: p.levels(TLPAmber, TLPAmberStrict), DistOrg: pr.OrgID})
	}
	if pr.HubAnalyst() {
		cs = append(cs, Clause{TLPs: append(p.levels(TLPAmber), TLPUnknown)})
	}
	if pr.UserID != "" {
		cs = append(cs,
			Clause{TLPs: p.levels(TLPRed), ProducerUser: pr.UserID},
			Clause{TLPs: p.levels(TLPRed), DistUser: pr.UserID})
	}
	return Access{Clauses: cs}
}

// CanSee reports whether the principal may see an object with this label.
func (p *Policy) CanSee(pr Principal, l Label) bool { return p.Access(pr).Allows(l) }

// MarkingKind tells Classify what a non-TLP marking reference is.
type MarkingKind int

// Marking kinds returned by a MarkingResolver.
const (
	// MarkingUnknown: the id resolves to nothing Kizuna knows.
	MarkingUnknown MarkingKind = iota
	// MarkingStatement: a known marking-definition that does not restrict
	// distribution (a statement, a copyright notice).
	MarkingStatement
)

// MarkingResolver tells Classify whether a marking-definition id that is not
// an official TLP marking is known (for instance stored, or in the same
// bundle). It may be nil: every such marking is then unknown.
type MarkingResolver func(id string) MarkingKind

// Classify computes the Label of an object submitted by a principal:
//
//   - the most restrictive TLP among object_marking_refs and the
//     marking_refs of granular_markings wins (a granular marking restricts
//     the whole object: Kizuna never serves partial objects);
//   - TLP 1.0 markings count as their TLP 2.0 equivalents (WHITE as CLEAR);
//   - a marking reference that is neither an official TLP marking nor a
//     marking the resolver knows, and any malformed marking property, gives
//     TLPUnknown (fail closed: producer's organisation and hub analysts
//     only) — except that TLP:RED, when also present, still wins, because
//     its audience (named people) is the narrowest;
//   - the distribution extension (DistributionExtension) supplies the named
//     organisations and users; a malformed extension gives TLPUnknown;
//   - marking-definitions are classified by their own markings like any
//     object, but one without markings is TLP:CLEAR (not the default) so
//     that recipients can resolve references to it; the official TLP
//     marking-definitions are always TLP:CLEAR.
//
// Classify never fails: anything it cannot understand restricts.
func (p *Policy) Classify(o *stix.Object, producer Principal, resolve MarkingResolver, anonymous bool) Label {
	l := Label{ProducerOrg: producer.OrgID, ProducerUser: producer.UserID, Anonymous: anonymous}
	if _, official := tlpByMarking[o.ID]; official && o.Type == "marking-definition" {
		l.TLP = TLPClear
		return l
	}
	raise := func(t TLP) {
		if rank(t) > rank(l.TLP) {
			l.TLP = t
		}
	}
	var refs []string
	if v, present := o.Props["object_marking_refs"]; present {
		list, ok := v.([]any)
		if !ok {
			raise(TLPUnknown)
		}
		for _, x := range list {
			if s, ok := x.(string); ok {
				refs = append(refs, s)
			} else {
				raise(TLPUnknown)
			}
		}
	}
	if gm, present := o.Props["granular_markings"]; present {
		list, ok := gm.([]any)
		if !ok {
			raise(TLPUnknown)
		}
		for _, g := range list {
			m, ok := g.(map[string]any)
			if !ok {
				raise(TLPUnknown)
				continue
			}
			if r, present := m["marking_ref"]; present {
				if ref, ok := r.(string); ok {
					refs = append(refs, ref)
				} else {
					raise(TLPUnknown)
				}
				continue
			}
			if _, ok := m["lang"].(string); !ok {
				raise(TLPUnknown)
			}
		}
	}
	for _, ref := range refs {
		if t, ok := tlpByMarking[ref]; ok {
			raise(t)
			continue
		}
		if resolve == nil || resolve(ref) != MarkingStatement {
			raise(TLPUnknown)
		}
	}
	if ev, present := o.Props["extensions"]; present {
		if ext, ok := ev.(map[string]any); ok {
			if d, present := ext[DistributionExtension]; present {
				orgs, users, ok := parseDistribution(d)
				if !ok {
					raise(TLPUnknown)
				}
				l.Orgs, l.Users = orgs, users
			}
		}
	}
	if o.Type == "marking-definition" && l.TLP == TLPNone {
		l.TLP = TLPClear
	}
	return l
}

// parseDistribution reads the distribution extension's named organisations
// and users; ok is false when the extension is malformed (not an object, a
// wrong extension_type, lists that are not arrays of non-empty strings, or
// unknown properties, which might be restrictions Kizuna does not know).
func parseDistribution(v any) (orgs, users []string, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, nil, false
	}
	for k, x := range m {
		switch k {
		case "extension_type":
			if x != "property-extension" {
				return nil, nil, false
			}
		case "organizations", "users":
		default:
			return nil, nil, false
		}
	}
	orgs, ok1 := idList(m["organizations"])
	users, ok2 := idList(m["users"])
	if !ok1 || !ok2 {
		return nil, nil, false
	}
	return orgs, users, true
}

// idList reads an optional JSON array of non-empty strings, dropping
// duplicates; ok is false when the value is present but not such an array.
func idList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out []string
	for _, x := range list {
		s, ok := x.(string)
		if !ok || strings.TrimSpace(s) == "" {
			return nil, false
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, true
}

// rank orders levels by restrictiveness for combining markings: unknown
// ranks above AMBER+STRICT (fail closed) but below RED, whose audience of
// named people is the narrowest.
func rank(t TLP) int {
	switch t {
	case TLPUnknown:
		return int(TLPRed)
	case TLPRed:
		return int(TLPRed) + 1
	}
	return int(t)
}
