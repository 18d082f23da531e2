// Package collection keeps each organisation's TAXII alert collection:
// the objects of its alert rules with channel "taxii" (deliver.TAXII),
// which its members read over TAXII like any collection.
//
// An organisation's alert collection is created with the first alert it
// receives, in the hub's default API root, with a fixed id (ID: a UUID
// derived from the organisation id) and the alias "alerts-" followed by the
// UUID of the organisation's identity id. Only that organisation may read
// it (and, as with every collection, hub analysts and hub admins); nobody
// may write to it over TAXII: only Add does.
//
// Add stores an object only as the hub already holds it and only when the
// organisation's members may see it: each object is looked up in the store
// under the sharing policy's Access for a member of the organisation, and
// the stored version's JSON and sharing label (TLP markings, producer,
// distribution lists, anonymity) are copied as they are. The sharing policy
// therefore applies to reads of the alert collection exactly as to the
// original, and an object the organisation could not see is never written
// there (the dispatcher checks the same before it enqueues an alert).
// Writes go to the store itself, not through the hub's event publisher, so
// copying an object raises no new alert.
package collection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// namespace is the UUIDv5 namespace of alert collection ids.
var namespace = [16]byte{0x6b, 0x69, 0x7a, 0x75, 0x6e, 0x61, 0x2d, 0x61, 0x6c, 0x65, 0x72, 0x74, 0x73, 0x2d, 0x76, 0x31} // "kizuna-alerts-v1"

// ID returns the collection id of org's alert collection (org is the
// organisation's identity id): the UUIDv5 of org in the namespace whose 16
// bytes are "kizuna-alerts-v1".
func ID(org string) string { return stix.UUIDv5(namespace, []byte(org)) }

// Alias returns the alias of org's alert collection: "alerts-" and the
// UUID part of the identity id.
func Alias(org string) string {
	if _, uuid, ok := stix.SplitID(org); ok {
		return "alerts-" + uuid
	}
	return "alerts-" + org
}

// Store is what Collections needs of the hub's store.
type Store interface {
	store.Objects
	Org(ctx context.Context, id string) (store.Org, error)
}

// Collections stores alerts' objects in the organisations' alert
// collections. It is safe for concurrent use.
type Collections struct {
	// Store is the hub's store, unwrapped: writes through the event
	// publisher would raise alerts for the copies.
	Store Store
	// Policy decides what an organisation's members may see.
	Policy *sharing.Policy
	// Log receives the objects skipped (default: discarded).
	Log *slog.Logger

	ensured sync.Map // org id -> struct{}: collection known to exist
}

// Ensure creates org's alert collection when it does not exist yet and
// returns it.
func (c *Collections) Ensure(ctx context.Context, org string) (store.Collection, error) {
	id := ID(org)
	if _, ok := c.ensured.Load(org); ok {
		return store.Collection{ID: id, APIRoot: store.DefaultAPIRoot}, nil
	}
	coll, err := c.Store.Collection(ctx, store.DefaultAPIRoot, id)
	if err == nil {
		c.ensured.Store(org, struct{}{})
		return coll, nil
	}
	if !errors.Is(err, errkind.NotFound) {
		return store.Collection{}, fmt.Errorf("alert collection of %s: %w", org, err)
	}
	o, err := c.Store.Org(ctx, org)
	if err != nil {
		return store.Collection{}, fmt.Errorf("alert collection of %s: %w", org, err)
	}
	coll = store.Collection{
		ID: id, APIRoot: store.DefaultAPIRoot, Alias: Alias(org),
		Title:       "Alerts for " + o.Name,
		Description: "Objects of " + o.Name + "'s alert rules with channel taxii. Read-only; only " + o.Name + " may read it.",
		ReadOrgs:    []string{org},
		WriteOrgs:   []string{},
	}
	if err := c.Store.CreateCollection(ctx, coll); err != nil && !errors.Is(err, errkind.Conflict) {
		return store.Collection{}, fmt.Errorf("creating the alert collection of %s: %w", org, err)
	}
	c.ensured.Store(org, struct{}{})
	return coll, nil
}

// Add stores the STIX objects among objs in org's alert collection, each
// with the JSON and the sharing label of the stored version it is, and
// only when a member of org may see that version. Other payloads (the
// findings, cases and notifications alerts carry) and objects the hub does
// not hold visibly for org are skipped. It implements deliver.TAXII.Add.
func (c *Collections) Add(ctx context.Context, org string, objs []json.RawMessage) error {
	if org == "" {
		return fmt.Errorf("alert collection: %w: no organisation", errkind.Invalid)
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	access := c.Policy.Access(sharing.Principal{OrgID: org, Role: sharing.RoleMember})
	var recs []store.Record
	for _, raw := range objs {
		rec, ok, err := c.visible(ctx, access, raw)
		if err != nil {
			return err
		}
		if !ok {
			log.InfoContext(ctx, "alert collection: object skipped (not STIX, gone, or not visible to the organisation)", "org", org)
			continue
		}
		recs = append(recs, rec)
	}
	if len(recs) == 0 {
		return nil
	}
	coll, err := c.Ensure(ctx, org)
	if err != nil {
		return err
	}
	res, err := c.Store.Add(ctx, coll.ID, recs, "")
	if err != nil {
		return fmt.Errorf("alert collection of %s: %w", org, err)
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.ID, r.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("alert collection of %s: %w", org, errors.Join(errs...))
	}
	return nil
}

// visible returns the record of the stored version raw is, with its label,
// when access lets it be seen; ok is false for payloads that are not STIX
// objects and for versions not found visible.
func (c *Collections) visible(ctx context.Context, access sharing.Access, raw json.RawMessage) (store.Record, bool, error) {
	var head struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Created  string `json:"created"`
		Modified string `json:"modified"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return store.Record{}, false, nil
	}
	typ, _, ok := stix.SplitID(head.ID)
	if !ok || typ != head.Type {
		return store.Record{}, false, nil // a finding, case or notification payload
	}
	version := head.Modified
	if version == "" {
		version = head.Created
	}
	versions := []string{version}
	if version == "" {
		versions = []string{"all"} // unversioned (most SCOs): matched by their JSON below
	}
	pg, err := c.Store.Query(ctx, store.Filter{Access: access, IDs: []string{head.ID}, Versions: versions, Limit: 100})
	if err != nil {
		return store.Record{}, false, fmt.Errorf("alert collection: looking up %s: %w", head.ID, err)
	}
	var found *store.Entry
	for i := range pg.Entries {
		e := &pg.Entries[i]
		if jsonEqual(e.Raw, raw) {
			found = e
			break
		}
		if found == nil && version != "" {
			found = e
		}
	}
	if found == nil {
		return store.Record{}, false, nil
	}
	o, err := stix.Parse(found.Raw)
	if err != nil {
		return store.Record{}, false, fmt.Errorf("alert collection: stored %s: %w", head.ID, err)
	}
	return store.Record{Object: o, Label: found.Label}, true, nil
}

// jsonEqual reports whether a and b are the same JSON text, ignoring
// insignificant white space.
func jsonEqual(a, b json.RawMessage) bool {
	if string(a) == string(b) {
		return true
	}
	ca, err1 := stix.Canonical(a)
	cb, err2 := stix.Canonical(b)
	return err1 == nil && err2 == nil && string(ca) == string(cb)
}
