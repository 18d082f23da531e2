package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Dispatcher is what Deliver feeds (alert.Dispatcher).
type Dispatcher interface {
	Publish(ctx context.Context, e alert.Event) error
}

// wanter is a Dispatcher that tells whether any rule could match an
// event kind (alert.Dispatcher does); Deliver skips loading and routing
// events nobody subscribed to.
type wanter interface {
	Wants(ctx context.Context, k alert.Kind) bool
}

// Router names the organisations that own what an event's object names
// (constituency routing).
type Router interface {
	Owners(ctx context.Context, e *alert.Event) []string
}

// Decode decodes a bus message into its events (one, or several reference
// events published together) and, for object-added and sighting events,
// the references of the stored versions they are about (nil for the
// others, which carry their payload).
func Decode(m bus.Message) ([]alert.Event, []*Ref, error) {
	ws, err := decodeAll(m)
	if err != nil {
		return nil, nil, err
	}
	es, refs := make([]alert.Event, len(ws)), make([]*Ref, len(ws))
	for i, w := range ws {
		es[i], refs[i] = w.Event, w.Ref
	}
	return es, refs, nil
}

// decodeAll decodes a bus message carrying one event (a JSON object) or
// several reference events (a JSON array, see publishWires).
func decodeAll(m bus.Message) ([]wire, error) {
	var ws []wire
	var err error
	if d := bytes.TrimLeft(m.Data, " \t\r\n"); len(d) > 0 && d[0] == '[' {
		err = json.Unmarshal(d, &ws)
	} else {
		ws = make([]wire, 1)
		err = json.Unmarshal(m.Data, &ws[0])
	}
	if err != nil {
		return nil, fmt.Errorf("events: decoding %s %q: %w: %w", m.Topic, m.ID, errkind.Invalid, err)
	}
	for i := range ws {
		if string(ws[i].Object) == "null" { // a reference event's absent object
			ws[i].Object = nil
		}
	}
	return ws, nil
}

// Loader returns the JSON and the sharing label of a stored object
// version (the last one when r.Version is empty).
type Loader func(ctx context.Context, r Ref) (json.RawMessage, sharing.Label, error)

// StoreLoader loads versions from st whatever their label: the
// dispatcher and the router decide with the label who may see them.
func StoreLoader(st store.Objects) Loader {
	return func(ctx context.Context, r Ref) (json.RawMessage, sharing.Label, error) {
		v := []string{r.Version}
		if r.Version == "" {
			v = []string{"last"}
		}
		pg, err := st.Query(ctx, store.Filter{Collection: r.Collection, Access: everyone, IDs: []string{r.ID}, Versions: v, Limit: 1})
		if err != nil {
			return nil, sharing.Label{}, fmt.Errorf("events: loading %s@%s: %w", r.ID, r.Version, err)
		}
		if len(pg.Entries) == 0 {
			return nil, sharing.Label{}, fmt.Errorf("events: %s@%s in collection %s: %w", r.ID, r.Version, r.Collection, errkind.NotFound)
		}
		return pg.Entries[0].Raw, pg.Entries[0].Label, nil
	}
}

