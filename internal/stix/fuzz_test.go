package stix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fuzzSeeds returns every fixture file and each object in it.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob(filepath.Join(testdataDir(f), "*.json"))
	more, _ := filepath.Glob(filepath.Join(testdataDir(f), "invalid", "*.json"))
	for _, file := range append(files, more...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, data)
		_ = ReadObjects(bytes.NewReader(data), func(_ int, raw json.RawMessage) error {
			seeds = append(seeds, append([]byte(nil), raw...))
			return nil
		})
	}
	for _, s := range bases {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

func errStrings(errs []*Error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	slices.Sort(out)
	return out
}

// FuzzParseValidate: Parse and Validate never panic, Parse(Raw) is stable
// and gives the same verdict, and ReadInput never panics.
func FuzzParseValidate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ValidateInput(bytes.NewReader(data), func(int, *Object, []*Error) error { return nil })
		o, err := Parse(data)
		if err != nil {
			return
		}
		errs := Validate(o)
		o2, err := Parse(o.Raw)
		if err != nil {
			t.Fatalf("Parse(Raw) failed: %v", err)
		}
		if !bytes.Equal(o2.Raw, o.Raw) {
			t.Fatalf("Raw not stable:\n%s\n%s", o.Raw, o2.Raw)
		}
		if o2.ID != o.ID || o2.Type != o.Type || o2.Modified != o.Modified || o2.Created != o.Created {
			t.Fatal("common properties changed on re-parse")
		}
		if a, b := errStrings(errs), errStrings(Validate(o2)); !slices.Equal(a, b) {
			t.Fatalf("verdict changed on re-parse: %v vs %v", a, b)
		}
		_ = Hash(o)
		if o.Type != "" {
			_, _ = SCOID(o)
		}
	})
}

// FuzzCanonical: canonicalisation never panics, produces valid JSON and is
// idempotent.
func FuzzCanonical(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{`1e400`, `"\ud800"`, `{"a":1,"a":2}`, `[0.1,-0,1e21,1e-7,5e-324]`, `"\u20ac\u0000"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Canonical(data)
		if err != nil {
			return
		}
		if !json.Valid(c) {
			t.Fatalf("canonical form is not valid JSON: %q", c)
		}
		c2, err := Canonical(c)
		if err != nil {
			t.Fatalf("canonical form rejected: %v", err)
		}
		if !bytes.Equal(c, c2) {
			t.Fatalf("not idempotent:\n%q\n%q", c, c2)
		}
	})
}

// referenceDecode is what Parse did before its single-pass decoder:
// json.Compact, then a json.Decoder with UseNumber.
func referenceDecode(data []byte) (map[string]any, []byte, bool) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, nil, false
	}
	return m, buf.Bytes(), true
}

// checkDecodeAgrees compares decodeObject with encoding/json.
func checkDecodeAgrees(t *testing.T, data []byte) {
	t.Helper()
	wantM, wantRaw, wantOK := referenceDecode(data)
	m, raw, err := decodeObject(data)
	if err != nil && wantOK && strings.Contains(err.Error(), "duplicate property name") {
		return // encoding/json keeps the last duplicate; Parse rejects them
	}
	if (err == nil) != wantOK {
		t.Fatalf("decodeObject err=%v, encoding/json ok=%v on %q", err, wantOK, data)
	}
	if !wantOK {
		return
	}
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("compact form differs:\n%q\n%q", raw, wantRaw)
	}
	if !reflect.DeepEqual(m, wantM) {
		t.Fatalf("decoded value differs on %q:\n%#v\n%#v", data, m, wantM)
	}
}

// FuzzDecodeMatchesEncodingJSON: Parse's decoder agrees with
// encoding/json on every input (values, compact form, errors).
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range []string{`{"a":"\ud800x"}`, `{"a":"\ud83d\ude00","a":1}`, "{\"a\":\"\xff\xfe\"}", `{"a":[1e5,-0.5,{}]}`, `{"a":"\u00e9\/"} `, `null`, `[]`, `{"a":01}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAgrees(t, data)
	})
}
