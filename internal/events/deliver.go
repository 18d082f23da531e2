package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
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
// routed (r may be nil) and published to d. A message that cannot be
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
		if w, ok := d.(wanter); ok && !w.Wants(ctx, e.Kind) {
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
		if r != nil {
			for _, o := range r.Owners(ctx, &e) {
				if !slices.Contains(e.AffectedOrgs, o) {
					e.AffectedOrgs = append(e.AffectedOrgs, o)
				}
			}
		}
		return d.Publish(ctx, e)
	})
}

// ConstituencyRouter routes events with the constituency registry: the
// IPv4/IPv6 addresses and domain names an object names (as an SCO value or
// in equality comparisons of an indicator's pattern) are looked up in the
// routing table, rebuilt from the registry at most every TTL.
type ConstituencyRouter struct {
	Registry *constituency.Registry
	// TTL is how long a table is used before it is rebuilt (default 30 s).
	TTL time.Duration
	// Options are the routing options (ASN table, overlap mode).
	Options route.Options
	Log     *slog.Logger

	mu    sync.Mutex // guards the following
	table *route.Table
	built time.Time
}

// patternValue matches an equality or IN comparison on an address or
// domain value inside a STIX pattern.
var patternValue = regexp.MustCompile(`(?:ipv4-addr|ipv6-addr|domain-name):value\s*(?:=|IN\s*\()\s*'((?:[^'\\]|\\.)*)'`)

// Values returns the addresses and domains obj names.
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
	case "ipv4-addr", "ipv6-addr", "domain-name":
		if o.Value != "" {
			return []string{o.Value}
		}
	case "indicator":
		var out []string
		for _, m := range patternValue.FindAllStringSubmatch(o.Pattern, 64) {
			out = append(out, m[1])
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
