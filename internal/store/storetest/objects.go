package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

func testVersionsKept(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	id := "indicator--00000000-0000-4000-8000-000000000001"
	v1 := sdo(t, "indicator", id, 0, 0, "2.1", `,"x_note":"  spaced  ","n":1.50`)
	v2 := sdo(t, "indicator", id, 0, 10, "2.1", "")
	v3 := sdo(t, "indicator", id, 0, 20, "2.1", "")
	add(t, s, coll, rec(v1, sharing.TLPGreen))
	add(t, s, coll, rec(v3, sharing.TLPGreen), rec(v2, sharing.TLPGreen))
	all := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, false)
	// date_added order is insertion order: v1, v3, v2.
	wantKeys(t, "all versions", all, id+"@"+ts(0), id+"@"+ts(20), id+"@"+ts(10))
	byVersion := map[string][]byte{v1.Modified: v1.Raw, v2.Modified: v2.Raw, v3.Modified: v3.Raw}
	for _, e := range all {
		if !bytes.Equal(e.Raw, byVersion[e.Version]) {
			t.Errorf("%s version %s: raw not byte-identical:\n got  %s\n want %s", e.ID, e.Version, e.Raw, byVersion[e.Version])
		}
		if e.Type != "indicator" || e.SpecVersion != "2.1" {
			t.Errorf("%s: type %q spec %q", e.ID, e.Type, e.SpecVersion)
		}
	}
	tests := []struct {
		versions []string
		want     []string
	}{
		{nil, []string{id + "@" + ts(20)}},
		{[]string{"last"}, []string{id + "@" + ts(20)}},
		{[]string{"first"}, []string{id + "@" + ts(0)}},
		{[]string{"first", "last"}, []string{id + "@" + ts(0), id + "@" + ts(20)}},
		{[]string{ts(10)}, []string{id + "@" + ts(10)}},
		// Same instant, different spelling.
		{[]string{"2024-01-01T00:10:00Z"}, []string{id + "@" + ts(10)}},
		{[]string{ts(10), "first"}, []string{id + "@" + ts(0), id + "@" + ts(10)}},
		{[]string{ts(5)}, nil},
		{[]string{"all", "first"}, []string{id + "@" + ts(0), id + "@" + ts(20), id + "@" + ts(10)}},
	}
	for _, tc := range tests {
		for _, manifest := range []bool{false, true} {
			got := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: tc.versions}, manifest)
			wantKeys(t, fmt.Sprintf("versions %v (manifest %v)", tc.versions, manifest), got, tc.want...)
		}
	}
	_, err := s.Query(ctx, store.Filter{Collection: coll, Access: everyone, Versions: []string{"newest"}})
	wantErr(t, "versions [newest]", err, errkind.Invalid)
}