// Deliver subscribes the durable consumer "alerts" on b: each event is
// routed (r may be nil) and published to d. A sighting is routed by what
// it observed when r is a ConstituencyRouter, which also notifies the
// owners (even when no rule wants sightings). A message that cannot be
// decoded is logged and acknowledged (it would never decode); a dispatcher
// error leaves the message unacknowledged, so the bus delivers it again.
//
// Object-added and sighting events name their stored version; load reads
// it (an event whose version is gone, deleted meanwhile, is dropped). With
// a nil load such events are dropped too.
func Deliver(ctx context.Context, b bus.Bus, d Dispatcher, r Router, load Loader, log *slog.Logger) (bus.Subscription, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// handle routes and dispatches one event of message m.
	handle := func(ctx context.Context, m bus.Message, e alert.Event, ref *Ref) error {
		var err error
		sr, sighting := r.(sightingRouter)
		sighting = sighting && e.Kind == alert.Sighting && ref != nil
		ir, intel := r.(intelRouter)
		intel = intel && e.Kind == alert.ObjectAdded && ref != nil && ir.NotifiesIntel(ctx, e.Type)
		wanted := true
		if w, ok := d.(wanter); ok {
			wanted = w.Wants(ctx, e.Kind)
		}
		if !wanted && !sighting && !intel {
			return nil // no rule for this kind, nobody to notify: nothing to prepare or alert
		}
		if ref != nil && e.Object == nil {
			if load == nil {
				log.ErrorContext(ctx, "dropping a hub event: no store to load its object from", "id", m.ID)
				return nil
			}
			raw, _, err := load(ctx, *ref) // e.Label is the version's label
			switch {
			case errors.Is(err, errkind.NotFound):
				log.WarnContext(ctx, "dropping a hub event whose object version is gone", "id", m.ID)
				return nil
			case err != nil:
				return err // the store failed: try again later
			}
			e.Object = raw
		}
		var owners []string
		switch {
		case sighting:
			if owners, err = sr.Sighting(ctx, &e, *ref, load); err != nil {
				return err // the notification store failed: try again later
			}
		case intel:
			if owners, err = ir.Intel(ctx, &e, *ref, load); err != nil {
				return err // the notification store failed: try again later
			}
		case r != nil:
			owners = r.Owners(ctx, &e)
		}
		for _, o := range owners {
			if !slices.Contains(e.AffectedOrgs, o) {
				e.AffectedOrgs = append(e.AffectedOrgs, o)
			}
		}
		if !wanted {
			return nil
		}
		return d.Publish(ctx, e)
	}
	return b.Subscribe(ctx, Consumer, func(ctx context.Context, m bus.Message) error {
		ws, err := decodeAll(m)
		if err != nil {
			log.ErrorContext(ctx, "dropping an undecodable hub event", "topic", m.Topic, "id", m.ID, "err", err)
			return nil
		}
		// A failure leaves the whole message to be delivered again: the
		// events already published are deduplicated by the dispatcher.
		for _, w := range ws {
			if err := handle(ctx, m, w.Event, w.Ref); err != nil {
				return err
			}
		}
		return nil
	})
}

// intelRouter routes shared intelligence (object-added events of
// indicators, observed-data and SCOs) to the owners of what it names and
// notifies them (ConstituencyRouter). NotifiesIntel tells, from the STIX
// type alone, whether an event is worth loading: not when the type names
// nothing routable, no notification store is set or no resource is
// registered.
type intelRouter interface {
	NotifiesIntel(ctx context.Context, typ string) bool
	Intel(ctx context.Context, e *alert.Event, ref Ref, load Loader) ([]string, error)
}

// sightingRouter routes sightings by what they observed, loading the
// objects they refer to (ConstituencyRouter).
type sightingRouter interface {
	Sighting(ctx context.Context, e *alert.Event, ref Ref, load Loader) ([]string, error)
}

