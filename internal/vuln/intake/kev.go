package intake

import (
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

type kevCatalogue struct {
	Title           string     `json:"title"`
	CatalogVersion  string     `json:"catalogVersion"`
	DateReleased    string     `json:"dateReleased"`
	Count           int        `json:"count"`
	Vulnerabilities []kevEntry `json:"vulnerabilities"`
}

type kevEntry struct {
	CVEID                      string `json:"cveID"`
	VendorProject              string `json:"vendorProject"`
	Product                    string `json:"product"`
	VulnerabilityName          string `json:"vulnerabilityName"`
	DateAdded                  string `json:"dateAdded"`
	ShortDescription           string `json:"shortDescription"`
	RequiredAction             string `json:"requiredAction"`
	DueDate                    string `json:"dueDate"`
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
}

// ParseKEV reads the CISA Known Exploited Vulnerabilities catalogue (JSON
// feed) into a catalogue keyed by CVE id. Every entry needs a CVE id and a
// dateAdded; the error names the entry's index.
func ParseKEV(name string, data []byte) (vuln.KEVCatalog, error) {
	var c kevCatalogue
	if err := decodeJSON(name, data, &c); err != nil {
		return nil, err
	}
	if c.Vulnerabilities == nil {
		return nil, invalid(name, "vulnerabilities", "missing")
	}
	out := make(vuln.KEVCatalog, len(c.Vulnerabilities))
	for i, e := range c.Vulnerabilities {
		field := fmt.Sprintf("vulnerabilities[%d]", i)
		if !strings.HasPrefix(e.CVEID, "CVE-") {
			return nil, invalid(name, field+".cveID", "%q is not a CVE id", e.CVEID)
		}
		added, err := parseTime(name, field+".dateAdded", e.DateAdded)
		if err != nil {
			return nil, err
		}
		if added.IsZero() {
			return nil, invalid(name, field+".dateAdded", "missing")
		}
		due, err := parseTime(name, field+".dueDate", e.DueDate)
		if err != nil {
			return nil, err
		}
		out[e.CVEID] = vuln.KEV{
			DateAdded: added, DueDate: due, VendorProject: e.VendorProject, Product: e.Product,
			Name: e.VulnerabilityName, RequiredAction: e.RequiredAction, Ransomware: e.KnownRansomwareCampaignUse,
		}
	}
	return out, nil
}
