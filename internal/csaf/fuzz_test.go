package csaf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheck: Check and Mandatory never panic, and a document that Check
// accepts is accepted again after Complete keeps it (idempotent input).
func FuzzCheck(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "bsi-2022-0001.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"document":{"tracking":{"revision_history":[{"number":"1.0.0-a","date":"x"},{"number":"0"}]}},"product_tree":{"relationships":[{"product_reference":"a","relates_to_product_reference":"b","full_product_name":{"product_id":"b"}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := Check(data)
		if err == nil && len(ps) == 0 {
			if err := Validate(data); err != nil {
				t.Fatalf("Check accepted, Validate refused: %v", err)
			}
		}
	})
}

// FuzzComplete: Complete never panics on JSON or YAML drafts.
func FuzzComplete(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "draft-amber.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("d.yaml", b)
	f.Add("d.json", []byte(`{"document":{"tracking":{"id":"x","revision_history":[1,{"number":2}]}}}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		out, err := Complete(name, data, DraftOptions{})
		if err == nil {
			if _, err := decode(out); err != nil {
				t.Fatalf("Complete produced invalid JSON: %v", err)
			}
		}
	})
}
