package source_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/csaf/fetch/fetchtest"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

const hubID = "identity--00000000-0000-4000-8000-0000000000a1"

var t0 = time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

// kizunaProvider is another Kizuna hub's CSAF provider: internal/server
// over HTTPS (self-signed) on loopback, with an analyst's token.
type kizunaProvider struct {
	url, token string
	p          *csaf.Provider
}

func startKizuna(t *testing.T) *kizunaProvider {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	if err := st.CreateOrg(ctx, store.Org{ID: hubID, Name: "hub", Type: "hub", Created: now}); err != nil {
		t.Fatal(err)
	}
	uid := "user--00000000-0000-4000-9000-0000000000a1"
	if err := st.CreateUser(ctx, store.User{ID: uid, OrgID: hubID, Name: "analyst", Role: sharing.RoleAnalyst, Created: now}); err != nil {
		t.Fatal(err)
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, store.Token{ID: "tok-a", UserID: uid, Hash: hash, Created: now}); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Listen: "127.0.0.1:0", DataDir: dir, Store: st, Policy: sharing.NewPolicy(sharing.TLPAmber),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HubOrgID: hubID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("server URL %s", srv.URL())
	}
	return &kizunaProvider{url: srv.URL(), token: tok, p: csaf.NewProvider(dir, nil)}
}

func (k *kizunaProvider) publish(t *testing.T, doc []byte) {
	t.Helper()
	if _, err := k.p.Publish(context.Background(), doc, csaf.PublishOptions{ProducerOrg: hubID}); err != nil {
		t.Fatal(err)
	}
}

// consumer is the hub that runs the sources.
func consumer(t *testing.T) (*source.Runner, *vulndb.DB) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	vdb, err := vulndb.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vdb.Close() })
	reg, err := source.OpenRegistry(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return &source.Runner{Registry: reg, DB: vdb, CreatedBy: hubID}, vdb
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunKizunaProvider pulls another Kizuna hub's provider: the OASIS
// examples and a test advisory are imported, the AMBER one only read with
// the token and imported hub-only, a second run fetches nothing, and a new version
// updates the record in place.
func TestRunKizunaProvider(t *testing.T) {
	ctx := context.Background()
	k := startKizuna(t)
	for _, f := range []string{"bsi-2022-0001.json", "rhsa-2021_5217.json"} {
		k.publish(t, readFile(t, filepath.Join("..", "..", "csaf", "testdata", f)))
	}
	k.publish(t, fetchtest.Advisory(t, "KZ-SRC-1", "WHITE", 1, t0))
	k.publish(t, fetchtest.Advisory(t, "KZ-AMBER-1", "AMBER", 1, t0))
	r, vdb := consumer(t)
	for _, s := range []source.Source{
		{Name: "partner", Kind: source.CSAFProvider, URL: k.url, Token: k.token, InsecureSkipVerify: true},
		{Name: "public", Kind: source.CSAFProvider, URL: k.url + "/.well-known/csaf/provider-metadata.json", InsecureSkipVerify: true},
	} {
		if err := r.Registry.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	res, err := r.Run(ctx, "partner")
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, res)
	}
	if res.Fetched != 4 || res.Withheld != 0 || res.Failed != 0 || res.Added < 4 || res.STIX != 0 {
		t.Errorf("first run: %+v", res)
	}
	id := "KZ-SRC-1/" + fetchtest.CVE("KZ-SRC-1")
	v, err := vdb.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if fixed := v.Affected[0].Fixed; !slices.Contains(fixed, "1.1") {
		t.Errorf("%s fixed in %v, want 1.1", id, fixed)
	}
	amber, err := vdb.Get(ctx, "KZ-AMBER-1/"+fetchtest.CVE("KZ-AMBER-1"))
	if err != nil {
		t.Fatalf("the AMBER advisory was not imported: %v", err)
	}
	if d := amber.Distribution; d == nil || d.TLP != "TLP:AMBER" || d.ProducerOrg != hubID || len(d.Orgs)+len(d.Users) != 0 {
		t.Errorf("AMBER record restriction %+v, want hub-only", d)
	}
	if v.Distribution != nil {
		t.Errorf("WHITE record restricted: %+v", v.Distribution)
	}

	res, err = r.Run(ctx, "partner")
	if err != nil || res.Fetched != 0 || res.Unchanged != 4 || res.Added+res.Updated != 0 {
		t.Errorf("second run: %v %+v", err, res)
	}

	k.publish(t, fetchtest.Advisory(t, "KZ-SRC-1", "WHITE", 2, t0.Add(time.Hour)))
	res, err = r.Run(ctx, "partner")
	if err != nil || res.Fetched != 1 || res.Updated != 1 || res.Added != 0 {
		t.Errorf("third run: %v %+v", err, res)
	}
	if v, err = vdb.Get(ctx, id); err != nil || !slices.Contains(v.Affected[0].Fixed, "1.2") {
		t.Errorf("after the update: %v %+v", err, v)
	}

	// Without a token the AMBER feed is not even listed.
	res, err = r.Run(ctx, "public")
	if err != nil || res.Fetched != 3 || res.Withheld != 0 || res.Failed != 0 {
		t.Errorf("public run: %v %+v", err, res)
	}
	h, err := r.Registry.Get(ctx, "partner")
	if err != nil {
		t.Fatal(err)
	}
	if h.LastSuccess.IsZero() || h.LastError != "" || h.Fetched != 5 || h.Withheld != 0 || h.LastFetched != 1 || h.Imported < 4 {
		t.Errorf("health: %+v", h.Health)
	}
}

// TestRunFailures: a provider with a tampered advisory is a failed run
// naming it; the others are imported, and the next run retries only it.
func TestRunFailures(t *testing.T) {
	ctx := context.Background()
	s := fetchtest.NewStatic(t, fetchtest.Directory)
	s.Publish(t, fetchtest.Advisory(t, "GOOD-1", "WHITE", 1, t0))
	e := s.Publish(t, fetchtest.Advisory(t, "BAD-1", "WHITE", 1, t0))
	p := s.Root("white/" + e.Path)
	if err := os.WriteFile(p, append(readFile(t, p), ' '), 0o640); err != nil {
		t.Fatal(err)
	}
	r, vdb := consumer(t)
	if err := r.Registry.Add(ctx, source.Source{Name: "static", Kind: source.CSAFProvider, URL: s.URL, InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, "static")
	if err == nil || !strings.Contains(err.Error(), "bad-1.json") || !strings.Contains(err.Error(), "hash mismatch") {
		t.Errorf("run error %v", err)
	}
	if res.Fetched != 1 || res.Failed != 1 || res.Added != 1 {
		t.Errorf("result %+v", res)
	}
	if _, err := vdb.Get(ctx, "BAD-1/"+fetchtest.CVE("BAD-1")); err == nil {
		t.Error("the tampered advisory was imported")
	}
	h, _ := r.Registry.Get(ctx, "static")
	if h.LastError == "" || h.Failures != 1 || !h.LastSuccess.IsZero() {
		t.Errorf("health %+v", h.Health)
	}
	res, _ = r.Run(ctx, "static")
	if res.Unchanged != 1 || res.Failed != 1 || res.Fetched != 0 {
		t.Errorf("second run %+v", res)
	}
}
