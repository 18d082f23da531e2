package sharing

import (
	"slices"
	"testing"
)

var (
	dirOrgs = []OrgInfo{{orgP, "Producer"}, {orgN, "Named"}, {orgO, "Other"}, {orgH, "Hub"}}
	// dirUsers holds every fixture principal except the public.
	dirUsers = func() []UserInfo {
		var out []UserInfo
		for _, name := range principalOrder {
			pr := principals[name]
			if !pr.Public {
				out = append(out, UserInfo{ID: pr.UserID, Name: pr.User, OrgID: pr.OrgID, Role: pr.Role})
			}
		}
		return out
	}()
)

func orgNames(os []OrgInfo) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.Name)
	}
	return out
}

func userNames(us []UserInfo) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Name)
	}
	return out
}

func TestRecipients(t *testing.T) {
	p := NewPolicy(TLPNone)
	tests := []struct {
		name      string
		label     Label
		orgs      []string
		users     []string
		public    bool
		hub       bool
		effective TLP
	}{
		{"clear", labelAt(TLPClear), []string{"Producer", "Named", "Other", "Hub"}, nil, true, true, TLPClear},
		{"green", labelAt(TLPGreen), []string{"Producer", "Named", "Other", "Hub"}, nil, false, true, TLPGreen},
		{"amber", labelAt(TLPAmber), []string{"Producer", "Named"}, nil, false, true, TLPAmber},
		{"unmarked", labelAt(TLPNone), []string{"Producer", "Named"}, nil, false, true, TLPAmber},
		{"amber+strict", labelAt(TLPAmberStrict), []string{"Producer", "Named"}, nil, false, false, TLPAmberStrict},
		{"red", labelAt(TLPRed), nil, []string{"pu", "ru"}, false, false, TLPRed},
		{"unknown", labelAt(TLPUnknown), []string{"Producer"}, nil, false, true, TLPUnknown},
		{"amber by the hub itself", Label{TLP: TLPAmber, ProducerOrg: orgH, ProducerUser: "user--ha"}, []string{"Hub"}, nil, false, true, TLPAmber},
		{"red without producer user", Label{TLP: TLPRed, ProducerOrg: orgP, Users: []string{"user--nm"}}, nil, []string{"nm"}, false, false, TLPRed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := p.Recipients(tt.label, dirOrgs, dirUsers)
			if got := orgNames(a.Orgs); !slices.Equal(got, tt.orgs) {
				t.Errorf("orgs = %v, want %v", got, tt.orgs)
			}
			if got := userNames(a.Users); !slices.Equal(got, tt.users) {
				t.Errorf("users = %v, want %v", got, tt.users)
			}
			if a.Public != tt.public || a.HubAnalysts != tt.hub || a.TLP != tt.effective {
				t.Errorf("public, hub, tlp = %v, %v, %s; want %v, %v, %s", a.Public, a.HubAnalysts, a.TLP, tt.public, tt.hub, tt.effective)
			}
		})
	}
}

// TestRecipientsAgreesWithAccess checks the preview against enforcement:
// a user sees a label exactly when the audience covers them.
func TestRecipientsAgreesWithAccess(t *testing.T) {
	for _, def := range []TLP{TLPClear, TLPAmber, TLPRed} {
		p := NewPolicy(def)
		for _, lvl := range []TLP{TLPNone, TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed, TLPUnknown} {
			for _, l := range []Label{labelAt(lvl), {TLP: lvl, ProducerOrg: orgH, ProducerUser: "user--hadm", Orgs: []string{orgO}, Users: []string{"user--nm"}}} {
				a := p.Recipients(l, dirOrgs, dirUsers)
				for _, u := range dirUsers {
					pr := Principal{OrgID: u.OrgID, UserID: u.ID, Role: u.Role}
					covered := slices.ContainsFunc(a.Orgs, func(o OrgInfo) bool { return o.ID == u.OrgID }) ||
						slices.Contains(a.Users, u) || pr.HubAnalyst() && a.HubAnalysts
					if sees := p.CanSee(pr, l); sees != covered {
						t.Errorf("default %s, %+v: %s sees=%v but audience covers=%v", def, l, u.Name, sees, covered)
					}
				}
				if a.Public != p.CanSee(Principal{Public: true}, l) {
					t.Errorf("default %s, %+v: public mismatch", def, l)
				}
			}
		}
	}
}

func TestRecipientsUnresolvedAndAnonymous(t *testing.T) {
	p := NewPolicy(TLPNone)
	l := Label{TLP: TLPAmber, ProducerOrg: orgP, Orgs: []string{orgN, "identity--gone"}, Users: []string{"user--ru", "user--gone"}, Anonymous: true}
	a := p.Recipients(l, dirOrgs, dirUsers)
	if !slices.Equal(a.Unresolved, []string{"identity--gone", "user--gone"}) {
		t.Errorf("unresolved = %v", a.Unresolved)
	}
	if !a.Anonymous {
		t.Error("anonymous not reported")
	}
	if a := p.Recipients(labelAt(TLPAmber), dirOrgs, dirUsers); a.Unresolved != nil || a.Anonymous {
		t.Errorf("unexpected unresolved %v / anonymous %v", a.Unresolved, a.Anonymous)
	}
}
