package csaf

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExamplesValid(t *testing.T) {
	for _, name := range []string{"bsi-2022-0001.json", "rhsa-2021_5217.json"} {
		if err := Validate(readTestdata(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"BSI-2022-0001":          "bsi-2022-0001.json",
		"RHSA-2021:5217":         "rhsa-2021_5217.json",
		"Example Company - 2019": "example_company_-_2019.json",
		"a+b/../c":               "a+b____c.json",
	} {
		if got := FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := NewProvider(dir, func() time.Time { return testNow })
	doc := readTestdata(t, "rhsa-2021_5217.json")
	e, err := p.Publish(ctx, doc, PublishOptions{ProducerOrg: "identity--x"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Path != "2021/rhsa-2021_5217.json" || e.TLP != "WHITE" || e.ID != "RHSA-2021:5217" || e.ProducerOrg != "identity--x" {
		t.Fatalf("entry: %+v", e)
	}
	file := filepath.Join(dir, "csaf", "white", "2021", "rhsa-2021_5217.json")
	stored, err := os.ReadFile(file)
	if err != nil || string(stored) != string(doc) {
		t.Fatalf("stored document differs (%v)", err)
	}
	s256, s512 := sha256.Sum256(doc), sha512.Sum512(doc)
	for ext, want := range map[string]string{
		".sha256": hex.EncodeToString(s256[:]) + "  rhsa-2021_5217.json\n",
		".sha512": hex.EncodeToString(s512[:]) + "  rhsa-2021_5217.json\n",
	} {
		if b, _ := os.ReadFile(file + ext); string(b) != want {
			t.Errorf("%s: %q, want %q", ext, b, want)
		}
	}
	sig, err := os.ReadFile(file + ".asc")
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Signer()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(doc, sig); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if err := s.Verify(append([]byte(" "), doc...), sig); err == nil {
		t.Error("signature verifies a different document")
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys", "csaf.asc")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	// The key is reused by a new provider on the same directory.
	s2, err := NewProvider(dir, nil).Signer()
	if err != nil || s2.Fingerprint() != s.Fingerprint() {
		t.Errorf("key not reused: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "csaf", "white", "index.txt")); string(b) != "2021/rhsa-2021_5217.json\n" {
		t.Errorf("index.txt: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "csaf", "white", "changes.csv")); string(b) != "\"2021/rhsa-2021_5217.json\",\"2021-12-20T16:16:00Z\"\n" {
		t.Errorf("changes.csv: %q", b)
	}

	// A new version under another TLP moves the advisory.
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["document"].(map[string]any)["distribution"].(map[string]any)["tlp"].(map[string]any)["label"] = "AMBER"
	moved, _ := json.Marshal(m)
	if _, err := p.Publish(ctx, moved, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old file still there: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "csaf", "white", "index.txt")); string(b) != "" {
		t.Errorf("white index.txt after move: %q", b)
	}
	es, _ := NewProvider(dir, nil).Entries()
	if len(es) != 1 || es[0].TLP != "AMBER" {
		t.Errorf("entries after move: %+v", es)
	}
	if _, err := p.Open("amber", "2021/rhsa-2021_5217.json.asc"); err != nil {
		t.Errorf("Open: %v", err)
	}
	for _, bad := range []string{"../advisories.json", "2021/../../keys/csaf.asc", "2021/.tmp-1", "advisories.json"} {
		if _, err := p.Open("amber", bad); !errors.Is(err, errkind.NotFound) {
			t.Errorf("Open(%q): %v, want not found", bad, err)
		}
	}
}

func TestPublishRefuses(t *testing.T) {
	p := NewProvider(t.TempDir(), nil)
	doc := string(readTestdata(t, "bsi-2022-0001.json"))
	for name, d := range map[string]string{
		"no TLP":  strings.Replace(doc, `"distribution": {`, `"distribution_": {`, 1),
		"draft":   strings.Replace(doc, `"status": "final"`, `"status": "draft"`, 1),
		"invalid": strings.Replace(doc, `"category": "csaf_security_advisory"`, `"category": 7`, 1),
		"garbage": doc + "}",
	} {
		if d == doc {
			t.Fatalf("%s: replacement did nothing", name)
		}
		if _, err := p.Publish(context.Background(), []byte(d), PublishOptions{}); !errors.Is(err, errkind.Invalid) {
			t.Errorf("%s: %v, want invalid input", name, err)
		}
	}
}

func TestMetadataAndFeedsValid(t *testing.T) {
	ctx := context.Background()
	p := NewProvider(t.TempDir(), func() time.Time { return testNow })
	for _, name := range []string{"bsi-2022-0001.json", "rhsa-2021_5217.json"} {
		if _, err := p.Publish(ctx, readTestdata(t, name), PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Complete("draft-amber.yaml", readTestdata(t, "draft-amber.yaml"), DraftOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, b, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	pmd, err := p.Metadata("https://hub.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateProviderMetadata(pmd); err != nil {
		t.Errorf("provider-metadata.json: %v\n%s", err, pmd)
	}
	if !strings.Contains(string(pmd), "https://hub.example/.well-known/csaf/amber/csaf-feed-tlp-amber.json") {
		t.Errorf("no amber feed:\n%s", pmd)
	}
	onlyWhite, _ := p.Metadata("https://hub.example", func(e Entry) bool { return e.TLP == "WHITE" })
	if strings.Contains(string(onlyWhite), "amber") {
		t.Errorf("filtered metadata lists amber:\n%s", onlyWhite)
	}
	if err := ValidateProviderMetadata([]byte(`{"role":"csaf_trusted_provider"}`)); !errors.Is(err, errkind.Invalid) {
		t.Errorf("incomplete metadata accepted: %v", err)
	}
	for _, tlp := range []string{"WHITE", "AMBER"} {
		f, err := p.Feed("https://hub.example", tlp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateFeed(f); err != nil {
			t.Errorf("%s feed: %v\n%s", tlp, err, f)
		}
	}
	white, _ := p.Feed("https://hub.example", "WHITE", nil)
	if !strings.Contains(string(white), "https://hub.example/.well-known/csaf/white/2022/bsi-2022-0001.json.asc") || strings.Contains(string(white), "KIZUNA-2026-0001") {
		t.Errorf("white feed:\n%s", white)
	}
}

func TestComplete(t *testing.T) {
	b, err := Complete("draft-amber.yaml", readTestdata(t, "draft-amber.yaml"), DraftOptions{Now: testNow, EngineVersion: "1.2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("completed draft invalid: %v\n%s", err, b)
	}
	var d struct {
		Document struct {
			CSAFVersion string `json:"csaf_version"`
			Tracking    struct {
				Current, Initial, Version, Status string
				History                           []struct{ Number, Date string } `json:"revision_history"`
				Generator                         struct {
					Engine struct{ Name, Version string }
				}
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	tr := d.Document.Tracking
	now := "2026-03-04T05:06:07Z"
	if d.Document.CSAFVersion != "2.0" || tr.Version != "1" || tr.Status != "final" || len(tr.History) != 1 ||
		tr.History[0].Number != "1" || tr.History[0].Date != now || tr.Generator.Engine.Name != "Kizuna" || tr.Generator.Engine.Version != "1.2" {
		t.Errorf("tracking: %+v", tr)
	}
	if !strings.Contains(string(b), `"current_release_date": "`+now+`"`) || !strings.Contains(string(b), `"initial_release_date": "`+now+`"`) {
		t.Errorf("dates not set:\n%s", b)
	}

	// An update: version given in the draft, history kept, initial date kept.
	upd := `{"document":{"category":"csaf_base","title":"t","distribution":{"tlp":{"label":"WHITE"}},
	"publisher":{"category":"coordinator","name":"n","namespace":"https://kizuna.invalid"},
	"tracking":{"id":"X-1","version":"2","initial_release_date":"2025-01-01T00:00:00Z",
	"revision_history":[{"number":"1","date":"2025-01-01T00:00:00Z","summary":"Initial version."}]}}}`
	b, err = Complete("update.json", []byte(upd), DraftOptions{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("completed update invalid: %v\n%s", err, b)
	}
	if !strings.Contains(string(b), `"initial_release_date": "2025-01-01T00:00:00Z"`) || !strings.Contains(string(b), `"number": "2"`) {
		t.Errorf("update:\n%s", b)
	}
	// TLP from options; YAML numbers for versions become strings.
	b, err = Complete("d.yml", []byte("document:\n  tracking:\n    id: Y\n    version: 3\n"), DraftOptions{Now: testNow, TLP: "green"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"label": "GREEN"`) || !strings.Contains(string(b), `"version": "3"`) {
		t.Errorf("options:\n%s", b)
	}
	for name, in := range map[string]string{
		"x.json": `[1]`, "y.json": `{"document":1}`, "z.yaml": "document: [", "w.json": `{"document":{}}`,
	} {
		if _, err := Complete(name, []byte(in), DraftOptions{}); !errors.Is(err, errkind.Invalid) {
			t.Errorf("%s: %v, want invalid input", name, err)
		}
	}
}

// A provider sees what another provider (process) on the same directory
// published after it loaded its index.
func TestProviderReloads(t *testing.T) {
	dir := t.TempDir()
	server, cli := NewProvider(dir, nil), NewProvider(dir, nil)
	if es, err := server.Entries(); err != nil || len(es) != 0 {
		t.Fatalf("entries: %v %v", es, err)
	}
	if _, err := cli.Publish(context.Background(), readTestdata(t, "bsi-2022-0001.json"), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if es, err := server.Entries(); err != nil || len(es) != 1 || es[0].ID != "BSI-2022-0001" {
		t.Fatalf("entries after another publish: %v %v", es, err)
	}
	if _, err := cli.Publish(context.Background(), readTestdata(t, "rhsa-2021_5217.json"), PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if es, _ := server.Entries(); len(es) != 2 {
		t.Fatalf("entries after a second publish: %v", es)
	}
}
