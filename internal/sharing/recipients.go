package sharing

import "slices"

// OrgInfo names an organisation for Recipients.
type OrgInfo struct {
	// ID is the organisation's STIX identity id.
	ID   string
	Name string
}

// UserInfo names a user for Recipients.
type UserInfo struct {
	ID    string
	Name  string
	OrgID string
	Role  Role
}

// Audience answers "who will receive this?" for one label.
type Audience struct {
	// TLP is the level the label behaves as (the default for unmarked data).
	TLP TLP
	// Public reports whether unauthenticated callers see the object.
	Public bool
	// HubAnalysts reports whether the hub's analysts and admins see it.
	HubAnalysts bool
	// Orgs are the organisations whose every member sees it.
	Orgs []OrgInfo
	// Users are the users who see it individually, beyond Orgs and hub
	// analysts (for TLP:RED: the producer and the users named).
	Users []UserInfo
	// Unresolved lists organisation and user ids the producer named that
	// match no known organisation or user: nobody receives through them.
	Unresolved []string
	// Anonymous reports that recipients see the hub, not the producer, as
	// the source.
	Anonymous bool
}

// Recipients computes the Audience of a label among the given organisations
// and users. It evaluates the same predicate as every read path
// (Access(principal).Allows) for a member of each organisation, each user,
// a hub analyst and the public, so the preview cannot disagree with
// enforcement.
func (p *Policy) Recipients(l Label, orgs []OrgInfo, users []UserInfo) Audience {
	a := Audience{
		TLP:         p.Effective(l),
		Public:      p.CanSee(Principal{Public: true}, l),
		HubAnalysts: p.CanSee(Principal{Role: RoleAnalyst}, l),
		Anonymous:   l.Anonymous,
	}
	orgSees := map[string]bool{}
	for _, o := range orgs {
		if p.CanSee(Principal{OrgID: o.ID, OrgName: o.Name, Role: RoleMember}, l) {
			orgSees[o.ID] = true
			a.Orgs = append(a.Orgs, o)
		}
	}
	for _, u := range users {
		pr := Principal{OrgID: u.OrgID, UserID: u.ID, User: u.Name, Role: u.Role}
		if !p.CanSee(pr, l) || orgSees[u.OrgID] || pr.HubAnalyst() && a.HubAnalysts {
			continue
		}
		a.Users = append(a.Users, u)
	}
	for _, id := range l.Orgs {
		if !slices.ContainsFunc(orgs, func(o OrgInfo) bool { return o.ID == id }) {
			a.Unresolved = append(a.Unresolved, id)
		}
	}
	for _, id := range l.Users {
		if !slices.ContainsFunc(users, func(u UserInfo) bool { return u.ID == id }) {
			a.Unresolved = append(a.Unresolved, id)
		}
	}
	return a
}
