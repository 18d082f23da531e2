package source_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch/fetchtest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

const constituentID = "identity--00000000-0000-4000-8000-0000000000c1"

// TestRemoteAmberIsHubOnly pulls another hub's provider with an AMBER and a
// WHITE advisory about the same package, which both the hub organisation
// and a constituent run: the constituent gets findings and notifications
// for the WHITE advisory only, never the AMBER one; the hub gets both, and
// the AMBER STIX object is visible to hub analysts and hidden from the
// constituent's members under the sharing policy.
func TestRemoteAmberIsHubOnly(t *testing.T) {
	ctx := context.Background()
	k := startKizuna(t)
	k.publish(t, fetchtest.Advisory(t, "KZ-PUBLIC-7", "WHITE", 1, t0))
	k.publish(t, fetchtest.Advisory(t, "KZ-AMBER-7", "AMBER", 1, t0))
	r, vdb := consumer(t)
	var mu sync.Mutex
	var objs []json.RawMessage
	r.Emit = func(_ context.Context, o []json.RawMessage) error {
		mu.Lock()
		defer mu.Unlock()
		objs = append(objs, o...)
		return nil
	}
	notified := map[string][]string{} // org -> record ids
	vdb.Subscribe(func(_ context.Context, fs []vulndb.Finding) {
		for _, f := range fs {
			notified[f.Org] = append(notified[f.Org], f.Vulnerability)
		}
	})
	inventory := []byte(fetchtest.Package + "@1.0\n")
	for _, org := range []string{hubID, constituentID} {
		if _, err := vdb.UploadSBOM(ctx, org, org, "web", "inventory.txt", inventory); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Registry.Add(ctx, source.Source{Name: "partner", Kind: source.CSAFProvider, URL: k.url, Token: k.token, InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, "partner")
	if err != nil || res.Fetched != 2 || res.Withheld != 0 || res.Added != 2 {
		t.Fatalf("run: %v %+v", err, res)
	}
	public := "KZ-PUBLIC-7/" + fetchtest.CVE("KZ-PUBLIC-7")
	amber := "KZ-AMBER-7/" + fetchtest.CVE("KZ-AMBER-7")

	ids := func(org string) []string {
		fs, err := vdb.Findings(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fs {
			out = append(out, f.Vulnerability)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(constituentID); !slices.Equal(got, []string{public}) {
		t.Errorf("constituent findings %v, want only %s", got, public)
	}
	if got := ids(hubID); !slices.Equal(got, []string{amber, public}) {
		t.Errorf("hub findings %v, want both", got)
	}
	if slices.Contains(notified[constituentID], amber) || !slices.Contains(notified[constituentID], public) {
		t.Errorf("constituent notified of %v", notified[constituentID])
	}
	if !slices.Contains(notified[hubID], amber) {
		t.Errorf("hub notified of %v", notified[hubID])
	}

	// A constituent's new SBOM version is matched against the AMBER record
	// too, and still gets no finding for it.
	if _, err := vdb.UploadSBOM(ctx, constituentID, constituentID, "web", "inventory.txt", append(inventory, "pkg:pypi/other@1\n"...)); err != nil {
		t.Fatal(err)
	}
	if got := ids(constituentID); slices.Contains(got, amber) {
		t.Errorf("constituent findings after a new SBOM version: %v", got)
	}

	// The STIX objects, classified as the ingest pipeline does for the hub.
	policy := sharing.NewPolicy(sharing.TLPAmber)
	analyst := sharing.Principal{OrgID: hubID, UserID: "user--a", Role: sharing.RoleAnalyst}
	member := sharing.Principal{OrgID: constituentID, UserID: "user--m", Role: sharing.RoleMember}
	hub := sharing.Principal{OrgID: hubID, Role: sharing.RoleHubAdmin}
	seen := map[string]bool{}
	for _, raw := range objs {
		o, err := stix.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		l := policy.Classify(o, hub, nil, false)
		isAmber := strings.Contains(string(raw), "KZ-AMBER-7")
		seen[map[bool]string{true: "amber", false: "public"}[isAmber]] = true
		if got := policy.CanSee(member, l); got == isAmber {
			t.Errorf("constituent member sees %s (%v): %v", o.ID, l.TLP, got)
		}
		if !policy.CanSee(analyst, l) {
			t.Errorf("hub analyst does not see %s (%v)", o.ID, l.TLP)
		}
		if isAmber && l.TLP != sharing.TLPAmber {
			t.Errorf("AMBER advisory's STIX object labelled %v", l.TLP)
		}
	}
	if !seen["amber"] || !seen["public"] {
		t.Errorf("STIX objects emitted: %d (%v)", len(objs), seen)
	}
}

// TestRemoteRedNamedRecipients: a provider's TLP:RED advisory is withheld
// by a source that names no recipients, and imported by one that names a
// hub analyst: only that analyst sees its STIX object, and no organisation
// (neither a constituent nor the hub) gets findings for it.
func TestRemoteRedNamedRecipients(t *testing.T) {
	ctx := context.Background()
	p := fetchtest.NewStatic(t, fetchtest.ROLIE)
	p.Token = "partner-token"
	p.Publish(t, fetchtest.Advisory(t, "KZ-RED-7", "RED", 1, t0))
	r, vdb := consumer(t)
	var objs []json.RawMessage
	r.Emit = func(_ context.Context, o []json.RawMessage) error { objs = append(objs, o...); return nil }
	inventory := []byte(fetchtest.Package + "@1.0\n")
	for _, org := range []string{hubID, constituentID} {
		if _, err := vdb.UploadSBOM(ctx, org, org, "web", "inventory.txt", inventory); err != nil {
			t.Fatal(err)
		}
	}
	const named, other = "user--00000000-0000-4000-9000-0000000000a1", "user--00000000-0000-4000-9000-0000000000a2"
	for _, s := range []source.Source{
		{Name: "plain", Kind: source.CSAFProvider, URL: p.URL, Token: p.Token, InsecureSkipVerify: true},
		{Name: "named", Kind: source.CSAFProvider, URL: p.URL, Token: p.Token, InsecureSkipVerify: true, RedRecipients: []string{named}},
	} {
		if err := r.Registry.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Registry.Add(ctx, source.Source{Name: "bad", Kind: source.KEV, URL: p.URL, RedRecipients: []string{named}}); err == nil {
		t.Error("RED recipients accepted for a kev source")
	}
	if err := r.Registry.Add(ctx, source.Source{Name: "bad", Kind: source.CSAFProvider, URL: p.URL, RedRecipients: []string{"analyst"}}); err == nil {
		t.Error("a RED recipient that is no user id accepted")
	}
	red := "KZ-RED-7/" + fetchtest.CVE("KZ-RED-7")
	res, err := r.Run(ctx, "plain")
	if err != nil || res.Withheld != 1 || res.Added != 0 {
		t.Fatalf("source without recipients: %v %+v", err, res)
	}
	if _, err := vdb.Get(ctx, red); err == nil {
		t.Fatal("the RED advisory was imported without recipients")
	}
	res, err = r.Run(ctx, "named")
	if err != nil || res.Withheld != 0 || res.Added != 1 {
		t.Fatalf("source with a recipient: %v %+v", err, res)
	}
	v, err := vdb.Get(ctx, red)
	if err != nil {
		t.Fatal(err)
	}
	if d := v.Distribution; d == nil || d.TLP != "TLP:RED" || d.ProducerOrg != hubID || !slices.Equal(d.Users, []string{named}) {
		t.Errorf("RED record restriction %+v", d)
	}
	for _, org := range []string{hubID, constituentID} {
		if fs, err := vdb.Findings(ctx, org); err != nil || len(fs) != 0 {
			t.Errorf("%s has findings for the RED advisory: %v %+v", org, err, fs)
		}
	}
	if st, _ := r.Registry.Get(ctx, "named"); !slices.Equal(st.Status().RedRecipients, []string{named}) {
		t.Errorf("status: %+v", st.Status())
	}
	policy := sharing.NewPolicy(sharing.TLPAmber)
	hub := sharing.Principal{OrgID: hubID, Role: sharing.RoleHubAdmin}
	if len(objs) == 0 {
		t.Fatal("no STIX object emitted")
	}
	for _, raw := range objs {
		o, err := stix.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		l := policy.Classify(o, hub, nil, false)
		if l.TLP != sharing.TLPRed {
			t.Errorf("%s labelled %v", o.ID, l.TLP)
		}
		for _, c := range []struct {
			p    sharing.Principal
			want bool
		}{
			{sharing.Principal{OrgID: hubID, UserID: named, Role: sharing.RoleAnalyst}, true},
			{sharing.Principal{OrgID: hubID, UserID: other, Role: sharing.RoleAnalyst}, false},
			{sharing.Principal{OrgID: constituentID, UserID: "user--00000000-0000-4000-9000-0000000000c1", Role: sharing.RoleMember}, false},
		} {
			if got := policy.CanSee(c.p, l); got != c.want {
				t.Errorf("%s sees %s: %v, want %v", c.p.UserID, o.ID, got, c.want)
			}
		}
	}
}
