package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliReport = `title: Phishing against our webmail
description: Credential phishing imitating the webmail login.
detected: 2026-03-01T09:30:00Z
classification: fraud
type: phishing
impact: low
severity: medium
affected_services: [webmail]
tlp: green
contact: soc@acme.example
anonymous: true
objects:
  - {"type": "indicator", "spec_version": "2.1", "id": "indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21", "created": "2026-03-01T09:00:00.000Z", "modified": "2026-03-01T09:00:00.000Z", "pattern": "[domain-name:value = 'webmail-login.example']", "pattern_type": "stix", "valid_from": "2026-03-01T09:00:00Z"}
`

func TestIncidentCLI(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "health", "--type", "academia")
	kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "ana", "--role", "analyst")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "member")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "member")
	file := filepath.Join(dir, "report.yaml")
	if err := os.WriteFile(file, []byte(cliReport), 0o600); err != nil {
		t.Fatal(err)
	}
	out := kzOK(t, "incident", "report", "--data", dir, "--org", "Acme", "--user", "alice", file)
	id, state, _ := strings.Cut(out, " ")
	if !strings.HasPrefix(id, "case--") || state != "new" {
		t.Fatalf("report printed %q", out)
	}
	// An invalid report names every field at fault and exits 1.
	bad := kzIn(t, "title: x\nclassification: fraud\ntype: spam\n", "incident", "report", "--data", dir, "--org", "Acme", "--user", "alice", "-")
	if bad.code != 1 || !strings.Contains(bad.stderr, `report field \"type\"`) && !strings.Contains(bad.stderr, `report field "type"`) ||
		!strings.Contains(bad.stderr, `"detected"`) {
		t.Errorf("invalid report: exit %d, stderr %q", bad.code, bad.stderr)
	}
	// Another organisation sees nothing.
	if got := kzOK(t, "case", "list", "--data", dir, "--org", "Beta", "--user", "bob"); strings.Contains(got, id) {
		t.Errorf("bob lists %q", got)
	}
	if r := kz(t, "case", "show", "--data", dir, "--org", "Beta", "--user", "bob", id); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Errorf("bob show: %+v", r)
	}
	// The reporter may not triage; new -> resolved is refused.
	if r := kz(t, "case", "transition", "--data", dir, "--org", "Acme", "--user", "alice", id, "triage"); r.code != 1 || !strings.Contains(r.stderr, "forbidden") {
		t.Errorf("alice transition: %+v", r)
	}
	if r := kz(t, "case", "transition", "--data", dir, "--user", "ana", id, "resolved"); r.code != 1 || !strings.Contains(r.stderr, "cannot move from new to resolved") {
		t.Errorf("new -> resolved: %+v", r)
	}
	if got := kzOK(t, "case", "transition", "--data", dir, "--user", "ana", id, "triage"); got != id+" triage" {
		t.Errorf("transition printed %q", got)
	}
	kzOK(t, "case", "assign", "--data", dir, "--user", "ana", id, "ana")
	if r := kz(t, "case", "assign", "--data", dir, "--user", "ana", id, "nobody"); r.code != 1 {
		t.Errorf("assign to an unknown user: %+v", r)
	}
	kzOK(t, "case", "comment", "--data", dir, "--user", "ana", "--internal", id, "same kit as in February")
	list := kzOK(t, "case", "list", "--data", dir, "--user", "ana", "--state", "triage")
	if !strings.Contains(list, id) || !strings.Contains(list, "fraud/phishing") {
		t.Errorf("analyst list %q", list)
	}
	var c struct {
		ReporterOrg string `json:"reporter_org"`
		Assignee    string `json:"assignee"`
		Comments    []any  `json:"comments"`
		Links       []struct {
			ObjectID string `json:"object_id"`
		} `json:"links"`
	}
	if err := json.Unmarshal([]byte(kzOK(t, "case", "show", "--data", dir, "--org", "Acme", "--user", "alice", id)), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Comments) != 0 || c.Assignee == "" || len(c.Links) != 1 || c.Links[0].ObjectID != "indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21" {
		t.Errorf("reporter's view %+v", c)
	}
	ids := strings.Split(kzOK(t, "case", "export", "--data", dir, "--user", "ana", id), "\n")
	if len(ids) != 2 || !strings.HasPrefix(ids[0], "incident--") || !strings.HasPrefix(ids[1], "report--") {
		t.Fatalf("export printed %q", ids)
	}
	// Beta receives the TLP:GREEN incident with the hub as source.
	bundle := kzOK(t, "export", "--data", dir, "--org", "Beta", "--user", "bob", "--type", "incident", "--type", "report")
	acme := orgID(t, dir, "Acme")
	if !strings.Contains(bundle, ids[0]) || !strings.Contains(bundle, ids[1]) || strings.Contains(bundle, acme) ||
		!strings.Contains(bundle, `"created_by_ref":"`+orgID(t, dir, "Hub")+`"`) {
		t.Errorf("bob's bundle: %s", bundle)
	}
	var dash struct {
		Cases []struct {
			TimeToTriage *float64 `json:"time_to_triage"`
		} `json:"cases"`
	}
	if err := json.Unmarshal([]byte(kzOK(t, "case", "metrics", "--data", dir, "--user", "ana")), &dash); err != nil {
		t.Fatal(err)
	}
	if len(dash.Cases) != 1 || dash.Cases[0].TimeToTriage == nil {
		t.Errorf("metrics %+v", dash)
	}
}

// orgID returns an organisation's identity id from org list --json.
func orgID(t *testing.T, dir, name string) string {
	t.Helper()
	var orgs []map[string]any
	if err := json.Unmarshal([]byte(kzOK(t, "org", "list", "--data", dir, "--json")), &orgs); err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		if o["name"] == name {
			return o["id"].(string)
		}
	}
	t.Fatalf("no organisation %s", name)
	return ""
}
