package vulndb

import (
	"context"
	"slices"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// TestRestrictedRecords checks that a restricted record (a TLP:AMBER
// advisory for org-a) yields findings for its audience only, whichever of
// record and SBOM comes first, and that its VEX statement suppresses the
// findings of a public record for that audience only.
func TestRestrictedRecords(t *testing.T) {
	ctx := context.Background()
	amberForA := Restriction(sharing.TLPAmber, sharing.Label{ProducerOrg: "hub", Orgs: []string{"org-a"}})
	for _, c := range []struct {
		name string
		dist *vuln.Distribution
		want map[string]int // findings of the restricted record per org
	}{
		{"public", nil, map[string]int{"org-a": 3, "org-b": 3, "hub": 3}},
		{"green", Restriction(sharing.TLPGreen, sharing.Label{ProducerOrg: "hub"}), map[string]int{"org-a": 3, "org-b": 3, "hub": 3}},
		{"amber for org-a", amberForA, map[string]int{"org-a": 3, "org-b": 0, "hub": 3}},
		{"amber+strict", Restriction(sharing.TLPAmberStrict, sharing.Label{ProducerOrg: "hub"}), map[string]int{"org-a": 0, "org-b": 0, "hub": 3}},
		{"red", Restriction(sharing.TLPRed, sharing.Label{ProducerOrg: "hub", ProducerUser: "u1", Users: []string{"u2"}}), map[string]int{"org-a": 0, "org-b": 0, "hub": 0}},
		{"unknown level", &vuln.Distribution{TLP: "purple", ProducerOrg: "hub", Orgs: []string{"org-a"}}, map[string]int{"org-a": 0, "org-b": 0, "hub": 3}},
	} {
		for _, sbomFirst := range []bool{false, true} {
			d := openTest(t)
			if sbomFirst {
				for org := range c.want {
					upload(t, d, org, "web", "sbom-demo.txt")
				}
			}
			p := parseFixture(t, "osv-KZ-DEMO-1-v1.json")
			for _, v := range p.Vulns {
				v.Distribution = c.dist
			}
			if _, err := d.PutVulns(ctx, p.Vulns); err != nil {
				t.Fatal(err)
			}
			if !sbomFirst {
				for org := range c.want {
					upload(t, d, org, "web", "sbom-demo.txt")
				}
			}
			for org, want := range c.want {
				if got := findings(t, d, org); len(got) != want {
					t.Errorf("%s (SBOM first %v): %s has %q, want %d findings", c.name, sbomFirst, org, got, want)
				}
			}
		}
	}

	// A restricted VEX statement (1.5 not affected) suppresses the public
	// record's finding only for the organisations in its audience.
	d := openTest(t)
	put(t, d, "osv-KZ-DEMO-1-v1.json")
	upload(t, d, "org-a", "web", "sbom-demo.txt")
	upload(t, d, "org-b", "web", "sbom-demo.txt")
	p := parseFixture(t, "csaf-KZ-VEX-1.json")
	for _, v := range p.Vulns {
		v.Distribution = amberForA
	}
	if _, err := d.PutVulns(ctx, p.Vulns); err != nil {
		t.Fatal(err)
	}
	a, b := findings(t, d, "org-a"), findings(t, d, "org-b")
	if slices.Contains(a, "web kizuna-demo@1.5 KZ-DEMO-1") || !slices.Contains(b, "web kizuna-demo@1.5 KZ-DEMO-1") {
		t.Errorf("restricted VEX: org-a %q, org-b %q", a, b)
	}
}
