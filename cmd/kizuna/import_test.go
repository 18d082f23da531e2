package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// Real ATT&CK for ICS from the shared data folder (relative to the repo
// root, so ../../.. from this directory), else the shipped subset.
const (
	sharedICS = "../../../shared/data/stix/attack-stix-data/ics-attack/ics-attack-18.1.json"
	demoICS   = "../../testdata/demo/attack-ics-subset.json"
)

// runCLI runs the CLI in-process.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// compactObjects returns the compacted JSON of every object of a file.
func compactObjects(t *testing.T, data []byte) []string {
	t.Helper()
	var objs []string
	err := stix.ReadObjects(bytes.NewReader(data), func(_ int, raw json.RawMessage) error {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return err
		}
		objs = append(objs, b.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestImportExportRoundTrip(t *testing.T) {
	path := sharedICS
	if _, err := os.Stat(path); err != nil {
		t.Logf("%s absent (%v); using the shipped subset %s", sharedICS, err, demoICS)
		path = demoICS
	}
	input, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := compactObjects(t, input)
	dir := t.TempDir()
	code, _, stderr := runCLI(t, "", "import", "--data", dir, path)
	if code != 0 {
		t.Fatalf("import exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "imported "+strconv.Itoa(len(want))+" objects (0 failed)") {
		t.Errorf("import progress %q lacks the total", stderr)
	}
	code, out, stderr := runCLI(t, "", "export", "--data", dir)
	if code != 0 {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	var b struct {
		Type    string            `json:"type"`
		ID      string            `json:"id"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if b.Type != "bundle" || !strings.HasPrefix(b.ID, "bundle--") {
		t.Errorf("export: type %q id %q", b.Type, b.ID)
	}
	if len(b.Objects) != len(want) {
		t.Fatalf("exported %d objects, imported %d", len(b.Objects), len(want))
	}
	for i, o := range b.Objects {
		if string(o) != want[i] {
			t.Fatalf("object %d differs:\n got %.200s\nwant %.200s", i, o, want[i])
		}
	}

	// Filters: --type keeps only that type, from stdin the same file
	// re-imports idempotently.
	code, out, _ = runCLI(t, "", "export", "--data", dir, "--type", "intrusion-set", "--type", "malware")
	if code != 0 {
		t.Fatal("export --type failed")
	}
	got := compactObjects(t, []byte(out))
	n := 0
	for _, w := range want {
		if typ := typeOf(t, w); typ == "intrusion-set" || typ == "malware" {
			n++
		}
	}
	for _, g := range got {
		if typ := typeOf(t, g); typ != "intrusion-set" && typ != "malware" {
			t.Errorf("export --type gave a %s", typ)
		}
	}
	if len(got) == 0 || len(got) != n {
		t.Errorf("export --type: %d objects, want %d", len(got), n)
	}
	code, _, stderr = runCLI(t, string(input), "import", "--data", dir, "-")
	if code != 0 {
		t.Fatalf("re-import from stdin exit %d: %s", code, stderr)
	}
	_, out, _ = runCLI(t, "", "export", "--data", dir)
	if again := compactObjects(t, []byte(out)); len(again) != len(want) {
		t.Errorf("after re-import %d objects, want %d (duplicates?)", len(again), len(want))
	}
}

// typeOf returns an object's type.
func typeOf(t *testing.T, obj string) string {
	t.Helper()
	var o struct{ Type string }
	if err := json.Unmarshal([]byte(obj), &o); err != nil {
		t.Fatal(err)
	}
	return o.Type
}

func TestImportInvalidObjects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "mixed.json")
	good := `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`
	bad := `{"type":"indicator","spec_version":"2.1","id":"indicator--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`
	if err := os.WriteFile(file, []byte(`{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[`+bad+","+good+`]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "", "import", "--data", dir, "--tlp", "green", file)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	for _, w := range []string{
		"kizuna: " + file + ": object 0 (indicator--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f): ",
		"pattern",
		"imported 1 objects (1 failed)",
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
	st, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// --tlp green: a member of any organisation sees the unmarked object.
	pol := sharing.NewPolicy(sharing.TLPNone)
	page, err := st.Query(context.Background(), store.Filter{Collection: store.DefaultCollectionID,
		Access: pol.Access(sharing.Principal{OrgID: "identity--00000000-0000-4000-8000-000000000009", Role: sharing.RoleMember})})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || page.Entries[0].Label.TLP != sharing.TLPGreen || string(page.Entries[0].Raw) != good {
		t.Errorf("stored %+v", page.Entries)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--data", dir, "--tlp", "purple", file}, "unknown TLP level"},
		{[]string{"import", "--data", dir, "--org", "Nobody", file}, "organisation \"Nobody\""},
		{[]string{"import", "--data", dir, filepath.Join(dir, "missing.json")}, "not found"},
		{[]string{"export", "--data", dir, "--added-after", "yesterday"}, "not an RFC 3339 timestamp"},
	} {
		code, _, stderr := runCLI(t, "", tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) || !strings.HasPrefix(stderr, "kizuna: ") {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", tt.args, code, stderr, tt.want)
		}
	}
}

func TestExportPolicy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	orgA := store.Org{ID: "identity--aaaaaaaa-0000-4000-8000-000000000001", Name: "A", Type: "critical-infrastructure"}
	orgB := store.Org{ID: "identity--bbbbbbbb-0000-4000-8000-000000000002", Name: "B", Type: "academia"}
	hub := store.Org{ID: "identity--cccccccc-0000-4000-8000-000000000003", Name: "Hub", Type: "hub"}
	for _, o := range []store.Org{orgA, orgB, hub} {
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateUser(ctx, store.User{ID: "u-a", OrgID: orgA.ID, Name: "alice", Role: sharing.RoleMember}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	ind := func(n int, marking string) string {
		return `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3` + strconv.Itoa(n) + `","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["` + marking + `"]}`
	}
	file := filepath.Join(t.TempDir(), "tlp.json")
	bundle := "[" + strings.Join([]string{ind(1, sharing.TLP2Clear), ind(2, sharing.TLP2Green), ind(3, sharing.TLP2Amber), ind(4, sharing.TLP2AmberStrict), ind(5, sharing.TLP2Red)}, ",") + "]"
	if err := os.WriteFile(file, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "", "import", "--data", dir, "--org", "A", "--user", "alice", file); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	tests := []struct {
		name string
		args []string
		want string // last digits of the exported ids
	}{
		{"producer user sees everything", []string{"--org", "A", "--user", "alice"}, "12345"},
		{"producer org without the user: no RED", []string{"--org", "A"}, "1234"},
		{"other org: CLEAR and GREEN", []string{"--org", "B"}, "12"},
		{"local operator is a hub admin: no AMBER+STRICT or RED of others", nil, "123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, "", append([]string{"export", "--data", dir}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := ""
			for _, o := range compactObjects(t, []byte(out)) {
				i := strings.Index(o, "3cd3")
				got += o[i+4 : i+5]
			}
			if got != tt.want {
				t.Errorf("exported %q, want %q", got, tt.want)
			}
		})
	}
}
