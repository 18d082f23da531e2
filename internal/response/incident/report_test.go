package incident

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseReportFiles(t *testing.T) {
	r, err := ParseReport(readFile(t, "testdata/report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Phishing campaign against our webmail" || r.Classification != "fraud" || r.Type != "phishing" ||
		r.TLP != "green" || !r.Anonymous || len(r.Objects) != 1 || r.Sector != "energy" ||
		!r.Detected.Equal(time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)) || !r.Occurred.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("json report = %+v", r)
	}
	y, err := ParseReport(readFile(t, "testdata/report.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if y.Type != "ddos" || y.TLP != "amber" || !y.Detected.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) ||
		!reflect.DeepEqual(y.AffectedServices, []string{"customer portal", "public website"}) || y.Anonymous {
		t.Fatalf("yaml report = %+v", y)
	}
}

func TestParseReportErrorsNameTheField(t *testing.T) {
	base := `"title":"t","detected":"2026-03-01T09:30:00Z","classification":"fraud","type":"phishing","impact":"low","severity":"low"`
	for _, tc := range []struct{ in, field string }{
		{`{"detected":"2026-03-01T09:30:00Z","classification":"fraud","type":"phishing","impact":"low","severity":"low"}`, `"title"`},
		{`{` + strings.Replace(base, `"type":"phishing"`, `"type":"spam"`, 1) + `}`, `"type"`},
		{`{` + strings.Replace(base, `"fraud"`, `"fraudulent"`, 1) + `}`, `"classification"`},
		{`{` + strings.Replace(base, `"2026-03-01T09:30:00Z"`, `"yesterday"`, 1) + `}`, `"detected"`},
		{`{` + base + `,"occurred":"2026-03-02T00:00:00Z"}`, `"occurred"`},
		{`{` + strings.Replace(base, `"impact":"low"`, `"impact":"huge"`, 1) + `}`, `"impact"`},
		{`{` + strings.Replace(base, `"severity":"low"`, `"severity":"urgent"`, 1) + `}`, `"severity"`},
		{`{` + base + `,"tlp":"purple"}`, `"tlp"`},
		{`{` + base + `,"sector":"Energy Sector"}`, `"sector"`},
		{`{` + base + `,"affected_organizations":["acme"]}`, `"affected_organizations[0]"`},
		{`{` + base + `,"affected_services":["ok",""]}`, `"affected_services[1]"`},
		{`{` + base + `,"objects":[{"type":"indicator","id":"indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21"}]}`, `"objects[0]"`},
		{`{` + base + `,"anonymous":"yes"}`, `"anonymous"`},
		{`{` + base + `,"colour":"red"}`, `colour`},
	} {
		_, err := ParseReport([]byte(tc.in))
		if err == nil || !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("ParseReport(%s) = %v, want an invalid-input error naming %s", tc.in, err, tc.field)
		}
	}
	// Every fault is reported at once.
	_, err := ParseReport([]byte(`{"title":"","classification":"x","impact":"?","severity":"?"}`))
	for _, f := range []string{`"title"`, `"detected"`, `"classification"`, `"impact"`, `"severity"`} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("joined error %v lacks %s", err, f)
		}
	}
}

func TestTaxonomy(t *testing.T) {
	if got := len(Classifications()); got != 11 {
		t.Errorf("%d classifications, want 11", got)
	}
	if !ValidType("malicious-code", "c2-server") || ValidType("malicious-code", "phishing") || ValidType("nope", "test") {
		t.Error("ValidType disagrees with the RSIT table")
	}
}

// FuzzParseReport: the parser never panics, accepted reports are valid and
// survive a JSON round trip unchanged.
func FuzzParseReport(f *testing.F) {
	f.Add(readFile(f, "testdata/report.json"))
	f.Add(readFile(f, "testdata/report.yaml"))
	f.Add([]byte(`{"title":"x"}`))
	f.Add([]byte("title: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseReport(data)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) && !errors.Is(err, errkind.TooLarge) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if r.Title == "" || r.Detected.IsZero() || !ValidType(r.Classification, r.Type) {
			t.Fatalf("accepted an invalid report: %+v", r)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseReport(b)
		if err != nil {
			t.Fatalf("re-parsing %s: %v", b, err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the report:\n%+v\n%+v", r, r2)
		}
	})
}
