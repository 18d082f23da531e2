package leaktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeak submits thousands of randomly marked objects over TAXII as many
// users of many organisations, then checks, for every user and the public,
// that every read path returns exactly what the oracle (visibleTo) allows:
// no more (a leak), no less (a wrong result).
func TestLeak(t *testing.T) {
	p := loadParams(t)
	t.Logf("seed %d (KIZUNA_LEAK_SEED=%d reproduces this run), scale %g", p.seed, p.seed, p.scale)
	start := time.Now()
	e := newEnv(t, p)
	exp := startExportBuild(t)

	e.submitStatements(t)
	e.generate(t)
	e.refusedWrites(t)
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d organisations, %d users, %d versions submitted in %d POSTs, %d stored, %d refused, %d identical re-submissions under the same label (same version), %d under another label (a version of their own) (%s)",
		len(e.orgs), len(e.users), len(e.versions), len(e.statuses), len(e.stored), e.count(func(v *version) bool { return v.rejected }),
		e.count(func(v *version) bool { return v.dupOf != nil }), e.count(func(v *version) bool { return v.twinOf != nil }),
		time.Since(start).Round(time.Millisecond))
	e.logLevels(t)

	var requests atomic.Int64
	dates := &dateBook{m: map[*version]time.Time{}}
	t.Run("read", func(t *testing.T) {
		for i, u := range e.users {
			t.Run(u.org.name+"/"+u.name, func(t *testing.T) {
				t.Parallel()
				c := &checker{env: e, t: t, u: u, rng: rand.New(rand.NewPCG(p.seed, uint64(i))), dates: dates}
				c.run()
				requests.Add(c.requests)
			})
		}
		t.Run("public", func(t *testing.T) {
			t.Parallel()
			c := &checker{env: e, t: t, rng: rand.New(rand.NewPCG(p.seed, 1<<32)), dates: dates}
			c.runPublic()
			requests.Add(c.requests)
		})
	})
	dates.check(t, e)
	t.Logf("%d read requests in %s", requests.Load(), time.Since(start).Round(time.Millisecond))
	t.Run("export", func(t *testing.T) { exp.check(t, e) })
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

func (e *env) count(f func(*version) bool) int {
	n := 0
	for _, v := range e.versions {
		if f(v) {
			n++
		}
	}
	return n
}

func (e *env) logLevels(t *testing.T) {
	t.Helper()
	byLevel := map[level]int{}
	byType := map[string]int{}
	for _, v := range e.stored {
		byLevel[v.eff]++
		byType[v.obj.typ]++
	}
	t.Logf("stored versions by level %v, by type %v", byLevel, byType)
}