func testDateAdded(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	other := newCollection(t, s)
	var mu sync.Mutex
	dates := map[string]time.Time{} // id -> DateAdded from Add
	addBatch := func(w, b int) error {
		var recs []store.Record
		for i := range 20 {
			id := fmt.Sprintf("malware--%08d-0000-4000-8000-%012d", w, b*100+i)
			recs = append(recs, rec(sdo(t, "malware", id, 0, 0, "2.1", ""), sharing.TLPClear))
		}
		res, err := s.Add(ctx, coll, recs, "")
		if err != nil {
			return fmt.Errorf("adding batch %d/%d: %w", w, b, err)
		}
		// Interleave writes to another collection.
		if _, err := s.Add(ctx, other, recs[:2], ""); err != nil {
			return fmt.Errorf("adding batch %d/%d to other collection: %w", w, b, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range res {
			if r.Err != nil {
				return fmt.Errorf("batch %d/%d record %d: %w", w, b, i, r.Err)
			}
			if i > 0 && !r.DateAdded.After(res[i-1].DateAdded) {
				return fmt.Errorf("batch %d/%d: date_added of record %d (%v) not after record %d (%v)", w, b, i, r.DateAdded, i-1, res[i-1].DateAdded)
			}
			dates[r.ID] = r.DateAdded
		}
		return nil
	}
	// Sequential batches, then concurrent ones.
	for b := range 3 {
		if err := addBatch(0, b); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 1; w <= 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 4 {
				if err := addBatch(w, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}, Limit: 37}, true)
	if len(all) != len(dates) || len(all) != 20*(3+16) {
		t.Fatalf("stored %d entries, added %d distinct, want %d", len(all), len(dates), 20*19)
	}
	seen := map[int64]bool{}
	for _, e := range all {
		if !e.DateAdded.Equal(dates[e.ID]) {
			t.Errorf("%s: date_added %v in query, %v from Add", e.ID, e.DateAdded, dates[e.ID])
		}
		if e.DateAdded.Location() != time.UTC {
			t.Errorf("%s: date_added not in UTC: %v", e.ID, e.DateAdded)
		}
		seen[e.DateAdded.UnixMicro()] = true
	}
	if len(seen) != len(all) {
		t.Errorf("date_added not unique at microsecond precision: %d distinct for %d entries", len(seen), len(all))
	}
}

func testIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	a := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000a", 0, 1, "2.1", "")
	b := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000b", 0, 1, "2.1", "")
	aChanged := sdo(t, "indicator", a.ID, 0, 1, "2.1", `,"x_changed":true`)
	first := add(t, s, coll, rec(a, sharing.TLPGreen))
	again := add(t, s, coll, rec(a, sharing.TLPGreen))
	if !again[0].DateAdded.Equal(first[0].DateAdded) {
		t.Errorf("re-submission changed date_added: %v then %v", first[0].DateAdded, again[0].DateAdded)
	}
	if again[0].ID != a.ID || again[0].Version != a.Modified {
		t.Errorf("result names %s@%s, want %s@%s", again[0].ID, again[0].Version, a.ID, a.Modified)
	}
	res, err := s.Add(ctx, coll, []store.Record{rec(aChanged, sharing.TLPGreen), rec(b, sharing.TLPGreen), rec(b, sharing.TLPGreen)}, "")
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	wantErr(t, "different content under same id+version", res[0].Err, errkind.Conflict)
	if res[1].Err != nil || res[2].Err != nil {
		t.Fatalf("rest of batch refused: %v, %v", res[1].Err, res[2].Err)
	}
	if !res[2].DateAdded.Equal(res[1].DateAdded) {
		t.Errorf("duplicate within a batch got a new date_added: %v then %v", res[1].DateAdded, res[2].DateAdded)
	}
	all := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, false)
	wantKeys(t, "stored versions", all, a.ID+"@"+a.Modified, b.ID+"@"+b.Modified)
	if len(all) == 2 && !bytes.Equal(all[0].Raw, a.Raw) {
		t.Errorf("conflicting submission overwrote the stored object: %s", all[0].Raw)
	}
	// Unknown collection.
	_, err = s.Add(ctx, "no-such-collection", []store.Record{rec(b, sharing.TLPGreen)}, "")
	wantErr(t, "Add to unknown collection", err, errkind.NotFound)
}

func testUnversioned(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	id := "ipv4-addr--00000000-0000-5000-8000-000000000001"
	o1 := sco(t, id, "198.51.100.1")
	r1 := add(t, s, coll, rec(o1, sharing.TLPClear))
	v, err := time.Parse(time.RFC3339Nano, r1[0].Version)
	if err != nil {
		t.Fatalf("version %q of an object without modified/created is not a timestamp: %v", r1[0].Version, err)
	}
	if !v.Equal(r1[0].DateAdded) {
		t.Errorf("version %v of an unversioned object differs from its date_added %v", v, r1[0].DateAdded)
	}
	r1b := add(t, s, coll, rec(o1, sharing.TLPClear))
	if !r1b[0].DateAdded.Equal(r1[0].DateAdded) || r1b[0].Version != r1[0].Version {
		t.Errorf("identical re-submission: got %s@%v, want %s@%v", r1b[0].Version, r1b[0].DateAdded, r1[0].Version, r1[0].DateAdded)
	}
	o2 := sco(t, id, "198.51.100.1 ") // different content, same id
	r2 := add(t, s, coll, rec(o2, sharing.TLPClear))
	if !r2[0].DateAdded.After(r1[0].DateAdded) || r2[0].Version == r1[0].Version {
		t.Errorf("changed unversioned object: got %s@%v after %s@%v", r2[0].Version, r2[0].DateAdded, r1[0].Version, r1[0].DateAdded)
	}
	all := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, false)
	wantKeys(t, "all", all, id+"@"+r1[0].Version, id+"@"+r2[0].Version)
	last := collect(t, s, store.Filter{Collection: coll, Access: everyone}, false)
	wantKeys(t, "last", last, id+"@"+r2[0].Version)
	if len(last) == 1 && !bytes.Equal(last[0].Raw, o2.Raw) {
		t.Errorf("last raw %s, want %s", last[0].Raw, o2.Raw)
	}
	exact := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{r1[0].Version}}, true)
	wantKeys(t, "exact", exact, id+"@"+r1[0].Version)
	_ = ctx
}

