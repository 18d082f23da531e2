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

// FuzzMatch checks that evaluating any valid pattern against any JSON
// input never panics: errors are fine, panics are not. Seeds: the
// matcher fixture's patterns with the test data of match_test.go.
func FuzzMatch(f *testing.F) {
	rec := loadMatcherCases(f, testdataFile(f, "matcher-cases.json"))
	for _, c := range rec.Cases {
		f.Add(c.Args.Pattern, matchData)
	}
	f.Add("[x:a_ref.b_refs[*].c_hex = h'00'] REPEATS 2 TIMES", `[{"type":"x","id":"x--1","a_ref":"x--1","b_refs":["x--1",3],"c_hex":"zz"}]`)
	f.Fuzz(func(t *testing.T, pattern, data string) {
		p, err := Parse(pattern)
		if err != nil {
			return
		}
		var objs []map[string]any
		if decodeJSON([]byte(data), &objs) != nil {
			return
		}
		obs, err := ObservationsFromObjects(objs)
		if err != nil {
			return
		}
		_, _ = p.Match(obs)
	})
}
