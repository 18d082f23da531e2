package intake

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

type csafDoc struct {
	Document struct {
		Category    string `json:"category"`
		CSAFVersion string `json:"csaf_version"`
		Title       string `json:"title"`
		Tracking    struct {
			ID                 string `json:"id"`
			CurrentReleaseDate string `json:"current_release_date"`
			InitialReleaseDate string `json:"initial_release_date"`
			Status             string `json:"status"`
		} `json:"tracking"`
		AggregateSeverity struct {
			Text string `json:"text"`
		} `json:"aggregate_severity"`
		References []struct {
			URL      string `json:"url"`
			Category string `json:"category"`
		} `json:"references"`
	} `json:"document"`
	ProductTree struct {
		Branches         []csafBranch  `json:"branches"`
		FullProductNames []csafProduct `json:"full_product_names"`
		Relationships    []struct {
			Category                  string      `json:"category"`
			FullProductName           csafProduct `json:"full_product_name"`
			ProductReference          string      `json:"product_reference"`
			RelatesToProductReference string      `json:"relates_to_product_reference"`
		} `json:"relationships"`
	} `json:"product_tree"`
	Vulnerabilities []csafVuln `json:"vulnerabilities"`
}

type csafBranch struct {
	Category string       `json:"category"`
	Name     string       `json:"name"`
	Product  *csafProduct `json:"product"`
	Branches []csafBranch `json:"branches"`
}

type csafProduct struct {
	Name   string `json:"name"`
	ID     string `json:"product_id"`
	Helper struct {
		CPE  string `json:"cpe"`
		PURL string `json:"purl"`
	} `json:"product_identification_helper"`
}

type csafVuln struct {
	CVE   string `json:"cve"`
	Title string `json:"title"`
	IDs   []struct {
		SystemName string `json:"system_name"`
		Text       string `json:"text"`
	} `json:"ids"`
	CWE *struct {
		ID string `json:"id"`
	} `json:"cwe"`
	Notes []struct {
		Category string `json:"category"`
		Text     string `json:"text"`
	} `json:"notes"`
	ReleaseDate   string              `json:"release_date"`
	ProductStatus map[string][]string `json:"product_status"`
	Remediations  []struct {
		Category   string   `json:"category"`
		Details    string   `json:"details"`
		ProductIDs []string `json:"product_ids"`
		URL        string   `json:"url"`
	} `json:"remediations"`
	Scores []struct {
		Products []string  `json:"products"`
		CVSSv2   *cvssData `json:"cvss_v2"`
		CVSSv3   *cvssData `json:"cvss_v3"`
	} `json:"scores"`
	References []struct {
		URL      string `json:"url"`
		Category string `json:"category"`
	} `json:"references"`
}

// csafProductInfo is what the product tree says about one product id.
type csafProductInfo struct {
	name, purl, cpe, version, versRange string
	// component and platform are set for relationship products.
	component, platform string
}

