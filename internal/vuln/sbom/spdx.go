package sbom

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

type spdxJSON struct {
	SPDXVersion string `json:"spdxVersion"`
	Name        string `json:"name"`
	Packages    []struct {
		SPDXID         string `json:"SPDXID"`
		Name           string `json:"name"`
		VersionInfo    string `json:"versionInfo"`
		PrimaryPurpose string `json:"primaryPackagePurpose"`
		ExternalRefs   []struct {
			Category string `json:"referenceCategory"`
			Type     string `json:"referenceType"`
			Locator  string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
}

// ParseSPDXJSON reads an SPDX 2.2/2.3 document in JSON. Packages become
// components; their purl and CPE come from externalRefs (types "purl",
// "cpe23Type", "cpe22Type"). Files and snippets are not components.
func ParseSPDXJSON(name string, data []byte) (*Document, error) {
	var d spdxJSON
	if err := json.Unmarshal(data, &d); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := bytes.Count(data[:min(int(se.Offset), len(data))], []byte{'\n'}) + 1
			return nil, fmt.Errorf("%s:%d: %w: %w", name, line, err, errkind.Invalid)
		}
		return nil, fmt.Errorf("%s: %w: %w", name, err, errkind.Invalid)
	}
	if !strings.HasPrefix(d.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("%s: spdxVersion %q, want SPDX-2.x: %w", name, d.SPDXVersion, errkind.Invalid)
	}
	doc := &Document{Format: "spdx-json", SpecVersion: d.SPDXVersion, Name: d.Name}
	for i, p := range d.Packages {
		c := Component{Ref: p.SPDXID, Name: p.Name, Version: p.VersionInfo, Type: strings.ToLower(p.PrimaryPurpose)}
		for _, r := range p.ExternalRefs {
			setRef(&c, r.Type, r.Locator)
		}
		c, err := newComponent(name, fmt.Sprintf("packages[%d] (%s)", i, p.SPDXID), c)
		if err != nil {
			return nil, err
		}
		doc.Components = append(doc.Components, c)
	}
	return doc, nil
}

// setRef records a purl or CPE external reference (the first of each).
func setRef(c *Component, typ, locator string) {
	switch strings.ToLower(typ) {
	case "purl":
		if c.PURL == "" {
			c.PURL = locator
		}
	case "cpe23type", "cpe22type":
		if c.CPE == "" {
			c.CPE = locator
		}
	}
}

// ParseSPDXTagValue reads an SPDX 2.x document in tag-value form. Each
// PackageName tag starts a component; PackageVersion, SPDXID,
// PrimaryPackagePurpose and ExternalRef (purl, cpe23Type, cpe22Type) fill
// it. Multi-line <text> values are skipped. Errors name the line.
func ParseSPDXTagValue(name string, data []byte) (*Document, error) {
	doc := &Document{Format: "spdx-tag-value"}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var cur *Component
	var curLine int
	flush := func() error {
		if cur == nil {
			return nil
		}
		c, err := newComponent(name, fmt.Sprintf("line %d (package %q)", curLine, cur.Name), *cur)
		if err != nil {
			return err
		}
		doc.Components = append(doc.Components, c)
		cur = nil
		return nil
	}
	inText := false
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if inText {
			if strings.Contains(line, "</text>") {
				inText = false
			}
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		tag, val, ok := strings.Cut(t, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: no tag: %w", name, lineNo, errkind.Invalid)
		}
		val = strings.TrimSpace(val)
		if strings.HasPrefix(val, "<text>") {
			if !strings.Contains(val, "</text>") {
				inText = true
			}
			continue
		}
		switch tag {
		case "SPDXVersion":
			if !strings.HasPrefix(val, "SPDX-2.") {
				return nil, fmt.Errorf("%s:%d: SPDXVersion %q, want SPDX-2.x: %w", name, lineNo, val, errkind.Invalid)
			}
			doc.SpecVersion = val
		case "DocumentName":
			doc.Name = val
		case "PackageName":
			if err := flush(); err != nil {
				return nil, err
			}
			cur, curLine = &Component{Name: val}, lineNo
		case "FileName", "SnippetSPDXID":
			if err := flush(); err != nil {
				return nil, err
			}
		case "SPDXID":
			if cur != nil && cur.Ref == "" {
				cur.Ref = val
			}
		case "PackageVersion":
			if cur != nil {
				cur.Version = val
			}
		case "PrimaryPackagePurpose":
			if cur != nil {
				cur.Type = strings.ToLower(val)
			}
		case "ExternalRef":
			if cur != nil {
				f := strings.Fields(val)
				if len(f) < 3 {
					return nil, fmt.Errorf("%s:%d: ExternalRef %q: want category, type and locator: %w", name, lineNo, val, errkind.Invalid)
				}
				setRef(cur, f[1], f[2])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w: %w", name, lineNo+1, err, errkind.Invalid)
	}
	if inText {
		return nil, fmt.Errorf("%s: unterminated <text> at end: %w", name, errkind.Invalid)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if doc.SpecVersion == "" {
		return nil, fmt.Errorf("%s: no SPDXVersion tag: %w", name, errkind.Invalid)
	}
	return doc, nil
}
