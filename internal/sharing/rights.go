package sharing

import "slices"

// Special entries of a collection's ReadOrgs and WriteOrgs lists.
const (
	// AllOrgs, as an entry of ReadOrgs or WriteOrgs, grants the right to
	// every authenticated organisation.
	AllOrgs = "*"
	// PublicReaders, as an entry of ReadOrgs, lets unauthenticated callers
	// read the collection (they still see TLP:CLEAR data only).
	PublicReaders = "public"
)

// CanRead reports whether the principal may read a collection whose
// readers are readOrgs (organisation ids, AllOrgs or PublicReaders). Hub
// analysts and hub admins may read every collection; what they see in it is
// still decided by Access.
func (p *Policy) CanRead(pr Principal, readOrgs []string) bool {
	if pr.Public {
		return slices.Contains(readOrgs, PublicReaders)
	}
	if pr.HubAnalyst() {
		return true
	}
	return pr.OrgID != "" && (slices.Contains(readOrgs, AllOrgs) || slices.Contains(readOrgs, pr.OrgID))
}

// CanWrite reports whether the principal may add objects to a collection
// whose writers are writeOrgs (organisation ids or AllOrgs). The public
// never writes; hub staff write where their organisation is listed, like
// everyone else.
func (p *Policy) CanWrite(pr Principal, writeOrgs []string) bool {
	if pr.Public || pr.OrgID == "" {
		return false
	}
	return slices.Contains(writeOrgs, AllOrgs) || slices.Contains(writeOrgs, pr.OrgID)
}

// CanSeeStatus reports whether the principal may read a TAXII status
// resource owned by ownerOrg (the submitting organisation) and ownerUser:
// members of the submitting organisation and hub analysts may. A status
// without an owning organisation is visible to its submitting user and hub
// analysts only.
func (p *Policy) CanSeeStatus(pr Principal, ownerOrg, ownerUser string) bool {
	if pr.Public {
		return false
	}
	if pr.HubAnalyst() {
		return true
	}
	if ownerOrg != "" {
		return pr.OrgID == ownerOrg
	}
	return ownerUser != "" && pr.UserID == ownerUser
}

// DeleteAccess returns the predicate selecting the object versions the
// principal may delete: an org-admin may delete everything its organisation
// produced (whatever the TLP), a hub admin everything. Everyone else gets
// the zero Access, which matches nothing.
func (p *Policy) DeleteAccess(pr Principal) Access {
	switch {
	case pr.Public:
		return Access{}
	case pr.Role == RoleHubAdmin:
		return Access{Clauses: []Clause{{}}}
	case pr.Role == RoleOrgAdmin && pr.OrgID != "":
		return Access{Clauses: []Clause{{ProducerOrg: pr.OrgID}}}
	}
	return Access{}
}

// CanSeeAlerts reports whether the principal may read the alert rules and
// deliveries of organisation org and acknowledge its alerts: members of
// the organisation, and hub admins for every organisation.
func (p *Policy) CanSeeAlerts(pr Principal, org string) bool {
	if pr.Public || org == "" {
		return false
	}
	return pr.Role == RoleHubAdmin || pr.OrgID == org
}

// CanManageAlerts reports whether the principal may add and remove alert
// rules of organisation org (where its alerts are sent): the
// organisation's admins, and hub admins for every organisation.
func (p *Policy) CanManageAlerts(pr Principal, org string) bool {
	if pr.Public || org == "" {
		return false
	}
	return pr.Role == RoleHubAdmin || (pr.OrgID == org && pr.Role == RoleOrgAdmin)
}

// CanAdministerAlerts reports whether the principal may see and redrive
// the hub's dead letters (every organisation's failed deliveries): hub
// admins only.
func (p *Policy) CanAdministerAlerts(pr Principal) bool {
	return !pr.Public && pr.Role == RoleHubAdmin
}

// CanManageOrg reports whether the principal may manage what an
// organisation registers about itself (its constituency: blocks, ASes,
// domains): an org-admin of that organisation, or a hub admin.
func (p *Policy) CanManageOrg(pr Principal, orgID string) bool {
	if pr.Public || orgID == "" {
		return false
	}
	return pr.Role == RoleHubAdmin || pr.Role == RoleOrgAdmin && pr.OrgID == orgID
}

// CanManageEveryOrg reports whether the principal manages what every
// organisation registers about itself, and so may list all their
// constituencies at once: hub admins only.
func (p *Policy) CanManageEveryOrg(pr Principal) bool {
	return !pr.Public && pr.Role == RoleHubAdmin
}

// CanImportReports reports whether the principal may import third-party
// reports that become notifications for organisations: hub analysts and
// hub admins.
func (p *Policy) CanImportReports(pr Principal) bool { return pr.HubAnalyst() }
