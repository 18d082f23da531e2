package taxii

import (
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Rights decides what a principal may do with collections and statuses.
// PolicyRights, the default, takes every decision from the sharing policy.
type Rights interface {
	// CanRead reports whether the principal may read the collection.
	CanRead(p sharing.Principal, c store.Collection) bool
	// CanWrite reports whether the principal may add to the collection.
	CanWrite(p sharing.Principal, c store.Collection) bool
	// CanSeeStatus reports whether the principal may read a status.
	CanSeeStatus(p sharing.Principal, s store.Status) bool
	// DeleteAccess returns the predicate of the object versions the
	// principal may delete.
	DeleteAccess(p sharing.Principal) sharing.Access
}

// PolicyRights implements Rights with the sharing policy's decisions.
type PolicyRights struct {
	Policy *sharing.Policy
}

// CanRead implements Rights with Policy.CanRead.
func (r PolicyRights) CanRead(p sharing.Principal, c store.Collection) bool {
	return r.Policy.CanRead(p, c.ReadOrgs)
}

// CanWrite implements Rights with Policy.CanWrite.
func (r PolicyRights) CanWrite(p sharing.Principal, c store.Collection) bool {
	return r.Policy.CanWrite(p, c.WriteOrgs)
}

// CanSeeStatus implements Rights with Policy.CanSeeStatus.
func (r PolicyRights) CanSeeStatus(p sharing.Principal, s store.Status) bool {
	return r.Policy.CanSeeStatus(p, s.OwnerOrg, s.OwnerUser)
}

// DeleteAccess implements Rights with Policy.DeleteAccess.
func (r PolicyRights) DeleteAccess(p sharing.Principal) sharing.Access {
	return r.Policy.DeleteAccess(p)
}