// ConstituencyRouter routes events with the constituency registry: the
// IPv4/IPv6 addresses, domain names, URLs (by their host) and e-mail
// addresses (by their domain) an object names (as an SCO value or in =,
// IN and ISSUBSET comparisons of an indicator's pattern) are looked up in
// the routing table, rebuilt from the registry at most every TTL.
//
// A sighting names what it observed through references: the values of
// its sighting_of_ref (an indicator's pattern, an SCO) and of the SCOs of
// its observed_data_refs (object_refs, or the deprecated inline objects)
// are routed. With Notes set, each owner that may see the sighting
// (Visible) also gets a notification (source "sighting").
//
// Shared intelligence is routed the same way: with Notes set, the
// object-added event of an indicator, an observed-data (the SCOs of its
// object_refs or inline objects) or an address, domain, URL or e-mail SCO
// gives each owner of what it names that may see it a notification
// (source "intel"), once per object and value however often the object
// is revised or the event delivered.
//
// A value named through another object (the indicator or SCO of a
// sighting's sighting_of_ref, an observed-data and the SCOs of its
// object_refs) is routed to an owner only if the owner may see each of
// those objects as stored (Visible with the stored label), besides the
// event's own object: the notification reveals both the value and that
// it was sighted or shared. A referenced object that cannot be found or
// read names nothing (fail closed). The owners returned, which
// constituency-only rules fire for, are filtered the same way.
type ConstituencyRouter struct {
	Registry *constituency.Registry
	// TTL is how long a table is used before it is rebuilt (default 30 s).
	TTL time.Duration
	// Options are the routing options (ASN table, overlap mode).
	Options route.Options
	Log     *slog.Logger

	// Notes, when set, stores a notification for the owner of each
	// address and domain a sighting observed or shared intelligence
	// names; Visible tells whether an organisation's members may see a
	// label: an owner that may not see the event's object and every
	// object the value was read through is not told (without Visible,
	// nobody is notified, and values read through other objects have no
	// owner). Producer produces the notifications (the hub's organisation);
	// Added, when set, publishes them as alert events
	// (Publisher.PublishNotifications): on an error the event is
	// delivered again and its notifications, stored already, are passed
	// to Added again.
	Notes    *notify.Store
	Visible  func(org string, l sharing.Label) bool
	Producer sharing.Principal
	Added    func(ctx context.Context, ns []notify.Notification) error

	mu    sync.Mutex // guards the following
	table *route.Table
	built time.Time
}

// patternValue matches an equality, ISSUBSET or IN comparison on an
// address, domain, URL or e-mail value inside a STIX pattern: group 1 is
// the compared string, group 2 the IN list.
var patternValue = regexp.MustCompile(`(?:ipv4-addr|ipv6-addr|domain-name|url|email-addr):value\s*(?:(?:=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'|IN\s*(\(\s*'(?:[^'\\]|\\.)*'(?:\s*,\s*'(?:[^'\\]|\\.)*')*\s*\)))`)

// quoted matches a string literal of a pattern's IN list.
var quoted = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// routable reports whether an SCO of type typ names something routing
// looks at (its value).
func routable(typ string) bool {
	switch typ {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr":
		return true
	}
	return false
}

// routableRef reports whether id is the id of a routable SCO.
func routableRef(id string) bool {
	typ, _, ok := strings.Cut(id, "--")
	return ok && routable(typ)
}

// Values returns the addresses, domains, URLs and e-mail addresses obj
// names: an ipv4-addr, ipv6-addr, domain-name, url or email-addr SCO's
// value, or the values an indicator's pattern compares those with.
func Values(obj json.RawMessage) []string {
	var o struct {
		Type    string `json:"type"`
		Value   string `json:"value"`
		Pattern string `json:"pattern"`
	}
	if json.Unmarshal(obj, &o) != nil {
		return nil
	}
	switch {
	case routable(o.Type):
		if o.Value != "" {
			return []string{o.Value}
		}
	case o.Type == "indicator":
		var out []string
		for _, m := range patternValue.FindAllStringSubmatch(o.Pattern, 64) {
			if m[2] == "" {
				out = append(out, m[1])
				continue
			}
			for _, q := range quoted.FindAllStringSubmatch(m[2], 64) {
				out = append(out, q[1])
			}
		}
		return out
	}
	return nil
}

func (c *ConstituencyRouter) current(ctx context.Context) *route.Table {
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := c.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	if c.table != nil && time.Since(c.built) < ttl {
		return c.table
	}
	t, err := c.Registry.Table(ctx, c.Options)
	if err != nil {
		if c.Log != nil {
			c.Log.WarnContext(ctx, "constituency routing table (keeping the previous one)", "err", err)
		}
		c.built = time.Now() // retry after TTL
		return c.table
	}
	c.table, c.built = t, time.Now()
	return t
}

