package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii/client"
)

// testHub is a real Kizuna server on 127.0.0.1:0 over its own data
// directory, with a hub organisation, a local member organisation (user
// "member") and a partner organisation standing for the other hub (user
// "fed", whose token the other hub uses).
type testHub struct {
	t        testing.TB
	name     string
	dir      string
	st       *sqlite.Store
	policy   *sharing.Policy
	pipe     *ingest.Pipeline
	srv      *server.Server
	reg      *Registry
	member   sharing.Principal // local producer
	partner  store.Org         // the other hub's stand-in here
	fedUser  string            // user id of "fed"
	fedToken string            // token of "fed" (given to the other hub)
	admin    string            // token of "admin", a hub-admin of this hub
	cfg      server.Config     // the server's configuration (for restarts)
}

func newTestHub(t testing.TB, name string, opts ...func(*server.Config)) *testHub {
	t.Helper()
	ctx := context.Background()
	h := &testHub{t: t, name: name, dir: t.TempDir(), policy: sharing.NewPolicy(sharing.TLPAmber)}
	st, err := sqlite.Open(ctx, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	id := func(n int) string {
		return fmt.Sprintf("%08x-0000-4000-8000-%012x", len(name)*1000+int(name[0]), n)
	}
	hubOrg := store.Org{ID: "identity--" + id(1), Name: name, Type: "hub", Created: now}
	memberOrg := store.Org{ID: "identity--" + id(2), Name: name + "-member", Type: "sme", Created: now}
	h.partner = store.Org{ID: "identity--" + id(3), Name: name + "-partner", Type: "partner-cert", Created: now}
	for _, o := range []store.Org{hubOrg, memberOrg, h.partner} {
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	memberID, fedID, adminID := "user--"+id(4), "user--"+id(5), "user--"+id(6)
	for _, u := range []store.User{
		{ID: memberID, OrgID: memberOrg.ID, Name: "member", Role: sharing.RoleMember, Created: now},
		{ID: fedID, OrgID: h.partner.ID, Name: "fed", Role: sharing.RoleMember, Created: now},
		{ID: adminID, OrgID: hubOrg.ID, Name: "admin", Role: sharing.RoleHubAdmin, Created: now},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	token := func(user string) string {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateToken(ctx, store.Token{ID: "tok-" + user, UserID: user, Hash: hash, Created: now}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	h.fedUser, h.fedToken, h.admin = fedID, token(fedID), token(adminID)
	h.member = sharing.Principal{OrgID: memberOrg.ID, OrgName: memberOrg.Name, UserID: memberID, User: "member", Role: sharing.RoleMember}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.pipe = &ingest.Pipeline{Store: st, Policy: h.policy, Log: log}
	cfg := server.Config{
		Listen: "127.0.0.1:0", InsecureHTTP: true, DataDir: h.dir, Store: st, Policy: h.policy, Log: log,
		HubOrgID: hubOrg.ID, SubmitWait: 30 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.cfg = cfg
	h.srv, err = server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown %s: %v", name, err)
		}
	})
	h.reg, err = OpenRegistry(ctx, h.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.reg.Close() })
	return h
}

// apiRoot is the hub's TAXII API root URL.
func (h *testHub) apiRoot() string { return h.srv.URL() + "/taxii2/" + store.DefaultAPIRoot + "/" }

// syncer returns a Syncer over this hub with fast, recorded retries.
func (h *testHub) syncer(opts ...func(*client.Options)) *Syncer {
	return &Syncer{
		Store: h.st, Policy: h.policy, Pipeline: h.pipe, Feeds: h.reg,
		StatusPoll: 10 * time.Millisecond,
		ClientOptions: func(o *client.Options) {
			o.Sleep = func(context.Context, time.Duration) error { return nil }
			for _, f := range opts {
				f(o)
			}
		},
	}
}

// feedTo configures on h a feed to the other hub (at url, default the
// other hub's own API root) with the token other issued for h.
func (h *testHub) feedTo(other *testHub, name string, dir Direction, url string) {
	h.t.Helper()
	if url == "" {
		url = other.apiRoot()
	}
	err := h.reg.Add(context.Background(), Feed{
		Name: name, URL: url, Collection: store.DefaultCollectionID, Token: other.fedToken,
		Direction: dir, OrgID: h.partner.ID, LocalCollection: store.DefaultCollectionID, Created: time.Now(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// submit stores raw objects as the local member.
func (h *testHub) submit(raws ...string) {
	h.t.Helper()
	rs := make([]json.RawMessage, len(raws))
	for i, r := range raws {
		rs[i] = json.RawMessage(r)
	}
	res, err := h.pipe.Submit(context.Background(), ingest.Submission{Collection: store.DefaultCollectionID, Principal: h.member}, rs)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(res.Failures) > 0 {
		h.t.Fatalf("%s: submission failures: %+v", h.name, res.Failures)
	}
}

// everything is a predicate that sees every stored version (tests only).
var everything = sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{
	sharing.TLPNone, sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed, sharing.TLPUnknown,
}}}}

// versions returns every stored "id@version" of the default collection,
// sorted, with each version's label.
func (h *testHub) versions() map[string]sharing.Label {
	h.t.Helper()
	out := map[string]sharing.Label{}
	f := store.Filter{Collection: store.DefaultCollectionID, Access: everything, Versions: []string{"all"}, Limit: 1000}
	for {
		p, err := h.st.Manifest(context.Background(), f)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, e := range p.Entries {
			k := e.ID + "@" + e.Version
			if _, dup := out[k]; dup {
				h.t.Fatalf("%s: version %s stored twice", h.name, k)
			}
			out[k] = e.Label
		}
		if !p.More {
			return out
		}
		f.Next = p.Next
	}
}

// flaky is a reverse proxy in front of a hub that fails requests on demand.
type flaky struct {
	srv *httptest.Server
	// fail decides, for the n-th request (from 1), the status to fail it
	// with (0: pass it through).
	fail     func(n int64, r *http.Request) int
	requests atomic.Int64
}

func newFlaky(t testing.TB, target string) *flaky {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &flaky{}
	rp := httputil.NewSingleHostReverseProxy(u)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		if f.fail != nil {
			if code := f.fail(n, r); code != 0 {
				w.Header().Set("Content-Type", client.MediaTAXII)
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"title":"injected failure %d"}`, n)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// storeFilter selects the latest version of one object, seeing everything.
func storeFilter(id string) store.Filter {
	return store.Filter{Collection: store.DefaultCollectionID, Access: everything, IDs: []string{id}}
}
