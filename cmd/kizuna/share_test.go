package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
)

const statementMarking = "marking-definition--3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"

// shareFixture is a data directory with four organisations and their
// users, and a bundle published by Acme.
type shareFixture struct {
	dir    string
	ids    map[string]string // org or "org/user" -> id
	bundle string            // path
}

func newShareFixture(t *testing.T) shareFixture {
	t.Helper()
	f := shareFixture{dir: t.TempDir(), ids: map[string]string{}}
	for _, o := range []struct{ name, typ string }{{"Hub", "hub"}, {"Acme", "sme"}, {"Beta", "isac"}, {"Gamma", "government"}} {
		f.ids[o.name] = kzOK(t, "org", "create", "--data", f.dir, "--name", o.name, "--sector", "s", "--type", o.typ)
	}
	for _, u := range []struct{ org, name, role string }{
		{"Hub", "hana", "analyst"}, {"Acme", "alice", "member"}, {"Acme", "carol", "org-admin"}, {"Beta", "bob", "member"}, {"Gamma", "gus", "member"},
	} {
		f.ids[u.org+"/"+u.name] = kzOK(t, "user", "create", "--data", f.dir, "--org", u.org, "--name", u.name, "--role", u.role)
	}
	ind := func(n int, extra string) string {
		return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}`, n, n, extra)
	}
	marks := func(ids ...string) string { return `,"object_marking_refs":["` + strings.Join(ids, `","`) + `"]` }
	dist := func(body string) string {
		return `,"extensions":{"` + sharing.DistributionExtension + `":{"extension_type":"property-extension",` + body + `}}`
	}
	objs := []string{
		ind(1, marks(sharing.TLP2Green)),
		ind(2, marks(sharing.TLP2Amber)+dist(`"organizations":["`+f.ids["Beta"]+`","identity--00000000-0000-4000-8000-0000000000ff"]`)),
		ind(3, marks(sharing.TLP2AmberStrict)+dist(`"organizations":["`+f.ids["Beta"]+`"]`)),
		ind(4, marks(sharing.TLP2Red)+dist(`"users":["`+f.ids["Beta/bob"]+`"]`)),
		ind(5, marks(sharing.TLP1White)),
		ind(6, marks("marking-definition--99999999-0000-4000-8000-000000000000")),
		ind(7, ""),
		`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000008","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z"}`,
		`{"type":"marking-definition","spec_version":"2.1","id":"` + statementMarking + `","created":"2024-01-01T00:00:00.000Z","definition_type":"statement","definition":{"statement":"Copyright Acme"}}`,
		ind(10, marks(sharing.TLP2Green, statementMarking)),
	}
	f.bundle = filepath.Join(f.dir, "bundle.json")
	b := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` + strings.Join(objs, ",") + `]}`
	if err := os.WriteFile(f.bundle, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

type previewOut struct {
	Objects []previewEntry `json:"objects"`
}

func names(list []namedJSON) []string {
	out := []string{}
	for _, n := range list {
		out = append(out, n.Name)
	}
	return out
}

func TestSharePreviewJSON(t *testing.T) {
	f := newShareFixture(t)
	r := kz(t, "share", "preview", "--data", f.dir, "--org", "Acme", "--user", "alice", "--json", f.bundle)
	checkFailure(t, r, 1, "1 of 10 objects")
	var out previewOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Objects) != 10 {
		t.Fatalf("%d objects, want 10", len(out.Objects))
	}
	all := []string{"Acme", "Beta", "Gamma", "Hub"}
	tests := []struct {
		tlp         string
		orgs, users []string
		hub, public bool
		unresolved  int
	}{
		{"TLP:GREEN", all, nil, true, false, 0},
		{"TLP:AMBER", []string{"Acme", "Beta"}, nil, true, false, 1},
		{"TLP:AMBER+STRICT", []string{"Acme", "Beta"}, nil, false, false, 0},
		{"TLP:RED", nil, []string{"alice", "bob"}, false, false, 0},
		{"TLP:CLEAR", all, nil, true, true, 0},
		{"unknown", []string{"Acme"}, nil, true, false, 0},
		{"TLP:AMBER", []string{"Acme"}, nil, true, false, 0},
		{"", nil, nil, false, false, 0}, // invalid
		{"TLP:CLEAR", all, nil, true, true, 0},
		{"TLP:GREEN", all, nil, true, false, 0},
	}
	for i, tt := range tests {
		e := out.Objects[i]
		t.Run(fmt.Sprintf("%d-%s", i, e.ID), func(t *testing.T) {
			if e.Index != i || e.TLP != tt.tlp {
				t.Errorf("index %d tlp %q, want %d %q", e.Index, e.TLP, i, tt.tlp)
			}
			if tt.tlp == "" {
				if !strings.Contains(e.Invalid, "pattern") {
					t.Errorf("invalid = %q, want a message naming the missing pattern", e.Invalid)
				}
				return
			}
			if e.Invalid != "" {
				t.Errorf("unexpectedly invalid: %s", e.Invalid)
			}
			if got := names(e.Orgs); !slices.Equal(got, append([]string{}, tt.orgs...)) {
				t.Errorf("organisations %v, want %v", got, tt.orgs)
			}
			if got := names(e.Users); !slices.Equal(got, append([]string{}, tt.users...)) {
				t.Errorf("users %v, want %v", got, tt.users)
			}
			if e.HubAnalysts != tt.hub || e.Public != tt.public || len(e.Unresolved) != tt.unresolved || e.Source != "Acme" {
				t.Errorf("hub %v public %v unresolved %v source %q", e.HubAnalysts, e.Public, e.Unresolved, e.Source)
			}
		})
	}
	if u := out.Objects[3].Users; len(u) == 2 && (u[1].ID != f.ids["Beta/bob"] || u[1].Org != "Beta") {
		t.Errorf("RED user entry %+v", u[1])
	}
}

func TestSharePreviewWithoutUserAndWithDefault(t *testing.T) {
	f := newShareFixture(t)
	r := kz(t, "share", "preview", "--data", f.dir, "--org", "Acme", "--tlp", "green", "--json", f.bundle)
	var out previewOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	// Without --user nobody is the producing user of the RED object.
	if got := names(out.Objects[3].Users); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("RED users without --user: %v, want [bob]", got)
	}
	// --tlp applies to the unmarked object only.
	if out.Objects[6].TLP != "TLP:GREEN" || len(out.Objects[6].Orgs) != 4 {
		t.Errorf("unmarked object with --tlp green: %+v", out.Objects[6])
	}
	if out.Objects[1].TLP != "TLP:AMBER" {
		t.Errorf("marked object changed by --tlp: %s", out.Objects[1].TLP)
	}
}

func TestSharePreviewHuman(t *testing.T) {
	f := newShareFixture(t)
	r := kz(t, "share", "preview", "--data", f.dir, "--org", "Acme", "--user", "alice", "--anonymous", f.bundle)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one invalid object): %s", r.code, r.stderr)
	}
	blocks := strings.Split(r.stdout, "\n\n")
	if len(blocks) != 10 {
		t.Fatalf("%d blocks, want 10:\n%s", len(blocks), r.stdout)
	}
	wants := map[int][]string{
		1: {"(indicator) TLP:AMBER", "organisations: Acme, Beta", "hub analysts: yes", "public: no",
			"source shown: the hub", "named but unknown here: identity--00000000-0000-4000-8000-0000000000ff"},
		3: {"TLP:RED", "organisations: none", "users: alice (Acme), bob (Beta)", "hub analysts: no"},
		4: {"TLP:CLEAR", "public: yes"},
		5: {"unknown", "organisations: Acme", "note: unknown or malformed markings"},
		7: {"indicator--00000000-0000-4000-8000-000000000008: invalid, ingest would refuse it"},
	}
	for i, ws := range wants {
		for _, w := range ws {
			if !strings.Contains(blocks[i], w) {
				t.Errorf("block %d lacks %q:\n%s", i, w, blocks[i])
			}
		}
	}
	if strings.Contains(blocks[0], "users:") {
		t.Errorf("users line on a GREEN object:\n%s", blocks[0])
	}
}

func TestSharePreviewAnonymousOrg(t *testing.T) {
	f := newShareFixture(t)
	kzOK(t, "org", "create", "--data", f.dir, "--name", "Shy", "--sector", "s", "--type", "sme", "--anonymous")
	r := kz(t, "share", "preview", "--data", f.dir, "--org", "Shy", "--json", f.bundle)
	var out previewOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if out.Objects[0].Source != "hub" {
		t.Errorf("anonymous organisation's source = %q, want hub", out.Objects[0].Source)
	}
}

func TestSharePreviewStdinAndErrors(t *testing.T) {
	f := newShareFixture(t)
	obj := `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["` + sharing.TLP2Green + `"]}`
	r := kzIn(t, obj, "share", "preview", "--data", f.dir, "--org", "Beta", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "TLP:GREEN") || !strings.Contains(r.stdout, "organisations: Acme, Beta, Gamma, Hub") {
		t.Errorf("preview of stdin: %+v", r)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown org", []string{"--org", "Nope", f.bundle}, 1, `unknown organisation "Nope"`},
		{"unknown user", []string{"--org", "Acme", "--user", "bob", f.bundle}, 1, `unknown user "bob" in organisation "Acme"`},
		{"missing org", []string{f.bundle}, 2, "--org NAME is required"},
		{"missing file argument", []string{"--org", "Acme"}, 2, "accepts 1 arg"},
		{"missing file", []string{"--org", "Acme", filepath.Join(f.dir, "nope.json")}, 1, "nope.json"},
		{"bad tlp", []string{"--org", "Acme", "--tlp", "purple", f.bundle}, 2, `unknown TLP level "purple"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFailure(t, kz(t, append([]string{"share", "preview", "--data", f.dir}, tt.args...)...), tt.code, tt.want)
		})
	}
	checkFailure(t, kzIn(t, "[1,", "share", "preview", "--data", f.dir, "--org", "Acme", "-"), 1, "share preview: -:")
}

