package csaf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// oasisDir is the OASIS CSAF repository copy with the validator test cases.
const oasisDir = "../../../shared/data/vuln/oasis-csaf/csaf_2.0/test/validator/data"

type testcases struct {
	Tests []struct {
		ID       string `json:"id"`
		Group    string `json:"group"`
		Failures []struct {
			Name string `json:"name"`
		} `json:"failures"`
		Valid []struct {
			Name string `json:"name"`
		} `json:"valid"`
	} `json:"tests"`
}

// TestMandatoryOASIS runs every implemented mandatory test against the
// OASIS test cases: each failure case must be reported by that test, and
// each valid case must pass the schema and every implemented test.
func TestMandatoryOASIS(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(oasisDir, "testcases.json"))
	if os.IsNotExist(err) {
		t.Skip("OASIS CSAF test cases not present (../shared/data)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var tc testcases
	if err := json.Unmarshal(b, &tc); err != nil {
		t.Fatal(err)
	}
	implemented := MandatoryTests()
	ran := 0
	for _, test := range tc.Tests {
		if test.Group != "mandatory" || !slices.Contains(implemented, test.ID) {
			continue
		}
		ran++
		t.Run(test.ID, func(t *testing.T) {
			for _, f := range test.Failures {
				ps := checkFile(t, f.Name)
				if !slices.ContainsFunc(ps, func(p Problem) bool { return p.Test == test.ID }) {
					t.Errorf("%s: test %s reported nothing; problems: %v", f.Name, test.ID, ps)
				}
			}
			for _, v := range test.Valid {
				if ps := checkFile(t, v.Name); len(ps) > 0 {
					t.Errorf("%s: valid case has problems: %v", v.Name, ps)
				}
			}
		})
	}
	if ran != len(implemented) {
		t.Errorf("ran %d of %d implemented tests: test ids missing from testcases.json", ran, len(implemented))
	}
}

func checkFile(t *testing.T, name string) []Problem {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(oasisDir, name))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Check(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ps
}
