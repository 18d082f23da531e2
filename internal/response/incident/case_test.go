package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

const (
	orgHub  = "identity--00000000-0000-4000-8000-000000000001"
	orgAcme = "identity--00000000-0000-4000-8000-000000000002"
	orgBeta = "identity--00000000-0000-4000-8000-000000000003"
	orgGam  = "identity--00000000-0000-4000-8000-000000000004"
)

var (
	analyst  = sharing.Principal{OrgID: orgHub, UserID: "user--a", Role: sharing.RoleAnalyst}
	hubAdmin = sharing.Principal{OrgID: orgHub, UserID: "user--h", Role: sharing.RoleHubAdmin}
	alice    = sharing.Principal{OrgID: orgAcme, UserID: "user--alice", Role: sharing.RoleMember}
	acmeAdm  = sharing.Principal{OrgID: orgAcme, UserID: "user--acmeadmin", Role: sharing.RoleOrgAdmin}
	bob      = sharing.Principal{OrgID: orgBeta, UserID: "user--bob", Role: sharing.RoleMember}
	gamma    = sharing.Principal{OrgID: orgGam, UserID: "user--g", Role: sharing.RoleMember}
	public   = sharing.Principal{Public: true}
)

func TestTransitions(t *testing.T) {
	states := []State{StateNew, StateTriage, StateAnalysis, StateContainment, StateResolved, StateClosed}
	allowed := map[[2]State]bool{
		{StateNew, StateTriage}: true, {StateNew, StateClosed}: true,
		{StateTriage, StateAnalysis}: true, {StateTriage, StateContainment}: true, {StateTriage, StateResolved}: true, {StateTriage, StateClosed}: true,
		{StateAnalysis, StateContainment}: true, {StateAnalysis, StateResolved}: true, {StateAnalysis, StateClosed}: true,
		{StateContainment, StateAnalysis}: true, {StateContainment, StateResolved}: true, {StateContainment, StateClosed}: true,
		{StateResolved, StateClosed}: true, {StateResolved, StateAnalysis}: true,
		{StateClosed, StateTriage}: true,
	}
	for _, from := range states {
		for _, to := range states {
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				if got := CanTransition(from, to); got != allowed[[2]State{from, to}] {
					t.Errorf("CanTransition = %v", got)
				}
			})
		}
	}
	if _, err := ParseState("done"); !errors.Is(err, errkind.Invalid) {
		t.Errorf("ParseState(done) = %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	c := &Case{ID: "case--1", ReporterOrg: orgAcme, Affected: []string{orgAcme, orgGam}}
	const ok, nf, fb = "ok", "not found", "forbidden"
	for _, tc := range []struct {
		who  string
		p    sharing.Principal
		want map[Action]string
	}{
		{"analyst", analyst, map[Action]string{ActView: ok, ActTransition: ok, ActAssign: ok, ActComment: ok, ActLink: ok, ActMerge: ok, ActExport: ok, ActAck: fb}},
		{"hub admin", hubAdmin, map[Action]string{ActView: ok, ActTransition: ok, ActAssign: ok, ActComment: ok, ActLink: ok, ActMerge: ok, ActExport: ok, ActAck: fb}},
		{"reporter member", alice, map[Action]string{ActView: ok, ActTransition: fb, ActAssign: fb, ActComment: ok, ActLink: fb, ActMerge: fb, ActExport: fb, ActAck: ok}},
		{"reporter org-admin", acmeAdm, map[Action]string{ActView: ok, ActTransition: fb, ActAssign: fb, ActComment: ok, ActLink: fb, ActMerge: fb, ActExport: fb, ActAck: ok}},
		{"other org", bob, map[Action]string{ActView: nf, ActTransition: nf, ActAssign: nf, ActComment: nf, ActLink: nf, ActMerge: nf, ActExport: nf, ActAck: nf}},
		{"affected org", gamma, map[Action]string{ActView: nf, ActTransition: nf, ActComment: nf, ActExport: nf, ActAck: ok}},
		{"public", public, map[Action]string{ActView: nf, ActTransition: nf, ActAck: nf}},
	} {
		for act, want := range tc.want {
			t.Run(tc.who+"/"+string(act), func(t *testing.T) {
				err := Authorize(tc.p, c, act)
				got := ok
				switch {
				case errors.Is(err, errkind.NotFound):
					got = nf
				case errors.Is(err, errkind.Forbidden):
					got = fb
				case err != nil:
					got = err.Error()
				}
				if got != want {
					t.Errorf("Authorize = %s, want %s", got, want)
				}
			})
		}
	}
}

// clock is a settable fake clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func openCases(t *testing.T) (*Cases, *clock) {
	t.Helper()
	cs, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	clk := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	cs.Now = clk.now
	return cs, clk
}

func testReport(sector string) Report {
	return Report{Title: "t", Detected: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Classification: "fraud",
		Type: "phishing", Impact: "low", Severity: "low", TLP: "amber", Sector: sector}
}

