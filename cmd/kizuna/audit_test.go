package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/audit"
)

// TestAuditTrailCLI: CLI commands that touch the store are recorded with
// interface cli; list filters them, export gives JSON lines with their log
// index, and audit verify checks the trail too.
func TestAuditTrailCLI(t *testing.T) {
	dir, _, _ := provHub(t) // org, user, token create; key add
	kzOK(t, "import", "--data", dir, "--org", "acme", writeFile(t, "a.json", provObj))
	kzOK(t, "export", "--data", dir, "--org", "acme")
	kz(t, "token", "create", "--data", dir, "--org", "acme", "--user", "nobody") // fails: recorded with status 1

	var all []audit.Entry
	if err := json.Unmarshal([]byte(kzOK(t, "audit", "list", "--data", dir, "--format", "json")), &all); err != nil {
		t.Fatal(err)
	}
	wantPaths := []string{"kizuna org create", "kizuna org create", "kizuna user create", "kizuna token create", "kizuna key add", "kizuna import", "kizuna export", "kizuna token create"}
	if len(all) != len(wantPaths) {
		t.Fatalf("%d records: %+v", len(all), all)
	}
	for i, e := range all {
		if !strings.HasPrefix(e.Path, wantPaths[i]) || e.Interface != audit.CLI || e.User == "" || e.Index != int64(i) {
			t.Errorf("record %d: %+v", i, e)
		}
	}
	if !strings.Contains(all[5].Path, "--org=acme") || !strings.HasSuffix(all[5].Path, "a.json") || all[5].Action != audit.Write {
		t.Errorf("import record: %+v", all[5])
	}
	if all[7].Status != 1 || all[6].Status != 0 {
		t.Errorf("statuses: %d %d", all[6].Status, all[7].Status)
	}

	table := kzOK(t, "audit", "list", "--data", dir, "--action", "admin", "--limit", "2")
	if lines := strings.Split(table, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "INDEX") || !strings.Contains(lines[2], "org create") {
		t.Errorf("table:\n%s", table)
	}
	checkFailure(t, kz(t, "audit", "list", "--data", dir, "--action", "steal"), 2, "action")
	checkFailure(t, kz(t, "audit", "list", "--data", dir, "--since", "soon"), 2, "since")
	checkFailure(t, kz(t, "audit", "list", "--data", filepath.Join(dir, "nope")), 1, "no audit trail")

	exp := kzOK(t, "audit", "export", "--data", dir)
	sc := bufio.NewScanner(strings.NewReader(exp))
	n := 0
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Index != int64(n) || len(e.Hash) != 64 {
			t.Fatalf("line %d: %s (%v)", n, sc.Text(), err)
		}
		n++
	}
	if n != 8 { // audit list and export are not themselves recorded
		t.Fatalf("%d lines", n)
	}

	out := kzOK(t, "audit", "verify", "--data", dir)
	if !strings.Contains(out, "ok: 8 audit records match the audit log of 8 records") {
		t.Fatalf("verify: %q", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, audit.File))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{"DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete",
		`UPDATE audit_records SET user = 'someone-else' WHERE seq = 5`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	r := kz(t, "audit", "verify", "--data", dir)
	checkFailure(t, r, 1, "audit-record-5")
	if !strings.Contains(r.stderr, "edited") {
		t.Errorf("after an edit: %q", r.stderr)
	}
	// Opening the trail restores the append-only triggers; drop them again.
	for _, s := range []string{"DROP TRIGGER audit_no_delete", `DELETE FROM audit_records WHERE seq = 2`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	r = kz(t, "audit", "verify", "--data", dir)
	checkFailure(t, r, 1, "audit-record-2")
	if !strings.Contains(r.stderr, "removed: audit-record-2") {
		t.Errorf("after a delete: %q", r.stderr)
	}
}
