package intake

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// cve5Record is the subset of the CVE JSON 5.x record format Kizuna reads.
type cve5Record struct {
	DataType    string `json:"dataType"`
	DataVersion string `json:"dataVersion"`
	CVEMetadata struct {
		CVEID         string `json:"cveId"`
		State         string `json:"state"`
		DatePublished string `json:"datePublished"`
		DateUpdated   string `json:"dateUpdated"`
		DateRejected  string `json:"dateRejected"`
	} `json:"cveMetadata"`
	Containers struct {
		CNA cve5Container   `json:"cna"`
		ADP []cve5Container `json:"adp"`
	} `json:"containers"`
}

type cve5Container struct {
	Title            string `json:"title"`
	ProviderMetadata struct {
		ShortName string `json:"shortName"`
	} `json:"providerMetadata"`
	Descriptions []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	RejectedReasons []struct {
		Value string `json:"value"`
	} `json:"rejectedReasons"`
	Affected     []cve5Affected               `json:"affected"`
	Metrics      []map[string]json.RawMessage `json:"metrics"`
	ProblemTypes []struct {
		Descriptions []struct {
			CWEID string `json:"cweId"`
		} `json:"descriptions"`
	} `json:"problemTypes"`
	References []struct {
		URL  string   `json:"url"`
		Tags []string `json:"tags"`
	} `json:"references"`
	DatePublic string `json:"datePublic"`
}

type cve5Affected struct {
	Vendor        string        `json:"vendor"`
	Product       string        `json:"product"`
	PackageName   string        `json:"packageName"`
	CollectionURL string        `json:"collectionURL"`
	CPEs          []string      `json:"cpes"`
	DefaultStatus string        `json:"defaultStatus"`
	Versions      []cve5Version `json:"versions"`
}

type cve5Version struct {
	Version         string `json:"version"`
	Status          string `json:"status"`
	VersionType     string `json:"versionType"`
	LessThan        string `json:"lessThan"`
	LessThanOrEqual string `json:"lessThanOrEqual"`
}

type cvssData struct {
	Version      string  `json:"version"`
	VectorString string  `json:"vectorString"`
	BaseScore    float64 `json:"baseScore"`
	BaseSeverity string  `json:"baseSeverity"`
}

// collectionEcosystems maps CVE 5 collectionURL hosts to OSV ecosystems.
var collectionEcosystems = []struct{ prefix, eco string }{
	{"https://pkg.go.dev", "Go"}, {"https://proxy.golang.org", "Go"},
	{"https://pypi.org", "PyPI"}, {"https://pypi.python.org", "PyPI"},
	{"https://www.npmjs.com", "npm"}, {"https://registry.npmjs.org", "npm"},
	{"https://repo.maven.apache.org", "Maven"}, {"https://repo1.maven.org", "Maven"},
	{"https://crates.io", "crates.io"}, {"https://rubygems.org", "RubyGems"},
	{"https://packagist.org", "Packagist"}, {"https://www.nuget.org", "NuGet"},
	{"https://wordpress.org/plugins", "WordPress"}, {"https://wordpress.org/themes", "WordPress"},
}

// ParseCVE5 reads one CVE JSON 5.x record (CVE_RECORD), including the ADP
// containers (CISA vulnrichment adds CVSS, CWE and CPEs there). Rejected
// records come back with Withdrawn set. Affected entries with a known
// collectionURL become package entries; vendor/product entries keep their
// CPEs (when given) and their version ranges.
func ParseCVE5(name string, data []byte) (*vuln.Vulnerability, error) {
	var r cve5Record
	if err := decodeJSON(name, data, &r); err != nil {
		return nil, err
	}
	md := r.CVEMetadata
	if !strings.HasPrefix(md.CVEID, "CVE-") {
		return nil, invalid(name, "cveMetadata.cveId", "%q is not a CVE id", md.CVEID)
	}
	if r.DataType != "" && r.DataType != "CVE_RECORD" {
		return nil, invalid(name, "dataType", "%q, want CVE_RECORD", r.DataType)
	}
	v := &vuln.Vulnerability{ID: md.CVEID, Source: "cve5", Summary: r.Containers.CNA.Title}
	var err error
	if v.Published, err = parseTime(name, "cveMetadata.datePublished", md.DatePublished); err != nil {
		return nil, err
	}
	if v.Modified, err = parseTime(name, "cveMetadata.dateUpdated", md.DateUpdated); err != nil {
		return nil, err
	}
	switch md.State {
	case "PUBLISHED", "":
	case "REJECTED":
		if v.Withdrawn, err = parseTime(name, "cveMetadata.dateRejected", md.DateRejected); err != nil {
			return nil, err
		}
		if v.Withdrawn.IsZero() {
			v.Withdrawn = v.Modified
		}
		if v.Withdrawn.IsZero() {
			v.Withdrawn = v.Published
		}
	default:
		return nil, invalid(name, "cveMetadata.state", "%q not PUBLISHED or REJECTED", md.State)
	}
	containers := append([]cve5Container{r.Containers.CNA}, r.Containers.ADP...)
	for ci, c := range containers {
		field := "containers.cna"
		if ci > 0 {
			field = fmt.Sprintf("containers.adp[%d]", ci-1)
		}
		for _, d := range c.Descriptions {
			if v.Details == "" && (d.Lang == "en" || strings.HasPrefix(d.Lang, "en-")) {
				v.Details = d.Value
			}
		}
		for _, d := range c.RejectedReasons {
			if v.Details == "" {
				v.Details = d.Value
			}
		}
		for _, pt := range c.ProblemTypes {
			for _, d := range pt.Descriptions {
				v.CWEs = appendUnique(v.CWEs, d.CWEID)
			}
		}
		for _, ref := range c.References {
			v.References = append(v.References, vuln.Reference{Type: refType(ref.Tags), URL: ref.URL})
		}
		for mi, m := range c.Metrics {
			for key, raw := range m {
				typ := map[string]string{"cvssV2_0": "CVSS_V2", "cvssV3_0": "CVSS_V3", "cvssV3_1": "CVSS_V3", "cvssV4_0": "CVSS_V4"}[key]
				if typ == "" {
					continue
				}
				var d cvssData
				if err := decodeJSON(fmt.Sprintf("%s: %s.metrics[%d].%s", name, field, mi, key), raw, &d); err != nil {
					return nil, err
				}
				v.Severity = append(v.Severity, vuln.Severity{Type: typ, Vector: d.VectorString, Score: d.BaseScore, Rating: d.BaseSeverity, Source: c.ProviderMetadata.ShortName})
			}
		}
		for ai, a := range c.Affected {
			out, err := cve5Affect(name, fmt.Sprintf("%s.affected[%d]", field, ai), a)
			if err != nil {
				return nil, err
			}
			v.Affected = append(v.Affected, out...)
		}
	}
	v.References = dedupRefs(v.References)
	return v, nil
}