// testUnversionedProducers: an unversioned object (version = date_added)
// submitted again with identical JSON is the same version only under an
// identical label. The same observable submitted by another producer, or
// under another label (another user of the same organisation, the
// anonymous flag, other sharing terms), is a version of its own with its
// own label, visible under its own producer's access: answering with the
// stored copy would hide the submission from its producer and tell it that
// somebody else holds the object.
func testUnversionedProducers(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := "ipv4-addr--00000000-0000-5000-8000-0000000000aa"
	o := sco(t, id, "198.51.100.170")
	red := func(org, user string) sharing.Label {
		return sharing.Label{TLP: sharing.TLPRed, ProducerOrg: org, ProducerUser: user}
	}
	ownRed := func(user string) sharing.Access {
		return sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPRed}, ProducerUser: user}}}
	}
	la, lb := red("identity--a", "user-a"), red("identity--b", "user-b")
	ra := add(t, s, coll, store.Record{Object: o, Label: la})
	again := add(t, s, coll, store.Record{Object: o, Label: la})
	if again[0].Version != ra[0].Version || !again[0].DateAdded.Equal(ra[0].DateAdded) {
		t.Errorf("identical object, same label: got %s@%v, want the stored %s@%v", again[0].Version, again[0].DateAdded, ra[0].Version, ra[0].DateAdded)
	}
	rb := add(t, s, coll, store.Record{Object: o, Label: lb})
	if rb[0].Version == ra[0].Version || !rb[0].DateAdded.After(ra[0].DateAdded) {
		t.Errorf("identical object, another producer: got %s@%v, want a new version after %s@%v", rb[0].Version, rb[0].DateAdded, ra[0].Version, ra[0].DateAdded)
	}
	if v, err := time.Parse(time.RFC3339Nano, rb[0].Version); err != nil || !v.Equal(rb[0].DateAdded) {
		t.Errorf("another producer's version %q is not its date_added %v (%v)", rb[0].Version, rb[0].DateAdded, err)
	}
	// Idempotent for each producer, after the other's copy.
	for _, tc := range []struct {
		l    sharing.Label
		want store.AddResult
	}{{la, ra[0]}, {lb, rb[0]}} {
		r := add(t, s, coll, store.Record{Object: o, Label: tc.l})
		if r[0].Version != tc.want.Version || !r[0].DateAdded.Equal(tc.want.DateAdded) {
			t.Errorf("identical object again by %s: got %s@%v, want %s@%v", tc.l.ProducerUser, r[0].Version, r[0].DateAdded, tc.want.Version, tc.want.DateAdded)
		}
	}
	// Each producer sees its own copy, with its own label, and nothing of
	// the other's.
	for _, tc := range []struct {
		l    sharing.Label
		mine store.AddResult
		not  store.AddResult
	}{{la, ra[0], rb[0]}, {lb, rb[0], ra[0]}} {
		acc := ownRed(tc.l.ProducerUser)
		who := tc.l.ProducerUser
		for _, manifest := range []bool{false, true} {
			for _, vers := range [][]string{nil, {"all"}, {"first"}, {"last"}} {
				got := collect(t, s, store.Filter{Collection: coll, Access: acc, Versions: vers}, manifest)
				wantKeys(t, fmt.Sprintf("%s, versions %v (manifest %v)", who, vers, manifest), got, id+"@"+tc.mine.Version)
				if len(got) == 1 {
					if normLabel(got[0].Label) != normLabel(tc.l) {
						t.Errorf("%s: label %+v, want its own %+v", who, got[0].Label, tc.l)
					}
					if !got[0].DateAdded.Equal(tc.mine.DateAdded) {
						t.Errorf("%s: date_added %v, want %v", who, got[0].DateAdded, tc.mine.DateAdded)
					}
					if !manifest && !bytes.Equal(got[0].Raw, o.Raw) {
						t.Errorf("%s: raw %s, want %s", who, got[0].Raw, o.Raw)
					}
				}
			}
			got := collect(t, s, store.Filter{Collection: coll, Access: acc, Versions: []string{tc.not.Version}}, manifest)
			wantKeys(t, fmt.Sprintf("%s, the other producer's version (manifest %v)", who, manifest), got)
			got = collect(t, s, store.Filter{Collection: coll, Access: acc, Versions: []string{"all"}, AddedAfter: tc.mine.DateAdded}, manifest)
			wantKeys(t, fmt.Sprintf("%s, added after its own copy (manifest %v)", who, manifest), got)
		}
	}
	all := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, true)
	wantKeys(t, "all versions", all, id+"@"+ra[0].Version, id+"@"+rb[0].Version)

	// Any other label is another version too, also within one batch; the
	// same label twice in a batch is one version.
	o2 := sco(t, "ipv4-addr--00000000-0000-5000-8000-0000000000ab", "198.51.100.171")
	colleague := red("identity--a", "user-a2")
	anon := la
	anon.Anonymous = true
	amber := la
	amber.TLP = sharing.TLPAmber
	named := la
	named.Users = []string{"user-b"}
	labels := []sharing.Label{la, colleague, anon, amber, named, la, colleague}
	var recs []store.Record
	for _, l := range labels {
		recs = append(recs, store.Record{Object: o2, Label: l})
	}
	res := add(t, s, coll, recs...)
	seen := map[string]int{}
	for i, r := range res[:5] {
		if j, dup := seen[r.Version]; dup {
			t.Errorf("labels %+v and %+v: both version %s, want a version each", labels[j], labels[i], r.Version)
		}
		seen[r.Version] = i
	}
	if res[5].Version != res[0].Version || res[6].Version != res[1].Version {
		t.Errorf("same label twice in a batch: versions %s, %s; want %s, %s", res[5].Version, res[6].Version, res[0].Version, res[1].Version)
	}
	got := collect(t, s, store.Filter{Collection: coll, Access: everyone, IDs: []string{o2.ID}, Versions: []string{"all"}}, true)
	if len(got) != 5 {
		t.Errorf("%s: %d versions stored, want 5 (one per label): %v", o2.ID, len(got), keys(got))
	}
	for i, e := range got {
		if i < 5 && normLabel(e.Label) != normLabel(labels[i]) {
			t.Errorf("%s version %s: label %+v, want %+v", o2.ID, e.Version, e.Label, labels[i])
		}
	}
}

func testFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	ind := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-000000000001", 0, 0, "2.1", "")
	mal := sdo(t, "malware", "malware--00000000-0000-4000-8000-000000000002", 0, 0, "2.1", "")
	ap := sdo(t, "attack-pattern", "attack-pattern--00000000-0000-4000-8000-000000000003", 0, 0, "2.1", "")
	r1 := add(t, s, coll, rec(ind, sharing.TLPGreen), rec(mal, sharing.TLPGreen))
	r2 := add(t, s, coll, rec(ap, sharing.TLPGreen))
	k := func(o interface{ Version() string }, id string) string { return id + "@" + o.Version() }
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"no filter", store.Filter{}, []string{k(ind, ind.ID), k(mal, mal.ID), k(ap, ap.ID)}},
		{"types", store.Filter{Types: []string{"malware", "attack-pattern"}}, []string{k(mal, mal.ID), k(ap, ap.ID)}},
		{"one type", store.Filter{Types: []string{"indicator"}}, []string{k(ind, ind.ID)}},
		{"unknown type", store.Filter{Types: []string{"tool"}}, nil},
		{"ids", store.Filter{IDs: []string{ap.ID, ind.ID}}, []string{k(ind, ind.ID), k(ap, ap.ID)}},
		{"ids and types", store.Filter{IDs: []string{ap.ID, ind.ID}, Types: []string{"indicator"}}, []string{k(ind, ind.ID)}},
		{"added after first", store.Filter{AddedAfter: r1[0].DateAdded}, []string{k(mal, mal.ID), k(ap, ap.ID)}},
		{"added after just before", store.Filter{AddedAfter: r2[0].DateAdded.Add(-time.Nanosecond)}, []string{k(ap, ap.ID)}},
		{"added after last", store.Filter{AddedAfter: r2[0].DateAdded}, nil},
		{"spec 2.1", store.Filter{SpecVersions: []string{"2.1"}}, []string{k(ind, ind.ID), k(mal, mal.ID), k(ap, ap.ID)}},
		{"spec 2.0", store.Filter{SpecVersions: []string{"2.0"}}, nil},
		{"zero access", store.Filter{Access: sharing.Access{}}, nil},
		{"access amber only", store.Filter{Access: sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPAmber}}}}}, nil},
	}
	for _, tc := range tests {
		f := tc.f
		f.Collection = coll
		if f.Access.Clauses == nil && tc.name != "zero access" {
			f.Access = everyone
		}
		wantKeys(t, tc.name, collect(t, s, f, false), tc.want...)
	}
	_, err := s.Query(ctx, store.Filter{Collection: "no-such-collection", Access: everyone})
	wantErr(t, "Query unknown collection", err, errkind.NotFound)
}

