package vulndb

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// stixNamespace is the UUIDv5 namespace of Kizuna's vulnerability object
// ids (a random UUID chosen once; changing it changes every id).
var stixNamespace = [16]byte{0x6b, 0x69, 0x7a, 0x75, 0x6e, 0x61, 0x4c, 0x76, 0x9a, 0x1d, 0x5e, 0x0c, 0x2f, 0x43, 0x77, 0x01}

// STIXID returns the deterministic STIX id of the vulnerability object of
// a record id: "vulnerability--" and the UUIDv5 of the id in Kizuna's
// namespace.
func STIXID(recordID string) string { return stixUUID("vulnerability--", recordID) }

// stixUUID returns prefix and the UUIDv5 of key in Kizuna's namespace.
func stixUUID(prefix, key string) string {
	h := sha1.New()
	h.Write(stixNamespace[:])
	h.Write([]byte(key))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	s := hex.EncodeToString(u[:])
	return prefix + s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// maxDescription bounds the description copied into the STIX object.
const maxDescription = 8000

// maxReferences bounds the reference URLs copied into the STIX object.
const maxReferences = 30

// STIX returns the STIX 2.1 vulnerability object of a change: the
// deterministic id (STIXID), name the record id, external_references
// with source "cve" for each CVE id and the record's own id and links,
// label "known-exploited" and property x_kizuna_kev when CISA KEV lists
// it, x_kizuna_aliases, revoked when the record is withdrawn, the given
// marking refs and, when createdBy is set, created_by_ref.
func STIX(ch Change, createdBy string, markings []string) (json.RawMessage, error) {
	v := ch.Vuln
	o := stixVulnerability{
		Type: "vulnerability", SpecVersion: "2.1", ID: STIXID(v.ID),
		Created: stixTime(ch.Created), Modified: stixTime(ch.Modified), Name: v.ID,
		CreatedByRef: createdBy, Markings: markings, Aliases: v.Aliases, Source: v.Source,
		Revoked: v.IsWithdrawn(), Extensions: stixDistribution(v.Distribution),
	}
	desc := v.Summary
	if v.Details != "" {
		if desc != "" {
			desc += "\n\n"
		}
		desc += v.Details
	}
	if len(desc) > maxDescription {
		desc = strings.ToValidUTF8(desc[:maxDescription], "") + "…"
	}
	o.Description = desc
	seen := map[string]bool{}
	for _, c := range v.CVEs() {
		seen[c] = true
		o.Refs = append(o.Refs, stixRef{SourceName: "cve", ExternalID: c, URL: "https://www.cve.org/CVERecord?id=" + c})
	}
	for _, id := range append([]string{v.ID}, v.Aliases...) {
		if seen[id] || strings.HasPrefix(id, "CVE-") {
			continue
		}
		seen[id] = true
		src := strings.ToLower(v.Source)
		if p, _, ok := strings.Cut(id, "-"); ok && p != "" && !strings.Contains(id, "/") {
			src = strings.ToLower(p)
		}
		if src == "" {
			src = "advisory"
		}
		o.Refs = append(o.Refs, stixRef{SourceName: src, ExternalID: id})
	}
	for i, r := range v.References {
		if i == maxReferences {
			break
		}
		if r.URL == "" || seen[r.URL] {
			continue
		}
		seen[r.URL] = true
		o.Refs = append(o.Refs, stixRef{SourceName: "reference", URL: r.URL})
	}
	if s, ok := v.MaxScore(); ok {
		o.Severity = rating(s)
		o.Score = s.Score
	}
	if v.KEV != nil {
		o.Labels = []string{"known-exploited"}
		o.KEV = kevProperty(v.KEV)
	}
	b, err := json.Marshal(&o)
	if err != nil {
		return nil, fmt.Errorf("vulndb: STIX object of %s: %w", v.ID, err)
	}
	return b, nil
}

// stixVulnerability is the JSON form of the STIX object STIX makes.
type stixVulnerability struct {
	Type         string    `json:"type"`
	SpecVersion  string    `json:"spec_version"`
	ID           string    `json:"id"`
	Created      string    `json:"created"`
	Modified     string    `json:"modified"`
	CreatedByRef string    `json:"created_by_ref,omitempty"`
	Name         string    `json:"name"`
	Description  string    `json:"description,omitempty"`
	Revoked      bool      `json:"revoked,omitempty"`
	Labels       []string  `json:"labels,omitempty"`
	Refs         []stixRef `json:"external_references,omitempty"`
	Markings     []string  `json:"object_marking_refs,omitempty"`
	Aliases      []string  `json:"x_kizuna_aliases,omitempty"`
	Source       string    `json:"x_kizuna_source,omitempty"`
	Severity     string    `json:"x_kizuna_severity,omitempty"`
	Score        float64   `json:"x_kizuna_cvss_score,omitempty"`
	KEV          *stixKEV  `json:"x_kizuna_kev,omitempty"`
	// Extensions carries the distribution extension of a restricted
	// record (its named recipients).
	Extensions map[string]any `json:"extensions,omitempty"`
}

type stixRef struct {
	SourceName string `json:"source_name"`
	ExternalID string `json:"external_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

type stixKEV struct {
	DateAdded      string `json:"date_added"`
	DueDate        string `json:"due_date,omitempty"`
	RequiredAction string `json:"required_action,omitempty"`
	Ransomware     string `json:"known_ransomware_campaign_use,omitempty"`
}

func kevProperty(k *vuln.KEV) *stixKEV {
	p := &stixKEV{DateAdded: k.DateAdded.UTC().Format("2006-01-02"), RequiredAction: k.RequiredAction, Ransomware: k.Ransomware}
	if !k.DueDate.IsZero() {
		p.DueDate = k.DueDate.UTC().Format("2006-01-02")
	}
	return p
}

func stixTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// Advisory describes a published advisory for its STIX report.
type Advisory struct {
	// TrackingID, Title and URL identify the advisory (URL: where the
	// provider serves it).
	TrackingID, Title, URL string
	// Published and Modified are its initial and current release dates.
	Published, Modified time.Time
	// RecordIDs are the ids of its vulnerability records.
	RecordIDs []string
	// CreatedBy, Markings and Distribution are those of its
	// vulnerability objects (see Importer).
	CreatedBy    string
	Markings     []string
	Distribution *vuln.Distribution
}

// Report returns the STIX 2.1 report object of a published advisory: a
// deterministic id (UUIDv5 of the tracking id), the advisory's title,
// dates and URL, and object_refs naming its vulnerability objects; the
// same markings and distribution as those. It fails for an advisory
// without vulnerabilities (a report needs object_refs).
func Report(a Advisory) (json.RawMessage, error) {
	if len(a.RecordIDs) == 0 {
		return nil, fmt.Errorf("vulndb: advisory %s has no vulnerabilities to report", a.TrackingID)
	}
	modified := a.Modified
	if modified.Before(a.Published) {
		modified = a.Published
	}
	o := stixReport{
		Type: "report", SpecVersion: "2.1", ID: stixUUID("report--", "csaf:"+a.TrackingID),
		Created: stixTime(a.Published), Modified: stixTime(modified), Published: stixTime(modified),
		Name: a.TrackingID + ": " + a.Title, ReportTypes: []string{"vulnerability"},
		CreatedByRef: a.CreatedBy, Markings: a.Markings, Extensions: stixDistribution(a.Distribution),
		Refs: []stixRef{{SourceName: "csaf", ExternalID: a.TrackingID, URL: a.URL}},
	}
	for _, id := range a.RecordIDs {
		o.ObjectRefs = append(o.ObjectRefs, STIXID(id))
	}
	b, err := json.Marshal(&o)
	if err != nil {
		return nil, fmt.Errorf("vulndb: STIX report of %s: %w", a.TrackingID, err)
	}
	return b, nil
}

// stixReport is the JSON form of the STIX object Report makes.
type stixReport struct {
	Type         string         `json:"type"`
	SpecVersion  string         `json:"spec_version"`
	ID           string         `json:"id"`
	Created      string         `json:"created"`
	Modified     string         `json:"modified"`
	Published    string         `json:"published"`
	CreatedByRef string         `json:"created_by_ref,omitempty"`
	Name         string         `json:"name"`
	ReportTypes  []string       `json:"report_types"`
	ObjectRefs   []string       `json:"object_refs"`
	Refs         []stixRef      `json:"external_references,omitempty"`
	Markings     []string       `json:"object_marking_refs,omitempty"`
	Extensions   map[string]any `json:"extensions,omitempty"`
}

// AdvisoryReport reads the vulnerability records of the advisory file at
// path (to name them in object_refs) and returns Report(a); nil without an
// error when the advisory has no vulnerabilities.
func AdvisoryReport(path string, a Advisory) (json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vulndb: reading advisory %s: %w", a.TrackingID, err)
	}
	p, err := Parse(filepath.Base(path), data)
	if err != nil {
		return nil, err
	}
	a.RecordIDs = nil
	for _, v := range p.Vulns {
		a.RecordIDs = append(a.RecordIDs, v.ID)
	}
	if len(a.RecordIDs) == 0 {
		return nil, nil
	}
	return Report(a)
}
