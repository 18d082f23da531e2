package stix

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// attackSample returns the raw objects of the ATT&CK fixture.
func attackSample(b *testing.B) []json.RawMessage {
	raws := readAll(b, filepath.Join(testdataDir(b), "attack-mobile-sample.json"))
	if len(raws) == 0 {
		b.Fatal("empty fixture")
	}
	return raws
}

// BenchmarkValidate measures Validate alone on the ATT&CK fixture objects
// (reported per object).
func BenchmarkValidate(b *testing.B) {
	var objs []*Object
	for _, raw := range attackSample(b) {
		o, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, o)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if errs := Validate(objs[i%len(objs)]); errs != nil {
			b.Fatal(errs)
		}
	}
}

// BenchmarkParseValidate measures Parse + Validate per object of the full
// ATT&CK ICS bundle (skipped without ../shared/data).
func BenchmarkParseValidate(b *testing.B) {
	p := filepath.Join(sharedDir(b, "data/stix/attack-stix-data"), "ics-attack", "ics-attack-18.1.json")
	raws := readAll(b, p)
	var bytes int64
	for _, r := range raws {
		bytes += int64(len(r))
	}
	b.SetBytes(bytes / int64(len(raws)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, err := Parse(raws[i%len(raws)])
		if err != nil {
			b.Fatal(err)
		}
		if errs := Validate(o); errs != nil {
			b.Fatal(errs)
		}
	}
}

// BenchmarkValidateICS measures Validate alone per object of the ATT&CK
// ICS bundle (skipped without ../shared/data).
func BenchmarkValidateICS(b *testing.B) {
	p := filepath.Join(sharedDir(b, "data/stix/attack-stix-data"), "ics-attack", "ics-attack-18.1.json")
	var objs []*Object
	for _, raw := range readAll(b, p) {
		o, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		objs = append(objs, o)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if errs := Validate(objs[i%len(objs)]); errs != nil {
			b.Fatal(errs)
		}
	}
}

// BenchmarkCanonical measures RFC 8785 canonicalisation per ATT&CK object.
func BenchmarkCanonical(b *testing.B) {
	raws := attackSample(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Canonical(raws[i%len(raws)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSCOID measures deterministic id computation for a file object.
func BenchmarkSCOID(b *testing.B) {
	o := mustParse(b, `{"type":"file","id":"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d","hashes":{"MD5":"1717b7fff97d37a1e1a0029d83492de1","SHA-256":"aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"},"name":"resume.pdf"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := SCOID(o); err != nil {
			b.Fatal(err)
		}
	}
}
