package incident

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Limits of a report.
const (
	// MaxReportBytes bounds the encoded report ParseReport accepts.
	MaxReportBytes = 4 << 20
	// MaxObjects bounds the STIX objects attached to a report.
	MaxObjects = 1000
	maxTitle   = 200
	maxText    = 20000
	maxList    = 100
	maxShort   = 200
)

// Severities are the accepted values of Report.Severity, lowest first.
var Severities = []string{"low", "medium", "high", "critical"}

// Impacts are the accepted values of Report.Impact: the effect on the
// reporting organisation's services, none first.
var Impacts = []string{"none", "low", "medium", "high"}

// Report is an incident report as a constituent submits it.
type Report struct {
	// Title is a one-line summary (required).
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Occurred is when the incident started, if known; Detected when it
	// was detected (required). Both are UTC.
	Occurred time.Time `json:"occurred,omitzero"`
	Detected time.Time `json:"detected"`
	// Classification and Type are RSIT values (see Classifications and
	// Types), such as "fraud" and "phishing".
	Classification string `json:"classification"`
	Type           string `json:"type"`
	// Impact is one of Impacts, Severity one of Severities.
	Impact   string `json:"impact"`
	Severity string `json:"severity"`
	// Sector is the affected sector (default: the reporter's organisation's).
	Sector           string   `json:"sector,omitempty"`
	AffectedServices []string `json:"affected_services,omitempty"`
	// AffectedOrganizations names other organisations affected, by
	// identity id; they are asked to acknowledge advisories.
	AffectedOrganizations []string `json:"affected_organizations,omitempty"`
	// Objects are attached indicators and observables as STIX 2.1 objects.
	Objects []json.RawMessage `json:"objects,omitempty"`
	// TLP is the case's level ("clear", "green", "amber", "amber+strict",
	// "red"; default amber), given to attached objects without a marking
	// and to the export.
	TLP string `json:"tlp"`
	// Contact is how the hub reaches the reporter; it never leaves the hub.
	Contact string `json:"contact,omitempty"`
	// Anonymous hides the reporting organisation from everyone but the hub.
	Anonymous bool `json:"anonymous,omitempty"`
}

// wire is the decoded form of a report, with times as given.
type wire struct {
	Title                 string            `json:"title"`
	Description           string            `json:"description"`
	Occurred              string            `json:"occurred"`
	Detected              string            `json:"detected"`
	Classification        string            `json:"classification"`
	Type                  string            `json:"type"`
	Impact                string            `json:"impact"`
	Severity              string            `json:"severity"`
	Sector                string            `json:"sector"`
	AffectedServices      []string          `json:"affected_services"`
	AffectedOrganizations []string          `json:"affected_organizations"`
	Objects               []json.RawMessage `json:"objects"`
	TLP                   string            `json:"tlp"`
	Contact               string            `json:"contact"`
	Anonymous             bool              `json:"anonymous"`
}

// ParseReport decodes a report from JSON (input starting with "{") or YAML
// and validates it. Unknown fields are refused. Every problem is reported:
// the error joins one error per field at fault, each wrapping
// errkind.Invalid and naming the field (for instance
// `report field "type": "spam" is not an RSIT type of classification "fraud"`).
func ParseReport(data []byte) (Report, error) {
	if len(data) > MaxReportBytes {
		return Report{}, fmt.Errorf("%w: report of %d bytes exceeds %d", errkind.TooLarge, len(data), MaxReportBytes)
	}
	js := bytes.TrimSpace(data)
	if len(js) == 0 {
		return Report{}, fmt.Errorf("%w: report: empty input", errkind.Invalid)
	}
	if js[0] != '{' {
		var doc any
		if err := yaml.Unmarshal(js, &doc); err != nil {
			return Report{}, fmt.Errorf("%w: report: not JSON and not YAML: %v", errkind.Invalid, err)
		}
		b, err := json.Marshal(yamlToJSON(doc))
		if err != nil {
			return Report{}, fmt.Errorf("%w: report: YAML cannot be represented as JSON: %v", errkind.Invalid, err)
		}
		js = b
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Report{}, fmt.Errorf("%w: report field %q: want %s", errkind.Invalid, te.Field, te.Type)
		}
		return Report{}, fmt.Errorf("%w: report: %v", errkind.Invalid, err)
	}
	if dec.More() {
		return Report{}, fmt.Errorf("%w: report: data after the report object", errkind.Invalid)
	}
	return w.report()
}

// yamlToJSON turns YAML timestamps into RFC 3339 strings so that a
// timestamp written without quotes reads the same as one with.
func yamlToJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlToJSON(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlToJSON(e)
		}
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// fieldErr is a validation error naming a report field.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: report field %q: %s", errkind.Invalid, field, fmt.Sprintf(format, args...))
}

