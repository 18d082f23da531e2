package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii/client"
)

var seq int

// objID returns a fresh indicator id.
func objID() string {
	seq++
	return fmt.Sprintf("indicator--%08x-1111-4111-8111-%012x", seq, time.Now().UnixNano()&0xffffffffffff)
}

// indicator is a valid indicator with extra properties (",..." or "").
func indicator(id, modified, extra string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00.000Z","modified":%q,"name":"test","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}`,
		id, modified, extra)
}

func marking(ids ...string) string {
	return fmt.Sprintf(`,"object_marking_refs":["%s"]`, strings.Join(ids, `","`))
}

func dist(orgs, users []string) string {
	props := `"extension_type":"property-extension"`
	if len(orgs) > 0 {
		props += `,"organizations":["` + strings.Join(orgs, `","`) + `"]`
	}
	if len(users) > 0 {
		props += `,"users":["` + strings.Join(users, `","`) + `"]`
	}
	return fmt.Sprintf(`,"extensions":{%q:{%s}}`, sharing.DistributionExtension, props)
}

const v1 = "2024-01-01T00:00:00.000Z"

// matrixCase is one TLP case: its object's extra properties (given the
// producing hub) and whether it may reach the partner hub.
type matrixCase struct {
	name    string
	extra   func(x *testHub) string
	crosses bool
}

var matrix = []matrixCase{
	{"clear", func(*testHub) string { return marking(sharing.TLP2Clear) }, true},
	{"green", func(*testHub) string { return marking(sharing.TLP2Green) }, true},
	{"tlp1-white", func(*testHub) string { return marking(sharing.TLP1White) }, true},
	{"amber", func(*testHub) string { return marking(sharing.TLP2Amber) }, false},
	{"amber-named-partner", func(x *testHub) string { return marking(sharing.TLP2Amber) + dist([]string{x.partner.ID}, nil) }, true},
	{"amber-named-other", func(x *testHub) string { return marking(sharing.TLP2Amber) + dist([]string{x.member.OrgID}, nil) }, false},
	{"amber-strict-named-partner", func(x *testHub) string {
		return marking(sharing.TLP2AmberStrict) + dist([]string{x.partner.ID}, nil)
	}, false},
	{"amber-strict", func(*testHub) string { return marking(sharing.TLP2AmberStrict) }, false},
	{"red-named-partner-user", func(x *testHub) string {
		return marking(sharing.TLP2Red) + dist([]string{x.partner.ID}, []string{x.fedUser})
	}, false},
	{"tlp1-red-named", func(x *testHub) string { return marking(sharing.TLP1Red) + dist(nil, []string{x.fedUser}) }, false},
	{"unmarked", func(*testHub) string { return "" }, false},
	{"unmarked-named-partner", func(x *testHub) string { return dist([]string{x.partner.ID}, nil) }, true},
	{"unknown-marking", func(*testHub) string {
		return marking("marking-definition--0badc0de-0000-4000-8000-000000000000")
	}, false},
}

// TestTLPMatrix federates two real hubs over HTTP on loopback, by pull and
// by push, and checks exactly which TLP cases cross.
func TestTLPMatrix(t *testing.T) {
	for _, dir := range []Direction{Pull, Push} {
		t.Run(string(dir), func(t *testing.T) {
			ctx := context.Background()
			x, y := newTestHub(t, "x"), newTestHub(t, "y")
			want := map[string]string{} // id -> case name, crossing cases
			names := map[string]string{}
			for _, c := range matrix {
				id := objID()
				x.submit(indicator(id, v1, c.extra(x)))
				names[id] = c.name
				if c.crosses {
					want[id] = c.name
				}
			}
			var rep Report
			var err error
			if dir == Pull {
				y.feedTo(x, "x", Pull, "")
				rep, err = y.syncer().Run(ctx, "x")
			} else {
				x.feedTo(y, "y", Push, "")
				rep, err = x.syncer().Run(ctx, "y")
			}
			if err != nil {
				t.Fatal(err)
			}
			got := y.versions()
			for k, l := range got {
				id, _, _ := strings.Cut(k, "@")
				if _, ok := want[id]; !ok {
					t.Errorf("case %q crossed to the partner hub but must not", names[id])
				}
				if l.ProducerOrg != y.partner.ID {
					t.Errorf("case %q stored with producer %q, want the partner organisation %q", names[id], l.ProducerOrg, y.partner.ID)
				}
			}
			for id, name := range want {
				if _, ok := got[id+"@"+v1]; !ok {
					t.Errorf("case %q did not cross", name)
				}
			}
			n := int64(len(want))
			if dir == Pull {
				// The producing hub's server hands the partner what its policy
				// allows (named AMBER+STRICT, RED naming the partner's user):
				// the puller drops those.
				if rep.Pulled != n || rep.Withheld != 3 {
					t.Errorf("report %+v: want pulled %d, withheld 3", rep, n)
				}
			} else if rep.Pushed != n || rep.Skipped != 1 {
				t.Errorf("report %+v: want pushed %d, skipped 1 (named AMBER+STRICT)", rep, n)
			}
		})
	}
}

// TestVersionsRevocationsNoDuplicates checks that new versions and
// revocations travel both by pull and by push, and that re-running (even
// from scratch) adds nothing.
func TestVersionsRevocationsNoDuplicates(t *testing.T) {
	for _, dir := range []Direction{Pull, Push} {
		t.Run(string(dir), func(t *testing.T) {
			ctx := context.Background()
			x, y := newTestHub(t, "x"), newTestHub(t, "y")
			a, b := objID(), objID()
			green := marking(sharing.TLP2Green)
			x.submit(indicator(a, v1, green), indicator(b, v1, green))
			run := func() Report {
				t.Helper()
				var rep Report
				var err error
				if dir == Pull {
					rep, err = y.syncer().Run(ctx, "f")
				} else {
					rep, err = x.syncer().Run(ctx, "f")
				}
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			moved := func(r Report) int64 { return r.Pulled + r.Pushed }
			if dir == Pull {
				y.feedTo(x, "f", Pull, "")
			} else {
				x.feedTo(y, "f", Push, "")
			}
			if r := run(); moved(r) != 2 {
				t.Fatalf("first run moved %d, want 2: %+v", moved(r), r)
			}
			if r := run(); moved(r) != 0 {
				t.Fatalf("re-run moved %d, want 0: %+v", moved(r), r)
			}
			const v2, v3 = "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"
			x.submit(indicator(a, v2, green), strings.Replace(indicator(b, v2, green), `"name"`, `"revoked":true,"name"`, 1))
			if r := run(); moved(r) != 2 {
				t.Fatalf("run after update moved %d, want 2: %+v", moved(r), r)
			}
			x.submit(indicator(a, v3, green))
			if r := run(); moved(r) != 1 {
				t.Fatalf("run after second update moved %d, want 1: %+v", moved(r), r)
			}
			got := y.versions()
			want := []string{a + "@" + v1, a + "@" + v2, a + "@" + v3, b + "@" + v1, b + "@" + v2}
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Fatalf("partner holds %v, want %v", keys, want)
			}
			// The revocation itself arrived, byte for byte.
			p, err := y.st.Query(ctx, storeFilter(b))
			if err != nil || len(p.Entries) != 1 || !strings.Contains(string(p.Entries[0].Raw), `"revoked":true`) {
				t.Fatalf("latest version of %s at the partner is not the revocation: %v %+v", b, err, p.Entries)
			}
			// Forget the high-water marks and run again: everything is
			// re-sent, nothing is stored twice.
			if _, err := x.reg.db.Exec(`UPDATE federation_feeds SET pull_mark_ns = 0, push_mark_ns = 0`); err != nil {
				t.Fatal(err)
			}
			if _, err := y.reg.db.Exec(`UPDATE federation_feeds SET pull_mark_ns = 0, push_mark_ns = 0`); err != nil {
				t.Fatal(err)
			}
			if r := run(); moved(r) != 5 {
				t.Fatalf("run from scratch moved %d, want 5 (idempotent re-stores): %+v", moved(r), r)
			}
			if again := y.versions(); len(again) != len(got) {
				t.Fatalf("run from scratch changed the partner from %d to %d versions", len(got), len(again))
			}
		})
	}
}

// TestLoopsConverge federates two hubs both ways at once (each pulls from
// and pushes to the other) and checks that they converge to the same
// objects within two rounds and then stop moving anything.
func TestLoopsConverge(t *testing.T) {
	ctx := context.Background()
	a, b := newTestHub(t, "a"), newTestHub(t, "b")
	green := marking(sharing.TLP2Green)
	for range 5 {
		a.submit(indicator(objID(), v1, green))
		b.submit(indicator(objID(), v1, green))
	}
	a.submit(indicator(objID(), v1, marking(sharing.TLP2Red))) // stays home
	a.feedTo(b, "b", Both, "")
	b.feedTo(a, "a", Both, "")
	var last [2]Report
	for round := 1; round <= 3; round++ {
		for i, h := range []*testHub{a, b} {
			name := map[*testHub]string{a: "b", b: "a"}[h]
			r, err := h.syncer().Run(ctx, name)
			if err != nil {
				t.Fatalf("round %d, hub %s: %v", round, h.name, err)
			}
			last[i] = r
		}
	}
	for i, r := range last {
		if r.Pulled+r.Pushed != 0 {
			t.Errorf("hub %d still moving objects in round 3: %+v", i, r)
		}
	}
	va, vb := a.versions(), b.versions()
	if len(va) != 11 || len(vb) != 10 {
		t.Fatalf("a holds %d versions (want 10 shared + 1 RED), b holds %d (want 10)", len(va), len(vb))
	}
	for k := range vb {
		if _, ok := va[k]; !ok {
			t.Errorf("%s at b but not at a", k)
		}
	}
}

// TestInterruptedPullResumes cuts a pull off after three pages and checks
// that the next run continues from the stored mark, losing nothing.
func TestInterruptedPullResumes(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	for range 55 {
		x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	}
	proxy := newFlaky(t, x.srv.URL())
	var cut atomic.Bool
	cut.Store(true)
	proxy.fail = func(n int64, _ *http.Request) int {
		if cut.Load() && n > 3 {
			return 500
		}
		return 0
	}
	y.feedTo(x, "x", Pull, proxy.srv.URL+"/taxii2/hub/")
	s := y.syncer(func(o *client.Options) { o.Retries = -1 })
	s.PageSize, s.BatchSize = 10, 10
	rep, err := s.Run(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("interrupted run: err %v, want the injected HTTP 500", err)
	}
	if rep.Pulled != 30 {
		t.Fatalf("interrupted run stored %d, want the 30 of the three pages served", rep.Pulled)
	}
	h, err := y.reg.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if h.Failures != 1 || !strings.Contains(h.LastError, "500") || h.PullMark.IsZero() || h.Pulled != 30 || !h.LastSuccess.IsZero() {
		t.Fatalf("health after failure: %+v", h.Health)
	}
	cut.Store(false)
	rep, err = s.Run(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pulled != 25 {
		t.Fatalf("resumed run stored %d, want the remaining 25", rep.Pulled)
	}
	if n := len(y.versions()); n != 55 {
		t.Fatalf("partner holds %d versions, want 55", n)
	}
	h, _ = y.reg.Get(ctx, "x")
	if h.Failures != 0 || h.LastError != "" || h.LastSuccess.IsZero() || h.Pulled != 55 || h.LastPulled != 25 {
		t.Fatalf("health after recovery: %+v", h.Health)
	}
}

// TestRetryBackoffAndHealth has the partner answer 500 and 503 before
// recovering (the client retries with growing delays), then fail for good
// (the run fails and health records it), then recover.
func TestRetryBackoffAndHealth(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	proxy := newFlaky(t, x.srv.URL())
	var down atomic.Bool
	proxy.fail = func(n int64, _ *http.Request) int {
		switch {
		case down.Load():
			return 502
		case n == 1:
			return 500
		case n == 2:
			return 503
		}
		return 0
	}
	y.feedTo(x, "x", Pull, proxy.srv.URL+"/taxii2/hub/")
	var delays []time.Duration
	s := y.syncer(func(o *client.Options) {
		o.Sleep = func(_ context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	})
	rep, err := s.Run(ctx, "x")
	if err != nil || rep.Pulled != 1 {
		t.Fatalf("run through two failures: %+v, %v", rep, err)
	}
	if len(delays) != 2 || delays[0] <= 0 || delays[1] < delays[0] {
		t.Fatalf("back-off delays %v: want two, growing", delays)
	}
	h, _ := y.reg.Get(ctx, "x")
	if h.LastSuccess.IsZero() || h.Failures != 0 {
		t.Fatalf("health after a recovered run: %+v", h.Health)
	}
	down.Store(true)
	delays = nil
	x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	if _, err := s.Run(ctx, "x"); err == nil {
		t.Fatal("run against a partner that stays down succeeded")
	}
	if len(delays) != 4 {
		t.Fatalf("%d retries, want the default 4", len(delays))
	}
	h2, _ := y.reg.Get(ctx, "x")
	if h2.Failures != 1 || !strings.Contains(h2.LastError, "502") || !h2.LastSuccess.Equal(h.LastSuccess) {
		t.Fatalf("health after a failed run: %+v", h2.Health)
	}
	down.Store(false)
	if rep, err := s.Run(ctx, "x"); err != nil || rep.Pulled != 1 {
		t.Fatalf("run after recovery: %+v, %v", rep, err)
	}
	h3, _ := y.reg.Get(ctx, "x")
	if h3.Failures != 0 || h3.LastError != "" || h3.Pulled != 2 {
		t.Fatalf("health after recovery: %+v", h3.Health)
	}
}

// TestPushNoEcho checks that a hub never pushes a partner's own objects back
// to it, even when they are visible to the partner (loop prevention by the
// producer label).
func TestPushNoEcho(t *testing.T) {
	ctx := context.Background()
	a, b := newTestHub(t, "a"), newTestHub(t, "b")
	green := marking(sharing.TLP2Green)
	for range 3 {
		a.submit(indicator(objID(), v1, green))
		b.submit(indicator(objID(), v1, green))
	}
	b.feedTo(a, "a", Push, "")
	if r, err := b.syncer().Run(ctx, "a"); err != nil || r.Pushed != 3 {
		t.Fatalf("b pushing to a: %+v, %v", r, err)
	}
	a.feedTo(b, "b", Push, "")
	r, err := a.syncer().Run(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if r.Pushed != 3 || r.Skipped != 3 {
		t.Fatalf("a pushing to b: %+v: want its own 3 pushed and b's 3 held back", r)
	}
}

// TestRightsOnLocalCollection checks that a feed only pulls into a local
// collection its partner organisation may write to, and only pushes from
// one it may read.
func TestRightsOnLocalCollection(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	const private = "33333333-3333-4333-8333-333333333333"
	if err := y.st.CreateCollection(ctx, store.Collection{ID: private, APIRoot: store.DefaultAPIRoot, Title: "members only",
		ReadOrgs: []string{y.member.OrgID}, WriteOrgs: []string{y.member.OrgID}}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []Direction{Pull, Push} {
		name := "to-x-" + string(dir)
		if err := y.reg.Add(ctx, Feed{Name: name, URL: x.apiRoot(), Collection: store.DefaultCollectionID, Token: x.fedToken,
			Direction: dir, OrgID: y.partner.ID, LocalCollection: private}); err != nil {
			t.Fatal(err)
		}
		if _, err := y.syncer().Run(ctx, name); !errors.Is(err, errkind.Forbidden) {
			t.Errorf("%s into a collection the partner may not use: %v", dir, err)
		}
	}
	if n := len(y.versions()); n != 0 {
		t.Fatalf("%d versions arrived", n)
	}
}

// TestSchedulerRunsDueFeeds checks that only feeds with an interval run,
// and only when their last attempt is at least that long ago.
func TestSchedulerRunsDueFeeds(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := y.syncer()
	s.Now = func() time.Time { return now }
	sch := &Scheduler{Syncer: s}
	for _, f := range []struct {
		name  string
		every time.Duration
	}{{"manual", 0}, {"hourly", time.Hour}} {
		if err := y.reg.Add(ctx, Feed{Name: f.name, URL: x.apiRoot(), Collection: store.DefaultCollectionID, Token: x.fedToken,
			Direction: Pull, Every: f.every, OrgID: y.partner.ID, LocalCollection: store.DefaultCollectionID}); err != nil {
			t.Fatal(err)
		}
	}
	if n := sch.RunDue(ctx); n != 1 {
		t.Fatalf("first pass ran %d feeds, want the hourly one", n)
	}
	now = now.Add(59 * time.Minute)
	if n := sch.RunDue(ctx); n != 0 {
		t.Fatalf("ran %d feeds before their interval", n)
	}
	now = now.Add(time.Minute)
	if n := sch.RunDue(ctx); n != 1 {
		t.Fatalf("ran %d feeds once due, want 1", n)
	}
	h, _ := y.reg.Get(ctx, "hourly")
	m, _ := y.reg.Get(ctx, "manual")
	if !h.LastAttempt.Equal(now) || !h.LastSuccess.Equal(now) || h.Pulled != 1 || !m.LastAttempt.IsZero() {
		t.Fatalf("hourly %+v, manual %+v", h.Health, m.Health)
	}
}

// failingAdds fails every Add of a store that holds the object failID
// (while it is set). Failing by content, not by call order, keeps the test
// independent of which of two concurrently stored batches reaches the
// store first.
type failingAdds struct {
	store.Store
	failID atomic.Pointer[string]
}

func (f *failingAdds) Add(ctx context.Context, coll string, recs []store.Record, statusID string) ([]store.AddResult, error) {
	if id := f.failID.Load(); id != nil {
		for _, r := range recs {
			if r.Object != nil && r.Object.ID == *id {
				return nil, errors.New("injected store failure")
			}
		}
	}
	return f.Store.Add(ctx, coll, recs, statusID)
}

// TestStoreFailureKeepsMark fails one local batch in the middle of a pull
// (batches are stored two at a time) and checks that the mark never passes
// it: the next run stores everything, losing nothing.
func TestStoreFailureKeepsMark(t *testing.T) {
	ctx := context.Background()
	x, y := newTestHub(t, "x"), newTestHub(t, "y")
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = objID()
		x.submit(indicator(ids[i], v1, marking(sharing.TLP2Green)))
	}
	y.feedTo(x, "x", Pull, "")
	fs := &failingAdds{Store: y.st}
	fs.failID.Store(&ids[24]) // in the third batch of ten
	s := y.syncer()
	s.Pipeline = &ingest.Pipeline{Store: fs, Policy: y.policy}
	s.PageSize, s.BatchSize = 10, 10
	rep, err := s.Run(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "injected store failure") {
		t.Fatalf("run with a failing store: %v", err)
	}
	if rep.Pulled != 20 {
		t.Fatalf("recorded %d pulled, want the 20 of the two batches before the failed one", rep.Pulled)
	}
	fs.failID.Store(nil)
	rep, err = s.Run(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pulled != 30 {
		t.Fatalf("second run pulled %d, want 30 (from the mark after the second batch)", rep.Pulled)
	}
	if n := len(y.versions()); n != 50 {
		t.Fatalf("%d versions stored, want 50", n)
	}
}

// TestPushBatchesAndResume pushes through a proxy into a hub with a small
// max_content_length: every POST fits it, a push cut off by a failing POST
// is completed by the next run, and nothing is stored twice.
func TestPushBatchesAndResume(t *testing.T) {
	ctx := context.Background()
	const maxBody = 2500
	x := newTestHub(t, "x")
	y := newTestHub(t, "y", func(c *server.Config) { c.MaxContentLength = maxBody })
	for range 10 {
		x.submit(indicator(objID(), v1, marking(sharing.TLP2Green)))
	}
	proxy := newFlaky(t, y.srv.URL())
	var cut atomic.Bool
	cut.Store(true)
	var posts, tooBig atomic.Int32
	proxy.fail = func(_ int64, r *http.Request) int {
		if r.Method != http.MethodPost {
			return 0
		}
		if r.ContentLength > maxBody-1024 {
			tooBig.Add(1)
		}
		if posts.Add(1) == 3 && cut.Load() {
			return 500
		}
		return 0
	}
	x.feedTo(y, "y", Push, proxy.srv.URL+"/taxii2/hub/")
	s := x.syncer(func(o *client.Options) { o.Retries = -1 })
	s.PushBatch = 4
	if _, err := s.Run(ctx, "y"); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("push through a failing POST: %v", err)
	}
	if n := len(y.versions()); n == 0 || n >= 10 {
		t.Fatalf("%d versions arrived before the failure, want some but not all", n)
	}
	cut.Store(false)
	rep, err := s.Run(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pushed != 10 {
		t.Fatalf("resumed push sent %d, want the whole page again (10)", rep.Pushed)
	}
	if n := len(y.versions()); n != 10 {
		t.Fatalf("%d versions at the partner, want 10", n)
	}
	// Batches of 4 would need 3 POSTs for 10 objects; the partner's
	// max_content_length makes them smaller.
	if second := posts.Load() - 3; tooBig.Load() != 0 || second <= 3 {
		t.Fatalf("%d POSTs in the second run, %d over max_content_length", second, tooBig.Load())
	}
	if rep, err := s.Run(ctx, "y"); err != nil || rep.Pushed != 0 {
		t.Fatalf("third run: %+v, %v", rep, err)
	}
}
