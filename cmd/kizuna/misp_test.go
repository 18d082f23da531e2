package main

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

type mispEvent struct {
	UUID      string `json:"uuid"`
	Info      string `json:"info"`
	Attribute []struct {
		UUID  string `json:"uuid"`
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"Attribute"`
	Object []struct {
		Name      string `json:"name"`
		Attribute []struct {
			Type string `json:"type"`
		} `json:"Attribute"`
		ObjectReference []any `json:"ObjectReference"`
	} `json:"Object"`
}

type mispExport struct {
	Response []struct {
		Event mispEvent `json:"Event"`
	} `json:"response"`
}

func parseMISPExport(t *testing.T, out string) mispExport {
	t.Helper()
	var ex mispExport
	if err := json.Unmarshal([]byte(out), &ex); err != nil {
		t.Fatalf("export is not MISP events JSON: %v\n%.300s", err, out)
	}
	return ex
}

const syntheticUUID = "0b3a9d2e-1111-4c1a-8f00-000000000001"

// TestMISPImportExport imports MISP fixtures (a file and a feed
// directory), re-imports them (idempotent), and exports them through the
// sharing policy: a partner organisation sees the TLP:GREEN event without
// its TLP:RED and AMBER+STRICT attributes.
func TestMISPImportExport(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "cyber", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Partner", "--sector", "cyber", "--type", "partner-cert")
	td := filepath.Join("..", "..", "internal", "misp", "testdata")
	args := []string{"misp", "import", "--data", dir, filepath.Join(td, "synthetic.json"), filepath.Join(td, "feed")}
	r := kz(t, args...)
	if r.code != 0 {
		t.Fatalf("misp import: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "converted 2 MISP events (9 attributes, 1 objects) from 2 files") {
		t.Errorf("import summary missing:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "EventReport") {
		t.Errorf("loss report does not name EventReport:\n%s", r.stderr)
	}
	if r2 := kz(t, args...); r2.code != 0 {
		t.Fatalf("re-import: exit %d\n%s", r2.code, r2.stderr)
	}

	hub := parseMISPExport(t, kzOK(t, "misp", "export", "--data", dir))
	if len(hub.Response) != 2 {
		t.Fatalf("hub export has %d events, want 2", len(hub.Response))
	}

	partner := parseMISPExport(t, kzOK(t, "misp", "export", "--data", dir, "--org", "Partner"))
	var syn *mispEvent
	for i := range partner.Response {
		if partner.Response[i].Event.UUID == syntheticUUID {
			syn = &partner.Response[i].Event
		}
	}
	if syn == nil {
		t.Fatalf("partner does not see the TLP:GREEN event: %+v", partner)
	}
	var types []string
	for _, a := range syn.Attribute {
		types = append(types, a.Type)
	}
	sort.Strings(types)
	want := []string{"domain|ip", "filename|sha256", "ip-dst", "text", "vulnerability"}
	if !slices.Equal(types, want) {
		t.Errorf("partner sees attributes %q, want %q (not the tlp:red ip-dst|port nor the distribution-0 url)", types, want)
	}
	if len(syn.Object) != 1 || len(syn.Object[0].Attribute) != 2 || len(syn.Object[0].ObjectReference) != 0 {
		t.Errorf("partner object %+v: want the file object with 2 attributes and without its reference to the hidden url", syn.Object)
	}

	only := parseMISPExport(t, kzOK(t, "misp", "export", "--data", dir, "--type", "ip-dst"))
	for _, e := range only.Response {
		for _, a := range e.Event.Attribute {
			if a.Type != "ip-dst" {
				t.Errorf("--type ip-dst exported a %s attribute", a.Type)
			}
		}
	}
}

func TestMISPImportErrors(t *testing.T) {
	dir := t.TempDir()
	checkFailure(t, kz(t, "misp", "import", "--data", dir, filepath.Join(dir, "missing.json")), 2, "missing.json")
	bad := filepath.Join("..", "..", "internal", "misp", "testdata", "README.md")
	r := kz(t, "misp", "import", "--data", dir, bad)
	if r.code != 1 || !strings.Contains(r.stderr, "README.md") || !strings.Contains(r.stderr, "want a MISP event") {
		t.Errorf("import of a non-MISP file: exit %d, stderr %q", r.code, r.stderr)
	}
	checkFailure(t, kz(t, "misp", "export"), 2, "--data is required")
}
