package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// cliResult is the outcome of one in-process CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// kz runs the CLI in-process with args.
func kz(t *testing.T, args ...string) cliResult {
	t.Helper()
	return kzIn(t, "", args...)
}

// kzIn runs the CLI in-process with args and stdin.
func kzIn(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// kzOK runs the CLI and fails the test unless it exits 0; it returns
// stdout without the trailing newline.
func kzOK(t *testing.T, args ...string) string {
	t.Helper()
	r := kz(t, args...)
	if r.code != 0 {
		t.Fatalf("kizuna %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return strings.TrimSuffix(r.stdout, "\n")
}

// checkFailure asserts an exit code and a "kizuna: " message containing
// want on stderr.
func checkFailure(t *testing.T, r cliResult, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "kizuna: ") || !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want a kizuna: message containing %q", r.stderr, want)
	}
}

var identityRE = regexp.MustCompile(`^identity--[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestOrgCreateAndList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "data") // created when missing
	acme := kzOK(t, "org", "create", "--data", dir, "--name", "Acme Power", "--sector", "energy", "--type", "critical-infrastructure")
	if !identityRE.MatchString(acme) {
		t.Fatalf("org create printed %q, want an identity id", acme)
	}
	if _, err := os.Stat(filepath.Join(dir, "kizuna.db")); err != nil {
		t.Fatalf("data directory not created: %v", err)
	}
	hub := kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "cyber", "--type", "hub", "--anonymous")
	if hub == acme || !identityRE.MatchString(hub) {
		t.Fatalf("second org id %q (first %q)", hub, acme)
	}

	list := kzOK(t, "org", "list", "--data", dir)
	for _, want := range []string{"NAME", "Acme Power", "critical-infrastructure", "energy", acme, "Hub", hub} {
		if !strings.Contains(list, want) {
			t.Errorf("org list lacks %q:\n%s", want, list)
		}
	}
	var orgs []orgJSON
	if err := json.Unmarshal([]byte(kzOK(t, "org", "list", "--data", dir, "--json")), &orgs); err != nil {
		t.Fatal(err)
	}
	if len(orgs) != 2 || orgs[0].Name != "Acme Power" || orgs[0].ID != acme || orgs[0].Anonymous ||
		orgs[1].Name != "Hub" || orgs[1].Type != "hub" || !orgs[1].Anonymous || orgs[1].Sector != "cyber" {
		t.Errorf("org list --json = %+v", orgs)
	}
}

func TestOrgCreateErrors(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "cyber", "--type", "hub")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"duplicate name", []string{"--name", "Acme", "--sector", "x", "--type", "sme"}, 1, `organisation named "Acme" already exists`},
		{"bad type", []string{"--name", "B", "--sector", "x", "--type", "company"}, 2, `--type "company" is not one of`},
		{"missing type", []string{"--name", "B", "--sector", "x"}, 2, `--type "" is not one of`},
		{"missing name", []string{"--sector", "x", "--type", "sme"}, 2, "--name NAME is required"},
		{"blank name", []string{"--name", "  ", "--sector", "x", "--type", "sme"}, 2, "--name NAME is required"},
		{"missing sector", []string{"--name", "B", "--type", "sme"}, 2, "--sector SECTOR is required"},
		{"second hub", []string{"--name", "Hub 2", "--sector", "x", "--type", "hub"}, 1, `the hub organisation already exists ("Hub")`},
		{"unknown flag", []string{"--name", "B", "--sector", "x", "--type", "sme", "--colour", "red"}, 2, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kz(t, append([]string{"org", "create", "--data", dir}, tt.args...)...)
			checkFailure(t, r, tt.code, tt.want)
			if r.stdout != "" {
				t.Errorf("stdout %q on failure", r.stdout)
			}
		})
	}
	if n := strings.Count(kzOK(t, "org", "list", "--data", dir), "\n"); n != 2 {
		t.Errorf("org list has %d rows after failed creates, want 2", n)
	}
}

func TestDataRequired(t *testing.T) {
	t.Setenv("KIZUNA_DATA", "")
	checkFailure(t, kz(t, "org", "list"), 2, "--data DIR is required")
	dir := t.TempDir()
	t.Setenv("KIZUNA_DATA", dir)
	kzOK(t, "org", "create", "--name", "Env", "--sector", "x", "--type", "academia")
	if !strings.Contains(kzOK(t, "org", "list", "--data", dir), "Env") {
		t.Error("KIZUNA_DATA not used")
	}
}
