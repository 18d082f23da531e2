package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// row is the brute-force model of one stored version.
type row struct {
	coll      string
	id, typ   string
	version   int64 // microseconds
	vstring   string
	spec      string
	dateAdded time.Time
	label     sharing.Label
}

// modelQuery is the reference semantics of Query/Manifest, evaluated in Go
// with Access.Allows over every stored version.
func modelQuery(rows []row, f store.Filter) []row {
	type key struct{ coll, id string }
	// Candidates: visible versions of the requested spec versions.
	cand := map[key][]row{}
	for _, r := range rows {
		if f.Collection != "" && r.coll != f.Collection {
			continue
		}
		if !f.Access.Allows(r.label) {
			continue
		}
		if len(f.SpecVersions) > 0 && !slices.Contains(f.SpecVersions, r.spec) {
			continue
		}
		k := key{r.coll, r.id}
		cand[k] = append(cand[k], r)
	}
	if len(f.SpecVersions) == 0 {
		for k, rs := range cand {
			top := ""
			for _, r := range rs {
				top = max(top, r.spec)
			}
			cand[k] = slices.DeleteFunc(rs, func(r row) bool { return r.spec != top })
		}
	}
	versions := f.Versions
	if len(versions) == 0 {
		versions = []string{"last"}
	}
	var out []row
	for _, rs := range cand {
		first, last := rs[0].version, rs[0].version
		for _, r := range rs {
			first, last = min(first, r.version), max(last, r.version)
		}
		for _, r := range rs {
			ok := false
			for _, v := range versions {
				switch v {
				case "all":
					ok = true
				case "first":
					ok = ok || r.version == first
				case "last":
					ok = ok || r.version == last
				default:
					t, err := time.Parse(time.RFC3339Nano, v)
					ok = ok || err == nil && t.UnixMicro() == r.version
				}
			}
			if !ok {
				continue
			}
			if !f.AddedAfter.IsZero() && !r.dateAdded.After(f.AddedAfter) {
				continue
			}
			if len(f.IDs) > 0 && !slices.Contains(f.IDs, r.id) {
				continue
			}
			if len(f.Types) > 0 && !slices.Contains(f.Types, r.typ) {
				continue
			}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b row) int { return a.dateAdded.Compare(b.dateAdded) })
	return out
}

func normLabel(l sharing.Label) string {
	if len(l.Orgs) == 0 {
		l.Orgs = nil
	}
	if len(l.Users) == 0 {
		l.Users = nil
	}
	return mustJSON(l)
}

var (
	modelOrgs  = []string{"identity--org-a", "identity--org-b", "identity--org-c"}
	modelUsers = []string{"user-a1", "user-a2", "user-b1", "user-c1"}
)

func randomLabel(r *rand.Rand) sharing.Label {
	l := sharing.Label{
		TLP:          sharing.TLP(r.IntN(7)),
		ProducerOrg:  modelOrgs[r.IntN(len(modelOrgs))],
		ProducerUser: modelUsers[r.IntN(len(modelUsers))],
		Anonymous:    r.IntN(4) == 0,
	}
	for _, o := range modelOrgs {
		if r.IntN(3) == 0 {
			l.Orgs = append(l.Orgs, o)
		}
	}
	for _, u := range modelUsers {
		if r.IntN(4) == 0 {
			l.Users = append(l.Users, u)
		}
	}
	return l
}

func randomAccess(r *rand.Rand) sharing.Access {
	var a sharing.Access
	for range r.IntN(4) {
		var c sharing.Clause
		for t := range sharing.TLP(7) {
			if r.IntN(3) == 0 {
				c.TLPs = append(c.TLPs, t)
			}
		}
		if r.IntN(3) == 0 {
			c.ProducerOrg = modelOrgs[r.IntN(len(modelOrgs))]
		}
		if r.IntN(5) == 0 {
			c.ProducerUser = modelUsers[r.IntN(len(modelUsers))]
		}
		if r.IntN(4) == 0 {
			c.DistOrg = modelOrgs[r.IntN(len(modelOrgs))]
		}
		if r.IntN(4) == 0 {
			c.DistUser = modelUsers[r.IntN(len(modelUsers))]
		}
		a.Clauses = append(a.Clauses, c)
	}
	return a
}

