package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// listRegs returns `constituency list --json` as "Org resource" strings.
func listRegs(t *testing.T, dir string, extra ...string) []string {
	t.Helper()
	var regs []registrationJSON
	out := kzOK(t, append([]string{"constituency", "list", "--data", dir, "--json"}, extra...)...)
	if err := json.Unmarshal([]byte(out), &regs); err != nil {
		t.Fatalf("constituency list --json: %v\n%s", err, out)
	}
	var s []string
	for _, r := range regs {
		s = append(s, r.Org+" "+r.Resource+" "+r.Kind)
	}
	slices.Sort(s)
	return s
}

func TestConstituencyCLI(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme Power", "--sector", "energy", "--type", "critical-infrastructure")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "education", "--type", "academia")

	out := kzOK(t, "constituency", "add", "--data", dir, "--org", "Acme Power",
		"192.0.2.77/24", "2001:DB8::/32", "as64500", "Bücher.Example.")
	if out != "Acme Power: 4 added, 0 already registered" {
		t.Errorf("add printed %q", out)
	}
	// Idempotent, in any spelling.
	out = kzOK(t, "constituency", "add", "--data", dir, "--org", "Acme Power", "192.0.2.0/24", "XN--BCHER-KVA.example", "198.51.100.7")
	if out != "Acme Power: 1 added, 2 already registered" {
		t.Errorf("second add printed %q", out)
	}
	kzOK(t, "constituency", "add", "--data", dir, "--org", "Beta", "192.0.2.64/26")
	want := []string{
		"Acme Power 192.0.2.0/24 prefix", "Acme Power 198.51.100.7/32 prefix", "Acme Power 2001:db8::/32 prefix",
		"Acme Power AS64500 asn", "Acme Power xn--bcher-kva.example domain", "Beta 192.0.2.64/26 prefix",
	}
	if got := listRegs(t, dir); !slices.Equal(got, want) {
		t.Fatalf("list = %q\nwant %q", got, want)
	}
	if got := listRegs(t, dir, "--org", "Beta"); !slices.Equal(got, []string{"Beta 192.0.2.64/26 prefix"}) {
		t.Errorf("list --org Beta = %q", got)
	}
	table := kzOK(t, "constituency", "list", "--data", dir, "--org", "Acme Power")
	all := kzOK(t, "constituency", "list", "--data", dir)
	if i, j := strings.Index(all, "Acme Power"), strings.Index(all, "Beta"); i < 0 || j < i || strings.LastIndex(all, "Acme Power") > j {
		t.Errorf("list not sorted by organisation name:\n%s", all)
	}
	if !strings.HasPrefix(table, "ORG") || !strings.Contains(table, "xn--bcher-kva.example") || strings.Contains(table, "192.0.2.64/26") {
		t.Errorf("list table:\n%s", table)
	}

	// A bad resource: named, exit 1, nothing stored (all-or-nothing).
	for _, bad := range []string{"192.0.2.0/33", "AS0", "*.example.org", "not a domain", "AS4294967296"} {
		r := kz(t, "constituency", "add", "--data", dir, "--org", "Beta", "203.0.113.0/24", bad)
		checkFailure(t, r, 1, `"`+bad+`"`)
	}
	if got := listRegs(t, dir); !slices.Equal(got, want) {
		t.Fatalf("a failed add stored something: %q", got)
	}

	// Usage errors exit 2; an unknown organisation exits 1.
	checkFailure(t, kz(t, "constituency", "add", "--data", dir, "--org", "Beta"), 2, "RESOURCE")
	checkFailure(t, kz(t, "constituency", "add", "--data", dir, "192.0.2.0/24"), 2, "--org")
	checkFailure(t, kz(t, "constituency", "add", "--data", dir, "--org", "Nobody", "192.0.2.0/24"), 1, `unknown organisation "Nobody"`)
	checkFailure(t, kz(t, "constituency", "list", "--data", dir, "extra"), 2, "unknown command")

	// Remove: all-or-nothing too, any spelling.
	r := kz(t, "constituency", "remove", "--data", dir, "--org", "Beta", "192.0.2.64/26", "192.0.2.0/24")
	checkFailure(t, r, 1, `192.0.2.0/24 not registered to "Beta"`)
	checkFailure(t, kz(t, "constituency", "remove", "--data", dir, "--org", "Beta", "192.0.2.64/26", "bad resource"), 1, `"bad resource"`)
	if got := listRegs(t, dir); !slices.Equal(got, want) {
		t.Fatalf("a failed remove removed something: %q", got)
	}
	if out := kzOK(t, "constituency", "remove", "--data", dir, "--org", "Acme Power", "bücher.example", "198.51.100.7"); out != "Acme Power: 2 removed" {
		t.Errorf("remove printed %q", out)
	}
	want = []string{"Acme Power 192.0.2.0/24 prefix", "Acme Power 2001:db8::/32 prefix", "Acme Power AS64500 asn", "Beta 192.0.2.64/26 prefix"}
	if got := listRegs(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after remove: %q\nwant %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "constituency.db")); err != nil {
		t.Errorf("registrations not in the data directory: %v", err)
	}
}
