package misp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// FuzzParseEvents: any input either fails to parse with an error, or every
// event converts to STIX objects that all pass stix.Validate, and the
// objects convert back without panicking into exactly one event with the
// same uuid.
func FuzzParseEvents(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.json")
	feed, _ := filepath.Glob("testdata/feed/*.json")
	for _, p := range append(seeds, feed...) {
		if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"response":[{"Event":{"uuid":"0b3a9d2e-1111-4c1a-8f00-000000000001","Attribute":[{"uuid":"0b3a9d2e-1111-4c1a-8f00-000000000002","type":"ip-dst|port","value":"1.2.3.4|99999","to_ids":"1"}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := ParseEvents("fuzz", data, &Loss{})
		if err != nil {
			return
		}
		for _, ev := range evs {
			raws, err := ToSTIX(ev, &Loss{})
			if err != nil {
				continue // an event the converter refuses, with an error
			}
			var objs []*stix.Object
			for _, r := range raws {
				o, err := stix.Parse(r)
				if err != nil {
					t.Fatalf("converter produced unparsable JSON: %v\n%s", err, r)
				}
				if errs := stix.Validate(o); len(errs) > 0 {
					t.Fatalf("converter produced an invalid object: %v\n%s", errs[0], r)
				}
				objs = append(objs, o)
			}
			back := FromSTIX(objs, ExportOptions{}, &Loss{})
			if len(back) != 1 || back[0].UUID != ev.UUID {
				t.Fatalf("event %s: %d events back", ev.UUID, len(back))
			}
		}
	})
}

// FuzzParseManifest: manifests parse or fail with an error; accepted keys
// are uuids.
func FuzzParseManifest(f *testing.F) {
	if b, err := os.ReadFile("testdata/feed/manifest.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"not-a-uuid":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest("fuzz", data)
		if err != nil {
			return
		}
		for k := range m {
			if !validUUID(k) {
				t.Fatalf("accepted key %q", k)
			}
		}
	})
}

// FuzzPattern: a value rendered as a pattern reads back as the same value.
func FuzzPattern(f *testing.F) {
	f.Add("plain", "198.51.100.7")
	f.Add(`it's \ here`, "2001:db8::1")
	f.Fuzz(func(t *testing.T, name, ip string) {
		p, ok := buildPattern(attrFields["domain|ip"], []string{name, ip})
		if !ok {
			t.Fatal("buildPattern refused strings")
		}
		cmp, ok := parsePattern(p)
		if !ok {
			t.Fatalf("cannot read back %s", p)
		}
		v, ok := valueFromPattern("domain|ip", cmp)
		if !ok || v != name+"|"+ip {
			t.Fatalf("%q|%q → %s → %q", name, ip, p, v)
		}
	})
}
