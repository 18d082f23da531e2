// Package sbom reads software bills of materials into flat component
// lists for vulnerability matching: CycloneDX 1.x in JSON and XML (through
// github.com/CycloneDX/cyclonedx-go), SPDX 2.x in JSON and tag-value, and
// plain inventories (one purl or CPE 2.3 per line, or CSV with a header).
//
// Parse sniffs the format; the ParseXxx functions read one format. Every
// parser takes the document's name (for error messages) and its bytes and
// returns errors that wrap errkind.Invalid. The package is pure.
package sbom

import (
	"bytes"
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
)

// Component is one software component of an SBOM.
type Component struct {
	// Ref is the component's id in its document (CycloneDX bom-ref, SPDX
	// SPDXID, inventory line number).
	Ref     string `json:"ref,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	PURL    string `json:"purl,omitempty"`
	CPE     string `json:"cpe,omitempty"`
	// Ecosystem is the OSV ecosystem derived from the purl type.
	Ecosystem string `json:"ecosystem,omitempty"`
	// Type is the CycloneDX component type or SPDX primary purpose
	// ("library", "application", "operating-system", ...), when given.
	Type string `json:"type,omitempty"`
}

// Package returns the component's package identity: from the purl when it
// has one (the ecosystem's name spelling, such as Maven group:artifact),
// else its name with the Ecosystem field.
func (c Component) Package() vuln.Package {
	if c.PURL != "" {
		if p, _, err := vuln.ParsePURL(c.PURL); err == nil {
			return p
		}
	}
	return vuln.Package{Ecosystem: c.Ecosystem, Name: c.Name}
}

// VEXStatement is an impact statement an SBOM carries about one of its
// components (CycloneDX vulnerabilities[].analysis).
type VEXStatement struct {
	// VulnID is the vulnerability id the statement is about.
	VulnID string `json:"vuln_id"`
	// Ref is the component's Ref the statement applies to.
	Ref    string      `json:"ref"`
	Status vuln.Status `json:"status"`
	// Justification is the VEX justification ("code_not_reachable", ...).
	Justification string `json:"justification,omitempty"`
}

// Document is a parsed SBOM.
type Document struct {
	// Format is "cyclonedx-json", "cyclonedx-xml", "spdx-json",
	// "spdx-tag-value" or "inventory".
	Format string `json:"format"`
	// SpecVersion is the format's version ("1.6", "SPDX-2.3").
	SpecVersion string `json:"spec_version,omitempty"`
	Name        string `json:"name,omitempty"`
	// Subject is the component the document describes (CycloneDX
	// metadata.component), when given; it is also in Components.
	Subject    *Component     `json:"subject,omitempty"`
	Components []Component    `json:"components"`
	VEX        []VEXStatement `json:"vex,omitempty"`
	// Notes lists what the parser could not use, for the user (for
	// instance "no software components: a CBOM?").
	Notes []string `json:"notes,omitempty"`
}

// Parse sniffs the format of an SBOM and parses it: JSON with bomFormat
// CycloneDX or spdxVersion, XML with a CycloneDX namespace, SPDX
// tag-value starting with "SPDXVersion:", else an inventory.
func Parse(name string, data []byte) (*Document, error) {
	t := bytes.TrimSpace(data)
	t = bytes.TrimPrefix(t, []byte("\xef\xbb\xbf"))
	switch {
	case len(t) == 0:
		return nil, fmt.Errorf("%s: empty document: %w", name, errkind.Invalid)
	case t[0] == '{':
		head := t[:min(len(t), 4096)]
		if bytes.Contains(head, []byte(`"spdxVersion"`)) || bytes.Contains(t, []byte(`"spdxVersion"`)) {
			return ParseSPDXJSON(name, data)
		}
		if bytes.Contains(head, []byte(`"@context"`)) && bytes.Contains(head, []byte("spdx")) {
			return nil, fmt.Errorf("%s: SPDX 3 JSON-LD is not supported (SPDX 2.x only): %w", name, errkind.Invalid)
		}
		return ParseCycloneDXJSON(name, data)
	case t[0] == '<':
		return ParseCycloneDXXML(name, data)
	case bytes.HasPrefix(t, []byte("SPDXVersion:")) || bytes.Contains(t[:min(len(t), 4096)], []byte("\nSPDXVersion:")):
		return ParseSPDXTagValue(name, data)
	}
	return ParseInventory(name, data)
}

// newComponent fills Ecosystem from the purl and checks the CPE; a
// malformed purl or CPE is an error naming where it was found.
func newComponent(name, where string, c Component) (Component, error) {
	if c.PURL != "" {
		p, v, err := vuln.ParsePURL(c.PURL)
		if err != nil {
			return c, fmt.Errorf("%s: %s: %w", name, where, err)
		}
		c.Ecosystem = p.Ecosystem
		if c.Version == "" {
			c.Version = v
		}
		if c.Name == "" {
			c.Name = p.Name
		}
	}
	if c.CPE != "" {
		n, err := cpe.Parse(c.CPE)
		if err != nil {
			return c, fmt.Errorf("%s: %s: %w", name, where, err)
		}
		c.CPE = n.String()
		if c.Name == "" {
			c.Name = cpe.Unescape(n[cpe.Product])
		}
		if c.Version == "" && n[cpe.Version] != cpe.Any && n[cpe.Version] != cpe.NA {
			c.Version = cpe.Unescape(n[cpe.Version])
		}
	}
	return c, nil
}
