package stix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFixtures validates the real objects copied into testdata/stix (no
// errors, Raw round-trips) and checks that the invalid ones are rejected
// with the expected property named.
func TestFixtures(t *testing.T) {
	dir := testdataDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 5 {
		t.Fatalf("expected fixtures in %s", dir)
	}
	n := 0
	for _, f := range files {
		f := f
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			envErrs, err := ValidateInput(bytes.NewReader(data), func(_ int, o *Object, errs []*Error) error {
				n++
				for _, e := range errs {
					t.Error(e)
				}
				if o == nil {
					return nil
				}
				var want bytes.Buffer
				_ = json.Compact(&want, o.Raw)
				if !bytes.Equal(want.Bytes(), o.Raw) {
					t.Errorf("%s: Raw is not compact", o.ID)
				}
				o2, err := Parse(o.Raw)
				if err != nil || !bytes.Equal(o2.Raw, o.Raw) || o2.ID != o.ID || o2.Modified != o.Modified {
					t.Errorf("%s: Parse(Raw) is not stable: %v", o.ID, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range envErrs {
				t.Error(e)
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d fixture objects", n)
	}

	invalid := map[string]string{
		"validator-invalid_braces.json":    "read error",
		"validator-invalid_comma.json":     "read error",
		"validator-invalid_identity.json":  "modified",
		"validator-invalid_timestamp.json": "modified",
	}
	for name, prop := range invalid {
		data, err := os.ReadFile(filepath.Join(dir, "invalid", name))
		if err != nil {
			t.Fatal(err)
		}
		var got []*Error
		_, err = ValidateInput(bytes.NewReader(data), func(_ int, _ *Object, errs []*Error) error {
			got = append(got, errs...)
			return nil
		})
		switch {
		case prop == "read error":
			if err == nil {
				t.Errorf("%s: malformed JSON accepted", name)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case len(got) != 1 || got[0].Property != prop || !strings.HasPrefix(got[0].ObjectID, "identity--"):
			t.Errorf("%s: want one error on %s, got %v", name, prop, got)
		}
	}
}
