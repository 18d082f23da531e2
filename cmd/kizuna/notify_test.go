package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/response/notify"
)

// notifications returns `notify list --json` of an organisation as
// "value matched" strings, sorted, and the notifications.
func notifications(t *testing.T, dir, org string, extra ...string) ([]string, []notify.Notification) {
	t.Helper()
	var list []notify.Notification
	out := kzOK(t, append([]string{"notify", "list", "--data", dir, "--org", org, "--json"}, extra...)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("notify list --json: %v\n%s", err, out)
	}
	var s []string
	for _, n := range list {
		if n.Org != org || n.TLP != "TLP:AMBER+STRICT" {
			t.Errorf("%s's list has %+v", org, n)
		}
		s = append(s, n.Value+" "+n.Matched)
	}
	slices.Sort(s)
	return s, list
}

func TestNotifyCLI(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	for _, o := range []string{"Provider", "Customer", "Carrier", "Shop"} {
		kzOK(t, "org", "create", "--data", dir, "--name", o, "--sector", "telecom", "--type", "sme")
	}
	kzOK(t, "constituency", "add", "--data", dir, "--org", "Provider", "192.0.2.0/24", "2001:db8::/32")
	kzOK(t, "constituency", "add", "--data", dir, "--org", "Customer", "192.0.2.0/28")
	kzOK(t, "constituency", "add", "--data", dir, "--org", "Carrier", "AS64502")
	kzOK(t, "constituency", "add", "--data", dir, "--org", "Shop", "Bücher.example")
	asn := filepath.Join(dir, "asn.csv")
	if err := os.WriteFile(asn, []byte("198.51.100.0/24,64502\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scan := filepath.Join("..", "..", "internal", "response", "testdata", "scan.csv")
	args := []string{"notify", "import", "--data", dir, "--source", "scan", "--format", "csv",
		"--map", "value=ip", "--map", "value=hostname", "--map", "time=timestamp",
		"--map", "port=port", "--map", "vulnerability=tag", "--asn-table", asn, scan}
	r := kz(t, args...)
	if r.code != 0 {
		t.Fatalf("import: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "2 malformed lines") || !strings.Contains(r.stdout, "0 duplicates") ||
		!strings.Contains(r.stderr, "scan.csv:5: ") || !strings.Contains(r.stderr, "scan.csv:6: ") {
		t.Errorf("import printed %q, stderr %q", r.stdout, r.stderr)
	}
	want := map[string][]string{
		"Customer": {"192.0.2.10 192.0.2.0/28"}, // longest prefix: not the Provider
		"Provider": {"2001:db8:bad::7 2001:db8::/32"},
		"Carrier":  {"198.51.100.200 AS64502"}, // through the ASN table
		"Shop":     {"cam1.bücher.example xn--bcher-kva.example"},
		"Hub":      nil,
	}
	ids := map[string]int64{}
	for org, w := range want {
		got, list := notifications(t, dir, org)
		if !slices.Equal(got, w) {
			t.Errorf("%s: %q, want %q", org, got, w)
		}
		if len(list) > 0 {
			ids[org] = list[0].ID
		}
	}
	// The same feed again within the window: folded, nothing new.
	r = kz(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "0 new, 4 duplicates") {
		t.Errorf("re-import: exit %d, %q", r.code, r.stdout)
	}
	if _, list := notifications(t, dir, "Shop"); len(list) != 1 || list[0].Seen != 2 || list[0].Fields["port"] != "23" {
		t.Errorf("Shop after re-import: %+v", list)
	}

	// Acknowledgement: only the owner.
	shopID := strconv.FormatInt(ids["Shop"], 10)
	checkFailure(t, kz(t, "notify", "ack", "--data", dir, "--org", "Provider", shopID), 1, "not found")
	if out := kzOK(t, "notify", "ack", "--data", dir, "--org", "Shop", shopID); !strings.HasPrefix(out, "notification "+shopID+" acknowledged by Shop") {
		t.Errorf("ack printed %q", out)
	}
	if got, _ := notifications(t, dir, "Shop", "--unacked"); len(got) != 0 {
		t.Errorf("unacked after ack: %q", got)
	}
	if table := kzOK(t, "notify", "list", "--data", dir, "--org", "Carrier"); !strings.HasPrefix(table, "ID") || !strings.Contains(table, `port="8080"`) {
		t.Errorf("list table:\n%s", table)
	}

	// Usage errors exit 2, a mapping that does not fit the feed 1 with nothing stored.
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--source", "s", "--format", "csv", "--map", "ip", scan), 2, `"ip"`)
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--source", "s", "--format", "xml", scan), 2, "xml")
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--format", "lines", scan), 2, "source")
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--source", "s", "--format", "csv", "--map", "value=ip", "--key", "port", scan), 2, "key")
	checkFailure(t, kz(t, "notify", "ack", "--data", dir, "--org", "Shop", "x"), 2, "ID")
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--source", "other", "--format", "csv", "--map", "value=address", scan), 1, `"address"`)
	checkFailure(t, kz(t, "notify", "import", "--data", dir, "--source", "other", "--format", "lines", filepath.Join(dir, "missing")), 1, "missing")
	for org := range want {
		got, _ := notifications(t, dir, org)
		if len(got) != len(want[org]) {
			t.Errorf("a failed import changed %s's notifications: %q", org, got)
		}
	}
}
