package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/csaf/fetch/fetchtest"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

var t0 = time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)

// collector is a Sink that keeps what it gets.
type collector struct {
	mu   sync.Mutex
	docs []fetch.Document
}

func (c *collector) sink(_ context.Context, docs []fetch.Document) (map[string]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.docs = append(c.docs, docs...)
	return nil, nil
}

func (c *collector) ids() []string {
	var out []string
	for _, d := range c.docs {
		out = append(out, d.TrackingID+"@"+d.Version+"/"+d.TLP)
	}
	slices.Sort(out)
	return out
}

func syncOnce(t *testing.T, c *fetch.Client, url string, st *fetch.State) (fetch.Report, *collector) {
	t.Helper()
	col := &collector{}
	rep, err := c.Sync(context.Background(), url, st, col.sink)
	if err != nil {
		t.Fatalf("Sync(%s): %v", url, err)
	}
	return rep, col
}

func failureFor(rep fetch.Report, sub string) error {
	for _, f := range rep.Failures {
		if strings.Contains(f.URL, sub) {
			return f.Err
		}
	}
	return nil
}

// TestSyncIncremental runs both layouts: everything is fetched and
// verified once, a second run fetches nothing (the lists are not even
// downloaded again: 304), and a new version of one advisory is the only
// thing the third run fetches.
func TestSyncIncremental(t *testing.T) {
	for _, layout := range []fetchtest.Layout{fetchtest.ROLIE, fetchtest.Directory} {
		name := map[fetchtest.Layout]string{fetchtest.ROLIE: "rolie", fetchtest.Directory: "directory"}[layout]
		t.Run(name, func(t *testing.T) {
			s := fetchtest.NewStatic(t, layout)
			s.Publish(t, fetchtest.Advisory(t, "VENDOR-2026-0001", "WHITE", 1, t0))
			s.Publish(t, fetchtest.Advisory(t, "VENDOR-2026-0002", "WHITE", 1, t0.Add(time.Hour)))
			c := fetch.New(fetch.Options{InsecureSkipVerify: true})
			gone := s.URL + "/.well-known/csaf/white/2025/gone.json"
			st := &fetch.State{Docs: map[string]string{gone: "2025-01-01T00:00:00Z"}}
			// By domain: the well-known URL.
			rep, col := syncOnce(t, c, s.URL, st)
			if _, ok := st.Docs[gone]; ok {
				t.Error("an advisory no longer listed stays in the state")
			}
			if rep.Listed != 2 || rep.Fetched != 2 || rep.Failed != 0 || rep.Unchanged != 0 {
				t.Fatalf("first run: %+v", rep)
			}
			if got := col.ids(); !slices.Equal(got, []string{"VENDOR-2026-0001@1/WHITE", "VENDOR-2026-0002@1/WHITE"}) {
				t.Errorf("documents: %v", got)
			}
			if !strings.HasSuffix(rep.MetadataURL, "/.well-known/csaf/provider-metadata.json") {
				t.Errorf("metadata URL %s", rep.MetadataURL)
			}
			docs := s.Requested("/2026/")
			rep, col = syncOnce(t, c, s.URL+"/.well-known/csaf/provider-metadata.json", st)
			if rep.Fetched != 0 || len(col.docs) != 0 || rep.Failed != 0 {
				t.Errorf("second run fetched: %+v", rep)
			}
			if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.Contains(s, "not modified") }) {
				t.Errorf("second run: the list was not answered 304: %+v", rep)
			}
			if n := s.Requested("/2026/"); n != docs {
				t.Errorf("second run downloaded %d advisory files", n-docs)
			}
			s.Publish(t, fetchtest.Advisory(t, "VENDOR-2026-0001", "WHITE", 2, t0.Add(2*time.Hour)))
			rep, col = syncOnce(t, c, s.URL, st)
			if rep.Fetched != 1 || rep.Unchanged != 1 || rep.Failed != 0 {
				t.Errorf("third run: %+v", rep)
			}
			if got := col.ids(); !slices.Equal(got, []string{"VENDOR-2026-0001@2/WHITE"}) {
				t.Errorf("third run documents: %v", got)
			}
		})
	}
}

