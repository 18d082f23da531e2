// Package vuln is Kizuna's normalised vulnerability model: one
// Vulnerability per advisory or CVE record, whatever its source format
// (CVE JSON 5, NVD API 2.0, OSV, CSAF 2.0, CISA KEV), with Affected entries
// that name a package (purl / ecosystem + name) or a CPE 2.3 pattern and
// the versions concerned as OSV-style range events, explicit versions and
// a CSAF/VEX product status.
//
// The sub-packages do the work: intake parses the source formats into this
// model, sbom reads software bills of materials into Components, version
// orders versions per ecosystem, cpe parses and matches CPE names, and
// match finds which components a set of vulnerabilities affects. All of
// them are pure (no network, no database).
package vuln

import (
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// Vulnerability is one vulnerability record in normalised form.
type Vulnerability struct {
	// ID is the record's own identifier: "CVE-2024-1234", "GO-2022-0956",
	// "PYSEC-2022-19", "RHSA-2024:0811/CVE-2023-28486" (CSAF: the document
	// tracking id and the CVE).
	ID string `json:"id"`
	// Aliases are other identifiers of the same vulnerability (CVE, GHSA,
	// ...), without ID itself.
	Aliases []string `json:"aliases,omitempty"`
	// Source names the format the record was read from ("cve5", "nvd",
	// "osv", "csaf", "kev").
	Source    string     `json:"source,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Details   string     `json:"details,omitempty"`
	Severity  []Severity `json:"severity,omitempty"`
	CWEs      []string   `json:"cwes,omitempty"`
	KEV       *KEV       `json:"kev,omitempty"`
	Published time.Time  `json:"published,omitzero"`
	Modified  time.Time  `json:"modified,omitzero"`
	// Withdrawn is set when the record was withdrawn (OSV withdrawn, CVE
	// state REJECTED, NVD status Rejected): it no longer produces findings.
	Withdrawn  time.Time   `json:"withdrawn,omitzero"`
	References []Reference `json:"references,omitempty"`
	Affected   []Affected  `json:"affected,omitempty"`
	// Distribution, when set, restricts the record, its STIX object and
	// its findings to an audience (a TLP:AMBER or RED advisory of the
	// hub); nil for public records.
	Distribution *Distribution `json:"distribution,omitempty"`
}

// Distribution is the audience of a restricted record, in the terms of the
// sharing policy (internal/sharing decides who belongs to it).
type Distribution struct {
	// TLP is the TLP 2.0 level: "amber", "amber+strict" or "red".
	TLP string `json:"tlp"`
	// ProducerOrg and ProducerUser published the record (identity and
	// user ids).
	ProducerOrg  string `json:"producer_org,omitempty"`
	ProducerUser string `json:"producer_user,omitempty"`
	// Orgs and Users are the named recipients (organisation identity ids
	// for AMBER, user ids for RED).
	Orgs  []string `json:"orgs,omitempty"`
	Users []string `json:"users,omitempty"`
}

// IsWithdrawn reports whether the record was withdrawn or rejected.
func (v *Vulnerability) IsWithdrawn() bool { return !v.Withdrawn.IsZero() }

// CVEs returns the CVE ids among ID and Aliases, without duplicates.
func (v *Vulnerability) CVEs() []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range append([]string{v.ID}, v.Aliases...) {
		for _, part := range strings.Split(id, "/") {
			if strings.HasPrefix(part, "CVE-") && !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}

// MaxScore returns the Severity entry with the highest numeric score or,
// when none has a score, the first with a rating; ok is false when there
// is neither.
func (v *Vulnerability) MaxScore() (Severity, bool) {
	var best Severity
	ok := false
	for _, s := range v.Severity {
		if s.Score > 0 && (!ok || s.Score > best.Score) {
			best, ok = s, true
		}
	}
	if !ok {
		for _, s := range v.Severity {
			if s.Rating != "" {
				return s, true
			}
		}
	}
	return best, ok
}

// Severity is one severity statement: a CVSS vector with its base score,
// or a qualitative rating.
type Severity struct {
	// Type is "CVSS_V2", "CVSS_V3", "CVSS_V4" or "TEXT".
	Type   string  `json:"type"`
	Vector string  `json:"vector,omitempty"`
	Score  float64 `json:"score,omitempty"`
	// Rating is the qualitative severity ("HIGH", "Important", ...).
	Rating string `json:"rating,omitempty"`
	// Source names who scored (CNA short name, NVD source, "CISA-ADP").
	Source string `json:"source,omitempty"`
}

// KEV is the CISA Known Exploited Vulnerabilities information of a CVE.
type KEV struct {
	DateAdded      time.Time `json:"date_added"`
	DueDate        time.Time `json:"due_date,omitzero"`
	VendorProject  string    `json:"vendor_project,omitempty"`
	Product        string    `json:"product,omitempty"`
	Name           string    `json:"name,omitempty"`
	RequiredAction string    `json:"required_action,omitempty"`
	// Ransomware is "Known" or "Unknown".
	Ransomware string `json:"ransomware,omitempty"`
}

// KEVCatalog maps CVE ids to their KEV information.
type KEVCatalog map[string]KEV

// Apply sets v.KEV when one of v's CVE ids is in the catalogue and reports
// whether it did.
func (c KEVCatalog) Apply(v *Vulnerability) bool {
	for _, id := range v.CVEs() {
		if k, ok := c[id]; ok {
			v.KEV = &k
			return true
		}
	}
	return false
}

// Reference is a link with its OSV reference type ("ADVISORY", "FIX",
// "WEB", ...) when the source gives one.
type Reference struct {
	Type string `json:"type,omitempty"`
	URL  string `json:"url"`
}

// Status is the product status of an Affected entry (CSAF product status,
// CycloneDX/OpenVEX states).
type Status string

// The statuses. Affected is the default of OSV, CVE and NVD entries.
const (
	StatusAffected           Status = "affected"
	StatusFixed              Status = "fixed"
	StatusNotAffected        Status = "known_not_affected"
	StatusUnderInvestigation Status = "under_investigation"
)

// Package identifies a package in an ecosystem.
type Package struct {
	// Ecosystem is the OSV ecosystem ("Go", "PyPI", "Debian:12", "Red
	// Hat") or, for purl-only data, the ecosystem of the purl type.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Name is the ecosystem's package name: a Go module path, a Maven
	// "group:artifact", an npm "@scope/name".
	Name string `json:"name,omitempty"`
	// PURL is the package URL when known, with or without a version.
	PURL string `json:"purl,omitempty"`
	// Distro is the distro qualifier of a deb, rpm or apk package URL
	// ("debian-12", "bookworm", "alpine-3.18.4"): the distribution
	// release the package was built for (see version.Release).
	Distro string `json:"distro,omitempty"`
}

// Key returns the index key of the package: the version ecosystem and the
// name in the ecosystem's canonical spelling (see PackageKey).
func (p Package) Key() string { return PackageKey(p.Ecosystem, p.Name) }

// PackageKey returns the key a package is indexed under: the normalised
// ecosystem (version.Normalize) and the name, lower-cased where the
// ecosystem is case-insensitive (PyPI additionally folds runs of "-_."
// to "-" as PEP 503 does).
func PackageKey(ecosystem, name string) string {
	eco := version.Normalize(ecosystem)
	switch eco {
	case version.PyPI:
		name = pep503(name)
	case version.NPM, version.Debian, version.RPM, version.NuGet, version.Alpine, version.Cargo, version.Packagist, version.Maven:
		name = strings.ToLower(name)
	}
	return string(eco) + "/" + name
}

func pep503(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

// Range is an OSV range: a type ("SEMVER", "ECOSYSTEM", "GIT") and its
// events. GIT ranges are kept but cannot be evaluated against versions.
type Range struct {
	Type   string          `json:"type"`
	Events []version.Event `json:"events"`
}

// Affected says which versions of one package or CPE pattern a
// vulnerability concerns.
type Affected struct {
	Package Package `json:"package,omitzero"`
	// CPE is a CPE 2.3 formatted string (NVD criteria, CVE 5 cpes, CSAF
	// product identification helper), possibly with wildcards.
	CPE string `json:"cpe,omitempty"`
	// Ranges are evaluated with the ordering of Package.Ecosystem (or the
	// generic ordering for CPE entries).
	Ranges []Range `json:"ranges,omitempty"`
	// Versions lists explicitly named versions.
	Versions []string `json:"versions,omitempty"`
	// Unaffected lists versions excluded from Ranges (an exclusive range
	// start, versions a CVE record names as unaffected).
	Unaffected []string `json:"unaffected,omitempty"`
	// Fixed lists versions that fix the vulnerability (range fixed events,
	// CSAF fixed products and vendor fixes).
	Fixed []string `json:"fixed,omitempty"`
	// Status is the product status; empty means affected.
	Status Status `json:"status,omitempty"`
	// Product is the CSAF product id or the CVE vendor/product, for
	// display and for entries without package or CPE.
	Product string `json:"product,omitempty"`
	// Platform is the CPE of the product this package is a component of
	// (CSAF relationships, NVD AND-configurations), informational.
	Platform string `json:"platform,omitempty"`
}

// EffectiveStatus returns Status, with the empty status read as affected.
func (a *Affected) EffectiveStatus() Status {
	if a.Status == "" {
		return StatusAffected
	}
	return a.Status
}

// AllVersions reports whether the entry applies to every version: no
// ranges and no explicit versions.
func (a *Affected) AllVersions() bool { return len(a.Ranges) == 0 && len(a.Versions) == 0 }

// Contains reports whether version v of the package is in the entry's
// versions: v is not in Unaffected and one of Versions equals it (in the ecosystem's ordering), or
// one evaluable range contains it. An entry without ranges and versions
// contains every version. eco is the ordering to use (usually
// version.Normalize(a.Package.Ecosystem), version.Generic for CPEs).
func (a *Affected) Contains(eco version.Ecosystem, v string) bool {
	for _, x := range a.Unaffected {
		if x == v || version.Compare(eco, x, v) == 0 {
			return false
		}
	}
	if a.AllVersions() {
		return true
	}
	for _, x := range a.Versions {
		if x == v || version.Compare(eco, x, v) == 0 {
			return true
		}
	}
	for _, r := range a.Ranges {
		if r.Type == "GIT" {
			continue
		}
		e := eco
		if r.Type == "SEMVER" && eco != version.Go {
			e = version.SemVer
		}
		if version.InRange(e, r.Events, v) {
			return true
		}
	}
	return false
}