// TestSharePreviewMatchesExport imports the fixture as Acme/alice and checks,
// for every user, that export (the store's SQL translation of the access
// predicate) returns exactly the objects the preview says the user receives.
func TestSharePreviewMatchesExport(t *testing.T) {
	f := newShareFixture(t)
	r := kz(t, "share", "preview", "--data", f.dir, "--org", "Acme", "--user", "alice", "--json", f.bundle)
	var out previewOut
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if r := kz(t, "import", "--data", f.dir, "--org", "Acme", "--user", "alice", f.bundle); r.code != 1 {
		t.Fatalf("import: exit %d, want 1 (one invalid object): %s", r.code, r.stderr)
	}
	users := []struct{ org, name string }{{"Hub", "hana"}, {"Acme", "alice"}, {"Acme", "carol"}, {"Beta", "bob"}, {"Gamma", "gus"}}
	for _, u := range users {
		t.Run(u.org+"/"+u.name, func(t *testing.T) {
			exp := kz(t, "export", "--data", f.dir, "--org", u.org, "--user", u.name)
			if exp.code != 0 {
				t.Fatalf("export: exit %d: %s", exp.code, exp.stderr)
			}
			var b struct {
				Objects []struct {
					ID string `json:"id"`
				} `json:"objects"`
			}
			if err := json.Unmarshal([]byte(exp.stdout), &b); err != nil {
				t.Fatalf("%v\n%s", err, exp.stdout)
			}
			var got []string
			for _, o := range b.Objects {
				got = append(got, o.ID)
			}
			for _, e := range out.Objects {
				if e.Invalid != "" {
					continue
				}
				want := slices.Contains(names(e.Orgs), u.org) || slices.Contains(names(e.Users), u.name) ||
					u.name == "hana" && e.HubAnalysts
				if slices.Contains(got, e.ID) != want {
					t.Errorf("%s (%s): exported=%v, preview says %v", e.ID, e.TLP, !want, want)
				}
			}
		})
	}
}
