package feed

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func seedFiles(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob("../testdata/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzFeed reads b with m and checks the invariants every read keeps: no
// notification to an owner of something else, errors with plausible line
// numbers in order, counts that add up.
func fuzzFeed(t *testing.T, b []byte, m Mapping) {
	tab := testTable(t)
	st, err := Route(context.Background(), bytes.NewReader(b), tab, Config{Mapping: m},
		func(n Notification) error {
			if !slices.Contains(tab.Route(n.Value), n.Owner) {
				t.Fatalf("line %d: %s notified of %q", n.Line, n.Owner, n.Value)
			}
			return nil
		})
	if err != nil {
		return // a header that does not fit the mapping
	}
	if st.Records > st.Lines || st.Malformed > st.Lines || st.Routed > st.Records || st.Notifications < st.Routed {
		t.Fatalf("counts do not add up: %+v", st)
	}
	for i, e := range st.Errors {
		if e.Line < 1 || i > 0 && e.Line < st.Errors[i-1].Line {
			t.Fatalf("error lines out of order: %v", st.Errors)
		}
	}
}

// FuzzCSV fuzzes the CSV reader with the Shadowserver-style mapping.
func FuzzCSV(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzFeed(t, b, ShadowserverScan) })
}

// FuzzJSONLines fuzzes the JSON-lines reader with nested paths.
func FuzzJSONLines(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzFeed(t, b, Mapping{Format: JSONLines, Values: []string{"ip", "src.ip", "hostname"}, Time: "timestamp", Extra: []string{"port", "a.b"}})
	})
}

// FuzzLines fuzzes the input of `kizuna route`.
func FuzzLines(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzFeed(t, b, Mapping{Format: Lines, MaxLine: 256}) })
}
