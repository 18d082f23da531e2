package stix

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
)

// realFiles lists the strictly-2.1 real inputs that must validate cleanly.
func realFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	attack := sharedDir(t, "data/stix/attack-stix-data")
	m, _ := filepath.Glob(filepath.Join(attack, "*", "*.json"))
	files = append(files, m...)
	if d, err := filepath.Abs(filepath.Join(attack, "..", "cti-documentation", "examples", "example_json")); err == nil {
		m, _ = filepath.Glob(filepath.Join(d, "*.json"))
		files = append(files, m...)
	}
	ex := filepath.Join(filepath.Dir(filepath.Dir(attack)), "..", "schemas", "examples")
	m, _ = filepath.Glob(filepath.Join(ex, "*.json"))
	files = append(files, m...)
	m, _ = filepath.Glob(filepath.Join(ex, "*", "*.json"))
	files = append(files, m...)
	if len(files) < 10 {
		t.Fatalf("expected the ATT&CK and OASIS example files, found %d", len(files))
	}
	return files
}

// TestRealDataValid validates every object of MITRE ATT&CK (ICS, Mobile)
// and the OASIS example bundles: zero errors, Raw equal to the compacted
// input and Props re-marshalling to the same JSON value.
func TestRealDataValid(t *testing.T) {
	total := 0
	for _, file := range realFiles(t) {
		raws := readAll(t, file)
		for i, raw := range raws {
			o, err := Parse(raw)
			if err != nil {
				t.Errorf("%s[%d]: parse: %v", filepath.Base(file), i, err)
				continue
			}
			total++
			for _, e := range Validate(o) {
				t.Errorf("%s: %v", filepath.Base(file), e)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, raw); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(o.Raw, want.Bytes()) {
				t.Errorf("%s: %s: Raw differs from the compacted input", filepath.Base(file), o.ID)
			}
			re, err := json.Marshal(o.Props)
			if err != nil {
				t.Fatalf("%s: re-marshal: %v", o.ID, err)
			}
			if !jsonEqual(t, re, raw) {
				t.Errorf("%s: %s: re-marshalled Props differ from the input", filepath.Base(file), o.ID)
			}
		}
	}
	t.Logf("%d real objects validated", total)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if err := da.Decode(&va); err != nil {
		t.Fatal(err)
	}
	if err := db.Decode(&vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

// TestEnterpriseDerived reports (without failing) how many objects of the
// ATT&CK Enterprise bundle assembled from STIX 2.0 objects break 2.1 rules.
func TestEnterpriseDerived(t *testing.T) {
	if testing.Short() {
		t.Skip("large input; skipped in -short mode")
	}
	p := filepath.Join(sharedDir(t, "data/stix"), "enterprise-attack-18.1-derived-stix21.json.gz")
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("enterprise bundle not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n, bad := 0, 0
	problems := map[string]int{}
	err = ReadObjects(zr, func(_ int, raw json.RawMessage) error {
		n++
		o, err := Parse(raw)
		if err != nil {
			bad++
			problems["parse: "+err.Error()]++
			return nil
		}
		errs := Validate(o)
		if len(errs) > 0 {
			bad++
		}
		for _, e := range errs {
			problems[o.Type+": "+e.Property+": "+trimValue(e.Message)]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20000 {
		t.Fatalf("read %d objects, want the whole bundle", n)
	}
	keys := make([]string, 0, len(problems))
	for k := range problems {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return problems[keys[i]] > problems[keys[j]] })
	t.Logf("enterprise-attack derived bundle: %d objects, %d with problems", n, bad)
	for i, k := range keys {
		if i == 25 {
			t.Logf("... %d more kinds", len(keys)-25)
			break
		}
		t.Logf("%6d  %s", problems[k], k)
	}
}

// trimValue cuts a message before its first quoted value so that problems
// of the same kind group together.
func trimValue(msg string) string {
	for i := 0; i < len(msg); i++ {
		if msg[i] == '"' {
			return msg[:i] + "…"
		}
	}
	return msg
}

// TestDecodeMatchesEncodingJSONOnRealData compares Parse's decoder with
// encoding/json on every real object.
func TestDecodeMatchesEncodingJSONOnRealData(t *testing.T) {
	for _, file := range realFiles(t) {
		for _, raw := range readAll(t, file) {
			checkDecodeAgrees(t, raw)
		}
	}
}
