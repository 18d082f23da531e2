package sharing

import (
	"slices"
	"testing"
)

func TestCanReadWrite(t *testing.T) {
	p := NewPolicy(TLPNone)
	tests := []struct {
		name      string
		pr        string
		orgs      []string
		wantRead  bool
		wantWrite bool
	}{
		{"listed org", "producer-member", []string{orgP}, true, true},
		{"unlisted org", "other-org", []string{orgP}, false, false},
		{"every org", "other-org", []string{AllOrgs}, true, true},
		{"empty list", "producer-member", nil, false, false},
		{"hub analyst reads everything but writes only where listed", "hub-analyst", []string{orgP}, true, false},
		{"hub admin reads everything", "hub-admin", nil, true, false},
		{"hub analyst writes where listed", "hub-analyst", []string{orgH}, true, true},
		{"public and every org", "public", []string{AllOrgs}, false, false},
		{"public readers", "public", []string{PublicReaders}, true, false},
		{"public readers is not every org", "other-org", []string{PublicReaders}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := principals[tt.pr]
			if got := p.CanRead(pr, tt.orgs); got != tt.wantRead {
				t.Errorf("CanRead = %v, want %v", got, tt.wantRead)
			}
			if got := p.CanWrite(pr, tt.orgs); got != tt.wantWrite {
				t.Errorf("CanWrite = %v, want %v", got, tt.wantWrite)
			}
		})
	}
	if p.CanRead(Principal{Role: RoleMember}, []string{AllOrgs}) {
		t.Error("principal without organisation reads an every-org collection")
	}
}

func TestCanSeeStatus(t *testing.T) {
	p := NewPolicy(TLPNone)
	tests := []struct {
		name                string
		pr                  string
		ownerOrg, ownerUser string
		want                bool
	}{
		{"submitter", "producer-user", orgP, "user--pu", true},
		{"submitter's colleague", "producer-member", orgP, "user--pu", true},
		{"other org", "other-org", orgP, "user--pu", false},
		{"named org of the data", "named-org", orgP, "user--pu", false},
		{"hub analyst", "hub-analyst", orgP, "user--pu", true},
		{"hub admin", "hub-admin", orgP, "user--pu", true},
		{"public", "public", orgP, "user--pu", false},
		{"ownerless status: user", "producer-user", "", "user--pu", true},
		{"ownerless status: colleague", "producer-member", "", "user--pu", false},
		{"no owner at all", "producer-member", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.CanSeeStatus(principals[tt.pr], tt.ownerOrg, tt.ownerUser); got != tt.want {
				t.Errorf("CanSeeStatus = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeleteAccess(t *testing.T) {
	p := NewPolicy(TLPNone)
	orgAdminP := Principal{OrgID: orgP, UserID: "user--pa", Role: RoleOrgAdmin}
	orgAdminO := Principal{OrgID: orgO, UserID: "user--oa", Role: RoleOrgAdmin}
	levels := []TLP{TLPNone, TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed, TLPUnknown}
	tests := []struct {
		name string
		pr   Principal
		// producer organisations whose data pr may delete (every level)
		want []string
	}{
		{"producer org-admin", orgAdminP, []string{orgP}},
		{"other org-admin", orgAdminO, []string{orgO}},
		{"hub admin", principals["hub-admin"], []string{orgP, orgO, ""}},
		{"hub analyst", principals["hub-analyst"], nil},
		{"producing member", principals["producer-user"], nil},
		{"public", Principal{Public: true, Role: RoleHubAdmin}, nil},
		{"org-admin without organisation", Principal{Role: RoleOrgAdmin}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := p.DeleteAccess(tt.pr)
			for _, producer := range []string{orgP, orgO, ""} {
				for _, lvl := range levels {
					l := Label{TLP: lvl, ProducerOrg: producer, ProducerUser: "user--x"}
					if got, want := a.Allows(l), slices.Contains(tt.want, producer); got != want {
						t.Errorf("delete %s data of %q: %v, want %v", lvl, producer, got, want)
					}
				}
			}
		})
	}
}