// TestSyncRejects tampers with published files: each broken advisory is
// reported with its URL and not handed on; the intact one is.
func TestSyncRejects(t *testing.T) {
	for _, layout := range []fetchtest.Layout{fetchtest.ROLIE, fetchtest.Directory} {
		t.Run(map[fetchtest.Layout]string{fetchtest.ROLIE: "rolie", fetchtest.Directory: "directory"}[layout], func(t *testing.T) {
			s := fetchtest.NewStatic(t, layout)
			ids := []string{"OK-1", "TAMPERED-1", "BADSIG-1", "WRONGKEY-1", "NOSIG-1", "NOHASH-1", "INVALID-1"}
			paths := map[string]string{}
			for i, id := range ids {
				e := s.Publish(t, fetchtest.Advisory(t, id, "WHITE", 1, t0.Add(time.Duration(i)*time.Minute)))
				paths[id] = s.Root("white/" + e.Path)
			}
			// Hash mismatch: the document changed after publication.
			appendFile(t, paths["TAMPERED-1"], "\n ")
			// Bad signature: the signature of another document.
			copyFile(t, paths["OK-1"]+".asc", paths["BADSIG-1"]+".asc")
			// Wrong key: signed by a key the provider does not list.
			other, err := csaf.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.asc"), "other", t0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(paths["WRONGKEY-1"])
			sig, err := other.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, paths["WRONGKEY-1"]+".asc", sig)
			os.Remove(paths["NOSIG-1"] + ".asc")
			os.Remove(paths["NOHASH-1"] + ".sha256")
			os.Remove(paths["NOHASH-1"] + ".sha512")
			// Invalid: signed and hashed, but not a valid CSAF document.
			resign(t, s, paths["INVALID-1"], []byte(`{"document":{"category":"csaf_base"}}`))

			c := fetch.New(fetch.Options{InsecureSkipVerify: true})
			rep, col := syncOnce(t, c, s.URL, nil)
			if got := col.ids(); !slices.Equal(got, []string{"OK-1@1/WHITE"}) {
				t.Errorf("handed on: %v", got)
			}
			if rep.Failed != len(ids)-1 || rep.Fetched != 1 {
				t.Errorf("report: %+v", rep)
			}
			for id, want := range map[string]string{
				"tampered-1": "hash mismatch", "badsig-1": "does not verify", "wrongkey-1": "does not verify",
				"nosig-1": "signature", "nohash-1": "hash", "invalid-1": "",
			} {
				err := failureFor(rep, id+".json")
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: failure %v, want one containing %q", id, err, want)
				}
			}
			if err := failureFor(rep, "invalid-1.json"); err != nil && !errors.Is(err, errkind.Invalid) {
				t.Errorf("invalid document: %v is not errkind.Invalid", err)
			}
		})
	}
}

// resign replaces a published document and writes matching hashes and a
// valid signature.
func resign(t *testing.T, s *fetchtest.Static, path string, data []byte) {
	t.Helper()
	sg, err := s.Provider.Signer()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sg.Sign(data)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
	writeFile(t, path+".asc", sig)
	writeFile(t, path+".sha256", []byte(sha256Hex(data)+"  "+filepath.Base(path)+"\n"))
	writeFile(t, path+".sha512", []byte(sha512Hex(data)+"  "+filepath.Base(path)+"\n"))
}

// TestSyncKeyFingerprint: a key whose fingerprint differs from the one in
// provider-metadata.json is not used, so nothing can be verified.
func TestSyncKeyFingerprint(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.ROLIE)
	s.Publish(t, fetchtest.Advisory(t, "VENDOR-1", "WHITE", 1, t0))
	sg, _ := s.Provider.Signer()
	other, err := csaf.LoadOrCreateKey(filepath.Join(t.TempDir(), "other.asc"), "other", t0)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.Root("openpgp/"+sg.Fingerprint()+".asc"), other.PublicKey())
	c := fetch.New(fetch.Options{InsecureSkipVerify: true})
	col := &collector{}
	_, err = c.Sync(context.Background(), s.URL, nil, col.sink)
	if err == nil || !strings.Contains(err.Error(), "does not match") || len(col.docs) != 0 {
		t.Fatalf("Sync with a substituted key: %v, %d documents", err, len(col.docs))
	}
}

