package stix

import (
	"encoding/json"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"os"
	"path/filepath"
	"testing"
)

// sharedDir returns ../shared/<rel> relative to the repository root, or
// skips the test when it is absent.
func sharedDir(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(realdata.RepoRoot(t), "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real data not available (%s): %v", p, err)
	}
	return p
}

// testdataDir returns the repository's testdata/stix directory.
func testdataDir(t testing.TB) string {
	return filepath.Join(realdata.RepoRoot(t), "testdata", "stix")
}

// readAll reads every object of a STIX file.
func readAll(t testing.TB, file string) []json.RawMessage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []json.RawMessage
	err = ReadObjects(f, func(_ int, raw json.RawMessage) error {
		out = append(out, append(json.RawMessage(nil), raw...))
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return out
}

// mustParse parses a JSON object or fails the test.
func mustParse(t testing.TB, s string) *Object {
	t.Helper()
	o, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return o
}
