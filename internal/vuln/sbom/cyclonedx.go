package sbom

import (
	"bytes"
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// ParseCycloneDXJSON reads a CycloneDX BOM (1.2–1.6) in JSON.
func ParseCycloneDXJSON(name string, data []byte) (*Document, error) {
	return parseCycloneDX(name, data, cdx.BOMFileFormatJSON, "cyclonedx-json")
}

// ParseCycloneDXXML reads a CycloneDX BOM (1.0–1.6) in XML.
func ParseCycloneDXXML(name string, data []byte) (*Document, error) {
	return parseCycloneDX(name, data, cdx.BOMFileFormatXML, "cyclonedx-xml")
}

func parseCycloneDX(name string, data []byte, format cdx.BOMFileFormat, label string) (doc *Document, err error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(data), format).Decode(&bom); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, errkind.Invalid)
	}
	if format == cdx.BOMFileFormatJSON && bom.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("%s: bomFormat %q, want CycloneDX: %w", name, bom.BOMFormat, errkind.Invalid)
	}
	if format == cdx.BOMFileFormatXML && bom.XMLName.Local != "bom" {
		return nil, fmt.Errorf("%s: root element %q, want bom: %w", name, bom.XMLName.Local, errkind.Invalid)
	}
	doc = &Document{Format: label, SpecVersion: bom.SpecVersion.String()}
	if format == cdx.BOMFileFormatXML {
		doc.SpecVersion = bom.XMLNS
	}
	var walk func(list []cdx.Component, where string) error
	walk = func(list []cdx.Component, where string) error {
		for i, c := range list {
			w := fmt.Sprintf("%s[%d]", where, i)
			comp, err := newComponent(name, w, Component{Ref: c.BOMRef, Name: c.Name, Version: c.Version, PURL: c.PackageURL, CPE: c.CPE, Type: string(c.Type)})
			if err != nil {
				return err
			}
			doc.Components = append(doc.Components, comp)
			if c.Components != nil {
				if err := walk(*c.Components, w+".components"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		c := bom.Metadata.Component
		doc.Name = c.Name
		if err := walk([]cdx.Component{*c}, "metadata.component"); err != nil {
			return nil, err
		}
		s := doc.Components[0]
		doc.Subject = &s
	}
	if bom.Components != nil {
		if err := walk(*bom.Components, "components"); err != nil {
			return nil, err
		}
	}
	if bom.Vulnerabilities != nil {
		for _, v := range *bom.Vulnerabilities {
			if v.Analysis == nil || v.Affects == nil {
				continue
			}
			st := cdxStatus(v.Analysis.State)
			if st == "" {
				continue
			}
			for _, a := range *v.Affects {
				ref := a.Ref
				if strings.HasPrefix(ref, "urn:cdx:") {
					// A BOM-Link into another BOM: urn:cdx:serial/version#bom-ref.
					if _, frag, ok := strings.Cut(ref, "#"); ok {
						ref = frag
					}
				}
				doc.VEX = append(doc.VEX, VEXStatement{VulnID: v.ID, Ref: ref, Status: st, Justification: string(v.Analysis.Justification)})
			}
		}
	}
	software := 0
	for _, c := range doc.Components {
		switch c.Type {
		case "cryptographic-asset", "device", "firmware", "data", "machine-learning-model", "platform":
		default:
			software++
		}
	}
	if software == 0 {
		doc.Notes = append(doc.Notes, "no software components (a CBOM, HBOM, OBOM or a VEX-only document?)")
	}
	return doc, nil
}

// cdxStatus maps a CycloneDX impact analysis state to a product status.
func cdxStatus(s cdx.ImpactAnalysisState) vuln.Status {
	switch s {
	case cdx.IASNotAffected, cdx.IASFalsePositive:
		return vuln.StatusNotAffected
	case cdx.IASResolved:
		return vuln.StatusFixed
	case cdx.IASExploitable:
		return vuln.StatusAffected
	case cdx.IASInTriage:
		return vuln.StatusUnderInvestigation
	}
	return ""
}