// report validates the wire form and converts it.
func (w wire) report() (Report, error) {
	var errs []error
	bad := func(field, format string, args ...any) { errs = append(errs, fieldErr(field, format, args...)) }
	r := Report{
		Title: strings.TrimSpace(w.Title), Description: w.Description,
		Classification: w.Classification, Type: w.Type, Impact: w.Impact, Severity: w.Severity,
		Sector: w.Sector, Contact: strings.TrimSpace(w.Contact), Anonymous: w.Anonymous, TLP: strings.ToLower(strings.TrimSpace(w.TLP)),
	}
	switch {
	case r.Title == "":
		bad("title", "required")
	case len(r.Title) > maxTitle:
		bad("title", "longer than %d bytes", maxTitle)
	case !printable(r.Title):
		bad("title", "control characters are not allowed")
	}
	if len(r.Description) > maxText {
		bad("description", "longer than %d bytes", maxText)
	}
	parse := func(field, s string, required bool) time.Time {
		if s == "" {
			if required {
				bad(field, "required (an RFC 3339 timestamp such as 2026-03-01T10:00:00Z)")
			}
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			bad(field, "%q is not an RFC 3339 timestamp such as 2026-03-01T10:00:00Z", clip(s))
			return time.Time{}
		}
		return t.UTC()
	}
	r.Occurred = parse("occurred", w.Occurred, false)
	r.Detected = parse("detected", w.Detected, true)
	if !r.Occurred.IsZero() && !r.Detected.IsZero() && r.Occurred.After(r.Detected) {
		bad("occurred", "%s is after detected %s", w.Occurred, w.Detected)
	}
	switch {
	case r.Classification == "":
		bad("classification", "required (an RSIT classification such as %q)", "fraud")
	case taxonomy[r.Classification] == nil:
		bad("classification", "%q is not an RSIT classification (one of %s)", clip(r.Classification), strings.Join(classifications, ", "))
	case r.Type == "":
		bad("type", "required (an RSIT type of %q: %s)", r.Classification, strings.Join(taxonomy[r.Classification], ", "))
	case !ValidType(r.Classification, r.Type):
		bad("type", "%q is not an RSIT type of classification %q (one of %s)", clip(r.Type), r.Classification, strings.Join(taxonomy[r.Classification], ", "))
	}
	if !oneOf(r.Impact, Impacts) {
		bad("impact", "%q: want one of %s", clip(r.Impact), strings.Join(Impacts, ", "))
	}
	if !oneOf(r.Severity, Severities) {
		bad("severity", "%q: want one of %s", clip(r.Severity), strings.Join(Severities, ", "))
	}
	if r.Sector != "" && (len(r.Sector) > 64 || !token(r.Sector)) {
		bad("sector", "%q: want a lower-case name of letters, digits and hyphens such as %q", clip(r.Sector), "energy")
	}
	if len(w.AffectedServices) > maxList {
		bad("affected_services", "more than %d entries", maxList)
	}
	for i, s := range w.AffectedServices {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > maxShort || !printable(s) {
			bad(fmt.Sprintf("affected_services[%d]", i), "want a non-empty printable name of at most %d bytes", maxShort)
			continue
		}
		r.AffectedServices = append(r.AffectedServices, s)
	}
	if len(w.AffectedOrganizations) > maxList {
		bad("affected_organizations", "more than %d entries", maxList)
	}
	for i, id := range w.AffectedOrganizations {
		if typ, _, ok := stix.SplitID(id); !ok || typ != "identity" {
			bad(fmt.Sprintf("affected_organizations[%d]", i), "%q is not an identity id (kizuna org list shows them)", clip(id))
			continue
		}
		if !contains(r.AffectedOrganizations, id) {
			r.AffectedOrganizations = append(r.AffectedOrganizations, id)
		}
	}
	if len(w.Objects) > MaxObjects {
		bad("objects", "more than %d objects", MaxObjects)
	} else {
		for i, raw := range w.Objects {
			o, err := stix.Parse(raw)
			if err == nil {
				if verrs := stix.Validate(o); len(verrs) > 0 {
					msgs := make([]string, len(verrs))
					for j, e := range verrs {
						msgs[j] = e.Error()
					}
					err = errors.New(o.ID + ": " + strings.Join(msgs, "; "))
				}
			}
			if err != nil {
				bad(fmt.Sprintf("objects[%d]", i), "%v", err)
				continue
			}
			r.Objects = append(r.Objects, o.Raw)
		}
	}
	if r.TLP == "" {
		r.TLP = "amber"
	}
	if l, err := sharing.ParseTLP(r.TLP); err != nil || sharing.MarkingID(l) == "" {
		bad("tlp", "%q: want clear, green, amber, amber+strict or red", clip(w.TLP))
	} else {
		r.TLP = strings.ToLower(strings.TrimPrefix(l.String(), "TLP:"))
	}
	if len(r.Contact) > 500 || !printable(r.Contact) {
		bad("contact", "want printable text of at most 500 bytes")
	}
	if len(errs) > 0 {
		return Report{}, errors.Join(errs...)
	}
	return r, nil
}

// Level returns the report's TLP level (TLP:AMBER when unset or invalid).
func (r Report) Level() sharing.TLP {
	l, err := sharing.ParseTLP(r.TLP)
	if err != nil || sharing.MarkingID(l) == "" {
		return sharing.TLPAmber
	}
	return l
}

func printable(s string) bool {
	for _, c := range s {
		if unicode.IsControl(c) || c == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

func token(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

func oneOf(s string, set []string) bool { return contains(set, s) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// clip shortens user input quoted in messages.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