// refusedWrites POSTs where the principal may not write: the objects must
// be refused (404 without any right on the collection, 403 with read only)
// and never stored; their ids join the nonexistent ones that every
// principal later asks for.
func (e *env) refusedWrites(t *testing.T) {
	t.Helper()
	w := e.world
	for _, c := range w.colls {
		for _, u := range w.users {
			if c.canWrite(u) || w.rng.IntN(3) > 0 {
				continue
			}
			want := http.StatusNotFound
			if c.canRead(u) {
				want = http.StatusForbidden
			}
			id := "indicator--" + w.uuid4()
			body := fmt.Sprintf(`{"objects":[{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.9.9.9']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":[%q]}]}`, id, tlp2[lvClear])
			r, err := e.do(http.MethodPost, objectsPath(c), u, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if r.status != want {
				t.Errorf("POST by %s to collection %s (no write right): status %d, want %d: %s", u, c.title, r.status, want, r.body)
			}
			w.nonexistent = append(w.nonexistent, id)
		}
	}
}

// dateBook collects the date_added every principal saw for every version:
// they must agree, and follow submission order.
type dateBook struct {
	mu sync.Mutex
	m  map[*version]time.Time
}

func (d *dateBook) note(t *testing.T, v *version, da time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.m[v]; ok && !prev.Equal(da) {
		t.Errorf("%s: date_added %s, another principal saw %s", v, da, prev)
	}
	d.m[v] = da
}

func (d *dateBook) check(t *testing.T, e *env) {
	t.Helper()
	var last time.Time
	var lastV *version
	seen := 0
	for _, v := range e.stored {
		da, ok := d.m[v]
		if !ok {
			continue
		}
		seen++
		if lastV != nil && !da.After(last) {
			t.Errorf("date_added not monotonic: %s added %s, after %s added %s", v, da, lastV, last)
		}
		last, lastV = da, v
	}
	t.Logf("date_added of %d/%d stored versions seen in manifests, in submission order", seen, len(e.stored))
}

// checker runs every read path as one principal (u nil: the public).
type checker struct {
	*env
	t        *testing.T
	u        *user
	rng      *rand.Rand
	dates    *dateBook
	requests int64
	errs     int
	// manifest dates of this principal's visible versions, per collection.
	seen map[*collection][]seenVersion
}

type seenVersion struct {
	v  *version
	da time.Time
}

const maxErrs = 25

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.errs++
	switch {
	case c.errs < maxErrs:
		c.t.Errorf(format, args...)
	case c.errs == maxErrs:
		c.t.Errorf("(further errors for %s suppressed)", c.who())
	}
}

func (c *checker) who() string {
	if c.u == nil {
		return "the public"
	}
	return c.u.String()
}

func (c *checker) get(path string) response {
	c.t.Helper()
	c.requests++
	r, err := c.do(http.MethodGet, path, c.u, nil)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return r
}

// limit is a random page size: often tiny, usually moderate.
func (c *checker) limit() string {
	if c.rng.IntN(100) < 15 {
		return strconv.Itoa(1 + c.rng.IntN(5))
	}
	return strconv.Itoa(20 + c.rng.IntN(400))
}

// visible returns the stored versions of collection coll (nil: every
// collection) the principal may see by TLP.
func (c *checker) visible(coll *collection) []*version {
	var out []*version
	for _, v := range c.stored {
		if (coll == nil || v.obj.coll == coll) && visibleTo(c.u, v) {
			out = append(out, v)
		}
	}
	return out
}

// pickVersions applies match[version] semantics to visible versions:
// "last" and "first" are the latest and earliest VISIBLE version of each
// object (per collection).
func pickVersions(vs []*version, which string) []*version {
	if which == "all" {
		return vs
	}
	best := map[*object]*version{}
	for _, v := range vs {
		b := best[v.obj]
		if b == nil || (which == "last") == (v.verKey > b.verKey) {
			best[v.obj] = v
		}
	}
	var out []*version
	for _, v := range vs {
		if best[v.obj] == v {
			out = append(out, v)
		}
	}
	return out
}

// compare reports the difference between the versions a path returned and
// the ones the oracle expects. It is for paths that name each version
// exactly (manifest/ and versions/ carry the version, the date_added of an
// unversioned object); objects/ responses, which carry JSON only, use
// compareRaw.
func (c *checker) compare(what string, got, want []*version) {
	c.t.Helper()
	wantSet := map[*version]bool{}
	for _, v := range want {
		wantSet[v] = true
	}
	gotSet := map[*version]int{}
	for _, v := range got {
		gotSet[v]++
		if gotSet[v] == 2 {
			c.errorf("%s as %s: %s returned twice", what, c.who(), v)
		}
		if !wantSet[v] {
			c.errorf("LEAK? %s as %s: got %s, which the rules do not allow here", what, c.who(), v)
		}
	}
	for _, v := range want {
		if gotSet[v] == 0 {
			c.errorf("%s as %s: missing %s", what, c.who(), v)
		}
	}
}

