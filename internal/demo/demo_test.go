package demo

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// dataDir is the shipped demo data, relative to this package.
const dataDir = "../../testdata/demo"

// visible returns the ids of every object version the principal may see in
// the default collection, paging through the store.
func visible(t *testing.T, st store.Store, pol *sharing.Policy, pr sharing.Principal) map[string]sharing.TLP {
	t.Helper()
	f := store.Filter{Collection: store.DefaultCollectionID, Access: pol.Access(pr), Versions: []string{"all"}, Limit: 100}
	out := map[string]sharing.TLP{}
	for {
		page, err := st.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			out[e.ID] = pol.Effective(e.Label)
		}
		if !page.More {
			return out
		}
		f.Next = page.Next
	}
}

func principal(spec OrgSpec, user int) sharing.Principal {
	u := spec.Users[user]
	return sharing.Principal{OrgID: spec.Org.ID, OrgName: spec.Org.Name, UserID: u.ID, User: u.Name, Role: u.Role}
}

func TestSetup(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pol := sharing.NewPolicy(sharing.TLPNone)
	data := os.DirFS(dataDir)

	info, err := Setup(ctx, st, pol, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Failed != 0 {
		t.Fatalf("%d objects refused: %v", info.Failed, info.Failures)
	}
	if info.Imported < 400 {
		t.Errorf("imported %d objects, want the whole shipped set (>= 400)", info.Imported)
	}
	orgs, err := st.Orgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, o := range orgs {
		types[o.Type] = true
	}
	for _, typ := range []string{"hub", "government", "critical-infrastructure", "local-government", "academia", "sme", "partner-cert"} {
		if !types[typ] {
			t.Errorf("no organisation of type %s among %v", typ, orgs)
		}
	}
	roles := map[sharing.Role]bool{}
	for _, c := range info.Credentials {
		roles[c.User.Role] = true
		_, u, o, err := st.TokenByHash(ctx, auth.HashToken(c.Token))
		if err != nil || u.ID != c.User.ID || o.ID != c.Org.ID {
			t.Errorf("token of %s/%s: user %s org %s err %v", c.Org.Name, c.User.Name, u.ID, o.ID, err)
		}
	}
	if len(roles) != 4 {
		t.Errorf("roles %v, want all four", roles)
	}

	specs := map[string]OrgSpec{}
	for _, s := range Orgs() {
		specs[s.Key] = s
	}
	public := visible(t, st, pol, sharing.Principal{Public: true})
	cert := visible(t, st, pol, principal(specs["cert"], 0))
	certMember := visible(t, st, pol, principal(specs["cert"], 1))
	city := visible(t, st, pol, principal(specs["city"], 0))
	ministry := visible(t, st, pol, principal(specs["ministry"], 1))
	analyst := visible(t, st, pol, principal(specs["hub"], 1))
	utilityAdmin := visible(t, st, pol, principal(specs["utility"], 0))
	sme := visible(t, st, pol, principal(specs["sme"], 0))

	// The spread: every TLP level is present among what the hub analyst,
	// the utility's admin and the SME see together.
	levels := map[sharing.TLP]int{}
	for _, m := range []map[string]sharing.TLP{analyst, utilityAdmin, sme} {
		for _, l := range m {
			levels[l]++
		}
	}
	for _, l := range []sharing.TLP{sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed} {
		if levels[l] == 0 {
			t.Errorf("no object at %v (levels %v)", l, levels)
		}
	}

	count := func(m map[string]sharing.TLP, t sharing.TLP) int {
		n := 0
		for _, l := range m {
			if l == t {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		got  int
		want func(int) bool
	}{
		{"public sees only CLEAR", len(public) - count(public, sharing.TLPClear), func(n int) bool { return n == 0 }},
		{"public sees ATT&CK and KEV", len(public), func(n int) bool { return n >= 300 }},
		{"utility AMBER+STRICT reaches the named CERT", count(cert, sharing.TLPAmberStrict), func(n int) bool { return n == 20 }},
		{"utility AMBER+STRICT not at the city", count(city, sharing.TLPAmberStrict), func(n int) bool { return n == 0 }},
		{"city AMBER reaches the named ministry", count(ministry, sharing.TLPAmber), func(n int) bool { return n == 8 }},
		{"hub analyst sees AMBER of all producers", count(analyst, sharing.TLPAmber), func(n int) bool { return n >= 8+6+3 }},
		{"RED reaches the named utility admin", count(utilityAdmin, sharing.TLPRed), func(n int) bool { return n == 3 }},
		{"RED not at a CERT member who is not named", count(certMember, sharing.TLPRed), func(n int) bool { return n == 0 }},
		{"unmarked SME data is AMBER for its producer", count(sme, sharing.TLPAmber), func(n int) bool { return n == 3 }},
		{"GREEN reaches every organisation", count(city, sharing.TLPGreen), func(n int) bool { return n >= 100 }},
	}
	for _, tt := range tests {
		if !tt.want(tt.got) {
			t.Errorf("%s: got %d", tt.name, tt.got)
		}
	}

	// Re-running reuses everything and issues new tokens.
	info2, err := Setup(ctx, st, pol, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Failed != 0 || info2.Imported != info.Imported {
		t.Errorf("re-run: imported %d (failed %d), first run %d", info2.Imported, info2.Failed, info.Imported)
	}
	orgs2, _ := st.Orgs(ctx)
	if len(orgs2) != len(orgs) {
		t.Errorf("re-run: %d organisations, was %d", len(orgs2), len(orgs))
	}
	users, _ := st.Users(ctx, specs["cert"].Org.ID)
	if len(users) != 2 {
		t.Errorf("re-run: CERT has %d users", len(users))
	}
	if again := visible(t, st, pol, principal(specs["hub"], 1)); len(again) != len(analyst) {
		t.Errorf("re-run: analyst sees %d objects, was %d (duplicates?)", len(again), len(analyst))
	}
	for i, c := range info2.Credentials {
		if c.Token == info.Credentials[i].Token {
			t.Errorf("token of %s not re-issued", c.User.Name)
		}
		if _, _, _, err := st.TokenByHash(ctx, auth.HashToken(c.Token)); err != nil {
			t.Errorf("new token of %s: %v", c.User.Name, err)
		}
	}
	if !slices.EqualFunc(info.Orgs, info2.Orgs, func(a, b store.Org) bool { return a.ID == b.ID }) {
		t.Errorf("organisations changed on re-run")
	}
}
