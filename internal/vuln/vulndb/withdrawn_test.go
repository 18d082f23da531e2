package vulndb

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestWithdrawnRecords checks that a record updated in place to a
// withdrawn one (CVE 5 state REJECTED, OSV withdrawn, NVD Rejected)
// removes its findings, that its STIX object is revoked, and that an older
// published copy arriving afterwards does not bring them back.
func TestWithdrawnRecords(t *testing.T) {
	cve5 := func(state, updated string) string {
		cna := `{"affected":[{"collectionURL":"https://pypi.org","packageName":"kizuna-demo","versions":[{"version":"0","lessThan":"2.0","status":"affected","versionType":"python"}]}],"descriptions":[{"lang":"en","value":"demo"}]}`
		if state == "REJECTED" {
			cna = `{"rejectedReasons":[{"lang":"en","value":"duplicate of CVE-2099-2222"}]}`
		}
		return `{"dataType":"CVE_RECORD","dataVersion":"5.1","cveMetadata":{"cveId":"CVE-2099-1111","state":"` + state +
			`","datePublished":"2024-01-01T00:00:00","dateUpdated":"` + updated + `","dateRejected":"` + updated + `"},"containers":{"cna":` + cna + `}}`
	}
	osv := func(modified, withdrawn string) string {
		w := ""
		if withdrawn != "" {
			w = `,"withdrawn":"` + withdrawn + `"`
		}
		return `{"schema_version":"1.6.0","id":"KZ-OSV-9","modified":"` + modified + `"` + w +
			`,"affected":[{"package":{"ecosystem":"PyPI","name":"kizuna-demo"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.0"}]}]}]}`
	}
	for _, c := range []struct {
		name, id                       string
		published, withdrawn, olderPub string
	}{
		{"CVE 5 rejected", "CVE-2099-1111", cve5("PUBLISHED", "2024-01-02T00:00:00"), cve5("REJECTED", "2024-02-01T00:00:00"), cve5("PUBLISHED", "2024-01-03T00:00:00")},
		{"OSV withdrawn", "KZ-OSV-9", osv("2024-01-02T00:00:00Z", ""), osv("2024-02-01T00:00:00Z", "2024-02-01T00:00:00Z"), osv("2024-01-03T00:00:00Z", "")},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			d := openTest(t)
			upload(t, d, "org-a", "web", "sbom-demo.txt")
			putJSON := func(doc string) PutResult {
				t.Helper()
				p, err := Parse(c.id+".json", []byte(doc))
				if err != nil {
					t.Fatal(err)
				}
				res, err := d.PutVulns(ctx, p.Vulns)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			putJSON(c.published)
			if got := findings(t, d, "org-a"); len(got) != 3 || !strings.Contains(strings.Join(got, " "), c.id) {
				t.Fatalf("published: findings %q", got)
			}
			res := putJSON(c.withdrawn)
			if res.Updated != 1 || len(res.Changes) != 1 {
				t.Fatalf("withdrawn: %+v", res)
			}
			if got := findings(t, d, "org-a"); len(got) != 0 {
				t.Errorf("withdrawn: findings %q remain", got)
			}
			o, err := STIX(res.Changes[0], "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var obj struct {
				Revoked bool `json:"revoked"`
			}
			if err := json.Unmarshal(o, &obj); err != nil || !obj.Revoked {
				t.Errorf("withdrawn STIX object not revoked: %s", o)
			}
			if res := putJSON(c.olderPub); res.Stale != 1 {
				t.Errorf("older published copy: %+v", res)
			}
			if got := findings(t, d, "org-a"); len(got) != 0 {
				t.Errorf("older copy brought back findings %q", got)
			}
			// A new SBOM version is not matched against the withdrawn record.
			upload(t, d, "org-a", "web", "sbom-demo.txt")
			if got := findings(t, d, "org-a"); len(got) != 0 {
				t.Errorf("re-upload: findings %q", got)
			}
		})
	}
}
