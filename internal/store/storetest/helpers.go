package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// everyone is an Access whose single unconstrained clause sees everything.
var everyone = sharing.Access{Clauses: []sharing.Clause{{}}}

// ts renders minute n after a fixed base as a STIX timestamp.
func ts(n int) string {
	return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute).Format("2006-01-02T15:04:05.000Z")
}

// sdo builds a versioned object; extra is spliced into the JSON.
func sdo(t testing.TB, typ, id string, created, modified int, spec, extra string) *stix.Object {
	t.Helper()
	js := fmt.Sprintf(`{"type":%q,"spec_version":%q,"id":%q,"created":%q,"modified":%q,"name":"n %s"%s}`,
		typ, spec, id, ts(created), ts(modified), id, extra)
	o, err := stix.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parsing test object %s: %v", js, err)
	}
	return o
}

// sco builds an object without created or modified.
func sco(t testing.TB, id, value string) *stix.Object {
	t.Helper()
	js := fmt.Sprintf(`{"type":"ipv4-addr","spec_version":"2.1","id":%q,"value":%q}`, id, value)
	o, err := stix.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parsing test object %s: %v", js, err)
	}
	return o
}

func rec(o *stix.Object, tlp sharing.TLP) store.Record {
	return store.Record{Object: o, Label: sharing.Label{TLP: tlp, ProducerOrg: "identity--p", ProducerUser: "u-p"}}
}

// add stores records and fails the test on a call error or any per-object
// error.
func add(t testing.TB, s store.Store, coll string, recs ...store.Record) []store.AddResult {
	t.Helper()
	res, err := s.Add(context.Background(), coll, recs, "")
	if err != nil {
		t.Fatalf("Add(%d records): %v", len(recs), err)
	}
	if len(res) != len(recs) {
		t.Fatalf("Add returned %d results for %d records", len(res), len(recs))
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("Add: record %d (%s): %v", i, r.ID, r.Err)
		}
		if r.DateAdded.IsZero() {
			t.Fatalf("Add: record %d (%s): zero DateAdded", i, r.ID)
		}
	}
	return res
}

// collect follows Next through every page of a Query (or Manifest) and
// checks page invariants.
func collect(t testing.TB, s store.Store, f store.Filter, manifest bool) []store.Entry {
	t.Helper()
	ctx := context.Background()
	var all []store.Entry
	for pages := 0; ; pages++ {
		if pages > 100000 {
			t.Fatal("paging does not terminate")
		}
		var p store.Page
		var err error
		if manifest {
			p, err = s.Manifest(ctx, f)
		} else {
			p, err = s.Query(ctx, f)
		}
		if err != nil {
			t.Fatalf("query %+v: %v", f, err)
		}
		if f.Limit > 0 && len(p.Entries) > f.Limit {
			t.Fatalf("page of %d entries exceeds limit %d", len(p.Entries), f.Limit)
		}
		for _, e := range p.Entries {
			if manifest && e.Raw != nil {
				t.Fatalf("Manifest entry %s has Raw", e.ID)
			}
			if !manifest && len(e.Raw) == 0 {
				t.Fatalf("Query entry %s has no Raw", e.ID)
			}
		}
		all = append(all, p.Entries...)
		if !p.More {
			if p.Next != "" {
				t.Fatalf("last page has Next %q", p.Next)
			}
			break
		}
		if p.Next == "" {
			t.Fatal("More without Next")
		}
		if len(p.Entries) == 0 {
			t.Fatal("empty page with More")
		}
		f.Next = p.Next
	}
	for i := 1; i < len(all); i++ {
		if !all[i].DateAdded.After(all[i-1].DateAdded) {
			t.Fatalf("entries not in strictly increasing date_added order: %s (%v) then %s (%v)",
				all[i-1].ID, all[i-1].DateAdded, all[i].ID, all[i].DateAdded)
		}
	}
	return all
}

// keys renders entries as "id@version" for comparisons.
func keys(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID + "@" + e.Version
	}
	return out
}

func wantKeys(t testing.TB, what string, got []store.Entry, want ...string) {
	t.Helper()
	g := keys(got)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(g, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(g, " "), strings.Join(want, " "))
	}
}

func wantErr(t testing.TB, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want %v", what, err, kind)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