// ParseCSAF reads a CSAF 2.0 document (security advisory, VEX, or any
// profile with vulnerabilities) and returns one Vulnerability per entry
// of "vulnerabilities". IDs are "<tracking id>/<cve>" (or the tracking id
// with the entry's index when it has no CVE); the CVE and the tracking id
// are aliases. Product statuses are resolved through the product tree
// (branches, full product names, relationships) to purls or CPEs:
//
//   - fixed, first_fixed, recommended with a purl version: versions below
//     it are affected (Status fixed, the version in Fixed);
//   - known_affected: that version (or every version without one);
//     first_affected / last_affected open or close a range at it;
//   - known_not_affected: Status known_not_affected (VEX), which the
//     matcher uses to suppress findings;
//   - under_investigation: Status under_investigation.
//
// Products without purl or CPE are kept by name in Product.
func ParseCSAF(name string, data []byte) ([]*vuln.Vulnerability, error) {
	var d csafDoc
	if err := decodeJSON(name, data, &d); err != nil {
		return nil, err
	}
	tr := d.Document.Tracking
	if tr.ID == "" {
		return nil, invalid(name, "document.tracking.id", "missing")
	}
	if v := d.Document.CSAFVersion; v != "2.0" && v != "2.1" {
		return nil, invalid(name, "document.csaf_version", "%q, want 2.0", v)
	}
	modified, err := parseTime(name, "document.tracking.current_release_date", tr.CurrentReleaseDate)
	if err != nil {
		return nil, err
	}
	initial, err := parseTime(name, "document.tracking.initial_release_date", tr.InitialReleaseDate)
	if err != nil {
		return nil, err
	}
	products := map[string]*csafProductInfo{}
	var walk func(bs []csafBranch, inherited csafProductInfo)
	walk = func(bs []csafBranch, inh csafProductInfo) {
		for _, b := range bs {
			info := inh
			switch b.Category {
			case "product_version":
				info.version = b.Name
			case "product_version_range":
				info.versRange = b.Name
			case "product_name":
				info.name = b.Name
			}
			if b.Product != nil {
				p := info
				p.purl, p.cpe = b.Product.Helper.PURL, b.Product.Helper.CPE
				if p.name == "" {
					p.name = b.Product.Name
				}
				products[b.Product.ID] = &p
			}
			walk(b.Branches, info)
		}
	}
	walk(d.ProductTree.Branches, csafProductInfo{})
	for _, p := range d.ProductTree.FullProductNames {
		products[p.ID] = &csafProductInfo{name: p.Name, purl: p.Helper.PURL, cpe: p.Helper.CPE}
	}
	for _, r := range d.ProductTree.Relationships {
		info := &csafProductInfo{name: r.FullProductName.Name, component: r.ProductReference, platform: r.RelatesToProductReference}
		info.purl, info.cpe = r.FullProductName.Helper.PURL, r.FullProductName.Helper.CPE
		products[r.FullProductName.ID] = info
	}
	resolve := func(id string) (comp csafProductInfo, platformCPE string) {
		p, ok := products[id]
		if !ok {
			return csafProductInfo{name: id}, ""
		}
		comp = *p
		if p.component != "" {
			if c, ok := products[p.component]; ok && comp.purl == "" && comp.cpe == "" {
				comp.purl, comp.cpe, comp.version, comp.versRange = c.purl, c.cpe, c.version, c.versRange
				if comp.name == "" {
					comp.name = c.name
				}
			}
			if pl, ok := products[p.platform]; ok {
				platformCPE = pl.cpe
			}
		}
		return comp, platformCPE
	}

	var out []*vuln.Vulnerability
	for i, cv := range d.Vulnerabilities {
		field := fmt.Sprintf("vulnerabilities[%d]", i)
		v := &vuln.Vulnerability{Source: "csaf", Summary: cv.Title, Modified: modified, Published: initial}
		if cv.CVE != "" {
			v.ID = tr.ID + "/" + cv.CVE
			v.Aliases = appendUnique(v.Aliases, cv.CVE)
		} else {
			v.ID = fmt.Sprintf("%s#%d", tr.ID, i)
		}
		v.Aliases = appendUnique(v.Aliases, tr.ID)
		for _, id := range cv.IDs {
			v.Aliases = appendUnique(v.Aliases, id.Text)
		}
		if rd, err := parseTime(name, field+".release_date", cv.ReleaseDate); err != nil {
			return nil, err
		} else if !rd.IsZero() {
			v.Published = rd
		}
		if cv.CWE != nil {
			v.CWEs = appendUnique(v.CWEs, cv.CWE.ID)
		}
		for _, n := range cv.Notes {
			if n.Category == "description" && v.Details == "" {
				v.Details = n.Text
			}
		}
		for _, r := range append(d.Document.References, cv.References...) {
			typ := "WEB"
			if r.Category == "self" {
				typ = "ADVISORY"
			}
			v.References = append(v.References, vuln.Reference{Type: typ, URL: r.URL})
		}
		v.References = dedupRefs(v.References)
		for _, s := range cv.Scores {
			if s.CVSSv3 != nil {
				v.Severity = append(v.Severity, vuln.Severity{Type: "CVSS_V3", Vector: s.CVSSv3.VectorString, Score: s.CVSSv3.BaseScore, Rating: s.CVSSv3.BaseSeverity, Source: tr.ID})
			}
			if s.CVSSv2 != nil {
				v.Severity = append(v.Severity, vuln.Severity{Type: "CVSS_V2", Vector: s.CVSSv2.VectorString, Score: s.CVSSv2.BaseScore, Source: tr.ID})
			}
		}
		if t := d.Document.AggregateSeverity.Text; t != "" {
			v.Severity = append(v.Severity, vuln.Severity{Type: "TEXT", Rating: t, Source: tr.ID})
		}
		fixedBy := map[string][]string{}
		for _, r := range cv.Remediations {
			if r.Category == "vendor_fix" {
				for _, id := range r.ProductIDs {
					fixedBy[id] = appendUnique(fixedBy[id], r.URL)
				}
			}
		}
		statuses := make([]string, 0, len(cv.ProductStatus))
		for k := range cv.ProductStatus {
			statuses = append(statuses, k)
		}
		sort.Strings(statuses)
		for _, st := range statuses {
			for j, id := range cv.ProductStatus[st] {
				pf := fmt.Sprintf("%s.product_status.%s[%d]", field, st, j)
				comp, platform := resolve(id)
				a, err := csafAffected(name, pf, st, id, comp, platform)
				if err != nil {
					return nil, err
				}
				if a != nil {
					v.Affected = append(v.Affected, *a)
				}
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// csafAffected builds the Affected entry for one product id under one
// product status; nil for statuses that say nothing about affectedness.
func csafAffected(name, field, status, id string, p csafProductInfo, platform string) (*vuln.Affected, error) {
	a := &vuln.Affected{Product: id, Platform: platform}
	ver := p.version
	switch {
	case p.purl != "":
		pkg, pv, err := vuln.ParsePURL(p.purl)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: product %q: %w", name, field, id, err)
		}
		a.Package = pkg
		if pv != "" {
			ver = pv
		}
	case p.cpe != "":
		n, err := cpe.Parse(p.cpe)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: product %q: %w", name, field, id, err)
		}
		if ver == "" && n[cpe.Version] != cpe.Any && n[cpe.Version] != cpe.NA {
			ver = cpe.Unescape(n[cpe.Version])
		}
		n[cpe.Version] = cpe.Any
		a.CPE = n.String()
	default:
		a.Package = vuln.Package{Name: p.name}
	}
	var events []version.Event
	if p.versRange != "" && ver == "" {
		ev, err := parseVers(p.versRange)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: product %q: %w", name, field, id, err)
		}
		events = ev
	}
	switch status {
	case "fixed", "first_fixed", "recommended":
		a.Status = vuln.StatusFixed
		if ver != "" {
			events = []version.Event{{Introduced: "0"}, {Fixed: ver}}
			a.Fixed = []string{ver}
		} else if events == nil {
			return nil, nil // a fixed product without version says nothing matchable
		}
	case "known_affected":
		a.Status = vuln.StatusAffected
		if ver != "" {
			a.Versions = []string{ver}
		}
	case "first_affected":
		a.Status = vuln.StatusAffected
		if ver != "" {
			events = []version.Event{{Introduced: ver}}
		}
	case "last_affected":
		a.Status = vuln.StatusAffected
		if ver != "" {
			events = []version.Event{{Introduced: "0"}, {LastAffected: ver}}
		}
	case "known_not_affected":
		a.Status = vuln.StatusNotAffected
		if ver != "" {
			a.Versions = []string{ver}
		}
	case "under_investigation":
		a.Status = vuln.StatusUnderInvestigation
		if ver != "" {
			a.Versions = []string{ver}
		}
	default:
		return nil, invalid(name, field, "unknown product status %q", status)
	}
	if len(events) > 0 {
		a.Ranges = []vuln.Range{{Type: "ECOSYSTEM", Events: events}}
	}
	return a, nil
}

// parseVers reads a "vers:" range specifier or a bare CSAF 2.0 version
// list ("<=1.14.0"), as product_version_range uses, into events: ">=" introduces, "<" fixes, "<=" last affected, ">"
// introduces (approximately; the bound itself is then included), "="
// gives a one-version range and "*" every version.
func parseVers(s string) ([]version.Event, error) {
	constraints := s
	if rest, ok := strings.CutPrefix(s, "vers:"); ok {
		_, constraints, ok = strings.Cut(rest, "/")
		if !ok {
			return nil, fmt.Errorf("version range %q: no scheme", s)
		}
	}
	var ev []version.Event
	for _, c := range strings.Split(constraints, "|") {
		c = strings.TrimSpace(c)
		if strings.ContainsAny(c, " \t") {
			return nil, fmt.Errorf("version range %q: space in constraint %q", s, c)
		}
		switch {
		case c == "*":
			ev = append(ev, version.Event{Introduced: "0"})
		case strings.HasPrefix(c, ">="):
			ev = append(ev, version.Event{Introduced: c[2:]})
		case strings.HasPrefix(c, "<="):
			if len(ev) == 0 {
				ev = append(ev, version.Event{Introduced: "0"})
			}
			ev = append(ev, version.Event{LastAffected: c[2:]})
		case strings.HasPrefix(c, ">"):
			ev = append(ev, version.Event{Introduced: c[1:]})
		case strings.HasPrefix(c, "<"):
			if len(ev) == 0 {
				ev = append(ev, version.Event{Introduced: "0"})
			}
			ev = append(ev, version.Event{Fixed: c[1:]})
		case c != "" && !strings.HasPrefix(c, "!="):
			v := strings.TrimPrefix(c, "=")
			ev = append(ev, version.Event{Introduced: v}, version.Event{LastAffected: v})
		}
	}
	for _, e := range ev {
		if e.Introduced == "" && e.Fixed == "" && e.LastAffected == "" {
			return nil, fmt.Errorf("version range %q: empty bound", s)
		}
	}
	return ev, nil
}
