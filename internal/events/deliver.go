package events

import (
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

// Decode decodes a bus message into an event and, for object-added and
// sighting events, the reference of the stored version it is about (nil
// for the others, which carry their payload).
func Decode(m bus.Message) (alert.Event, *Ref, error) {
	var w wire
	if err := json.Unmarshal(m.Data, &w); err != nil {
		return alert.Event{}, nil, fmt.Errorf("events: decoding %s %q: %w: %w", m.Topic, m.ID, errkind.Invalid, err)
	}
	if string(w.Object) == "null" { // a reference event's absent object
		w.Object = nil
	}
	return w.Event, w.Ref, nil
}

// Loader returns the JSON of a stored object version.
type Loader func(ctx context.Context, r Ref) (json.RawMessage, error)

// StoreLoader loads versions from st (whatever their label: the
// dispatcher decides who may see them).
func StoreLoader(st store.Objects) Loader {
	everyone := sharing.Access{Clauses: []sharing.Clause{{}}}
	return func(ctx context.Context, r Ref) (json.RawMessage, error) {
		v := []string{r.Version}
		if r.Version == "" {
			v = []string{"last"}
		}
		pg, err := st.Query(ctx, store.Filter{Collection: r.Collection, Access: everyone, IDs: []string{r.ID}, Versions: v, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("events: loading %s@%s: %w", r.ID, r.Version, err)
		}
		if len(pg.Entries) == 0 {
			return nil, fmt.Errorf("events: %s@%s in collection %s: %w", r.ID, r.Version, r.Collection, errkind.NotFound)
		}
		return pg.Entries[0].Raw, nil
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
	return b.Subscribe(ctx, Consumer, func(ctx context.Context, m bus.Message) error {
		e, ref, err := Decode(m)
		if err != nil {
			log.ErrorContext(ctx, "dropping an undecodable hub event", "topic", m.Topic, "id", m.ID, "err", err)
			return nil
		}
		sr, sighting := r.(sightingRouter)
		sighting = sighting && e.Kind == alert.Sighting && ref != nil
		wanted := true
		if w, ok := d.(wanter); ok {
			wanted = w.Wants(ctx, e.Kind)
		}
		if !wanted && !sighting {
			return nil // no rule for this kind: nothing to prepare or alert
		}
		if ref != nil && e.Object == nil {
			if load == nil {
				log.ErrorContext(ctx, "dropping a hub event: no store to load its object from", "id", m.ID)
				return nil
			}
			raw, err := load(ctx, *ref)
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
	})
}

// sightingRouter routes sightings by what they observed, loading the
// objects they refer to (ConstituencyRouter).
type sightingRouter interface {
	Sighting(ctx context.Context, e *alert.Event, ref Ref, load Loader) ([]string, error)
}

// ConstituencyRouter routes events with the constituency registry: the
// IPv4/IPv6 addresses, domain names and URLs (by their host) an object
// names (as an SCO value or in = and IN comparisons of an indicator's
// pattern) are looked up in the routing table, rebuilt from the registry
// at most every TTL.
//
// A sighting names what it observed through references: the values of
// its sighting_of_ref (an indicator's pattern, an SCO) and of the SCOs of
// its observed_data_refs (object_refs, or the deprecated inline objects)
// are routed. With Notes set, each owner that may see the sighting
// (Visible) also gets a notification (source "sighting").
type ConstituencyRouter struct {
	Registry *constituency.Registry
	// TTL is how long a table is used before it is rebuilt (default 30 s).
	TTL time.Duration
	// Options are the routing options (ASN table, overlap mode).
	Options route.Options
	Log     *slog.Logger

	// Notes, when set, stores a notification for the owner of each
	// address and domain a sighting observed; Visible (required with
	// Notes) tells whether the owner's members may see the sighting: an
	// owner that may not is not told. Producer produces the
	// notifications (the hub's organisation); Added, when set, publishes
	// them as alert events (Publisher.PublishNotifications): on an error
	// the sighting is delivered again and its notifications, stored
	// already, are passed to Added again.
	Notes    *notify.Store
	Visible  func(org string, l sharing.Label) bool
	Producer sharing.Principal
	Added    func(ctx context.Context, ns []notify.Notification) error

	mu    sync.Mutex // guards the following
	table *route.Table
	built time.Time
}

// patternValue matches an equality or IN comparison on an address or
// domain value inside a STIX pattern: group 1 is the compared string,
// group 2 the IN list.
var patternValue = regexp.MustCompile(`(?:ipv4-addr|ipv6-addr|domain-name|url):value\s*(?:=\s*'((?:[^'\\]|\\.)*)'|IN\s*(\(\s*'(?:[^'\\]|\\.)*'(?:\s*,\s*'(?:[^'\\]|\\.)*')*\s*\)))`)

// quoted matches a string literal of a pattern's IN list.
var quoted = regexp.MustCompile(`'((?:[^'\\]|\\.)*)'`)

// Values returns the addresses, domains and URLs obj names: an
// ipv4-addr, ipv6-addr, domain-name or url SCO's value, or the values an
// indicator's pattern compares those with.
func Values(obj json.RawMessage) []string {
	var o struct {
		Type    string `json:"type"`
		Value   string `json:"value"`
		Pattern string `json:"pattern"`
	}
	if json.Unmarshal(obj, &o) != nil {
		return nil
	}
	switch o.Type {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url":
		if o.Value != "" {
			return []string{o.Value}
		}
	case "indicator":
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
		for _, o := range t.Route(v) {
			if !slices.Contains(out, string(o)) {
				out = append(out, string(o))
			}
		}
	}
	return out
}

// SightingSource is the source of the notifications sightings become.
const SightingSource = "sighting"

// Limits on what a sighting's routing reads.
const (
	maxObservedData = 16  // observed_data_refs followed
	maxObjectRefs   = 64  // object_refs followed per observed-data
	maxObserved     = 256 // values routed per sighting
)

// observed is a value a sighting observed and the property naming it.
type observed struct{ value, field string }

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
	if len(vals) == 0 {
		return nil, nil
	}
	t := c.current(ctx)
	if t == nil {
		return nil, nil
	}
	var owners []string
	for _, v := range vals {
		for _, o := range t.Route(v.value) {
			if !slices.Contains(owners, string(o)) {
				owners = append(owners, string(o))
			}
		}
	}
	if c.Notes == nil || len(owners) == 0 {
		return owners, nil
	}
	when := s.LastSeen
	if when == "" {
		when = s.FirstSeen
	}
	reports := make([]notify.Report, 0, len(vals))
	for _, v := range vals {
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
		reports = append(reports, notify.Report{Value: v.value, Field: v.field, Time: when, Fields: f, Key: e.ID})
	}
	allow := func(org string) bool { return c.Visible != nil && c.Visible(org, e.Label) }
	ns, _, err := c.Notes.Route(ctx, t, SightingSource, reports, c.Producer, allow)
	if err != nil {
		return nil, fmt.Errorf("events: notifying sighting %s: %w", e.ID, err)
	}
	if len(ns) > 0 && c.Added != nil {
		if err := c.Added(ctx, ns); err != nil {
			return nil, fmt.Errorf("events: notifications of sighting %s: %w", e.ID, err)
		}
	}
	return owners, nil
}

// observed returns the addresses and domains named by the objects a
// sighting refers to, read with load from the sighting's collection (or,
// when not there, any collection).
func (c *ConstituencyRouter) observed(ctx context.Context, coll, of string, data []string, load Loader) []observed {
	if load == nil {
		return nil
	}
	get := func(id string) json.RawMessage {
		raw, err := load(ctx, Ref{Collection: coll, ID: id})
		if errors.Is(err, errkind.NotFound) && coll != "" {
			raw, err = load(ctx, Ref{ID: id})
		}
		if err != nil {
			if !errors.Is(err, errkind.NotFound) && c.Log != nil {
				c.Log.WarnContext(ctx, "loading an object a sighting refers to", "id", id, "err", err)
			}
			return nil
		}
		return raw
	}
	var out []observed
	add := func(raw json.RawMessage, field string) {
		for _, v := range Values(raw) {
			if len(out) < maxObserved && !slices.Contains(out, observed{v, field}) {
				out = append(out, observed{v, field})
			}
		}
	}
	if of != "" {
		add(get(of), "sighting_of_ref")
	}
	for i, id := range data {
		if i == maxObservedData {
			break
		}
		var od struct {
			Type       string                     `json:"type"`
			ObjectRefs []string                   `json:"object_refs"`
			Objects    map[string]json.RawMessage `json:"objects"`
		}
		if json.Unmarshal(get(id), &od) != nil || od.Type != "observed-data" {
			continue
		}
		for j, r := range od.ObjectRefs {
			if j == maxObjectRefs {
				break
			}
			if strings.HasPrefix(r, "ipv4-addr--") || strings.HasPrefix(r, "ipv6-addr--") || strings.HasPrefix(r, "domain-name--") || strings.HasPrefix(r, "url--") {
				add(get(r), "observed_data_refs")
			}
		}
		for _, o := range od.Objects {
			add(o, "observed_data_refs")
		}
	}
	return out
}
