package stix

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// RFC 8785 section 3.2.2 (serialisation) and 3.2.3 (sorting) examples.
func TestCanonicalRFCExamples(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "3.2.2 serialisation",
			in: `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`,
			want: `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			name: "3.2.3 sorting by UTF-16 code units",
			in: `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`,
			want: "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😀\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{name: "nested objects sorted", in: `{"b":{"z":1,"a":[{"y":2,"x":1}]},"a":{}}`, want: `{"a":{},"b":{"a":[{"x":1,"y":2}],"z":1}}`},
		{name: "empty containers", in: ` [ { } , [ ] , "" ] `, want: `[{},[],""]`},
		{name: "control characters", in: `"\u0001\u001f\b\t"`, want: `"\u0001\u001f\b\t"`},
		{name: "no escaping of non-ASCII or slash", in: `"\u00e9/\u2028"`, want: "\"é/\u2028\""},
		{name: "integers", in: `[0, -0, 1.0, -1, 100, 1e2, 123456789012]`, want: `[0,0,1,-1,100,100,123456789012]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// RFC 8785 appendix B: IEEE 754 bit patterns and their serialisation.
func TestFormatNumberRFCVectors(t *testing.T) {
	tests := []struct {
		bits uint64
		want string
	}{
		{0x0000000000000000, "0"},
		{0x8000000000000000, "0"},
		{0x0000000000000001, "5e-324"},
		{0x8000000000000001, "-5e-324"},
		{0x7fefffffffffffff, "1.7976931348623157e+308"},
		{0xffefffffffffffff, "-1.7976931348623157e+308"},
		{0x4340000000000000, "9007199254740992"},
		{0xc340000000000000, "-9007199254740992"},
		{0x4430000000000000, "295147905179352830000"},
		{0x44b52d02c7e14af5, "9.999999999999997e+22"},
		{0x44b52d02c7e14af6, "1e+23"},
		{0x44b52d02c7e14af7, "1.0000000000000001e+23"},
		{0x444b1ae4d6e2ef4e, "999999999999999700000"},
		{0x444b1ae4d6e2ef4f, "999999999999999900000"},
		{0x444b1ae4d6e2ef50, "1e+21"},
		{0x3eb0c6f7a0b5ed8d, "0.000001"},
		{0x3eb0c6f7a0b5ed8e, "0.0000010000000000000002"},
		{0x41b3de4355555553, "333333333.3333332"},
		{0x41b3de4355555554, "333333333.33333325"},
		{0x41b3de4355555555, "333333333.3333333"},
		{0x41b3de4355555556, "333333333.3333334"},
		{0x41b3de4355555557, "333333333.33333343"},
		{0xbecbf647612f3696, "-0.0000033333333333333333"},
		{0x43143ff3c1cb0959, "1424953923781206.2"},
	}
	for _, tt := range tests {
		f := math.Float64frombits(tt.bits)
		if got := FormatNumber(f); got != tt.want {
			t.Errorf("%#016x: got %s, want %s", tt.bits, got, tt.want)
		}
		// The same value written as JSON text canonicalises identically.
		got, err := Canonical([]byte(FormatNumber(f)))
		if err != nil || string(got) != tt.want {
			t.Errorf("%#016x: Canonical(%s) = %s, %v", tt.bits, tt.want, got, err)
		}
	}
}

func TestCanonicalRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"duplicate member", `{"a":1,"a":2}`},
		{"lone high surrogate", `"\ud800"`},
		{"lone low surrogate", `"\udc00x"`},
		{"high surrogate then non-surrogate", `"\ud800\u0041"`},
		{"invalid UTF-8", "\"\xff\""},
		{"raw control character", "\"a\nb\""},
		{"number overflow", `1e400`},
		{"leading zero", `01`},
		{"bare dot", `1.`},
		{"trailing data", `{} {}`},
		{"unterminated", `{"a":[1,2`},
		{"bad literal", `tru`},
		{"bad escape", `"\x"`},
		{"empty", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Canonical([]byte(tt.in))
			if err == nil {
				t.Fatalf("Canonical(%q) succeeded", tt.in)
			}
			if !errors.Is(err, errkind.Invalid) {
				t.Errorf("error %v does not wrap errkind.Invalid", err)
			}
		})
	}
}

func TestHashIgnoresFormatting(t *testing.T) {
	a := mustParse(t, `{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3","spec_version":"2.1"}`)
	b := mustParse(t, "{\n \"spec_version\": \"2.1\",\n \"value\": \"198.51.100.3\", \"id\": \"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd\", \"type\": \"ipv4-addr\"}")
	c := mustParse(t, `{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.4","spec_version":"2.1"}`)
	if Hash(a) != Hash(b) {
		t.Error("member order and white space changed the hash")
	}
	if Hash(a) == Hash(c) {
		t.Error("different values hash equally")
	}
	want := sha256.Sum256([]byte(`{"id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","spec_version":"2.1","type":"ipv4-addr","value":"198.51.100.3"}`))
	if Hash(a) != want {
		t.Error("Hash is not SHA-256 of the canonical form")
	}
	// Duplicate member names (which Parse rejects, but an Object may be
	// built by hand) cannot be canonicalised: Raw is hashed.
	d := &Object{Raw: []byte(`{"type":"x-a","v":1,"v":2}`)}
	if Hash(d) != sha256.Sum256(d.Raw) {
		t.Error("fallback hash is not SHA-256 of Raw")
	}
}

// TestCanonicalIdempotentOnFixtures canonicalises every fixture object:
// canonicalising twice changes nothing.
func TestCanonicalIdempotentOnFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir(t), "*.json"))
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/stix")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c1, err := Canonical(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c2, err := Canonical(c1)
		if err != nil || string(c1) != string(c2) {
			t.Errorf("%s: not idempotent: %v", f, err)
		}
	}
}

func TestCanonicalManyMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 100; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%03d":%d`, 99-i, i)
	}
	b.WriteString("}")
	c, err := Canonical([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(c), `{"k000":99,"k001":98,`) || !strings.HasSuffix(string(c), `"k099":0}`) {
		t.Errorf("not sorted: %.80s", c)
	}
	dup := strings.Replace(b.String(), `"k000"`, `"k050"`, 1)
	if _, err := Canonical([]byte(dup)); err == nil {
		t.Error("duplicate member among 100 accepted")
	}
}
