package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var userIDRE = regexp.MustCompile(`^user--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestUserCreateAndList(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "cyber", "--type", "hub")
	acme := kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	ids := map[string]string{}
	for _, u := range []struct{ org, name, role string }{
		{"Hub", "hana", "analyst"}, {"Hub", "root", "hub-admin"}, {"Acme", "alice", "org-admin"}, {"Acme", "bob", "member"}, {"Hub", "bob", "member"},
	} {
		id := kzOK(t, "user", "create", "--data", dir, "--org", u.org, "--name", u.name, "--role", u.role)
		if !userIDRE.MatchString(id) {
			t.Fatalf("user create printed %q", id)
		}
		ids[u.org+"/"+u.name] = id
	}
	all := kzOK(t, "user", "list", "--data", dir)
	if n := strings.Count(all, "\n"); n != 5 {
		t.Errorf("user list has %d rows, want 5:\n%s", n, all)
	}
	for _, want := range []string{"ORGANISATION", "hana", "analyst", "hub-admin", ids["Acme/alice"]} {
		if !strings.Contains(all, want) {
			t.Errorf("user list lacks %q:\n%s", want, all)
		}
	}
	var users []userJSON
	if err := json.Unmarshal([]byte(kzOK(t, "user", "list", "--data", dir, "--org", "Acme", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Name != "alice" || users[0].Role != "org-admin" || users[0].OrgID != acme ||
		users[0].Org != "Acme" || users[1].Name != "bob" || users[1].ID != ids["Acme/bob"] {
		t.Errorf("user list --org Acme --json = %+v", users)
	}
}

func TestUserCreateErrors(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "member")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"analyst outside hub", []string{"--org", "Acme", "--name", "eve", "--role", "analyst"}, 1, `role analyst is only for the hub's staff, but organisation "Acme" is of type sme`},
		{"hub-admin outside hub", []string{"--org", "Acme", "--name", "eve", "--role", "hub-admin"}, 1, "role hub-admin is only for the hub's staff"},
		{"unknown org", []string{"--org", "Nope", "--name", "eve", "--role", "member"}, 1, `unknown organisation "Nope"`},
		{"bad role", []string{"--org", "Acme", "--name", "eve", "--role", "root"}, 2, `unknown role "root"`},
		{"duplicate", []string{"--org", "Acme", "--name", "alice", "--role", "member"}, 1, `"Acme" already has a user named "alice"`},
		{"missing name", []string{"--org", "Acme", "--role", "member"}, 2, "--name USER is required"},
		{"missing org", []string{"--name", "eve", "--role", "member"}, 2, "--org NAME is required"},
		{"stray argument", []string{"--org", "Acme", "--name", "eve", "--role", "member", "extra"}, 2, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kz(t, append([]string{"user", "create", "--data", dir}, tt.args...)...)
			checkFailure(t, r, tt.code, tt.want)
		})
	}
	checkFailure(t, kz(t, "user", "list", "--data", dir, "--org", "Nope"), 1, `unknown organisation "Nope"`)
	if n := strings.Count(kzOK(t, "user", "list", "--data", dir), "\n"); n != 1 {
		t.Errorf("%d users after failed creates, want 1", n)
	}
}