// Owners implements Router.
func (c *ConstituencyRouter) Owners(ctx context.Context, e *alert.Event) []string {
	vals := Values(e.Object)
	if len(vals) == 0 {
		return nil
	}
	t := c.current(ctx)
	if t == nil {
		return nil
	}
	var out []string
	for _, v := range vals {
		out = appendOwners(out, t, v)
	}
	return out
}

// appendOwners appends the owners of value v not in out yet.
func appendOwners(out []string, t *route.Table, v string) []string {
	for _, o := range t.Route(v) {
		if !slices.Contains(out, string(o)) {
			out = append(out, string(o))
		}
	}
	return out
}

// The sources of the notifications sightings and shared intelligence
// become.
const (
	SightingSource = "sighting"
	IntelSource    = "intel"
)

// Limits on what a sighting's or an observed-data's routing reads.
const (
	maxObservedData = 16  // observed_data_refs followed
	maxObjectRefs   = 64  // object_refs followed per observed-data
	maxObserved     = 256 // values routed per event
)

// observed is a value an object names, the property naming it and the
// id of the object it came from ("" when it does not matter).
type observed struct {
	value, field, from string
	// via lists the ways the value was read: per way, the labels (as
	// stored) of the objects read on the way besides the event's own, such
	// as a sighting's indicator, or an observed-data and its SCO. An owner
	// is told of the value only if it may see every object of one way.
	via [][]sharing.Label
}

// maxVia bounds the ways a value's visibility is decided by.
const maxVia = 16

// values collects what an event's objects name, within maxObserved.
type values []observed

// add adds the values raw names, read through the objects labelled via
// (besides the event's own).
func (vs *values) add(raw json.RawMessage, field, from string, via []sharing.Label) {
	for _, v := range Values(raw) {
		i := slices.IndexFunc(*vs, func(o observed) bool { return o.value == v && o.field == field && o.from == from })
		if i < 0 {
			if len(*vs) == maxObserved {
				continue
			}
			*vs = append(*vs, observed{value: v, field: field, from: from})
			i = len(*vs) - 1
		}
		o := &(*vs)[i]
		if len(o.via) < maxVia && !slices.ContainsFunc(o.via, func(w []sharing.Label) bool { return slices.EqualFunc(w, via, sameLabel) }) {
			o.via = append(o.via, slices.Clone(via))
		}
	}
}

// sameLabel reports whether a and b are the same label.
func sameLabel(a, b sharing.Label) bool {
	return a.TLP == b.TLP && a.ProducerOrg == b.ProducerOrg && a.ProducerUser == b.ProducerUser &&
		a.Anonymous == b.Anonymous && slices.Equal(a.Orgs, b.Orgs) && slices.Equal(a.Users, b.Users)
}

// getFunc reads an object an event refers to: its JSON and label, ok
// false when it cannot be read.
type getFunc func(id string) (raw json.RawMessage, l sharing.Label, ok bool)

// observedData adds the values of the routable SCOs an observed-data read
// through the objects labelled via refers to (object_refs, read with get,
// field refField, from the SCO's id when withFrom; the SCO's label joins
// via) or holds (objects, field objField, from id/key).
func (vs *values) observedData(raw json.RawMessage, id string, via []sharing.Label, get getFunc, refField, objField string, withFrom bool) {
	var od struct {
		Type       string                     `json:"type"`
		ObjectRefs []string                   `json:"object_refs"`
		Objects    map[string]json.RawMessage `json:"objects"`
	}
	if json.Unmarshal(raw, &od) != nil || od.Type != "observed-data" {
		return
	}
	from := func(s string) string {
		if withFrom {
			return s
		}
		return ""
	}
	for j, r := range od.ObjectRefs {
		if j == maxObjectRefs {
			break
		}
		if !routableRef(r) {
			continue
		}
		if sco, l, ok := get(r); ok { // one that cannot be read names nothing
			vs.add(sco, refField, from(r), append(slices.Clip(via), l))
		}
	}
	keys := make([]string, 0, len(od.Objects))
	for k := range od.Objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		vs.add(od.Objects[k], objField, from(id+"/"+k), via)
	}
}