func testAccessProperty(t *testing.T, s store.Store) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 42))
	colls := []string{newCollection(t, s), newCollection(t, s)}
	types := []string{"indicator", "malware", "tool"}
	// Build every object version first, then submit them in random batches.
	type pending struct {
		coll string
		rec  store.Record
	}
	var subs []pending
	for i := range 60 {
		typ := types[r.IntN(len(types))]
		id := fmt.Sprintf("%s--00000000-0000-4000-8000-%012d", typ, i)
		coll := colls[r.IntN(2)]
		if r.IntN(10) == 0 {
			// Unversioned object, sometimes in two contents.
			sid := fmt.Sprintf("ipv4-addr--00000000-0000-5000-8000-%012d", i)
			for v := range 1 + r.IntN(2) {
				subs = append(subs, pending{coll, store.Record{Object: sco(t, sid, fmt.Sprintf("10.0.%d.%d", i, v)), Label: randomLabel(r)}})
			}
			continue
		}
		mods := r.Perm(20)[:1+r.IntN(4)]
		for _, m := range mods {
			spec := "2.1"
			if r.IntN(6) == 0 {
				spec = "2.0"
			}
			subs = append(subs, pending{coll, store.Record{Object: sdo(t, typ, id, 0, m, spec, ""), Label: randomLabel(r)}})
			if r.IntN(8) == 0 {
				// The same id also in the other collection.
				other := colls[0]
				if coll == other {
					other = colls[1]
				}
				subs = append(subs, pending{other, store.Record{Object: sdo(t, typ, id, 0, m, spec, ""), Label: randomLabel(r)}})
			}
		}
	}
	r.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
	var rows []row
	for len(subs) > 0 {
		n := min(len(subs), 1+r.IntN(15))
		batch := subs[:n]
		subs = subs[n:]
		byColl := map[string][]store.Record{}
		for _, p := range batch {
			byColl[p.coll] = append(byColl[p.coll], p.rec)
		}
		for coll, recs := range byColl {
			for i, res := range add(t, s, coll, recs...) {
				o := recs[i].Object
				rw := row{coll: coll, id: o.ID, typ: o.Type, vstring: res.Version, spec: o.SpecVersion, dateAdded: res.DateAdded, label: recs[i].Label}
				v, err := time.Parse(time.RFC3339Nano, res.Version)
				if err != nil {
					t.Fatalf("%s: version %q: %v", o.ID, res.Version, err)
				}
				rw.version = v.UnixMicro()
				rows = append(rows, rw)
			}
		}
	}
	allIDs := map[string]bool{}
	for _, rw := range rows {
		allIDs[rw.id] = true
	}
	idList := make([]string, 0, len(allIDs))
	for id := range allIDs {
		idList = append(idList, id)
	}
	slices.Sort(idList)
	versionChoices := [][]string{nil, {"last"}, {"first"}, {"all"}, {"first", "last"}}
	checked := 0
	for iter := range 250 {
		f := store.Filter{Access: randomAccess(r)}
		if iter%10 == 0 {
			f.Access = everyone
		}
		switch r.IntN(5) {
		case 0:
			f.Collection = ""
		default:
			f.Collection = colls[r.IntN(2)]
		}
		f.Versions = versionChoices[r.IntN(len(versionChoices))]
		if r.IntN(6) == 0 {
			f.Versions = append(slices.Clone(f.Versions), ts(r.IntN(20)))
		}
		if r.IntN(4) == 0 {
			f.Types = []string{types[r.IntN(len(types))], "ipv4-addr"}[:1+r.IntN(2)]
		}
		if r.IntN(5) == 0 {
			for range 1 + r.IntN(5) {
				f.IDs = append(f.IDs, idList[r.IntN(len(idList))])
			}
		}
		switch r.IntN(6) {
		case 0:
			f.SpecVersions = []string{"2.0"}
		case 1:
			f.SpecVersions = []string{"2.1"}
		case 2:
			f.SpecVersions = []string{"2.0", "2.1"}
		}
		if r.IntN(3) == 0 {
			f.AddedAfter = rows[r.IntN(len(rows))].dateAdded
		}
		f.Limit = []int{0, 1, 3, 10, 1000}[r.IntN(5)]
		want := modelQuery(rows, f)
		for _, manifest := range []bool{false, true} {
			got := collect(t, s, f, manifest)
			var g, w []string
			for _, e := range got {
				g = append(g, fmt.Sprintf("%s@%s@%d %s", e.ID, e.Version, e.DateAdded.UnixMicro(), normLabel(e.Label)))
			}
			for _, rw := range want {
				w = append(w, fmt.Sprintf("%s@%s@%d %s", rw.id, rw.vstring, rw.dateAdded.UnixMicro(), normLabel(rw.label)))
			}
			if !slices.Equal(g, w) {
				t.Fatalf("seed %d iteration %d (manifest %v): filter %s\n got  %d:\n  %s\n want %d:\n  %s", seed, iter, manifest, mustJSON(f),
					len(g), strings.Join(g, "\n  "), len(w), strings.Join(w, "\n  "))
			}
		}
		checked += len(want)
	}
	if checked == 0 {
		t.Fatal("property test never expected any result: generator broken")
	}
	t.Logf("checked %d expected entries over %d stored versions", checked, len(rows))

	// Delete removes exactly the versions the model matches.
	deleted := 0
	for iter := range 60 {
		f := store.Filter{Access: randomAccess(r), IDs: []string{idList[r.IntN(len(idList))]}}
		if iter%7 == 0 {
			f.Access = everyone
		}
		if r.IntN(4) > 0 {
			f.Collection = colls[r.IntN(2)]
		}
		f.Versions = versionChoices[r.IntN(len(versionChoices))]
		if r.IntN(5) == 0 {
			f.SpecVersions = []string{"2.0"}
		}
		want := modelQuery(rows, f)
		n, err := s.Delete(context.Background(), f)
		if err != nil {
			t.Fatalf("seed %d delete %d: Delete(%s): %v", seed, iter, mustJSON(f), err)
		}
		if n != len(want) {
			t.Fatalf("seed %d delete %d: Delete(%s) removed %d versions, model says %d", seed, iter, mustJSON(f), n, len(want))
		}
		gone := map[string]bool{}
		for _, w := range want {
			gone[w.coll+" "+w.id+" "+w.vstring] = true
		}
		rows = slices.DeleteFunc(rows, func(rw row) bool { return gone[rw.coll+" "+rw.id+" "+rw.vstring] })
		deleted += n
		// What is left is exactly what the model keeps.
		for _, coll := range colls {
			all := store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}
			var g, w []string
			for _, e := range collect(t, s, all, true) {
				g = append(g, e.ID+"@"+e.Version)
			}
			for _, rw := range modelQuery(rows, all) {
				w = append(w, rw.id+"@"+rw.vstring)
			}
			if !slices.Equal(g, w) {
				t.Fatalf("seed %d delete %d: after Delete(%s), collection %s holds\n  %v\nwant\n  %v", seed, iter, mustJSON(f), coll, g, w)
			}
		}
	}
	if deleted == 0 {
		t.Error("no Delete removed anything: generator broken")
	}
}