// TestSyncProtected: feeds and directories of TLP:GREEN, AMBER and RED
// are not requested without a token; with one, they are read and the
// documents carry their label.
func TestSyncProtected(t *testing.T) {
	for _, layout := range []fetchtest.Layout{fetchtest.ROLIE, fetchtest.Directory} {
		t.Run(map[fetchtest.Layout]string{fetchtest.ROLIE: "rolie", fetchtest.Directory: "directory"}[layout], func(t *testing.T) {
			s := fetchtest.NewStatic(t, layout)
			s.Token = "s3cret"
			s.Publish(t, fetchtest.Advisory(t, "PUBLIC-1", "WHITE", 1, t0))
			s.Publish(t, fetchtest.Advisory(t, "AMBER-1", "AMBER", 1, t0))
			rep, col := syncOnce(t, fetch.New(fetch.Options{InsecureSkipVerify: true}), s.URL, nil)
			if got := col.ids(); !slices.Equal(got, []string{"PUBLIC-1@1/WHITE"}) {
				t.Errorf("without token: %v", got)
			}
			if n := s.Requested("/amber/"); n != 0 {
				t.Errorf("without token: %d requests to the amber directory", n)
			}
			if len(rep.Skipped) != 3 || rep.Failed != 0 {
				t.Errorf("without token: %+v", rep)
			}
			_, col = syncOnce(t, fetch.New(fetch.Options{InsecureSkipVerify: true, Token: "s3cret"}), s.URL, nil)
			if got := col.ids(); !slices.Equal(got, []string{"AMBER-1@1/AMBER", "PUBLIC-1@1/WHITE"}) {
				t.Errorf("with token: %v", got)
			}
			rep, col = syncOnce(t, fetch.New(fetch.Options{InsecureSkipVerify: true, Token: "wrong"}), s.URL, nil)
			if len(col.docs) != 1 || failureFor(rep, "/amber/") == nil {
				t.Errorf("wrong token: %v %+v", col.ids(), rep)
			}
		})
	}
}

// TestDiscoverSecurityTxt: without a well-known provider-metadata.json,
// the CSAF field of security.txt is followed.
func TestDiscoverSecurityTxt(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.Directory)
	s.Publish(t, fetchtest.Advisory(t, "VENDOR-1", "WHITE", 1, t0))
	// Move the metadata to another path and point security.txt to it;
	// the static server serves /.well-known/csaf/... only, so put
	// security.txt there and ask for the provider under that prefix.
	if err := os.Rename(s.Root("provider-metadata.json"), s.Root("white/pm.json")); err != nil {
		t.Fatal(err)
	}
	c := fetch.New(fetch.Options{InsecureSkipVerify: true})
	if _, err := c.Discover(context.Background(), s.URL); err == nil {
		t.Fatal("Discover without metadata and security.txt succeeded")
	}
	p, err := c.Discover(context.Background(), s.URL+csaf.WellKnown+"/white/pm.json")
	if err != nil {
		t.Fatal(err)
	}
	if p.Metadata.Role != "csaf_trusted_provider" || len(p.Keys) != 1 {
		t.Errorf("metadata: %+v", p.Metadata)
	}
}

// TestURLChecks: plain HTTP is refused except on loopback.
func TestURLChecks(t *testing.T) {
	c := fetch.New(fetch.Options{})
	for _, u := range []string{"http://example.com/", "ftp://example.com/x.json", "https://"} {
		if _, err := c.Discover(context.Background(), u); err == nil || !errors.Is(err, errkind.Invalid) {
			t.Errorf("Discover(%q): %v, want errkind.Invalid", u, err)
		}
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, append(b, s...))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, b)
}

// TestTokenStaysWithProvider: a feed the metadata lists on another host
// is read without the token.
func TestTokenStaysWithProvider(t *testing.T) {
	s := fetchtest.NewStatic(t, fetchtest.ROLIE)
	s.Token = "s3cret"
	s.Publish(t, fetchtest.Advisory(t, "VENDOR-1", "WHITE", 1, t0))
	feed, err := os.ReadFile(s.Root("white/" + csaf.FeedName("WHITE")))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auth []string
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Write(feed)
	}))
	defer other.Close()
	meta, err := os.ReadFile(s.Root("provider-metadata.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.Root("provider-metadata.json"), bytes.Replace(meta, []byte(s.URL+csaf.WellKnown+"/white/"), []byte(other.URL+"/mirror/white/"), 1))
	_, col := syncOnce(t, fetch.New(fetch.Options{InsecureSkipVerify: true, Token: "s3cret"}), s.URL, nil)
	if len(col.docs) != 1 {
		t.Errorf("documents: %v", col.ids())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 || slices.ContainsFunc(auth, func(a string) bool { return a != "" }) {
		t.Errorf("requests to the other host carried %q", auth)
	}
}

// TestSyncLoopbackHTTP: a provider on plain HTTP at a loopback address
// (kizuna demo) is read; its ROLIE feed's http URLs pass the schema's
// https patterns there only.
func TestSyncLoopbackHTTP(t *testing.T) {
	s := fetchtest.NewStaticHTTP(t, fetchtest.ROLIE)
	s.Publish(t, fetchtest.Advisory(t, "VENDOR-1", "WHITE", 1, t0))
	rep, col := syncOnce(t, fetch.New(fetch.Options{}), s.URL, nil)
	if rep.Failed != 0 || len(col.docs) != 1 {
		t.Errorf("%+v %v", rep, col.ids())
	}
	feed, err := os.ReadFile(s.Root("white/" + csaf.FeedName("WHITE")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fetch.ParseFeed("feed", feed); err == nil {
		t.Error("ParseFeed accepted http URLs")
	}
}