func testSpecVersions(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := "indicator--00000000-0000-4000-8000-000000000001"
	old20 := sdo(t, "indicator", id, 0, 0, "2.0", "")
	new20 := sdo(t, "indicator", id, 0, 30, "2.0", "")
	v21 := sdo(t, "indicator", id, 0, 10, "2.1", "")
	only20 := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-000000000002", 0, 0, "2.0", "")
	add(t, s, coll, rec(old20, sharing.TLPGreen), rec(new20, sharing.TLPGreen), rec(v21, sharing.TLPAmber), rec(only20, sharing.TLPGreen))
	green := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}}}
	tests := []struct {
		name   string
		access sharing.Access
		specs  []string
		vers   []string
		want   []string
	}{
		{"latest spec per object", everyone, nil, nil, []string{id + "@" + ts(10), only20.ID + "@" + ts(0)}},
		{"latest spec, all versions", everyone, nil, []string{"all"}, []string{id + "@" + ts(10), only20.ID + "@" + ts(0)}},
		{"2.0 last", everyone, []string{"2.0"}, nil, []string{id + "@" + ts(30), only20.ID + "@" + ts(0)}},
		{"2.0 first", everyone, []string{"2.0"}, []string{"first"}, []string{id + "@" + ts(0), only20.ID + "@" + ts(0)}},
		{"both specs last", everyone, []string{"2.0", "2.1"}, nil, []string{id + "@" + ts(30), only20.ID + "@" + ts(0)}},
		// The 2.1 version is invisible, so the latest visible spec is 2.0.
		{"latest visible spec", green, nil, nil, []string{id + "@" + ts(30), only20.ID + "@" + ts(0)}},
	}
	for _, tc := range tests {
		got := collect(t, s, store.Filter{Collection: coll, Access: tc.access, SpecVersions: tc.specs, Versions: tc.vers}, true)
		wantKeys(t, tc.name, got, tc.want...)
	}
}

func testPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	var want []string
	for b := range 5 {
		var recs []store.Record
		for i := range 10 {
			o := sdo(t, "indicator", fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", b*10+i), 0, 0, "2.1", "")
			tlp := sharing.TLPGreen
			if i%3 == 0 {
				tlp = sharing.TLPRed // invisible below: pages must skip them
			} else {
				want = append(want, o.ID+"@"+o.Modified)
			}
			recs = append(recs, rec(o, tlp))
		}
		add(t, s, coll, recs...)
	}
	green := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}}}
	for _, limit := range []int{1, 2, 7, len(want) - 1, len(want), len(want) + 1, 0} {
		f := store.Filter{Collection: coll, Access: green, Limit: limit}
		got := collect(t, s, f, false)
		wantKeys(t, fmt.Sprintf("limit %d", limit), got, want...)
		p, err := s.Manifest(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if limit > 0 && limit < len(want) && (len(p.Entries) != limit || !p.More) {
			t.Errorf("limit %d: first page has %d entries, More %v", limit, len(p.Entries), p.More)
		}
		if (limit == 0 || limit >= len(want)) && (len(p.Entries) != len(want) || p.More) {
			t.Errorf("limit %d: first page has %d entries, More %v; want all %d", limit, len(p.Entries), p.More, len(want))
		}
	}
	_, err := s.Query(ctx, store.Filter{Collection: coll, Access: green, Next: "not a cursor"})
	wantErr(t, "malformed Next", err, errkind.Invalid)
}

