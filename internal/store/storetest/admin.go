package storetest

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

func testAPIRootsAndCollections(t *testing.T, s store.Store) {
	ctx := context.Background()
	root := store.APIRoot{Name: "r-" + uniq(), Title: "T", Description: "D", MaxContentLength: 12345}
	if err := s.CreateAPIRoot(ctx, root); err != nil {
		t.Fatalf("CreateAPIRoot: %v", err)
	}
	wantErr(t, "duplicate API root", s.CreateAPIRoot(ctx, root), errkind.Conflict)
	roots, err := s.APIRoots(ctx)
	if err != nil {
		t.Fatalf("APIRoots: %v", err)
	}
	if !slices.Contains(roots, root) {
		t.Errorf("APIRoots %+v lacks %+v", roots, root)
	}
	cols, err := s.Collections(ctx, root.Name)
	if err != nil || len(cols) != 0 {
		t.Errorf("Collections of a new root: %+v, %v", cols, err)
	}
	c1 := store.Collection{ID: "c1-" + uniq(), APIRoot: root.Name, Title: "one", Description: "first", Alias: "one",
		ReadOrgs: []string{"identity--a", "identity--b"}, WriteOrgs: []string{"identity--a"}}
	c2 := store.Collection{ID: "c2-" + uniq(), APIRoot: root.Name, Title: "two", ReadOrgs: []string{"*"}, WriteOrgs: []string{"*"}}
	for _, c := range []store.Collection{c1, c2} {
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%s): %v", c.ID, err)
		}
	}
	wantErr(t, "duplicate collection", s.CreateCollection(ctx, c1), errkind.Conflict)
	orphan := store.Collection{ID: "c3-" + uniq(), APIRoot: "no-such-root", Title: "x"}
	wantErr(t, "collection in unknown root", s.CreateCollection(ctx, orphan), errkind.NotFound)
	got, err := s.Collection(ctx, root.Name, c1.ID)
	if err != nil {
		t.Fatalf("Collection: %v", err)
	}
	if mustJSON(got) != mustJSON(c1) {
		t.Errorf("Collection:\n got  %s\n want %s", mustJSON(got), mustJSON(c1))
	}
	cols, err = s.Collections(ctx, root.Name)
	if err != nil {
		t.Fatalf("Collections: %v", err)
	}
	var ids []string
	for _, c := range cols {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	want := []string{c1.ID, c2.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("Collections: %v, want %v", ids, want)
	}
	_, err = s.Collection(ctx, root.Name, "no-such-collection")
	wantErr(t, "unknown collection", err, errkind.NotFound)
	_, err = s.Collection(ctx, "no-such-root", c1.ID)
	wantErr(t, "collection under the wrong root", err, errkind.NotFound)
	_, err = s.Collections(ctx, "no-such-root")
	wantErr(t, "collections of unknown root", err, errkind.NotFound)
}