func TestCaseLifecycle(t *testing.T) {
	ctx := context.Background()
	cs, clk := openCases(t)
	c, err := cs.Create(ctx, alice, testReport("energy"), []string{"indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21"})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StateNew || len(c.Links) != 1 || c.Links[0].Kind != LinkAttached || !slices.Equal(c.Affected, []string{orgAcme}) {
		t.Fatalf("created %+v", c)
	}
	if _, err := cs.Create(ctx, public, testReport(""), nil); !errors.Is(err, errkind.Forbidden) {
		t.Errorf("public report: %v", err)
	}
	future := testReport("")
	future.Detected = clk.t.Add(time.Hour)
	if _, err := cs.Create(ctx, alice, future, nil); err == nil || !errors.Is(err, errkind.Invalid) {
		t.Errorf("future detected: %v", err)
	}
	// Visibility: own org and analysts.
	if _, err := cs.Get(ctx, bob, c.ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("bob Get: %v", err)
	}
	if l, _ := cs.List(ctx, bob, ""); len(l) != 0 {
		t.Errorf("bob lists %d cases", len(l))
	}
	if l, _ := cs.List(ctx, alice, ""); len(l) != 1 {
		t.Errorf("alice lists %d cases", len(l))
	}
	// Refused transitions and roles.
	if _, err := cs.Transition(ctx, alice, c.ID, StateTriage); !errors.Is(err, errkind.Forbidden) {
		t.Errorf("reporter transition: %v", err)
	}
	if _, err := cs.Transition(ctx, analyst, c.ID, StateResolved); !errors.Is(err, errkind.Conflict) {
		t.Errorf("new -> resolved: %v", err)
	}
	clk.advance(30 * time.Minute)
	if c, err = cs.Transition(ctx, analyst, c.ID, StateTriage); err != nil || c.State != StateTriage {
		t.Fatalf("triage: %v %v", c.State, err)
	}
	clk.advance(time.Minute)
	if c, err = cs.Assign(ctx, analyst, c.ID, analyst.UserID); err != nil || c.Assignee != analyst.UserID {
		t.Fatalf("assign: %v", err)
	}
	if _, err = cs.AddComment(ctx, analyst, c.ID, "looks like the Feb campaign", true); err != nil {
		t.Fatal(err)
	}
	if _, err = cs.AddComment(ctx, alice, c.ID, "more mails arrived", false); err != nil {
		t.Fatal(err)
	}
	if _, err = cs.AddComment(ctx, alice, c.ID, "secret", true); !errors.Is(err, errkind.Forbidden) {
		t.Errorf("internal comment by reporter: %v", err)
	}
	seen, _ := cs.Get(ctx, alice, c.ID)
	if len(seen.Comments) != 1 || seen.Comments[0].Text != "more mails arrived" {
		t.Errorf("reporter sees comments %+v", seen.Comments)
	}
	full, _ := cs.Get(ctx, analyst, c.ID)
	if len(full.Comments) != 2 {
		t.Errorf("analyst sees %d comments", len(full.Comments))
	}
	kinds := []string{}
	for _, e := range full.Timeline {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"reported", "transition", "assigned", "comment-internal", "comment"}; !slices.Equal(kinds, want) {
		t.Errorf("timeline %v, want %v", kinds, want)
	}
	if !full.Timeline[1].At.Equal(time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)) {
		t.Errorf("triage event at %v", full.Timeline[1].At)
	}
	// Merge a duplicate reported by beta.
	dup, err := cs.Create(ctx, bob, testReport("health"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Merge(ctx, alice, dup.ID, c.ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("alice merging beta's case: %v", err)
	}
	surv, err := cs.Merge(ctx, analyst, dup.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(surv.Merged, dup.ID) || !slices.Contains(surv.Affected, orgBeta) || surv.Timeline[len(surv.Timeline)-1].Kind != "merged" {
		t.Errorf("survivor %+v", surv)
	}
	d, _ := cs.Get(ctx, bob, dup.ID)
	if d.MergedInto != c.ID || d.State != StateClosed || d.Timeline[1].Kind != "merged-into" {
		t.Errorf("duplicate %+v", d)
	}
	if _, err := cs.Transition(ctx, analyst, dup.ID, StateTriage); !errors.Is(err, errkind.Conflict) {
		t.Errorf("transition of a merged case: %v", err)
	}
	if _, err := cs.Merge(ctx, analyst, c.ID, dup.ID); !errors.Is(err, errkind.Conflict) {
		t.Errorf("merge into a merged case: %v", err)
	}
	// Acknowledgements: affected orgs only, first one counts.
	if _, err := cs.Acknowledge(ctx, gamma, c.ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("unaffected ack: %v", err)
	}
	if _, err := cs.Acknowledge(ctx, bob, c.ID); err != nil {
		t.Fatal(err)
	}
	// gamma, made affected, acknowledges without seeing the case.
	if _, err := cs.AddAffected(ctx, analyst, c.ID, orgGam); err != nil {
		t.Fatal(err)
	}
	g, err := cs.Acknowledge(ctx, gamma, c.ID)
	if err != nil || g.ID != c.ID || g.ReporterOrg != "" || g.Report.Title != "" || len(g.Acks) != 0 {
		t.Errorf("gamma's acknowledgement answered %+v, %v", g, err)
	}
	clk.advance(time.Hour)
	if _, err := cs.Acknowledge(ctx, bob, c.ID); err != nil {
		t.Fatal(err)
	}
	a, _ := cs.Get(ctx, analyst, c.ID)
	if len(a.Acks) != 2 || a.Acks[0].Org != orgBeta || !a.Acks[0].At.Equal(time.Date(2026, 3, 1, 10, 31, 0, 0, time.UTC)) {
		t.Errorf("acks after bob's second: %+v", a.Acks)
	}
}
