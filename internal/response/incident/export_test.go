package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

func TestObjectsValidAndAnonymous(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, anon := range []bool{false, true} {
		r := testReport("energy")
		r.Contact = "soc@acme.example"
		c := &Case{ID: "case--x", Report: r, ReporterOrg: orgAcme, ReporterUser: "user--alice", Anonymous: anon,
			Sector: "energy", State: StateTriage, Affected: []string{orgAcme, orgBeta}, Reported: now.Add(-time.Hour),
			Links: []Link{{ObjectID: "indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21", Kind: LinkAttached}}}
		raws, incID, repID, err := Objects(c, orgHub, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(raws) != 3 {
			t.Fatalf("%d objects", len(raws))
		}
		for _, raw := range raws {
			o, err := stix.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if errs := stix.Validate(o); len(errs) > 0 {
				t.Errorf("%s invalid: %v", o.ID, errs)
			}
			s := string(raw)
			if strings.Contains(s, "soc@acme.example") {
				t.Errorf("contact leaked: %s", s)
			}
			if anon && (strings.Contains(s, orgAcme) || strings.Contains(s, "user--alice") || strings.Contains(s, `"sector"`)) {
				t.Errorf("anonymous export names the reporter: %s", s)
			}
			if o.ID == incID || o.ID == repID {
				want := orgAcme
				if anon {
					want = orgHub
				}
				if o.CreatedByRef != want {
					t.Errorf("anonymous=%v: %s created_by_ref %s, want %s", anon, o.ID, o.CreatedByRef, want)
				}
				if o.ObjectMarkingRefs[0] != sharing.TLP2Amber {
					t.Errorf("%s markings %v", o.ID, o.ObjectMarkingRefs)
				}
			}
		}
		if !strings.Contains(string(raws[2]), incID) || !strings.Contains(string(raws[2]), "indicator--6b1a3c2e") {
			t.Errorf("report refs: %s", raws[2])
		}
		// A second export is a newer version of the same objects.
		c.Exported = "2026-03-01T12:00:00.000Z"
		raws2, inc2, _, err := Objects(c, orgHub, now)
		if err != nil || inc2 != incID || !strings.Contains(string(raws2[1]), `"modified":"2026-03-01T12:00:00.001Z"`) {
			t.Errorf("re-export: %v %s", err, raws2[1])
		}
	}
	if _, _, _, err := Objects(&Case{ID: "case--x"}, "", time.Now()); err == nil {
		t.Error("export without a hub identity succeeded")
	}
}
