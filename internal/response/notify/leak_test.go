package notify_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/notify/notifytest"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// TestNoLeak imports random scan feeds over random constituencies
// (overlapping IPv4/IPv6 blocks, ASes through a prefix-to-ASN table, IDN
// domains) and checks that each organisation sees exactly the
// notifications a linear-scan oracle assigns to it: none of another's.
func TestNoLeak(t *testing.T) {
	ctx := context.Background()
	policy := sharing.NewPolicy(sharing.TLPNone)
	const hub = "identity--hub"
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := notifytest.New(seed, 10, 300)
			dir := t.TempDir()
			reg, err := constituency.Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			orgID := func(i int) string { return "identity--org-" + strconv.Itoa(i) }
			for _, r := range w.Registrations {
				if _, err := reg.Add(ctx, orgID(r.Org), r.Text); err != nil {
					t.Fatal(err)
				}
			}
			asn, _, err := route.ParseASNCSV(ctx, strings.NewReader(w.ASNCSV()))
			if err != nil {
				t.Fatal(err)
			}
			table, err := reg.Table(ctx, route.Options{ASN: asn})
			if err != nil {
				t.Fatal(err)
			}
			ns, err := notify.Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer ns.Close()
			m, err := notify.ParseMapping("csv", notifytest.Mapping)
			if err != nil {
				t.Fatal(err)
			}
			analyst := sharing.Principal{OrgID: hub, UserID: "user--a", Role: sharing.RoleAnalyst}
			res, err := ns.Import(ctx, strings.NewReader(w.FeedCSV()), table, notify.ImportRequest{Source: "scan", Mapping: m}, analyst)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(w.Expected()); res.New != want || res.Malformed != 0 {
				t.Fatalf("stored %d (malformed %d), oracle expects %d", res.New, res.Malformed, want)
			}
			for i := range w.Orgs {
				for _, role := range []sharing.Role{sharing.RoleMember, sharing.RoleOrgAdmin} {
					p := sharing.Principal{OrgID: orgID(i), UserID: "user--" + strconv.Itoa(i), Role: role}
					list, err := ns.List(ctx, policy.Access(p), notify.Filter{Limit: notify.MaxLimit})
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, n := range list {
						got = append(got, strconv.Itoa(n.Line)+" "+n.Value)
					}
					slices.Sort(got)
					if want := w.ExpectedFor(i); !slices.Equal(got, want) {
						t.Fatalf("org %d (%s) sees %q\noracle: %q", i, role, got, want)
					}
				}
			}
			all, err := ns.List(ctx, policy.Access(analyst), notify.Filter{Limit: notify.MaxLimit})
			if err != nil || len(all) != res.New {
				t.Fatalf("hub analyst sees %d of %d: %v", len(all), res.New, err)
			}
		})
	}
}