func testStatuses(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	a := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000a", 0, 0, "2.1", "")
	b := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000b", 0, 0, "2.1", "")
	c := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000c", 0, 0, "2.1", "")
	add(t, s, coll, rec(b, sharing.TLPGreen))
	bChanged := sdo(t, "indicator", b.ID, 0, 0, "2.1", `,"x":1`)
	requested := time.Date(2025, 3, 4, 5, 6, 7, 8000, time.UTC)
	st := store.Status{ID: "status-" + uniq(), Collection: coll, OwnerOrg: "identity--o", OwnerUser: "u1", Requested: requested,
		Pendings: []store.StatusDetail{{ID: a.ID, Version: a.Modified}, {ID: b.ID, Version: b.Modified}, {ID: c.ID, Version: c.Modified}}}
	if err := s.CreateStatus(ctx, st); err != nil {
		t.Fatalf("CreateStatus: %v", err)
	}
	wantErr(t, "duplicate status", s.CreateStatus(ctx, st), errkind.Conflict)
	got, err := s.Status(ctx, st.ID)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if got.Complete || len(got.Pendings) != 3 || len(got.Successes)+len(got.Failures) != 0 {
		t.Errorf("new status: %+v", got)
	}
	if got.Collection != coll || got.OwnerOrg != "identity--o" || got.OwnerUser != "u1" || !got.Requested.Equal(requested) {
		t.Errorf("new status header: %+v", got)
	}
	res, err := s.Add(ctx, coll, []store.Record{rec(a, sharing.TLPGreen), rec(bChanged, sharing.TLPGreen)}, st.ID)
	if err != nil {
		t.Fatalf("Add with status: %v", err)
	}
	wantErr(t, "conflicting version", res[1].Err, errkind.Conflict)
	got, err = s.Status(ctx, st.ID)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	ids := func(l []store.StatusDetail) []string {
		var out []string
		for _, d := range l {
			out = append(out, d.ID)
		}
		return out
	}
	if !slices.Equal(ids(got.Successes), []string{a.ID}) || !slices.Equal(ids(got.Failures), []string{b.ID}) ||
		!slices.Equal(ids(got.Pendings), []string{c.ID}) || got.Complete {
		t.Errorf("after Add: successes %v failures %v pendings %v complete %v", ids(got.Successes), ids(got.Failures), ids(got.Pendings), got.Complete)
	}
	if len(got.Failures) == 1 && got.Failures[0].Message == "" {
		t.Error("failure without message")
	}
	if err := s.FailStatus(ctx, st.ID, []store.StatusDetail{{ID: c.ID, Version: c.Modified, Message: "invalid: pattern"}}); err != nil {
		t.Fatalf("FailStatus: %v", err)
	}
	got, err = s.Status(ctx, st.ID)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if !got.Complete || len(got.Pendings) != 0 || len(got.Failures) != 2 || len(got.Successes) != 1 {
		t.Errorf("after FailStatus: %+v", got)
	}
	for _, f := range got.Failures {
		if f.ID == c.ID && f.Message != "invalid: pattern" {
			t.Errorf("failure message %q", f.Message)
		}
	}
	_, err = s.Status(ctx, "no-such-status")
	wantErr(t, "unknown status", err, errkind.NotFound)
	wantErr(t, "FailStatus unknown", s.FailStatus(ctx, "no-such-status", []store.StatusDetail{{ID: a.ID}}), errkind.NotFound)
	// Add naming an unknown status stores nothing.
	d := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-00000000000d", 0, 0, "2.1", "")
	_, err = s.Add(ctx, coll, []store.Record{rec(d, sharing.TLPGreen)}, "no-such-status")
	wantErr(t, "Add with unknown status", err, errkind.NotFound)
	if got := collect(t, s, store.Filter{Collection: coll, Access: everyone, IDs: []string{d.ID}}, true); len(got) != 0 {
		t.Errorf("Add with unknown status stored %v", keys(got))
	}
}

