package intake

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// nvdPage is an NVD CVE API 2.0 response page.
type nvdPage struct {
	ResultsPerPage  int    `json:"resultsPerPage"`
	StartIndex      int    `json:"startIndex"`
	TotalResults    int    `json:"totalResults"`
	Format          string `json:"format"`
	Version         string `json:"version"`
	Vulnerabilities []struct {
		CVE json.RawMessage `json:"cve"`
	} `json:"vulnerabilities"`
}

type nvdCVE struct {
	ID           string `json:"id"`
	Published    string `json:"published"`
	LastModified string `json:"lastModified"`
	VulnStatus   string `json:"vulnStatus"`
	Descriptions []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	Metrics map[string][]struct {
		Source       string   `json:"source"`
		Type         string   `json:"type"`
		CVSSData     cvssData `json:"cvssData"`
		BaseSeverity string   `json:"baseSeverity"`
	} `json:"metrics"`
	Weaknesses []struct {
		Description []struct {
			Value string `json:"value"`
		} `json:"description"`
	} `json:"weaknesses"`
	Configurations []struct {
		Operator string    `json:"operator"`
		Nodes    []nvdNode `json:"nodes"`
	} `json:"configurations"`
	References []struct {
		URL  string   `json:"url"`
		Tags []string `json:"tags"`
	} `json:"references"`
	CISAExploitAdd        string `json:"cisaExploitAdd"`
	CISAActionDue         string `json:"cisaActionDue"`
	CISARequiredAction    string `json:"cisaRequiredAction"`
	CISAVulnerabilityName string `json:"cisaVulnerabilityName"`
}

type nvdNode struct {
	Operator string `json:"operator"`
	Negate   bool   `json:"negate"`
	CPEMatch []struct {
		Vulnerable            bool   `json:"vulnerable"`
		Criteria              string `json:"criteria"`
		VersionStartIncluding string `json:"versionStartIncluding"`
		VersionStartExcluding string `json:"versionStartExcluding"`
		VersionEndIncluding   string `json:"versionEndIncluding"`
		VersionEndExcluding   string `json:"versionEndExcluding"`
	} `json:"cpeMatch"`
}

