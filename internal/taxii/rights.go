package taxii

import (
	"slices"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Rights decides what a principal may do with collections and statuses.
// The sharing policy is the intended implementation; DefaultRights is used
// when the configured policy does not provide these methods.
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

// DefaultRights implements Rights from the collection's organisation lists
// and the policy's Access predicate:
//   - read/write: the organisation is listed (or the list is "*"); hub
//     analysts may read every collection;
//   - status: the submitting organisation and hub analysts;
//   - delete: hub analysts may delete what they can see; others only what
//     they can see and their own organisation produced.
type DefaultRights struct {
	Policy *sharing.Policy
}

// CanRead implements Rights.
func (d DefaultRights) CanRead(p sharing.Principal, c store.Collection) bool {
	if p.Public {
		return false
	}
	return p.HubAnalyst() || listed(c.ReadOrgs, p.OrgID)
}

// CanWrite implements Rights.
func (d DefaultRights) CanWrite(p sharing.Principal, c store.Collection) bool {
	if p.Public {
		return false
	}
	return listed(c.WriteOrgs, p.OrgID)
}

// CanSeeStatus implements Rights.
func (d DefaultRights) CanSeeStatus(p sharing.Principal, s store.Status) bool {
	if p.Public {
		return false
	}
	return p.HubAnalyst() || (p.OrgID != "" && p.OrgID == s.OwnerOrg)
}

// DeleteAccess implements Rights.
func (d DefaultRights) DeleteAccess(p sharing.Principal) sharing.Access {
	a := d.Policy.Access(p)
	if p.HubAnalyst() || p.Public {
		if p.Public {
			return sharing.Access{}
		}
		return a
	}
	if p.OrgID == "" {
		return sharing.Access{}
	}
	out := sharing.Access{Clauses: make([]sharing.Clause, 0, len(a.Clauses))}
	for _, c := range a.Clauses {
		if c.ProducerOrg != "" && c.ProducerOrg != p.OrgID {
			continue
		}
		c.ProducerOrg = p.OrgID
		out.Clauses = append(out.Clauses, c)
	}
	return out
}

func listed(orgs []string, org string) bool {
	return slices.Contains(orgs, "*") || (org != "" && slices.Contains(orgs, org))
}

// policyRights adapts the parts of Rights the sharing policy provides,
// falling back to DefaultRights for the others.
type policyRights struct {
	DefaultRights
	read   func(sharing.Principal, store.Collection) bool
	write  func(sharing.Principal, store.Collection) bool
	status func(sharing.Principal, store.Status) bool
	del    func(sharing.Principal) sharing.Access
}

func (r policyRights) CanRead(p sharing.Principal, c store.Collection) bool {
	if r.read != nil {
		return r.read(p, c)
	}
	return r.DefaultRights.CanRead(p, c)
}

func (r policyRights) CanWrite(p sharing.Principal, c store.Collection) bool {
	if r.write != nil {
		return r.write(p, c)
	}
	return r.DefaultRights.CanWrite(p, c)
}

func (r policyRights) CanSeeStatus(p sharing.Principal, s store.Status) bool {
	if r.status != nil {
		return r.status(p, s)
	}
	return r.DefaultRights.CanSeeStatus(p, s)
}

func (r policyRights) DeleteAccess(p sharing.Principal) sharing.Access {
	if r.del != nil {
		return r.del(p)
	}
	return r.DefaultRights.DeleteAccess(p)
}

// rightsFor uses whatever of the Rights methods the policy implements.
func rightsFor(pol *sharing.Policy) Rights {
	r := policyRights{DefaultRights: DefaultRights{Policy: pol}}
	var v any = pol
	if x, ok := v.(interface {
		CanRead(sharing.Principal, store.Collection) bool
	}); ok {
		r.read = x.CanRead
	}
	if x, ok := v.(interface {
		CanWrite(sharing.Principal, store.Collection) bool
	}); ok {
		r.write = x.CanWrite
	}
	if x, ok := v.(interface {
		CanSeeStatus(sharing.Principal, store.Status) bool
	}); ok {
		r.status = x.CanSeeStatus
	}
	if x, ok := v.(interface {
		DeleteAccess(sharing.Principal) sharing.Access
	}); ok {
		r.del = x.DeleteAccess
	}
	return r
}