func testPagingWithWrites(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	before := map[string]bool{}
	for i := range 30 {
		o := sdo(t, "indicator", fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i), 0, 0, "2.1", "")
		add(t, s, coll, rec(o, sharing.TLPGreen))
		before[o.ID] = true
	}
	f := store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}, Limit: 4}
	seen := map[string]int{}
	var last time.Time
	written := 0
	for pages := 0; pages < 1000; pages++ {
		p, err := s.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			seen[e.ID+"@"+e.Version]++
			if !e.DateAdded.After(last) {
				t.Fatalf("entry %s not after previous page's (%v <= %v)", e.ID, e.DateAdded, last)
			}
			last = e.DateAdded
		}
		if !p.More {
			break
		}
		f.Next = p.Next
		// Writes between pages: new objects and new versions of seen ones.
		if written < 10 {
			n := sdo(t, "malware", fmt.Sprintf("malware--00000000-0000-4000-8000-%012d", written), 0, 0, "2.1", "")
			nv := sdo(t, "indicator", fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", written), 0, 5, "2.1", "")
			add(t, s, coll, rec(n, sharing.TLPGreen), rec(nv, sharing.TLPGreen))
			written++
		}
	}
	for id := range before {
		if seen[id+"@"+ts(0)] != 1 {
			t.Errorf("%s seen %d times while paging with writes", id, seen[id+"@"+ts(0)])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", k, n)
		}
	}
	if len(seen) != 30+2*written {
		t.Errorf("saw %d versions, want %d (30 before, %d written while paging)", len(seen), 30+2*written, 2*written)
	}
}

func testAllCollections(t *testing.T, s store.Store) {
	c1 := newCollection(t, s)
	c2 := newCollection(t, s)
	id := "indicator--00000000-0000-4000-8000-000000000001"
	a := sdo(t, "indicator", id, 0, 0, "2.1", "")
	b := sdo(t, "indicator", id, 0, 1, "2.1", "")
	add(t, s, c1, rec(a, sharing.TLPGreen))
	add(t, s, c2, rec(a, sharing.TLPGreen), rec(b, sharing.TLPGreen))
	add(t, s, c1, rec(sdo(t, "tool", "tool--00000000-0000-4000-8000-000000000009", 0, 0, "2.1", ""), sharing.TLPGreen))
	ids := []string{id}
	// Versions are per collection: "last" in c1 is a, in c2 b.
	got := collect(t, s, store.Filter{Access: everyone, IDs: ids, Limit: 1}, false)
	gotKeys := keys(got)
	want := map[string]int{id + "@" + ts(0): 1, id + "@" + ts(1): 1}
	for _, k := range gotKeys {
		want[k]--
	}
	for k, n := range want {
		if n != 0 {
			t.Errorf("all collections, last of %s: %s off by %d (got %v)", id, k, n, gotKeys)
		}
	}
	every := collect(t, s, store.Filter{Access: everyone, Versions: []string{"all"}, Limit: 2}, true)
	n := 0
	for _, e := range every {
		if e.ID == id || e.ID == "tool--00000000-0000-4000-8000-000000000009" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("all collections, all versions: %d of our 4 versions", n)
	}
}