// lookup finds the stored versions a served object may be, by its
// collection (nil: any), id and exact JSON: several when producers stored
// the same observable, each as a version of its own. It reports content
// the test never stored and checks anonymous publications.
func (c *checker) lookup(what string, coll *collection, raw []byte) []*version {
	c.t.Helper()
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		c.errorf("%s as %s: object is not JSON: %v", what, c.who(), err)
		return nil
	}
	vs := c.withRaw(coll, raw)
	if len(vs) == 0 {
		c.errorf("LEAK? %s as %s: served %s with content the test never stored: %.300s", what, c.who(), head.ID, raw)
		return nil
	}
	for _, v := range vs {
		if v.anonymous && (c.u == nil || c.u.org != v.producer.org) && bytes.Contains(raw, []byte(v.producer.org.id)) {
			c.errorf("LEAK: %s as %s: anonymous publication %s names its producer %s", what, c.who(), v, v.producer.org.id)
		}
	}
	return vs
}

type envelope struct {
	More    bool              `json:"more"`
	Next    string            `json:"next"`
	Objects []json.RawMessage `json:"objects"`
}

// pages follows "next" through every page of a TAXII list endpoint,
// changing the page size at random, and returns the decoded pages' bodies.
func (c *checker) pages(path string, q url.Values, fn func(body []byte) (more bool, next string, ok bool)) bool {
	c.t.Helper()
	q = cloneValues(q)
	for n := 0; n < 100000; n++ {
		q.Set("limit", c.limit())
		r := c.get(path + "?" + q.Encode())
		if r.status != http.StatusOK {
			c.errorf("GET %s?%s as %s: status %d: %s", path, q.Encode(), c.who(), r.status, r.body)
			return false
		}
		more, next, ok := fn(r.body)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		if next == "" {
			c.errorf("GET %s as %s: more without next", path, c.who())
			return false
		}
		q.Set("next", next)
	}
	c.errorf("GET %s as %s: paging does not end", path, c.who())
	return false
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// listObjects pages through GET .../objects/ and returns the objects
// served (compareRaw matches them with the expected versions).
func (c *checker) listObjects(coll *collection, q url.Values) ([]json.RawMessage, bool) {
	c.t.Helper()
	what := "GET objects/ of " + coll.title + "?" + q.Encode()
	var out []json.RawMessage
	ok := c.pages(objectsPath(coll), q, func(body []byte) (bool, string, bool) {
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			c.errorf("%s as %s: %v: %.200s", what, c.who(), err, body)
			return false, "", false
		}
		out = append(out, env.Objects...)
		return env.More, env.Next, true
	})
	return out, ok
}

type manifestPage struct {
	More    bool   `json:"more"`
	Next    string `json:"next"`
	Objects []struct {
		ID        string `json:"id"`
		DateAdded string `json:"date_added"`
		Version   string `json:"version"`
	} `json:"objects"`
}

// manifest pages through GET .../manifest/.
func (c *checker) manifest(coll *collection, q url.Values) ([]seenVersion, bool) {
	c.t.Helper()
	what := "GET manifest/ of " + coll.title + "?" + q.Encode()
	var out []seenVersion
	ok := c.pages(manifestPath(coll), q, func(body []byte) (bool, string, bool) {
		var m manifestPage
		if err := json.Unmarshal(body, &m); err != nil {
			c.errorf("%s as %s: %v", what, c.who(), err)
			return false, "", false
		}
		for _, rec := range m.Objects {
			v := c.byVer[keyVer(coll.id, rec.ID, rec.Version)]
			if v == nil {
				c.errorf("LEAK? %s as %s: manifest lists %s version %s, never stored", what, c.who(), rec.ID, rec.Version)
				continue
			}
			da, err := time.Parse(time.RFC3339Nano, rec.DateAdded)
			if err != nil {
				c.errorf("%s: date_added %q: %v", what, rec.DateAdded, err)
				continue
			}
			out = append(out, seenVersion{v, da})
		}
		return m.More, m.Next, true
	})
	return out, ok
}

