package intake

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// osvRecord is the subset of the OSV schema (1.x) Kizuna reads. The same
// struct decodes JSON and YAML; YAML scalars decode into strings as
// written, so an unquoted "2.10" stays "2.10".
type osvRecord struct {
	SchemaVersion    string        `json:"schema_version" yaml:"schema_version"`
	ID               string        `json:"id" yaml:"id"`
	Modified         string        `json:"modified" yaml:"modified"`
	Published        string        `json:"published" yaml:"published"`
	Withdrawn        string        `json:"withdrawn" yaml:"withdrawn"`
	Aliases          []string      `json:"aliases" yaml:"aliases"`
	Related          []string      `json:"related" yaml:"related"`
	Summary          string        `json:"summary" yaml:"summary"`
	Details          string        `json:"details" yaml:"details"`
	Severity         []osvSeverity `json:"severity" yaml:"severity"`
	Affected         []osvAffected `json:"affected" yaml:"affected"`
	References       []osvRef      `json:"references" yaml:"references"`
	DatabaseSpecific struct {
		CWEIDs   []string `json:"cwe_ids" yaml:"cwe_ids"`
		Severity string   `json:"severity" yaml:"severity"`
	} `json:"database_specific" yaml:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type" yaml:"type"`
	Score string `json:"score" yaml:"score"`
}

type osvAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
		Name      string `json:"name" yaml:"name"`
		PURL      string `json:"purl" yaml:"purl"`
	} `json:"package" yaml:"package"`
	Severity []osvSeverity `json:"severity" yaml:"severity"`
	Ranges   []struct {
		Type   string              `json:"type" yaml:"type"`
		Repo   string              `json:"repo" yaml:"repo"`
		Events []map[string]string `json:"events" yaml:"events"`
	} `json:"ranges" yaml:"ranges"`
	Versions []string `json:"versions" yaml:"versions"`
}

type osvRef struct {
	Type string `json:"type" yaml:"type"`
	URL  string `json:"url" yaml:"url"`
}

// ParseOSV reads one OSV record in JSON.
func ParseOSV(name string, data []byte) (*vuln.Vulnerability, error) {
	var r osvRecord
	if err := decodeJSON(name, data, &r); err != nil {
		return nil, err
	}
	return r.normalise(name)
}

// ParseOSVYAML reads one OSV record in YAML (as the PyPA advisory database
// stores them).
func ParseOSVYAML(name string, data []byte) (*vuln.Vulnerability, error) {
	var r osvRecord
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, errkind.Invalid)
	}
	return r.normalise(name)
}

func (r *osvRecord) normalise(name string) (*vuln.Vulnerability, error) {
	if r.ID == "" {
		return nil, invalid(name, "id", "missing")
	}
	v := &vuln.Vulnerability{
		ID: r.ID, Source: "osv", Summary: r.Summary, Details: r.Details,
		CWEs: r.DatabaseSpecific.CWEIDs,
	}
	for _, a := range r.Aliases {
		if a != r.ID {
			v.Aliases = appendUnique(v.Aliases, a)
		}
	}
	var err error
	if v.Modified, err = parseTime(name, "modified", r.Modified); err != nil {
		return nil, err
	}
	if v.Published, err = parseTime(name, "published", r.Published); err != nil {
		return nil, err
	}
	if v.Withdrawn, err = parseTime(name, "withdrawn", r.Withdrawn); err != nil {
		return nil, err
	}
	v.Severity = osvSeverities(r.Severity)
	if s := r.DatabaseSpecific.Severity; s != "" {
		v.Severity = append(v.Severity, vuln.Severity{Type: "TEXT", Rating: s})
	}
	for _, ref := range r.References {
		v.References = append(v.References, vuln.Reference{Type: ref.Type, URL: ref.URL})
	}
	for i, a := range r.Affected {
		field := fmt.Sprintf("affected[%d]", i)
		out := vuln.Affected{
			Package:  vuln.Package{Ecosystem: a.Package.Ecosystem, Name: a.Package.Name, PURL: a.Package.PURL},
			Versions: a.Versions,
		}
		if out.Package.Name == "" && out.Package.PURL != "" {
			if p, _, err := vuln.ParsePURL(out.Package.PURL); err == nil {
				out.Package.Name = p.Name
				if out.Package.Ecosystem == "" {
					out.Package.Ecosystem = p.Ecosystem
				}
			}
		}
		v.Severity = append(v.Severity, osvSeverities(a.Severity)...)
		for j, rg := range a.Ranges {
			switch rg.Type {
			case "SEMVER", "ECOSYSTEM", "GIT":
			default:
				return nil, invalid(name, fmt.Sprintf("%s.ranges[%d].type", field, j), "%q not SEMVER, ECOSYSTEM or GIT", rg.Type)
			}
			vr := vuln.Range{Type: rg.Type}
			for k, e := range rg.Events {
				if len(e) != 1 {
					return nil, invalid(name, fmt.Sprintf("%s.ranges[%d].events[%d]", field, j, k), "%d keys, want exactly one", len(e))
				}
				var ev version.Event
				for key, val := range e {
					switch key {
					case "introduced":
						ev.Introduced = val
					case "fixed":
						ev.Fixed = val
						out.Fixed = appendUnique(out.Fixed, val)
					case "last_affected":
						ev.LastAffected = val
					case "limit":
						ev.Limit = val
					default:
						return nil, invalid(name, fmt.Sprintf("%s.ranges[%d].events[%d]", field, j, k), "unknown event %q", key)
					}
					if val == "" {
						return nil, invalid(name, fmt.Sprintf("%s.ranges[%d].events[%d].%s", field, j, k, key), "empty version")
					}
				}
				vr.Events = append(vr.Events, ev)
			}
			if rg.Type == "GIT" {
				out.Fixed = nil // commits, not versions
			}
			out.Ranges = append(out.Ranges, vr)
		}
		v.Affected = append(v.Affected, out)
	}
	return v, nil
}

func osvSeverities(in []osvSeverity) []vuln.Severity {
	var out []vuln.Severity
	for _, s := range in {
		sev := vuln.Severity{Type: s.Type}
		switch s.Type {
		case "CVSS_V2", "CVSS_V3", "CVSS_V4":
			sev.Vector = s.Score
		default:
			sev.Rating = s.Score
		}
		out = append(out, sev)
	}
	return out
}