// ParseNVDPage reads an NVD CVE API 2.0 response page and returns its
// vulnerabilities in order. A record that fails is reported with its
// index in the page.
func ParseNVDPage(name string, data []byte) ([]*vuln.Vulnerability, error) {
	var p nvdPage
	if err := decodeJSON(name, data, &p); err != nil {
		return nil, err
	}
	if p.Vulnerabilities == nil {
		return nil, invalid(name, "vulnerabilities", "missing")
	}
	out := make([]*vuln.Vulnerability, 0, len(p.Vulnerabilities))
	for i, item := range p.Vulnerabilities {
		v, err := ParseNVDCVE(fmt.Sprintf("%s: vulnerabilities[%d].cve", name, i), item.CVE)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseNVDCVE reads one NVD API 2.0 "cve" object. Vulnerable cpeMatch
// entries become CPE Affected entries with their version range as events
// (versionStartIncluding → introduced, versionStartExcluding → introduced
// plus the version in Unaffected, versionEndExcluding → fixed,
// versionEndIncluding → last_affected). For AND configurations
// the non-vulnerable platform CPE is recorded as Platform.
func ParseNVDCVE(name string, data []byte) (*vuln.Vulnerability, error) {
	var c nvdCVE
	if err := decodeJSON(name, data, &c); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(c.ID, "CVE-") {
		return nil, invalid(name, "id", "%q is not a CVE id", c.ID)
	}
	v := &vuln.Vulnerability{ID: c.ID, Source: "nvd"}
	var err error
	if v.Published, err = parseTime(name, "published", c.Published); err != nil {
		return nil, err
	}
	if v.Modified, err = parseTime(name, "lastModified", c.LastModified); err != nil {
		return nil, err
	}
	if c.VulnStatus == "Rejected" {
		v.Withdrawn = v.Modified
	}
	for _, d := range c.Descriptions {
		if d.Lang == "en" && v.Details == "" {
			v.Details = d.Value
		}
	}
	for _, key := range []string{"cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2"} {
		typ := map[string]string{"cvssMetricV40": "CVSS_V4", "cvssMetricV31": "CVSS_V3", "cvssMetricV30": "CVSS_V3", "cvssMetricV2": "CVSS_V2"}[key]
		for _, m := range c.Metrics[key] {
			rating := m.CVSSData.BaseSeverity
			if rating == "" {
				rating = m.BaseSeverity
			}
			v.Severity = append(v.Severity, vuln.Severity{Type: typ, Vector: m.CVSSData.VectorString, Score: m.CVSSData.BaseScore, Rating: rating, Source: m.Source})
		}
	}
	for _, w := range c.Weaknesses {
		for _, d := range w.Description {
			if strings.HasPrefix(d.Value, "CWE-") {
				v.CWEs = appendUnique(v.CWEs, d.Value)
			}
		}
	}
	for _, r := range c.References {
		v.References = append(v.References, vuln.Reference{Type: nvdRefType(r.Tags), URL: r.URL})
	}
	v.References = dedupRefs(v.References)
	if c.CISAExploitAdd != "" {
		k := vuln.KEV{Name: c.CISAVulnerabilityName, RequiredAction: c.CISARequiredAction}
		if k.DateAdded, err = parseTime(name, "cisaExploitAdd", c.CISAExploitAdd); err != nil {
			return nil, err
		}
		if k.DueDate, err = parseTime(name, "cisaActionDue", c.CISAActionDue); err != nil {
			return nil, err
		}
		v.KEV = &k
	}
	for ci, conf := range c.Configurations {
		var platform string
		if conf.Operator == "AND" {
			for _, n := range conf.Nodes {
				for _, m := range n.CPEMatch {
					if !m.Vulnerable && platform == "" {
						platform = m.Criteria
					}
				}
			}
		}
		for ni, n := range conf.Nodes {
			if n.Negate {
				continue
			}
			for mi, m := range n.CPEMatch {
				if !m.Vulnerable {
					continue
				}
				field := fmt.Sprintf("configurations[%d].nodes[%d].cpeMatch[%d]", ci, ni, mi)
				if _, err := cpe.Parse(m.Criteria); err != nil {
					return nil, fmt.Errorf("%s: %s.criteria: %w", name, field, err)
				}
				a := vuln.Affected{CPE: m.Criteria, Platform: platform}
				var events []version.Event
				switch {
				case m.VersionStartIncluding != "":
					events = append(events, version.Event{Introduced: m.VersionStartIncluding})
				case m.VersionStartExcluding != "":
					// OSV has no exclusive start: (X, end) is [X, end)
					// without X itself.
					events = append(events, version.Event{Introduced: m.VersionStartExcluding})
					a.Unaffected = []string{m.VersionStartExcluding}
				}
				switch {
				case m.VersionEndExcluding != "":
					if len(events) == 0 {
						events = append(events, version.Event{Introduced: "0"})
					}
					events = append(events, version.Event{Fixed: m.VersionEndExcluding})
					a.Fixed = []string{m.VersionEndExcluding}
				case m.VersionEndIncluding != "":
					if len(events) == 0 {
						events = append(events, version.Event{Introduced: "0"})
					}
					events = append(events, version.Event{LastAffected: m.VersionEndIncluding})
				}
				if len(events) > 0 {
					a.Ranges = []vuln.Range{{Type: "ECOSYSTEM", Events: events}}
				}
				v.Affected = append(v.Affected, a)
			}
		}
	}
	return v, nil
}

func nvdRefType(tags []string) string {
	for _, t := range tags {
		switch t {
		case "Patch":
			return "FIX"
		case "Vendor Advisory", "Third Party Advisory":
			return "ADVISORY"
		case "Exploit":
			return "EVIDENCE"
		}
	}
	return "WEB"
}
