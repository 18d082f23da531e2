// Package fetchtest provides CSAF providers for the tests of the CSAF
// client: advisories made from a template, and a static-file provider
// served over HTTPS on loopback from a csaf.Provider store, as a web
// server would serve a provider laid out on disk.
package fetchtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf"
)

// Package is the purl the advisories of Advisory are about.
const Package = "pkg:pypi/kizuna-fetch-demo"

// CVE returns the CVE id of the advisory Advisory makes for a tracking id.
func CVE(id string) string { return fmt.Sprintf("CVE-2099-%04d", crc32.ChecksumIEEE([]byte(id))%10000) }

// Advisory returns a complete, valid CSAF security advisory with the
// tracking id, TLP label and version (1, 2, ...; the revision history has
// one entry per version), released at released: CVE(id) affects
// Package below 1.<version> (fixed in 1.<version>).
func Advisory(tb testing.TB, id, tlp string, version int, released time.Time) []byte {
	tb.Helper()
	var hist []any
	for v := 1; v <= version; v++ {
		hist = append(hist, map[string]any{"date": released.Add(time.Duration(v-version) * time.Hour).UTC().Format(time.RFC3339), "number": fmt.Sprint(v), "summary": "Revision."})
	}
	fixed := fmt.Sprintf("1.%d", version)
	draft := map[string]any{
		"document": map[string]any{
			"category":     "csaf_security_advisory",
			"title":        "Test advisory " + id,
			"lang":         "en",
			"distribution": map[string]any{"tlp": map[string]any{"label": tlp}},
			"publisher":    map[string]any{"category": "vendor", "name": "Fetch test vendor", "namespace": "https://vendor.invalid"},
			"tracking": map[string]any{
				"id": id, "initial_release_date": released.Add(-time.Duration(version) * time.Hour).UTC().Format(time.RFC3339),
				"revision_history": hist, "version": fmt.Sprint(version),
			},
			"references": []any{map[string]any{"category": "self", "summary": "this advisory", "url": "https://vendor.invalid/" + csaf.FileName(id)}},
			"notes":      []any{map[string]any{"category": "summary", "text": "Upgrade to " + fixed + "."}},
		},
		"product_tree": map[string]any{"branches": []any{map[string]any{
			"category": "vendor", "name": "Vendor", "branches": []any{map[string]any{
				"category": "product_name", "name": "kizuna-fetch-demo", "branches": []any{
					map[string]any{"category": "product_version", "name": "1.0", "product": map[string]any{
						"name": "kizuna-fetch-demo 1.0", "product_id": "P-1.0",
						"product_identification_helper": map[string]any{"purl": Package + "@1.0"}}},
					map[string]any{"category": "product_version", "name": fixed, "product": map[string]any{
						"name": "kizuna-fetch-demo " + fixed, "product_id": "P-FIXED",
						"product_identification_helper": map[string]any{"purl": Package + "@" + fixed}}},
				}}}}}},
		"vulnerabilities": []any{map[string]any{
			"cve":            CVE(id),
			"notes":          []any{map[string]any{"category": "description", "text": "A test vulnerability."}},
			"product_status": map[string]any{"known_affected": []any{"P-1.0"}, "fixed": []any{"P-FIXED"}},
			"remediations":   []any{map[string]any{"category": "vendor_fix", "details": "Upgrade to " + fixed + ".", "product_ids": []any{"P-1.0"}}},
		}},
	}
	b, err := json.Marshal(draft)
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := csaf.Complete(id+".json", b, csaf.DraftOptions{Now: released})
	if err != nil {
		tb.Fatal(err)
	}
	if err := csaf.Validate(doc); err != nil {
		tb.Fatalf("test advisory %s: %v", id, err)
	}
	return doc
}

// Layout selects the distributions a Static provider lists.
type Layout int

// The layouts of a Static provider.
const (
	// ROLIE lists one ROLIE feed per TLP label.
	ROLIE Layout = iota
	// Directory lists one directory distribution per TLP label
	// (changes.csv, index.txt).
	Directory
)

// Static is a CSAF provider whose files are written to disk by a
// csaf.Provider and served as static files (with ETag and Last-Modified)
// over HTTPS on 127.0.0.1.
type Static struct {
	// URL is the server's base URL ("https://127.0.0.1:PORT").
	URL string
	// Dir is the data directory: the tree is Dir/csaf.
	Dir string
	// Provider publishes into the tree.
	Provider *csaf.Provider
	// Token, when set, is required (as a Bearer token) for every file
	// of the green, amber and red directories.
	Token  string
	layout Layout
	srv    *httptest.Server

	mu       sync.Mutex
	requests []string
	clock    time.Time
}

