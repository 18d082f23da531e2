package sbom

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// ParseInventory reads a plain inventory: either one purl or CPE 2.3 name
// per line ("#" comments and blank lines skipped), or CSV whose header
// names some of the columns name, version, purl, cpe, ecosystem (in any
// order, case-insensitive). Errors name the line.
func ParseInventory(name string, data []byte) (*Document, error) {
	first := ""
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			first = strings.ToLower(t)
			break
		}
	}
	if strings.Contains(first, ",") && !strings.HasPrefix(first, "pkg:") && !strings.HasPrefix(first, "cpe:") {
		return parseCSV(name, data)
	}
	doc := &Document{Format: "inventory"}
	for i, l := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		var c Component
		switch {
		case strings.HasPrefix(t, "pkg:"):
			c.PURL = t
		case strings.HasPrefix(t, "cpe:"):
			c.CPE = t
		default:
			return nil, fmt.Errorf("%s:%d: %q is neither a purl nor a CPE: %w", name, i+1, t, errkind.Invalid)
		}
		c.Ref = fmt.Sprintf("line-%d", i+1)
		c, err := newComponent(name, fmt.Sprintf("line %d", i+1), c)
		if err != nil {
			return nil, err
		}
		doc.Components = append(doc.Components, c)
	}
	return doc, nil
}

func parseCSV(name string, data []byte) (*Document, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w: %w", name, err, errkind.Invalid)
	}
	cols := map[string]int{}
	for i, h := range header {
		cols[strings.ToLower(strings.TrimSpace(h))] = i
	}
	_, hasName := cols["name"]
	_, hasPURL := cols["purl"]
	_, hasCPE := cols["cpe"]
	if !hasName && !hasPURL && !hasCPE {
		return nil, fmt.Errorf("%s:1: header %q names none of name, purl, cpe: %w", name, strings.Join(header, ","), errkind.Invalid)
	}
	get := func(rec []string, col string) string {
		if i, ok := cols[col]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	doc := &Document{Format: "inventory"}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %w", name, err, errkind.Invalid)
		}
		line, _ := r.FieldPos(0)
		c := Component{Ref: fmt.Sprintf("line-%d", line), Name: get(rec, "name"), Version: get(rec, "version"),
			PURL: get(rec, "purl"), CPE: get(rec, "cpe"), Ecosystem: get(rec, "ecosystem")}
		if c.Name == "" && c.PURL == "" && c.CPE == "" {
			return nil, fmt.Errorf("%s:%d: no name, purl or cpe: %w", name, line, errkind.Invalid)
		}
		c, err = newComponent(name, fmt.Sprintf("line %d", line), c)
		if err != nil {
			return nil, err
		}
		doc.Components = append(doc.Components, c)
	}
	return doc, nil
}