func versionsOf(s []seenVersion) []*version {
	out := make([]*version, len(s))
	for i, x := range s {
		out[i] = x.v
	}
	return out
}

// run checks every path as an authenticated user.
func (c *checker) run() {
	c.seen = map[*collection][]seenVersion{}
	c.checkCollections()
	for _, coll := range c.colls {
		if !coll.canRead(c.u) {
			c.checkNoRead(coll)
			continue
		}
		c.checkLists(coll)
		c.checkFilters(coll)
		c.checkIDs(coll)
	}
	c.checkStatuses()
}

// checkCollections: the collection list shows exactly the collections the
// user may read or write, with the right flags.
func (c *checker) checkCollections() {
	r := c.get("/taxii2/hub/collections/")
	if r.status != http.StatusOK {
		c.errorf("GET collections/ as %s: status %d", c.who(), r.status)
		return
	}
	var body struct {
		Collections []struct {
			ID       string `json:"id"`
			CanRead  bool   `json:"can_read"`
			CanWrite bool   `json:"can_write"`
		} `json:"collections"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		c.errorf("GET collections/: %v", err)
		return
	}
	got := map[string][2]bool{}
	for _, x := range body.Collections {
		got[x.ID] = [2]bool{x.CanRead, x.CanWrite}
	}
	want := map[string][2]bool{}
	for _, coll := range c.colls {
		if coll.canRead(c.u) || coll.canWrite(c.u) {
			want[coll.id] = [2]bool{coll.canRead(c.u), coll.canWrite(c.u)}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.errorf("GET collections/ as %s: %v, want %v", c.who(), got, want)
	}
}

// checkNoRead: a collection the user may not read answers 403 when the user
// may write it and 404 otherwise, on every read path, whatever the id.
func (c *checker) checkNoRead(coll *collection) {
	want := http.StatusNotFound
	if coll.canWrite(c.u) {
		want = http.StatusForbidden
	}
	id := c.nonexistent[0]
	if vs := c.storedIn(coll); len(vs) > 0 {
		id = pick(c.rng, vs).obj.id
	}
	for _, p := range []string{objectsPath(coll), manifestPath(coll), objectsPath(coll) + id + "/", objectsPath(coll) + id + "/versions/"} {
		if r := c.get(p); r.status != want {
			c.errorf("GET %s as %s (no read right on %s): status %d, want %d: %.200s", p, c.who(), coll.title, r.status, want, r.body)
		}
	}
}

func (c *checker) storedIn(coll *collection) []*version {
	var out []*version
	for _, v := range c.stored {
		if v.obj.coll == coll {
			out = append(out, v)
		}
	}
	return out
}

// checkLists: objects/ (all versions and the default "last"), manifest/
// (default and all), each paged with random limits.
func (c *checker) checkLists(coll *collection) {
	vis := c.visible(coll)
	all := url.Values{"match[version]": {"all"}}
	if got, ok := c.listObjects(coll, all); ok {
		c.compareRaw("GET objects/?match[version]=all of "+coll.title, coll, got, vis)
	}
	if got, ok := c.listObjects(coll, url.Values{}); ok {
		c.compareRaw("GET objects/ (latest visible version) of "+coll.title, coll, got, pickVersions(vis, "last"))
	}
	if got, ok := c.manifest(coll, all); ok {
		c.compare("GET manifest/?match[version]=all of "+coll.title, versionsOf(got), vis)
		for i, s := range got {
			c.dates.note(c.t, s.v, s.da)
			if i > 0 && !s.da.After(got[i-1].da) {
				c.errorf("manifest of %s as %s: date_added not increasing at %s", coll.title, c.who(), s.v)
			}
		}
		c.seen[coll] = got
	}
	if got, ok := c.manifest(coll, url.Values{}); ok {
		c.compare("GET manifest/ (latest visible version) of "+coll.title, versionsOf(got), pickVersions(vis, "last"))
	}
}

var allTypes = []string{"indicator", "malware", "identity", "vulnerability", "report", "relationship", "ipv4-addr", "domain-name", "url", "marking-definition"}

// checkFilters: match[type], match[version] and added_after combined, with
// paging. added_after is the date_added of a version the principal saw in
// its manifest (the expected set follows from submission order).
func (c *checker) checkFilters(coll *collection) {
	vis := c.visible(coll)
	seen := c.seen[coll]
	for range 3 {
		q := url.Values{}
		types := []string{pick(c.rng, allTypes)}
		if c.rng.IntN(2) == 0 {
			types = append(types, pick(c.rng, allTypes))
		}
		which := pick(c.rng, []string{"all", "last", "first"})
		q.Set("match[type]", strings.Join(types, ","))
		q.Set("match[version]", which)
		afterSeq := -1
		if len(seen) > 0 && c.rng.IntN(4) > 0 {
			s := pick(c.rng, seen)
			q.Set("added_after", s.da.Format(time.RFC3339Nano))
			afterSeq = s.v.seq
		}
		var want []*version
		for _, v := range pickVersions(vis, which) {
			if slices.Contains(types, v.obj.typ) && v.seq > afterSeq {
				want = append(want, v)
			}
		}
		if got, ok := c.listObjects(coll, q); ok {
			c.compareRaw("GET objects/?"+q.Encode()+" of "+coll.title, coll, got, want)
		}
		if got, ok := c.manifest(coll, q); ok {
			c.compare("GET manifest/?"+q.Encode()+" of "+coll.title, versionsOf(got), want)
		}
	}
}

// checkIDs asks for single objects: visible ones, partly visible ones (some
// versions hidden), invisible ones (stored here, no version visible), ids
// stored only in other collections and ids never stored. Invisible and
// absent ids must both give the same 404.
func (c *checker) checkIDs(coll *collection) {
	vis := map[*object][]*version{}
	hidden := map[*object]bool{}
	var objs []*object
	for _, v := range c.storedIn(coll) {
		if _, ok := vis[v.obj]; !ok {
			vis[v.obj] = nil
			objs = append(objs, v.obj)
		}
		if visibleTo(c.u, v) {
			vis[v.obj] = append(vis[v.obj], v)
		} else {
			hidden[v.obj] = true
		}
	}
	var full, partial, none []*object
	for _, o := range objs {
		switch {
		case len(vis[o]) == 0:
			none = append(none, o)
		case hidden[o]:
			partial = append(partial, o)
		default:
			full = append(full, o)
		}
	}
	var ids []string
	sample := func(l []*object) {
		for range c.p.perID {
			if len(l) > 0 {
				ids = append(ids, pick(c.rng, l).id)
			}
		}
	}
	sample(full)
	sample(partial)
	sample(partial)
	sample(none)
	sample(none)
	for range c.p.perID {
		if o := pick(c.rng, c.world.objects); o.coll != coll && c.objectIn(coll, o.id) == nil {
			ids = append(ids, o.id)
		}
	}
	ids = append(ids, c.nonexistent...)
	var ref404 []byte
	for _, id := range ids {
		o := c.objectIn(coll, id)
		var want []*version
		if o != nil {
			want = vis[o]
		}
		base := objectsPath(coll) + id + "/"
		r := c.get(base)
		if len(want) == 0 {
			if r.status != http.StatusNotFound {
				c.errorf("LEAK: GET objects/%s/ of %s as %s: status %d, want 404 (no visible version): %.300s", id, coll.title, c.who(), r.status, r.body)
				continue
			}
			// The 404 must not tell "hidden" from "absent".
			norm := bytes.ReplaceAll(r.body, []byte(id), []byte("ID"))
			if ref404 == nil {
				ref404 = norm
			} else if !bytes.Equal(norm, ref404) {
				c.errorf("GET objects/%s/ of %s as %s: 404 body %s differs from %s", id, coll.title, c.who(), norm, ref404)
			}
			for _, p := range []string{base + "versions/", base + "?match[version]=all"} {
				if r := c.get(p); r.status != http.StatusNotFound {
					c.errorf("LEAK: GET %s as %s: status %d, want 404: %.300s", p, c.who(), r.status, r.body)
				}
			}
			continue
		}
		if r.status != http.StatusOK {
			c.errorf("GET objects/%s/ of %s as %s: status %d: %s", id, coll.title, c.who(), r.status, r.body)
			continue
		}
		var env envelope
		if err := json.Unmarshal(r.body, &env); err != nil {
			c.errorf("GET objects/%s/: %v", id, err)
			continue
		}
		c.compareRaw("GET objects/"+id+"/ (latest visible version) of "+coll.title, coll, env.Objects, pickVersions(want, "last"))
		q := url.Values{"match[version]": {"all"}}
		if got, ok := c.pagedObject(coll, id, q); ok {
			c.compareRaw("GET objects/"+id+"/?match[version]=all of "+coll.title, coll, got, want)
		}
		if got, ok := c.versions(coll, id); ok {
			c.compare("GET objects/"+id+"/versions/ of "+coll.title, got, want)
		}
	}
}

// objectIn returns the object with this id stored in coll, or nil.
func (c *checker) objectIn(coll *collection, id string) *object {
	for _, v := range c.stored {
		if v.obj.coll == coll && v.obj.id == id {
			return v.obj
		}
	}
	return nil
}

func (c *checker) pagedObject(coll *collection, id string, q url.Values) ([]json.RawMessage, bool) {
	what := "GET objects/" + id + "/?" + q.Encode()
	var out []json.RawMessage
	ok := c.pages(objectsPath(coll)+id+"/", q, func(body []byte) (bool, string, bool) {
		var env envelope
		if err := json.Unmarshal(body, &env); err != nil {
			c.errorf("%s: %v", what, err)
			return false, "", false
		}
		out = append(out, env.Objects...)
		return env.More, env.Next, true
	})
	return out, ok
}

func (c *checker) versions(coll *collection, id string) ([]*version, bool) {
	var out []*version
	ok := c.pages(objectsPath(coll)+id+"/versions/", url.Values{}, func(body []byte) (bool, string, bool) {
		var vs struct {
			More     bool     `json:"more"`
			Next     string   `json:"next"`
			Versions []string `json:"versions"`
		}
		if err := json.Unmarshal(body, &vs); err != nil {
			c.errorf("GET versions/ of %s: %v", id, err)
			return false, "", false
		}
		for _, s := range vs.Versions {
			v := c.byVer[keyVer(coll.id, id, s)]
			if v == nil {
				c.errorf("LEAK? GET objects/%s/versions/ as %s: version %s never stored", id, c.who(), s)
				continue
			}
			out = append(out, v)
		}
		return vs.More, vs.Next, true
	})
	return out, ok
}

// checkStatuses: a status resource is visible to the submitting
// organisation and hub analysts only; to others it is as absent as a status
// that never existed.
func (c *checker) checkStatuses() {
	ref := c.get(statusPath("00000000-0000-4000-8000-000000000000"))
	if ref.status != http.StatusNotFound {
		c.errorf("GET a nonexistent status as %s: %d, want 404", c.who(), ref.status)
	}
	ref404 := bytes.ReplaceAll(ref.body, []byte("00000000-0000-4000-8000-000000000000"), []byte("ID"))
	own := 0
	for i := range c.statuses {
		s := c.statuses[i]
		mine := s.by.org == c.u.org
		if !mine && i%max(1, len(c.statuses)/c.p.statuses) != 0 {
			continue
		}
		if mine {
			// Sample the principal's own organisation's statuses too.
			if own++; own > c.p.statuses {
				continue
			}
		}
		r := c.get(statusPath(s.statusID))
		if !canSeeStatus(c.u, s.by) {
			if r.status != http.StatusNotFound {
				c.errorf("LEAK: GET status %s (submitted by %s) as %s: status %d, want 404: %.300s", s.statusID, s.by, c.who(), r.status, r.body)
			} else if norm := bytes.ReplaceAll(r.body, []byte(s.statusID), []byte("ID")); !bytes.Equal(norm, ref404) {
				c.errorf("GET status %s as %s: 404 body %s differs from a nonexistent status's %s", s.statusID, c.who(), norm, ref404)
			}
			continue
		}
		if r.status != http.StatusOK {
			c.errorf("GET status %s (submitted by %s) as %s: status %d, want 200", s.statusID, s.by, c.who(), r.status)
			continue
		}
		var st statusResource
		if err := json.Unmarshal(r.body, &st); err != nil {
			c.errorf("status %s: %v", s.statusID, err)
			continue
		}
		rejected := 0
		for _, v := range s.versions {
			if v.rejected {
				rejected++
			}
		}
		if st.ID != s.statusID || st.TotalCount != len(s.versions) || st.FailureCount != rejected || st.Status != "complete" {
			c.errorf("GET status %s as %s: %s", s.statusID, c.who(), r.body)
		}
	}
}

// runPublic checks the unauthenticated paths: every TAXII resource asks
// for credentials, /public/clear serves exactly the latest TLP:CLEAR
// version of every object of the open collections (and nothing of the
// others), paged, with match[type] and added_after.
func (c *checker) runPublic() {
	paths := []string{"/taxii2/", "/taxii2/hub/", "/taxii2/hub/collections/", "/api/v1/whoami"}
	for _, coll := range c.colls {
		paths = append(paths, objectsPath(coll), manifestPath(coll), objectsPath(coll)+c.stored[0].obj.id+"/",
			objectsPath(coll)+c.stored[0].obj.id+"/versions/")
	}
	paths = append(paths, statusPath(c.statuses[0].statusID))
	for _, p := range paths {
		if r := c.get(p); r.status != http.StatusUnauthorized {
			c.errorf("GET %s without credentials: status %d, want 401: %.200s", p, r.status, r.body)
		}
	}
	// /public/clear serves the TLP:CLEAR objects of one open collection
	// (docs/taxii.md): the default collection, or ?collection=ID for a
	// collection the public or every organisation may read; a collection
	// restricted to some organisations is never published (404, like an
	// unknown one). The latest CLEAR version of each object is served.
	for _, coll := range c.colls[1:] {
		q := url.Values{"collection": {coll.id}}
		open := slices.Contains(coll.read, "*") || slices.Contains(coll.read, "public")
		if open {
			g, _ := c.publicClear(q)
			c.compareRaw("GET /public/clear?"+q.Encode(), coll, g, pickVersions(c.visible(coll), "last"))
		} else if r := c.get("/public/clear?" + q.Encode()); r.status != http.StatusNotFound {
			c.errorf("GET /public/clear?%s (collection %s, not open): status %d, want 404: %.200s", q.Encode(), coll.title, r.status, r.body)
		}
	}
	def := c.colls[0]
	vis := pickVersions(c.visible(def), "last")
	got, dates := c.publicClear(url.Values{})
	c.compareRaw("GET /public/clear", def, got, vis)
	// added_after pivots: the last entry of each page, whose date_added
	// the page headers give, when its content is that of exactly one
	// expected version (the same observable may be the latest CLEAR
	// version in several collections).
	type pivot struct {
		da  time.Time
		seq int
	}
	var pivots []pivot
	for i, d := range dates {
		if d.IsZero() {
			continue
		}
		vs := slices.DeleteFunc(slices.Clone(c.withRaw(def, got[i])), func(v *version) bool { return !slices.Contains(vis, v) })
		if len(vs) == 1 {
			pivots = append(pivots, pivot{d, vs[0].seq})
		}
	}
	for range 4 {
		q := url.Values{}
		types := []string{pick(c.rng, allTypes), pick(c.rng, allTypes)}
		q.Set("match[type]", strings.Join(types, ","))
		afterSeq := -1
		if len(pivots) > 0 && c.rng.IntN(4) > 0 {
			p := pick(c.rng, pivots)
			q.Set("added_after", p.da.Format(time.RFC3339Nano))
			afterSeq = p.seq
		}
		var want []*version
		for _, v := range vis {
			if slices.Contains(types, v.obj.typ) && v.seq > afterSeq {
				want = append(want, v)
			}
		}
		g, _ := c.publicClear(q)
		c.compareRaw("GET /public/clear?"+q.Encode(), def, g, want)
	}
}

// compareRaw is compare for paths that serve JSON only (objects/, the
// public feed, export), in collection coll (nil: spanning collections).
// Several stored versions may have the same JSON (the same observable
// submitted by several producers, each a version of its own), and JSON
// alone does not tell them apart: served objects are matched with the
// expected versions by their JSON, as a multiset, so counts stay exact. A
// served object none of whose stored versions the principal may see is a
// leak; one it may see but that the request does not select (or once too
// often) is a wrong result, or a leak of a same-content version.
func (c *checker) compareRaw(what string, coll *collection, got []json.RawMessage, want []*version) {
	c.t.Helper()
	need := map[string][]*version{}
	for _, v := range want {
		need[string(v.want)] = append(need[string(v.want)], v)
	}
	for _, raw := range got {
		vs := c.lookup(what, coll, raw)
		if len(vs) == 0 {
			continue // reported
		}
		if l := need[string(raw)]; len(l) > 0 {
			need[string(raw)] = l[1:]
			continue
		}
		if !slices.ContainsFunc(vs, func(v *version) bool { return visibleTo(c.u, v) }) {
			c.errorf("LEAK: %s as %s: got %s (%d stored version(s) with this JSON), none of which the rules let it see", what, c.who(), vs[0], len(vs))
			continue
		}
		c.errorf("LEAK? %s as %s: got %s, which the rules do not allow here (or too many times)", what, c.who(), vs[0])
	}
	for _, v := range want {
		if l := need[string(v.want)]; len(l) > 0 && l[0] == v {
			need[string(v.want)] = l[1:]
			c.errorf("%s as %s: missing %s", what, c.who(), v)
		}
	}
}

// publicClear pages through /public/clear with random limits; it returns
// the objects served and, for the last one of each page, its date_added
// (from X-TAXII-Date-Added-Last; zero for the others).
func (c *checker) publicClear(q url.Values) ([]json.RawMessage, []time.Time) {
	var out []json.RawMessage
	var dates []time.Time
	q = cloneValues(q)
	for n := 0; n < 100000; n++ {
		q.Set("limit", c.limit())
		r := c.get("/public/clear?" + q.Encode())
		if r.status != http.StatusOK {
			c.errorf("GET /public/clear?%s: status %d: %s", q.Encode(), r.status, r.body)
			return out, dates
		}
		var b struct {
			Type    string            `json:"type"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil || b.Type != "bundle" {
			c.errorf("GET /public/clear: not a bundle: %v: %.200s", err, r.body)
			return out, dates
		}
		last, _ := time.Parse(time.RFC3339Nano, r.header.Get("X-TAXII-Date-Added-Last"))
		for i, raw := range b.Objects {
			out = append(out, raw)
			if i == len(b.Objects)-1 {
				dates = append(dates, last)
			} else {
				dates = append(dates, time.Time{})
			}
		}
		if r.header.Get("X-Kizuna-More") != "true" {
			break
		}
		next := r.header.Get("X-Kizuna-Next")
		if next == "" {
			c.errorf("GET /public/clear: more without X-Kizuna-Next")
			break
		}
		q.Set("next", next)
	}
	return out, dates
}