// NewStatic starts a static provider with the layout; it stops when the
// test ends.
func NewStatic(tb testing.TB, layout Layout) *Static {
	tb.Helper()
	return newStatic(tb, layout, httptest.NewTLSServer)
}

// NewStaticHTTP is NewStatic over plain HTTP (loopback: as kizuna demo
// serves).
func NewStaticHTTP(tb testing.TB, layout Layout) *Static {
	tb.Helper()
	return newStatic(tb, layout, httptest.NewServer)
}

func newStatic(tb testing.TB, layout Layout, start func(http.Handler) *httptest.Server) *Static {
	tb.Helper()
	dir := tb.TempDir()
	s := &Static{Dir: dir, layout: layout, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.Provider = csaf.NewProvider(dir, nil)
	s.srv = start(http.HandlerFunc(s.serve))
	tb.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	if err := s.Render(); err != nil {
		tb.Fatal(err)
	}
	return s
}

// Root returns the path of a file of the served tree
// ("white/2026/x.json", "provider-metadata.json").
func (s *Static) Root(rel string) string {
	return filepath.Join(s.Dir, "csaf", filepath.FromSlash(rel))
}

// Publish publishes a document (see csaf.Provider.Publish) and renders the
// metadata and feeds again.
func (s *Static) Publish(tb testing.TB, doc []byte) csaf.Entry {
	tb.Helper()
	e, err := s.Provider.Publish(context.Background(), doc, csaf.PublishOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Render(); err != nil {
		tb.Fatal(err)
	}
	return e
}

// Render writes provider-metadata.json (with the layout's distributions,
// every TLP label), the public key and the ROLIE feeds, and advances the
// modification times of every file it writes and of the lists.
func (s *Static) Render() error {
	base := s.URL
	meta, err := s.Provider.Metadata(base, nil)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(meta, &m); err != nil {
		return err
	}
	// Every label is listed, so that protected distributions are too.
	var keep []any
	if s.layout == ROLIE {
		var feeds []any
		for _, t := range csaf.TLPLabels {
			feeds = append(feeds, map[string]any{"summary": "TLP:" + t, "tlp_label": t, "url": base + csaf.WellKnown + "/" + strings.ToLower(t) + "/" + csaf.FeedName(t)})
		}
		keep = []any{map[string]any{"rolie": map[string]any{"feeds": feeds}}}
	} else {
		for _, t := range csaf.TLPLabels {
			keep = append(keep, map[string]any{"directory_url": base + csaf.WellKnown + "/" + strings.ToLower(t) + "/"})
		}
	}
	m["distributions"] = keep
	meta, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	sg, err := s.Provider.Signer()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"provider-metadata.json":               meta,
		"openpgp/" + sg.Fingerprint() + ".asc": sg.PublicKey(),
	}
	for _, t := range csaf.TLPLabels {
		f, err := s.Provider.Feed(base, t, nil)
		if err != nil {
			return err
		}
		files[strings.ToLower(t)+"/"+csaf.FeedName(t)] = f
		index, changes, err := s.Provider.Lists(t, nil)
		if err != nil {
			return err
		}
		files[strings.ToLower(t)+"/index.txt"], files[strings.ToLower(t)+"/changes.csv"] = index, changes
	}
	s.mu.Lock()
	s.clock = s.clock.Add(time.Minute)
	now := s.clock
	s.mu.Unlock()
	for rel, b := range files {
		p := s.Root(rel)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(b) {
			continue // unchanged: keeps its time
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			return err
		}
		if err := os.Chtimes(p, now, now); err != nil {
			return err
		}
	}
	return nil
}

// Requests returns the paths requested so far.
func (s *Static) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Requested reports how many requests had a path containing sub.
func (s *Static) Requested(sub string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.Contains(r, sub) {
			n++
		}
	}
	return n
}

func (s *Static) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	s.mu.Unlock()
	rel, ok := strings.CutPrefix(r.URL.Path, csaf.WellKnown+"/")
	if !ok || strings.Contains(rel, "..") {
		http.NotFound(w, r)
		return
	}
	top, _, _ := strings.Cut(rel, "/")
	if top == "green" || top == "amber" || top == "red" {
		if s.Token == "" || r.Header.Get("Authorization") != "Bearer "+s.Token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	f, err := os.Open(s.Root(rel))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		http.NotFound(w, r)
		return
	}
	b, err := os.ReadFile(s.Root(rel))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sum := sha256.Sum256(b)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}