// reads reports whether org may see the objects of one of the ways v was
// read (besides the event's own object); with no Visible, only a value
// read from the event's object alone.
func (c *ConstituencyRouter) reads(org string, v observed) bool {
	return slices.ContainsFunc(v.via, func(way []sharing.Label) bool {
		for _, l := range way {
			if c.Visible == nil || !c.Visible(org, l) {
				return false
			}
		}
		return true
	})
}

// ownersOf returns the owners of vals in t that may see what named them
// (reads).
func (c *ConstituencyRouter) ownersOf(t *route.Table, vals values) []string {
	var owners []string
	for _, v := range vals {
		for _, o := range t.Route(v.value) {
			if !slices.Contains(owners, string(o)) && c.reads(string(o), v) {
				owners = append(owners, string(o))
			}
		}
	}
	return owners
}

// routeValues returns the owners of vals that may see the objects a value
// was read through and, with Notes, stores the notifications of those
// that may also see e (source src, one report per value made by report)
// and passes them to Added.
func (c *ConstituencyRouter) routeValues(ctx context.Context, e *alert.Event, src string, vals values, report func(observed) notify.Report) ([]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	t := c.current(ctx)
	if t == nil {
		return nil, nil
	}
	owners := c.ownersOf(t, vals)
	if c.Notes == nil || len(owners) == 0 {
		return owners, nil
	}
	reports := make([]notify.Report, 0, len(vals))
	for _, v := range vals {
		reports = append(reports, report(v))
	}
	allow := func(org string, i int) bool {
		return c.Visible != nil && c.Visible(org, e.Label) && c.reads(org, vals[i])
	}
	ns, _, err := c.Notes.Route(ctx, t, src, reports, c.Producer, allow)
	if err != nil {
		return nil, fmt.Errorf("events: notifying %s %s: %w", e.Kind, e.ID, err)
	}
	if len(ns) > 0 && c.Added != nil {
		if err := c.Added(ctx, ns); err != nil {
			return nil, fmt.Errorf("events: notifications of %s %s: %w", e.Kind, e.ID, err)
		}
	}
	return owners, nil
}

// Sighting routes a sighting event by what it observed: it returns the
// owners and, with Notes, notifies those that may see the sighting. A
// redelivered sighting notifies nobody twice (the notification's key is
// the event id).
func (c *ConstituencyRouter) Sighting(ctx context.Context, e *alert.Event, ref Ref, load Loader) ([]string, error) {
	var s struct {
		SightingOf   string   `json:"sighting_of_ref"`
		ObservedData []string `json:"observed_data_refs"`
		FirstSeen    string   `json:"first_seen"`
		LastSeen     string   `json:"last_seen"`
		Count        *int     `json:"count"`
	}
	if json.Unmarshal(e.Object, &s) != nil {
		return nil, nil
	}
	vals := c.observed(ctx, ref.Collection, s.SightingOf, s.ObservedData, load)
	when := s.LastSeen
	if when == "" {
		when = s.FirstSeen
	}
	return c.routeValues(ctx, e, SightingSource, vals, func(v observed) notify.Report {
		f := map[string]string{"sighting": ref.ID}
		if s.SightingOf != "" {
			f["sighting_of"] = s.SightingOf
		}
		if s.Count != nil {
			f["count"] = strconv.Itoa(*s.Count)
		}
		if s.FirstSeen != "" {
			f["first_seen"] = s.FirstSeen
		}
		return notify.Report{Value: v.value, Field: v.field, Time: when, Fields: f, Key: e.ID}
	})
}

