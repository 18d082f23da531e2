// Package hub connects MISP to the hub's store, for `kizuna misp` and the
// MISP feed endpoints. The write side (Sources) turns MISP files into
// ingest sources, so every MISP import goes through the ingest pipeline.
// The read side (Events) builds MISP events from what a principal may see:
// the sharing policy's Access is pushed into every store query, so an event
// whose report is not visible never appears, and attributes the principal
// may not see are missing from their event.
package hub

import (
	"context"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/misp"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// PageSize is the number of objects read per store query.
const PageSize = 1000

// Events reads the latest version of every object visible under f.Access
// in f.Collection (paged; f.Types, f.Limit and f.Versions are set here) and
// converts them to MISP events. With unreferenced, indicators that no
// visible report refers to are collected into one extra event.
func Events(ctx context.Context, st store.Objects, f store.Filter, unreferenced bool, loss *misp.Loss) ([]*misp.Event, error) {
	f.Versions = []string{"last"}
	f.Limit = PageSize
	f.Types = nil
	f.Next = ""
	var objs []*stix.Object
	for {
		page, err := st.Query(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("reading collection %s: %w", f.Collection, err)
		}
		for _, e := range page.Entries {
			o, err := stix.Parse(e.Raw)
			if err != nil {
				return nil, fmt.Errorf("stored object %s: %w", e.ID, err)
			}
			objs = append(objs, o)
		}
		if !page.More || page.Next == "" {
			break
		}
		f.Next = page.Next
	}
	return misp.FromSTIX(objs, misp.ExportOptions{Unreferenced: unreferenced}, loss), nil
}

// KeepTypes removes the attributes whose MISP type is not in types (all are
// kept when types is empty), and the objects left without attributes.
func KeepTypes(events []*misp.Event, types []string) {
	if len(types) == 0 {
		return
	}
	keep := map[string]bool{}
	for _, t := range types {
		keep[t] = true
	}
	filter := func(as []misp.Attribute) []misp.Attribute {
		out := as[:0]
		for _, a := range as {
			if keep[a.Type] {
				out = append(out, a)
			}
		}
		return out
	}
	for _, ev := range events {
		ev.Attribute = filter(ev.Attribute)
		objs := ev.Object[:0]
		for _, o := range ev.Object {
			if o.Attribute = filter(o.Attribute); len(o.Attribute) > 0 {
				objs = append(objs, o)
			}
		}
		ev.Object = objs
	}
}
