package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// refEnvelope decodes an envelope with encoding/json, the reference
// decodeEnvelope must agree with.
func refEnvelope(body []byte) (envelope, error) {
	var env struct {
		More    bool              `json:"more"`
		Next    string            `json:"next"`
		Objects []json.RawMessage `json:"objects"`
	}
	err := json.Unmarshal(body, &env)
	return envelope{More: env.More, Next: env.Next, Objects: env.Objects}, err
}

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		name, body string
		want       envelope
		err        string // substring of the error; "" means success
	}{
		{name: "empty envelope", body: `{}`, want: envelope{}},
		{name: "full", body: " {\"more\":true,\"next\":\"c1\",\"objects\":[{\"a\":[1,-2.5e3,true,null]} , {\"b\":\"x\\\"y\\u00e9\"}]}\n",
			want: envelope{More: true, Next: "c1", Objects: []json.RawMessage{json.RawMessage(`{"a":[1,-2.5e3,true,null]}`), json.RawMessage(`{"b":"x\"y\u00e9"}`)}}},
		{name: "unknown members skipped", body: `{"x":{"objects":[1]},"objects":[{}],"y":[]}`, want: envelope{Objects: []json.RawMessage{json.RawMessage(`{}`)}}},
		{name: "escaped next", body: `{"next":"a\/b\u0041"}`, want: envelope{Next: "a/bA"}},
		{name: "escaped member name", body: `{"obj\u0065cts":[7]}`, want: envelope{Objects: []json.RawMessage{json.RawMessage(`7`)}}},
		{name: "last duplicate wins", body: `{"objects":[1],"objects":[2,3],"more":true,"more":false}`, want: envelope{Objects: []json.RawMessage{json.RawMessage(`2`), json.RawMessage(`3`)}}},
		{name: "null objects", body: `{"objects":null,"more":null}`, want: envelope{}},
		{name: "not an object", body: `[]`, err: "expected a JSON object"},
		{name: "objects not an array", body: `{"objects":{}}`, err: `"objects" is not an array`},
		{name: "more not a bool", body: `{"more":"yes"}`, err: `"more"`},
		{name: "truncated", body: `{"objects":[{"a":1}`, err: "unexpected end of input"},
		{name: "trailing data", body: `{} {}`, err: "after the top-level value"},
		{name: "trailing comma", body: `{"objects":[1,]}`, err: "expected a value"},
		{name: "bad escape", body: `{"objects":["\x"]}`, err: "invalid escape"},
		{name: "bad unicode escape", body: `{"objects":["\u12g4"]}`, err: `bad \u escape`},
		{name: "control character", body: "{\"objects\":[\"a\tb\"]}", err: "control character"},
		{name: "leading zero", body: `{"objects":[01]}`, err: "expected ',' or ']'"},
		{name: "bare minus", body: `{"objects":[-]}`, err: "malformed number"},
		{name: "bad literal", body: `{"objects":[tru]}`, err: "expected a value"},
		{name: "too deep", body: `{"objects":[` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1) + `]}`, err: "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEnvelope([]byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				if _, refErr := refEnvelope([]byte(tt.body)); refErr == nil && tt.name != "too deep" {
					t.Fatalf("encoding/json accepts what decodeEnvelope refuses")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.More != tt.want.More || got.Next != tt.want.Next || !sameObjects(got.Objects, tt.want.Objects) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := decodeEnvelope([]byte(`{`)); !errors.Is(err, errSyntax) {
		t.Fatalf("syntax error %v does not wrap errSyntax", err)
	}
}

func sameObjects(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzDecodeEnvelope checks decodeEnvelope against encoding/json: whatever
// both accept decodes identically, and decodeEnvelope never accepts what
// encoding/json refuses. It may refuse more: a top-level null, member
// names matching only case-insensitively (encoding/json's leniency) and
// nesting beyond maxDepth.
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(`{"more":true,"next":"abc","objects":[{"id":"indicator--1","x":[1.5e-3,"\u00e9\n"]}]}`)
	f.Add(`{"More":true,"objects":null}`)
	f.Add(`{"objects":[1,2,{"a":{}}],"next":null}`)
	f.Add(`{"obj\u0065cts":[true,false,null,-0.0]}`)
	f.Add(`{"objects":[` + "\"\xff\"" + `],"next":"` + "\xfe" + `"}`)
	f.Add(`[{}]`)
	f.Fuzz(func(t *testing.T, body string) {
		got, err := decodeEnvelope([]byte(body))
		ref, refErr := refEnvelope([]byte(body))
		switch {
		case err == nil && refErr != nil:
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, refErr)
		case err != nil && refErr == nil:
			if strings.TrimSpace(body) == "null" || caseFolded(body) || strings.Count(body, "[")+strings.Count(body, "{") > maxDepth {
				return
			}
			t.Fatalf("refused %q (%v), which encoding/json accepts", body, err)
		case err == nil:
			if caseFolded(body) {
				return
			}
			if got.More != ref.More || got.Next != ref.Next || !sameObjects(got.Objects, ref.Objects) {
				t.Fatalf("%q: got %+v, encoding/json %+v", body, got, ref)
			}
		}
	})
}

// caseFolded reports whether a top-level member name matches an envelope
// member only case-insensitively.
func caseFolded(body string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &m) != nil {
		return false
	}
	for k := range m {
		for _, name := range []string{"more", "next", "objects"} {
			if k != name && strings.EqualFold(k, name) {
				return true
			}
		}
	}
	return false
}

// benchPage is a TAXII envelope of n indicators of about 420 bytes.
func benchPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"more":true,"next":"MTcwMDAwMDAwMDAwMDAwMA","objects":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-2222-4222-8222-000000000000","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench %d","pattern":"[ipv4-addr:value = '10.0.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, i, i, i>>8&255, i&255)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodeEnvelope compares decodeEnvelope with encoding/json on a
// page of 1,000 indicators (the federation page size).
func BenchmarkDecodeEnvelope(b *testing.B) {
	page := benchPage(1000)
	for _, impl := range []struct {
		name string
		fn   func([]byte) (envelope, error)
	}{{"scanner", decodeEnvelope}, {"encoding-json", refEnvelope}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()
			for b.Loop() {
				env, err := impl.fn(page)
				if err != nil || len(env.Objects) != 1000 {
					b.Fatal(err, len(env.Objects))
				}
			}
		})
	}
}