// testFailPending: after a crash, what was pending is failed with the
// reason, what succeeded or failed stays as it was.
func testFailPending(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	a := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-0000000000fa", 0, 0, "2.1", "")
	b := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-0000000000fb", 0, 0, "2.1", "")
	c := sdo(t, "indicator", "indicator--00000000-0000-4000-8000-0000000000fc", 0, 0, "2.1", "")
	st1 := store.Status{ID: "status-" + uniq(), Collection: coll, OwnerOrg: "identity--o", Requested: time.Now().UTC(),
		Pendings: []store.StatusDetail{{ID: a.ID, Version: a.Modified}, {ID: b.ID, Version: b.Modified}}}
	st2 := store.Status{ID: "status-" + uniq(), Collection: coll, OwnerOrg: "identity--o", Requested: time.Now().UTC(),
		Pendings: []store.StatusDetail{{ID: c.ID, Version: c.Modified}}}
	for _, st := range []store.Status{st1, st2} {
		if err := s.CreateStatus(ctx, st); err != nil {
			t.Fatalf("CreateStatus: %v", err)
		}
	}
	if _, err := s.Add(ctx, coll, []store.Record{rec(a, sharing.TLPGreen)}, st1.ID); err != nil {
		t.Fatalf("Add: %v", err)
	}
	n, err := s.FailPending(ctx, "interrupted by a restart")
	if err != nil || n != 2 {
		t.Fatalf("FailPending = %d, %v; want 2 entries (b and c)", n, err)
	}
	got1, err := s.Status(ctx, st1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got1.Complete || len(got1.Successes) != 1 || got1.Successes[0].ID != a.ID || len(got1.Failures) != 1 ||
		got1.Failures[0].ID != b.ID || got1.Failures[0].Message != "interrupted by a restart" {
		t.Errorf("status 1 after FailPending: %+v", got1)
	}
	got2, err := s.Status(ctx, st2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got2.Complete || len(got2.Failures) != 1 || got2.Failures[0].ID != c.ID || len(got2.Pendings) != 0 {
		t.Errorf("status 2 after FailPending: %+v", got2)
	}
	if n, err := s.FailPending(ctx, "again"); err != nil || n != 0 {
		t.Errorf("second FailPending = %d, %v; want 0", n, err)
	}
}

func testDirectory(t *testing.T, s store.Store) {
	ctx := context.Background()
	created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	o1 := store.Org{ID: "identity--" + uniq(), Name: "CERT " + uniq(), Sector: "energy", Type: "critical-infrastructure", Anonymous: true, Created: created}
	o2 := store.Org{ID: "identity--" + uniq(), Name: "Uni " + uniq(), Sector: "education", Type: "academia", Created: created}
	for _, o := range []store.Org{o1, o2} {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatalf("CreateOrg(%s): %v", o.Name, err)
		}
	}
	wantErr(t, "duplicate org name", s.CreateOrg(ctx, store.Org{ID: "identity--" + uniq(), Name: o1.Name, Created: created}), errkind.Conflict)
	wantErr(t, "duplicate org id", s.CreateOrg(ctx, store.Org{ID: o1.ID, Name: "other " + uniq(), Created: created}), errkind.Conflict)
	got, err := s.Org(ctx, o1.ID)
	if err != nil || mustJSON(got) != mustJSON(o1) {
		t.Errorf("Org: %s, %v; want %s", mustJSON(got), err, mustJSON(o1))
	}
	got, err = s.OrgByName(ctx, o2.Name)
	if err != nil || mustJSON(got) != mustJSON(o2) {
		t.Errorf("OrgByName: %s, %v; want %s", mustJSON(got), err, mustJSON(o2))
	}
	_, err = s.Org(ctx, "identity--none")
	wantErr(t, "unknown org", err, errkind.NotFound)
	_, err = s.OrgByName(ctx, "nobody")
	wantErr(t, "unknown org name", err, errkind.NotFound)
	orgs, err := s.Orgs(ctx)
	if err != nil {
		t.Fatalf("Orgs: %v", err)
	}
	n := 0
	for _, o := range orgs {
		if o.ID == o1.ID || o.ID == o2.ID {
			n++
		}
	}
	if n != 2 {
		t.Errorf("Orgs lists %d of the 2 created", n)
	}

	u1 := store.User{ID: "user-" + uniq(), OrgID: o1.ID, Name: "alice", Role: sharing.RoleOrgAdmin, Created: created}
	u2 := store.User{ID: "user-" + uniq(), OrgID: o2.ID, Name: "alice", Role: sharing.RoleMember, Created: created}
	for _, u := range []store.User{u1, u2} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.ID, err)
		}
	}
	wantErr(t, "duplicate user name in org", s.CreateUser(ctx, store.User{ID: "user-" + uniq(), OrgID: o1.ID, Name: "alice", Role: sharing.RoleMember}), errkind.Conflict)
	wantErr(t, "user of unknown org", s.CreateUser(ctx, store.User{ID: "user-" + uniq(), OrgID: "identity--none", Name: "bob", Role: sharing.RoleMember}), errkind.NotFound)
	gu, err := s.User(ctx, u1.ID)
	if err != nil || mustJSON(gu) != mustJSON(u1) {
		t.Errorf("User: %s, %v; want %s", mustJSON(gu), err, mustJSON(u1))
	}
	gu, err = s.UserByName(ctx, o2.ID, "alice")
	if err != nil || gu.ID != u2.ID {
		t.Errorf("UserByName(o2, alice): %+v, %v; want %s", gu, err, u2.ID)
	}
	_, err = s.User(ctx, "user-none")
	wantErr(t, "unknown user", err, errkind.NotFound)
	_, err = s.UserByName(ctx, o1.ID, "bob")
	wantErr(t, "unknown user name", err, errkind.NotFound)
	users, err := s.Users(ctx, o1.ID)
	if err != nil || len(users) != 1 || users[0].ID != u1.ID {
		t.Errorf("Users(o1): %+v, %v", users, err)
	}

	h1 := sha256.Sum256([]byte("secret-1-" + uniq()))
	h2 := sha256.Sum256([]byte("secret-2-" + uniq()))
	tok := store.Token{ID: "tok-" + uniq(), UserID: u1.ID, Hash: h1, Created: created}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	wantErr(t, "duplicate token hash", s.CreateToken(ctx, store.Token{ID: "tok-" + uniq(), UserID: u1.ID, Hash: h1, Created: created}), errkind.Conflict)
	wantErr(t, "token of unknown user", s.CreateToken(ctx, store.Token{ID: "tok-" + uniq(), UserID: "user-none", Hash: h2}), errkind.NotFound)
	gt, gu, gorg, err := s.TokenByHash(ctx, h1)
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	if mustJSON(gt) != mustJSON(tok) || gu.ID != u1.ID || gu.Role != sharing.RoleOrgAdmin || mustJSON(gorg) != mustJSON(o1) {
		t.Errorf("TokenByHash: %s %s %s", mustJSON(gt), mustJSON(gu), mustJSON(gorg))
	}
	_, _, _, err = s.TokenByHash(ctx, h2)
	wantErr(t, "unknown token", err, errkind.NotFound)
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, _, _, err = s.TokenByHash(ctx, h1)
	wantErr(t, "revoked token", err, errkind.NotFound)
	wantErr(t, "revoke unknown token", s.RevokeToken(ctx, "tok-none"), errkind.NotFound)
}