func refType(tags []string) string {
	for _, t := range tags {
		switch t {
		case "patch":
			return "FIX"
		case "vendor-advisory", "third-party-advisory":
			return "ADVISORY"
		case "exploit":
			return "EVIDENCE"
		}
	}
	return "WEB"
}

func dedupRefs(refs []vuln.Reference) []vuln.Reference {
	seen := map[string]bool{}
	out := refs[:0]
	for _, r := range refs {
		if !seen[r.URL] {
			seen[r.URL] = true
			out = append(out, r)
		}
	}
	return out
}

// cve5Affect turns one CVE 5 affected product into Affected entries: one
// for the package (if the collection is a known ecosystem) or the
// vendor/product, and one per CPE, all sharing the version ranges.
func cve5Affect(name, field string, a cve5Affected) ([]vuln.Affected, error) {
	base := vuln.Affected{Product: strings.TrimSpace(a.Vendor + " " + a.Product)}
	for _, ce := range collectionEcosystems {
		if a.CollectionURL != "" && strings.HasPrefix(a.CollectionURL, ce.prefix) && a.PackageName != "" {
			base.Package = vuln.Package{Ecosystem: ce.eco, Name: a.PackageName}
		}
	}
	var events []version.Event
	// seen dedups Unaffected and Fixed (appendUnique scans the list: for
	// records with thousands of versions that was quadratic).
	seen := map[string]bool{}
	addOnce := func(list []string, kind, v string) []string {
		if v == "" || seen[kind+v] {
			return list
		}
		seen[kind+v] = true
		return append(list, v)
	}
	for vi, ver := range a.Versions {
		vf := fmt.Sprintf("%s.versions[%d]", field, vi)
		switch ver.Status {
		case "affected":
		case "unaffected", "unknown":
			if ver.LessThan == "" && ver.LessThanOrEqual == "" && ver.Version != "" && ver.Status == "unaffected" {
				base.Unaffected = addOnce(base.Unaffected, "u", ver.Version)
			}
			continue
		default:
			return nil, invalid(name, vf+".status", "%q not affected, unaffected or unknown", ver.Status)
		}
		start := ver.Version
		if start == "" || start == "*" || start == "n/a" || start == "unspecified" || start == "-" {
			start = "0"
		}
		switch {
		case ver.LessThan != "" && ver.LessThan != "*":
			events = append(events, version.Event{Introduced: start}, version.Event{Fixed: ver.LessThan})
			base.Fixed = addOnce(base.Fixed, "f", ver.LessThan)
		case ver.LessThanOrEqual != "" && ver.LessThanOrEqual != "*":
			events = append(events, version.Event{Introduced: start}, version.Event{LastAffected: ver.LessThanOrEqual})
		case ver.LessThan == "*" || ver.LessThanOrEqual == "*":
			events = append(events, version.Event{Introduced: start})
		case start == "0":
			// "n/a" with status affected and no bound: every version.
			events = append(events, version.Event{Introduced: "0"})
		default:
			base.Versions = append(base.Versions, ver.Version)
		}
	}
	if len(events) > 0 {
		base.Ranges = []vuln.Range{{Type: "ECOSYSTEM", Events: events}}
	}
	if len(a.Versions) > 0 && len(events) == 0 && len(base.Versions) == 0 && a.DefaultStatus != "affected" {
		// Only unaffected versions listed: no affected entry to keep.
		return nil, nil
	}
	// CNAs publish malformed CPEs ("cpe:2.3:a:ibm:cpe:2.3:a:..."); one
	// bad CPE must not lose the record: drop it.
	cpes := make([]string, 0, len(a.CPEs))
	for _, s := range a.CPEs {
		if _, err := cpe.Parse(s); err == nil {
			cpes = append(cpes, s)
		}
	}
	var out []vuln.Affected
	if base.Package.Name != "" || len(cpes) == 0 {
		out = append(out, base)
	}
	for _, s := range cpes {
		e := base
		e.Package = vuln.Package{}
		e.CPE = s
		out = append(out, e)
	}
	return out, nil
}
