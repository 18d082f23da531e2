package pattern

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that errors carry a position
// inside the input, and that String() of a parsed pattern parses back to an
// equal tree. Seeds: the OASIS validator cases in testdata/pattern.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(testdataFile(f, "validator-cases.json"))
	if err != nil {
		f.Fatal(err)
	}
	var cases []validatorCase
	if err := json.Unmarshal(data, &cases); err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.Pattern)
	}
	f.Add("([a:b[*].c NOT IN (1, 2.5, 'x', true, b'YQ==', h'00', t'2020-01-01T00:00:00Z')] OR NOT EXISTS a:d) FOLLOWEDBY [x:y = 1] START t'2020-01-01T00:00:00Z' STOP t'2020-01-02T00:00:00Z'")
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			if pos := ErrPosition(err); pos < 0 || pos > len(src) {
				t.Fatalf("error position %d outside [0,%d]: %v", pos, len(src), err)
			}
			return
		}
		assertRoundTrip(t, p)
	})
}
