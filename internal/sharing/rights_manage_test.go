package sharing

import "testing"

func TestCanManageOrgAndImportReports(t *testing.T) {
	p := NewPolicy(TLPNone)
	const org, other = "identity--a", "identity--b"
	for _, tc := range []struct {
		name                   string
		pr                     Principal
		manage, imports, every bool
	}{
		{"org-admin of it", Principal{OrgID: org, Role: RoleOrgAdmin}, true, false, false},
		{"org-admin of another", Principal{OrgID: other, Role: RoleOrgAdmin}, false, false, false},
		{"member of it", Principal{OrgID: org, Role: RoleMember}, false, false, false},
		{"hub admin", Principal{OrgID: "identity--hub", Role: RoleHubAdmin}, true, true, true},
		{"analyst", Principal{OrgID: "identity--hub", Role: RoleAnalyst}, false, true, false},
		{"public", Principal{Public: true, Role: RoleHubAdmin}, false, false, false},
	} {
		if got := p.CanManageOrg(tc.pr, org); got != tc.manage {
			t.Errorf("%s: CanManageOrg = %v, want %v", tc.name, got, tc.manage)
		}
		if got := p.CanImportReports(tc.pr); got != tc.imports {
			t.Errorf("%s: CanImportReports = %v, want %v", tc.name, got, tc.imports)
		}
		if got := p.CanManageEveryOrg(tc.pr); got != tc.every {
			t.Errorf("%s: CanManageEveryOrg = %v, want %v", tc.name, got, tc.every)
		}
	}
	if p.CanManageOrg(Principal{Role: RoleHubAdmin}, "") {
		t.Error("CanManageOrg allowed an empty organisation id")
	}
}
