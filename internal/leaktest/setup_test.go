package leaktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// params sizes a run.
type params struct {
	seed  uint64
	scale float64
	// versions is the number of object versions submitted over TAXII.
	versions int
	// perID is how many ids of each kind (visible, partly visible,
	// invisible, elsewhere) each principal asks for individually.
	perID int
	// statuses is how many status resources every principal asks for.
	statuses int
}

func loadParams(t *testing.T) params {
	t.Helper()
	p := params{seed: rand.Uint64(), scale: 1}
	if s := os.Getenv("KIZUNA_LEAK_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("KIZUNA_LEAK_SEED=%q: %v", s, err)
		}
		p.seed = v
	}
	if s := os.Getenv("KIZUNA_LEAK_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			t.Fatalf("KIZUNA_LEAK_SCALE=%q: want a positive number", s)
		}
		p.scale = v
	} else if testing.Short() {
		p.scale = 0.2
	}
	p.versions = max(100, int(3000*p.scale))
	p.perID = max(2, int(6*p.scale))
	p.statuses = max(5, int(25*p.scale))
	return p
}

// env is a running hub and the test's model of it.
type env struct {
	*world
	dir    string
	st     store.Store
	url    string
	client *http.Client
	p      params
}

// newEnv creates the organisations, users, tokens and collections in a
// fresh data directory and starts a real server on 127.0.0.1:0.
func newEnv(t *testing.T, p params) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{
		rng:    rand.New(rand.NewPCG(p.seed, p.seed^0x6b697a756e61)),
		byKey:  map[string][]*version{},
		byVer:  map[string]*version{},
		scoIDs: map[string]string{},
		base:   time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	e := &env{world: w, dir: dir, st: st, p: p}
	e.seedDirectory(ctx, t)

	srv, err := server.New(server.Config{
		Listen: "127.0.0.1:0", InsecureHTTP: true, DataDir: dir,
		Store: st, Policy: sharing.NewPolicy(sharing.TLPNone),
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		HubOrgID:   w.hub.id,
		Auth:       &auth.Authenticator{Dir: st},
		SubmitWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	e.url = srv.URL()
	e.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return e
}

// seedDirectory creates 12 organisations: the hub (analysts, a hub admin,
// an org-admin and a plain member) and eleven of the other types, two of
// them publishing anonymously, each with an org-admin and members.
func (e *env) seedDirectory(ctx context.Context, t *testing.T) {
	t.Helper()
	w := e.world
	now := time.Now().UTC()
	types := []string{"government", "critical-infrastructure", "local-government", "academia", "sme", "isac", "partner-cert"}
	newOrg := func(name, typ string, anon bool, roles ...string) *org {
		o := &org{id: "identity--" + w.uuid4(), name: name, typ: typ, anonymous: anon}
		if err := e.st.CreateOrg(ctx, store.Org{ID: o.id, Name: name, Sector: "test", Type: typ, Anonymous: anon, Created: now}); err != nil {
			t.Fatal(err)
		}
		for i, role := range roles {
			u := &user{id: "user--" + w.uuid4(), name: fmt.Sprintf("%s-%d", role, i), role: role, org: o}
			if err := e.st.CreateUser(ctx, store.User{ID: u.id, OrgID: o.id, Name: u.name, Role: sharing.Role(role), Created: now}); err != nil {
				t.Fatal(err)
			}
			tok, hash, err := auth.NewToken()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.st.CreateToken(ctx, store.Token{ID: "tok-" + w.uuid4(), UserID: u.id, Hash: hash, Created: now}); err != nil {
				t.Fatal(err)
			}
			u.token = tok
			o.users = append(o.users, u)
			w.users = append(w.users, u)
		}
		w.orgs = append(w.orgs, o)
		return o
	}
	w.hub = newOrg("Hub CERT", "hub", false, "analyst", "analyst", "hub-admin", "org-admin", "member")
	for i := range 11 {
		roles := []string{"org-admin", "member"}
		if i%3 != 2 {
			roles = append(roles, "member")
		}
		newOrg(fmt.Sprintf("%s-%d", types[i%len(types)], i), types[i%len(types)], i == 3 || i == 8, roles...)
	}
	ops := []string{w.orgs[1].id, w.orgs[4].id, w.orgs[8].id}
	w.colls = []*collection{
		{id: store.DefaultCollectionID, title: "default", read: []string{"*"}, write: []string{"*"}},
		{id: "0b0b0b0b-0000-4000-8000-" + fmt.Sprintf("%012d", 1), title: "ops", read: ops, write: ops},
		{id: "0b0b0b0b-0000-4000-8000-" + fmt.Sprintf("%012d", 2), title: "dropbox", read: []string{w.hub.id}, write: []string{"*"}},
	}
	for _, c := range w.colls[1:] {
		if err := e.st.CreateCollection(ctx, store.Collection{ID: c.id, APIRoot: store.DefaultAPIRoot, Title: c.title, ReadOrgs: c.read, WriteOrgs: c.write}); err != nil {
			t.Fatal(err)
		}
	}
	w.unknownMarking = "marking-definition--" + w.uuid4()
	for range 3 {
		w.nonexistent = append(w.nonexistent, pick(w.rng, []string{"indicator", "malware", "report", "ipv4-addr"})+"--"+w.uuid4())
	}
}

// response is a recorded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request as u (nil: without credentials).
func (e *env) do(method, path string, u *user, body []byte) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Accept", taxii.MediaTAXII)
	if body != nil {
		req.Header.Set("Content-Type", taxii.MediaTAXII)
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func objectsPath(c *collection) string {
	return "/taxii2/" + store.DefaultAPIRoot + "/collections/" + c.id + "/objects/"
}

func manifestPath(c *collection) string {
	return "/taxii2/" + store.DefaultAPIRoot + "/collections/" + c.id + "/manifest/"
}

func statusPath(id string) string { return "/taxii2/" + store.DefaultAPIRoot + "/status/" + id + "/" }

type statusResource struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	TotalCount   int    `json:"total_count"`
	SuccessCount int    `json:"success_count"`
	FailureCount int    `json:"failure_count"`
	PendingCount int    `json:"pending_count"`
	Successes    []struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"successes"`
	Failures []struct {
		ID string `json:"id"`
	} `json:"failures"`
}

// submitStatements stores the statement marking-definitions that objects
// reference as known, non-TLP markings (they are unmarked, hence CLEAR).
func (e *env) submitStatements(t *testing.T) {
	t.Helper()
	w := e.world
	by := w.hub.users[0]
	obj := func(id string) *object {
		o := &object{coll: w.colls[0], id: id, typ: "marking-definition", owner: by}
		w.objects = append(w.objects, o)
		return o
	}
	var vs []*version
	for i := range 3 {
		id := "marking-definition--" + w.uuid4()
		created := ts(w.base.Add(time.Duration(i) * time.Hour))
		raw, _ := json.Marshal(map[string]any{"type": "marking-definition", "spec_version": "2.1", "id": id,
			"created": created, "definition_type": "statement",
			"definition": map[string]any{"statement": fmt.Sprintf("Copyright %d Kizuna test", i)}})
		v := &version{obj: obj(id), producer: by, raw: raw, want: raw, ver: created, eff: lvClear,
			note: "statement marking-definition", seq: -1}
		v.verKey, _ = parseMicro(created)
		w.versions = append(w.versions, v)
		w.statements = append(w.statements, id)
		vs = append(vs, v)
	}
	e.submit(t, &submission{by: by, coll: w.colls[0], versions: vs})
}

func parseMicro(s string) (int64, error) {
	tm, err := time.Parse(time.RFC3339Nano, s)
	return tm.UnixMicro(), err
}

// generate makes the random versions and submits them in random batches,
// one POST at a time (so that date_added order is submission order).
func (e *env) generate(t *testing.T) {
	t.Helper()
	w := e.world
	r := w.rng
	index := map[string]*object{}
	type key struct {
		u *user
		c *collection
	}
	pending := map[key][]*version{}
	var keys []key
	add := func(v *version, c *collection) {
		k := key{v.producer, c}
		if _, ok := pending[k]; !ok {
			keys = append(keys, k)
		}
		pending[k] = append(pending[k], v)
	}
	writers := func(c *collection) []*user {
		var out []*user
		for _, u := range w.users {
			if c.canWrite(u) {
				out = append(out, u)
			}
		}
		return out
	}
	// resubmit plans an identical copy of the observable version v, by its
	// own producer (sameProducer: an idempotent re-submission, the same
	// stored version) or by another writer of the collection (a new
	// version with that writer's label, see sameVersion).
	copies := [2]int{} // planned: by the same producer, by another one
	resubmit := func(v *version, sameProducer bool) bool {
		producer := v.producer
		if !sameProducer {
			others := slices.DeleteFunc(writers(v.obj.coll), func(u *user) bool { return u == v.producer })
			if len(others) == 0 {
				return false
			}
			producer = pick(r, others)
		}
		if producer.org.anonymous && bytes.Contains(v.raw, []byte(producer.org.id)) {
			return false // it names the anonymous producer as a recipient
		}
		cp := *v
		cp.producer, cp.anonymous, cp.seq, cp.dupOf, cp.twinOf = producer, producer.org.anonymous, -1, nil, nil
		cp.note = "identical re-submission by another producer (" + v.note + ")"
		if sameProducer {
			cp.note = "identical re-submission by the same producer (" + v.note + ")"
			copies[0]++
		} else {
			copies[1]++
		}
		w.versions = append(w.versions, &cp)
		add(&cp, v.obj.coll)
		return true
	}
	var versioned []*object
	for range e.p.versions {
		c := w.colls[0]
		switch n := r.IntN(100); {
		case n < 12:
			c = w.colls[1]
		case n < 18:
			c = w.colls[2]
		}
		ws := writers(c)
		producer := pick(r, ws)
		if len(w.versions) > 0 && r.IntN(100) < 4 {
			// An identical copy of an observable already submitted, by
			// its producer or by somebody else.
			if v := pick(r, w.versions); v.obj.sco && !v.rejected {
				resubmit(v, r.IntN(2) == 0)
				continue
			}
		}
		var o *object
		if len(versioned) > 0 && r.IntN(100) < 30 {
			// Another version of an existing object, usually by its owner.
			o = pick(r, versioned)
			c = o.coll
			producer = o.owner
			if r.IntN(100) < 15 {
				producer = pick(r, writers(c))
			}
		} else {
			o = w.newObject(c, producer)
			if prev, ok := index[c.id+"|"+o.id]; ok {
				w.objects = w.objects[:len(w.objects)-1]
				o = prev
			} else {
				index[c.id+"|"+o.id] = o
				if !o.sco {
					versioned = append(versioned, o)
				}
			}
		}
		add(w.newVersion(o, producer), c)
	}
	// Both kinds of identical re-submission, whatever the seed.
	for i, same := range []bool{true, false} {
		for _, v := range w.versions {
			if copies[i] > 0 {
				break
			}
			if v.obj.sco && !v.rejected {
				resubmit(v, same)
			}
		}
	}
	// Random batches of one producer's versions for one collection, at
	// most one version of an SCO per batch (the status then tells which
	// version the server assigned to it).
	for len(keys) > 0 {
		i := r.IntN(len(keys))
		k := keys[i]
		list := pending[k]
		r.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
		n := 1 + r.IntN(25)
		var batch, rest []*version
		seen := map[string]bool{}
		for _, v := range list {
			if len(batch) < n && !(v.obj.sco && seen[v.obj.id]) {
				batch = append(batch, v)
				seen[v.obj.id] = true
			} else {
				rest = append(rest, v)
			}
		}
		if len(rest) == 0 {
			delete(pending, k)
			keys = slices.Delete(keys, i, i+1)
		} else {
			pending[k] = rest
		}
		e.submit(t, &submission{by: k.u, coll: k.c, versions: batch})
	}
}

// submit POSTs one envelope and reconciles the status resource with the
// model: which versions were stored, which refused, which were identical
// to an earlier version.
func (e *env) submit(t *testing.T, s *submission) {
	t.Helper()
	w := e.world
	raws := make([]json.RawMessage, len(s.versions))
	for i, v := range s.versions {
		raws[i] = v.raw
	}
	body, _ := json.Marshal(map[string]any{"objects": raws})
	resp, err := e.do(http.MethodPost, objectsPath(s.coll), s.by, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != http.StatusAccepted {
		t.Fatalf("POST by %s to %s: status %d: %s", s.by, s.coll.title, resp.status, resp.body)
	}
	var st statusResource
	if err := json.Unmarshal(resp.body, &st); err != nil {
		t.Fatalf("POST by %s: status resource: %v: %s", s.by, err, resp.body)
	}
	s.statusID = st.ID
	w.statuses = append(w.statuses, s)
	if st.Status != "complete" || st.PendingCount != 0 || st.TotalCount != len(s.versions) {
		t.Fatalf("POST by %s: status %s, %d pending, total %d (want complete, 0, %d)", s.by, st.Status, st.PendingCount, st.TotalCount, len(s.versions))
	}
	succ := map[string][]string{}
	for _, d := range st.Successes {
		succ[d.ID] = append(succ[d.ID], d.Version)
	}
	fail := map[string]int{}
	for _, d := range st.Failures {
		fail[d.ID]++
	}
	wantFail := 0
	for _, v := range s.versions {
		id := v.obj.id
		if v.rejected {
			wantFail++
			if fail[id] == 0 {
				t.Errorf("%s: accepted, want refused (status %s)", v, st.ID)
			}
			fail[id]--
			continue
		}
		vers := succ[id]
		if len(vers) == 0 {
			t.Fatalf("%s: not among the successes of status %s: %s", v, st.ID, resp.body)
		}
		if v.obj.sco {
			v.ver = vers[0]
			if v.verKey, err = parseMicro(v.ver); err != nil {
				t.Fatalf("%s: status version %q: %v", v, v.ver, err)
			}
		} else if !slices.Contains(vers, v.ver) {
			t.Fatalf("%s: status %s lists versions %v", v, st.ID, vers)
		}
		k := keyRaw(s.coll.id, id, v.want)
		same := w.byKey[k]
		if i := slices.IndexFunc(same, func(prev *version) bool { return sameVersion(prev, v) }); i >= 0 {
			// An identical object under the same label is the version
			// already stored (the earliest such, if several).
			prev := same[i]
			v.dupOf = prev
			if v.ver != prev.ver {
				t.Errorf("%s: identical to stored version %s (same label), status says %s", v, prev.ver, v.ver)
			}
			continue
		}
		if prev := w.byVer[keyVer(s.coll.id, id, v.ver)]; prev != nil {
			if slices.Contains(same, prev) {
				t.Fatalf("%s: answered with version %s, the identical copy stored under another label (%s): the submitter may not be able to read it, and learns that somebody else holds it", v, prev.ver, prev)
			}
			t.Fatalf("%s: version assigned twice (also %s)", v, prev)
		}
		if len(same) > 0 {
			v.twinOf = same[0]
		}
		v.seq = len(w.stored)
		w.stored = append(w.stored, v)
		w.byKey[k] = append(same, v)
		w.byVer[keyVer(s.coll.id, id, v.ver)] = v
	}
	if st.SuccessCount != len(s.versions)-wantFail || st.FailureCount != wantFail {
		t.Errorf("status %s: %d successes, %d failures; want %d, %d", st.ID, st.SuccessCount, st.FailureCount, len(s.versions)-wantFail, wantFail)
	}
}