func testLastAmongVisible(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := "report--00000000-0000-4000-8000-000000000001"
	v1 := sdo(t, "report", id, 0, 0, "2.1", "")
	v2 := sdo(t, "report", id, 0, 1, "2.1", "")
	v3 := sdo(t, "report", id, 0, 2, "2.1", "")
	red := store.Record{Object: v3, Label: sharing.Label{TLP: sharing.TLPRed, ProducerUser: "alice", Users: []string{"bob"}}}
	add(t, s, coll, rec(v1, sharing.TLPAmber), rec(v2, sharing.TLPGreen), red)
	greenOnly := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen, sharing.TLPClear}}}}
	bob := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}, {TLPs: []sharing.TLP{sharing.TLPRed}, DistUser: "bob"}}}
	carol := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}, {TLPs: []sharing.TLP{sharing.TLPRed}, DistUser: "carol"}}}
	tests := []struct {
		name   string
		access sharing.Access
		vers   []string
		want   []string
	}{
		{"green last", greenOnly, nil, []string{id + "@" + ts(1)}},
		{"green first", greenOnly, []string{"first"}, []string{id + "@" + ts(1)}},
		{"bob last", bob, nil, []string{id + "@" + ts(2)}},
		{"carol last", carol, nil, []string{id + "@" + ts(1)}},
		{"everyone first", everyone, []string{"first"}, []string{id + "@" + ts(0)}},
		{"green exact red version", greenOnly, []string{ts(2)}, nil},
	}
	for _, tc := range tests {
		got := collect(t, s, store.Filter{Collection: coll, Access: tc.access, Versions: tc.vers}, false)
		wantKeys(t, tc.name, got, tc.want...)
		if len(got) == 1 && got[0].Version == ts(2) && (got[0].Label.TLP != sharing.TLPRed || len(got[0].Label.Users) != 1 || got[0].Label.Users[0] != "bob") {
			t.Errorf("%s: label not round-tripped: %+v", tc.name, got[0].Label)
		}
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	id := "indicator--00000000-0000-4000-8000-000000000001"
	otherID := "indicator--00000000-0000-4000-8000-000000000002"
	var recs []store.Record
	for i, tlp := range []sharing.TLP{sharing.TLPGreen, sharing.TLPRed, sharing.TLPGreen, sharing.TLPGreen} {
		recs = append(recs, rec(sdo(t, "indicator", id, 0, i, "2.1", ""), tlp))
	}
	recs = append(recs, rec(sdo(t, "indicator", otherID, 0, 0, "2.1", ""), sharing.TLPGreen))
	add(t, s, coll, recs...)
	green := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}}}
	n, err := s.Delete(ctx, store.Filter{Collection: coll, Access: green, IDs: []string{id}, Versions: []string{ts(0)}})
	if err != nil || n != 1 {
		t.Fatalf("Delete exact version: %d, %v; want 1", n, err)
	}
	n, err = s.Delete(ctx, store.Filter{Collection: coll, Access: green, IDs: []string{id}})
	if err != nil || n != 1 {
		t.Fatalf("Delete last visible: %d, %v; want 1", n, err)
	}
	left := collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, true)
	wantKeys(t, "after two deletes", left, id+"@"+ts(1), id+"@"+ts(2), otherID+"@"+ts(0))
	n, err = s.Delete(ctx, store.Filter{Collection: coll, Access: green, IDs: []string{id}, Versions: []string{"all"}})
	if err != nil || n != 1 {
		t.Fatalf("Delete all visible: %d, %v; want 1 (the red version is invisible)", n, err)
	}
	left = collect(t, s, store.Filter{Collection: coll, Access: everyone, Versions: []string{"all"}}, true)
	wantKeys(t, "after deleting all visible", left, id+"@"+ts(1), otherID+"@"+ts(0))
	n, err = s.Delete(ctx, store.Filter{Collection: coll, Access: sharing.Access{}, IDs: []string{otherID}, Versions: []string{"all"}})
	if err != nil || n != 0 {
		t.Errorf("Delete with zero access: %d, %v; want 0", n, err)
	}
	_, err = s.Delete(ctx, store.Filter{Collection: coll, Access: everyone})
	wantErr(t, "Delete without id", err, errkind.Invalid)
	// A deleted version can be submitted again.
	again := add(t, s, coll, recs[0])
	if !again[0].DateAdded.After(left[len(left)-1].DateAdded) {
		t.Errorf("re-added version got date_added %v, not after %v", again[0].DateAdded, left[len(left)-1].DateAdded)
	}
}

func testMarkingKnown(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	id := "marking-definition--00000000-0000-4000-8000-0000000000aa"
	if ok, err := s.MarkingKnown(ctx, id); err != nil || ok {
		t.Fatalf("MarkingKnown before storing: %v, %v", ok, err)
	}
	o := sdo(t, "marking-definition", id, 0, 0, "2.1", "")
	add(t, s, coll, rec(o, sharing.TLPClear))
	if ok, err := s.MarkingKnown(ctx, id); err != nil || !ok {
		t.Errorf("MarkingKnown after storing: %v, %v", ok, err)
	}
	// An object of another type with a marking-like id does not count.
	ind := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-0000000000aa", 0, 0, "2.1", "")
	add(t, s, coll, rec(ind, sharing.TLPClear))
	if ok, err := s.MarkingKnown(ctx, ind.ID); err != nil || ok {
		t.Errorf("MarkingKnown(indicator id): %v, %v", ok, err)
	}
}