// NotifiesIntel tells whether object-added events of STIX type typ are
// routed and notified: with Notes, for indicators, observed-data and
// routable SCOs, while at least one resource is registered (checked on
// the cached table, so an empty registry costs a bulk import nothing).
func (c *ConstituencyRouter) NotifiesIntel(ctx context.Context, typ string) bool {
	if c.Notes == nil || (typ != "indicator" && typ != "observed-data" && !routable(typ)) {
		return false
	}
	t := c.current(ctx)
	return t != nil && t.Len() > 0
}

// Intel routes an object-added event of shared intelligence (e.Object
// loaded): it returns the owners of what the object names and, with
// Notes, notifies those that may see it (source "intel"). A value is
// notified once per owner and object, whatever the object's version, so
// revisions and redeliveries notify nobody twice; a value an
// observed-data names through an SCO shares the SCO's notification.
func (c *ConstituencyRouter) Intel(ctx context.Context, e *alert.Event, ref Ref, load Loader) ([]string, error) {
	var o struct {
		Type           string `json:"type"`
		Name           string `json:"name"`
		ValidFrom      string `json:"valid_from"`
		LastObserved   string `json:"last_observed"`
		NumberObserved *int   `json:"number_observed"`
	}
	if json.Unmarshal(e.Object, &o) != nil {
		return nil, nil
	}
	var vals values
	when := ""
	switch {
	case o.Type == "observed-data":
		vals.observedData(e.Object, ref.ID, nil, c.getter(ctx, ref.Collection, load), "object_refs", "objects", true)
		when = o.LastObserved
	case o.Type == "indicator":
		vals.add(e.Object, "pattern", ref.ID, nil)
		when = o.ValidFrom
	case routable(o.Type):
		vals.add(e.Object, "value", ref.ID, nil)
	}
	return c.routeValues(ctx, e, IntelSource, vals, func(v observed) notify.Report {
		f := map[string]string{"object": ref.ID, "type": o.Type}
		if v.from != ref.ID {
			f["observed"] = v.from
		}
		if o.Name != "" {
			f["name"] = o.Name
		}
		if o.NumberObserved != nil {
			f["number_observed"] = strconv.Itoa(*o.NumberObserved)
		}
		return notify.Report{Value: v.value, Field: v.field, Time: when, Fields: f, Key: "intel " + v.from}
	})
}

// getter returns a function reading an object with load from collection
// coll (or, when not there, any collection); not ok when it cannot be
// read (a value it would name then reaches nobody).
func (c *ConstituencyRouter) getter(ctx context.Context, coll string, load Loader) getFunc {
	return func(id string) (json.RawMessage, sharing.Label, bool) {
		if load == nil {
			return nil, sharing.Label{}, false
		}
		raw, l, err := load(ctx, Ref{Collection: coll, ID: id})
		if errors.Is(err, errkind.NotFound) && coll != "" {
			raw, l, err = load(ctx, Ref{ID: id})
		}
		if err != nil {
			if !errors.Is(err, errkind.NotFound) && c.Log != nil {
				c.Log.WarnContext(ctx, "loading an object an event refers to", "id", id, "err", err)
			}
			return nil, sharing.Label{}, false
		}
		return raw, l, true
	}
}

// observed returns the addresses and domains named by the objects a
// sighting refers to, read with load from the sighting's collection (or,
// when not there, any collection), each with the labels of the objects
// it was read through.
func (c *ConstituencyRouter) observed(ctx context.Context, coll, of string, data []string, load Loader) values {
	if load == nil {
		return nil
	}
	get := c.getter(ctx, coll, load)
	var out values
	if of != "" {
		if raw, l, ok := get(of); ok {
			out.add(raw, "sighting_of_ref", "", []sharing.Label{l})
		}
	}
	for i, id := range data {
		if i == maxObservedData {
			break
		}
		if raw, l, ok := get(id); ok {
			out.observedData(raw, id, []sharing.Label{l}, get, "observed_data_refs", "observed_data_refs", false)
		}
	}
	return out
}
