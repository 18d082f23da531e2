package vulndb

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

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

func TestReport(t *testing.T) {
	dist := Restriction(sharing.TLPAmber, sharing.Label{ProducerOrg: "identity--hub", Orgs: []string{"identity--a"}})
	a := Advisory{TrackingID: "KZ-1", Title: "T", URL: "https://hub.example/.well-known/csaf/amber/2026/kz-1.json",
		Published: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Modified: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		RecordIDs: []string{"KZ-1/CVE-2026-0001"}, Markings: []string{sharing.TLP2Amber}, Distribution: dist}
	b, err := Report(a)
	if err != nil {
		t.Fatal(err)
	}
	var o map[string]any
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	again, _ := Report(a)
	refs, _ := o["object_refs"].([]any)
	ext, _ := o["extensions"].(map[string]any)
	if o["type"] != "report" || !strings.HasPrefix(o["id"].(string), "report--") || string(again) != string(b) ||
		len(refs) != 1 || refs[0] != STIXID("KZ-1/CVE-2026-0001") || o["published"] != "2026-02-01T00:00:00.000Z" ||
		ext[sharing.DistributionExtension] == nil {
		t.Errorf("report: %s", b)
	}
	a.RecordIDs = nil
	if _, err := Report(a); err == nil {
		t.Error("a report without vulnerabilities was made")
	}
}
