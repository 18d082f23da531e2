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
//	    "organizations": ["identity--..."], "users": ["user id or name"]}}
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

// Policy holds the configurable parts of the sharing rules.
type Policy struct {
	// Default is the level applied to objects without a TLP marking
	// (TLPAmber unless configured).
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

// levels returns the stored levels that behave as level t under this
// policy (t itself, plus TLPNone when t is the default).
func (p *Policy) levels(t TLP) []TLP {
	if t == p.Default {
		return []TLP{t, TLPNone}
	}
	return []TLP{t}
}

// Access returns the visibility predicate for a principal. It encodes the
// TLP 2.0 meanings:
//   - CLEAR: everyone, including the public;
//   - GREEN: every authenticated organisation;
//   - AMBER: the producer's organisation, the organisations it names, hub analysts;
//   - AMBER+STRICT: the producer's organisation and the organisations it names;
//   - RED: the submitting user and the users named;
//   - unknown or malformed markings: the producer's organisation and hub analysts.
func (p *Policy) Access(pr Principal) Access {
	if pr.Public {
		return Access{Clauses: []Clause{{TLPs: p.levels(TLPClear)}}}
	}
	var cs []Clause
	open := append(p.levels(TLPClear), p.levels(TLPGreen)...)
	cs = append(cs, Clause{TLPs: open})
	amber := p.levels(TLPAmber)
	strict := p.levels(TLPAmberStrict)
	red := p.levels(TLPRed)
	ownOrg := append(append(slices.Clone(amber), strict...), TLPUnknown)
	if pr.OrgID != "" {
		cs = append(cs,
			Clause{TLPs: ownOrg, ProducerOrg: pr.OrgID},
			Clause{TLPs: append(slices.Clone(amber), strict...), DistOrg: pr.OrgID})
	}
	if pr.HubAnalyst() {
		cs = append(cs, Clause{TLPs: append(slices.Clone(amber), TLPUnknown)})
	}
	if pr.UserID != "" {
		cs = append(cs,
			Clause{TLPs: red, ProducerUser: pr.UserID},
			Clause{TLPs: red, DistUser: pr.UserID})
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

// Classify computes the Label of an object submitted by a principal. The
// most restrictive TLP among object_marking_refs and granular_markings
// wins; an unknown or malformed marking gives TLPUnknown (fail closed).
// Marking-definitions themselves are TLP:CLEAR so recipients can resolve
// references to them.
func (p *Policy) Classify(o *stix.Object, producer Principal, resolve MarkingResolver, anonymous bool) Label {
	l := Label{ProducerOrg: producer.OrgID, ProducerUser: producer.UserID, Anonymous: anonymous}
	if o.Type == "marking-definition" {
		if _, official := tlpByMarking[o.ID]; official || resolve != nil && markingRefsOK(o, resolve) {
			l.TLP = TLPClear
			return l
		}
	}
	l.TLP = TLPNone
	raise := func(t TLP) {
		if rank(t) > rank(l.TLP) {
			l.TLP = t
		}
	}
	refs, ok := stringList(o.Props["object_marking_refs"])
	if !ok {
		raise(TLPUnknown)
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
			if ref, ok := m["marking_ref"].(string); ok {
				refs = append(refs, ref)
			} else if _, lang := m["lang"]; !lang {
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
	if ext, ok := o.Props["extensions"].(map[string]any); ok {
		if d, present := ext[DistributionExtension]; present {
			m, ok := d.(map[string]any)
			orgs, ok1 := stringList(m["organizations"])
			users, ok2 := stringList(m["users"])
			if !ok || !ok1 || !ok2 {
				raise(TLPUnknown)
			}
			l.Orgs, l.Users = orgs, users
		}
	}
	return l
}

func markingRefsOK(o *stix.Object, resolve MarkingResolver) bool {
	refs, ok := stringList(o.Props["object_marking_refs"])
	if !ok {
		return false
	}
	for _, r := range refs {
		if _, tlp := tlpByMarking[r]; !tlp && resolve(r) != MarkingStatement {
			return false
		}
	}
	return true
}

// rank orders levels by restrictiveness; unknown is the most restrictive.
func rank(t TLP) int {
	if t == TLPUnknown {
		return 100
	}
	return int(t)
}

// stringList reads an optional JSON array of strings; ok is false when the
// value is present but not such an array.
func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
