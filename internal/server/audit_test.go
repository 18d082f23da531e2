package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// newAuditFixture is a fixture whose server records into an audit trail
// in its own directory.
func newAuditFixture(t *testing.T) (*fixture, *audit.Trail) {
	t.Helper()
	tr, err := audit.Open(context.Background(), t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	f := newFixture(t, func(c *Config) { c.Audit = tr })
	return f, tr
}

// auditPage reads GET /api/v1/audit as user after flushing the trail.
func auditPage(t *testing.T, f *fixture, tr *audit.Trail, user, query string) (int, audit.Page) {
	t.Helper()
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.do(req{path: "/api/v1/audit" + query, user: user, header: map[string]string{"Accept": "application/json"}})
	var pg audit.Page
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &pg); err != nil {
			t.Fatalf("%s", r.body)
		}
	}
	return r.status, pg
}

func TestAuditRecordsRequests(t *testing.T) {
	f, tr := newAuditFixture(t)
	coll := store.DefaultCollectionID
	green := sharing.MarkingID(sharing.TLPGreen)
	wantStatus(t, f.post("alice", coll, indicator(1, "2026-01-01T00:00:00.000Z", green), indicator(2, "2026-01-01T00:00:00.000Z", green)), http.StatusAccepted)
	wantStatus(t, f.get("bob", objectsPath(coll)+"?limit=10"), http.StatusOK)
	wantStatus(t, f.get("bob", objectsPath(coll)+indicatorID(1)+"/"), http.StatusOK)
	wantStatus(t, f.do(req{method: http.MethodDelete, path: objectsPath(coll) + indicatorID(2) + "/", user: "acmeadmin"}), http.StatusOK)
	bad := f.do(req{path: objectsPath(coll), header: map[string]string{"Authorization": "Bearer nope"}})
	wantStatus(t, bad, http.StatusUnauthorized)
	wantStatus(t, f.do(req{path: "/public/clear", header: map[string]string{"Accept": "application/json"}}), http.StatusOK)

	status, pg := auditPage(t, f, tr, "admin", "")
	if status != http.StatusOK {
		t.Fatalf("admin: %d", status)
	}
	if len(pg.Records) != 6 {
		t.Fatalf("%d records: %+v", len(pg.Records), pg.Records)
	}
	want := []struct {
		user   string
		iface  audit.Interface
		action audit.Action
		status int
		ids    []string
	}{
		{"alice", audit.TAXII, audit.Write, 202, []string{indicatorID(1), indicatorID(2)}},
		{"bob", audit.TAXII, audit.Read, 200, []string{indicatorID(1), indicatorID(2)}},
		{"bob", audit.TAXII, audit.Read, 200, []string{indicatorID(1)}},
		{"acmeadmin", audit.TAXII, audit.Delete, 200, []string{indicatorID(2)}},
		{"", audit.TAXII, audit.AuthFailure, 401, nil},
		{"", audit.Public, audit.Read, 200, nil},
	}
	for i, w := range want {
		r := pg.Records[i]
		if r.User != w.user || r.Interface != w.iface || r.Action != w.action || r.Status != w.status || !slices.Equal(r.Objects, w.ids) {
			t.Errorf("record %d: %+v, want %+v", i, r.Record, w)
		}
		if w.user != "" && (r.UserID != f.users[w.user] || r.TokenID == "" || r.Collection != coll || r.Client == "") {
			t.Errorf("record %d: caller or collection missing: %+v", i, r.Record)
		}
	}
	if pg.Records[1].Path != objectsPath(coll)+"?limit=10" {
		t.Errorf("query string not kept: %q", pg.Records[1].Path)
	}

	tests := []struct {
		user, query string
		status, n   int
	}{
		{"analyst", "?user=bob", 200, 2},
		{"analyst", "?action=auth-failure", 200, 1},
		{"analyst", "?object=" + url.QueryEscape(indicatorID(2)), 200, 3},
		{"analyst", "?interface=public", 200, 1},
		{"analyst", "?limit=2", 200, 2},
		{"acmeadmin", "", 200, 2}, // alice's POST, acmeadmin's DELETE
		{"acmeadmin", "?org=beta", 403, 0},
		{"alice", "", 403, 0},
		{"bob", "?org=acme", 403, 0},
		{"analyst", "?action=steal", 400, 0},
		{"analyst", "?limit=0", 400, 0},
		{"analyst", "?since=yesterday", 400, 0},
		{"analyst", "?colour=red", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.user+tt.query, func(t *testing.T) {
			status, pg := auditPage(t, f, tr, tt.user, tt.query)
			if status != tt.status || len(pg.Records) != tt.n {
				t.Fatalf("status %d, %d records; want %d, %d", status, len(pg.Records), tt.status, tt.n)
			}
		})
	}
	// Paging: next continues where the page ended.
	_, p1 := auditPage(t, f, tr, "analyst", "?limit=2&interface=taxii")
	_, p2 := auditPage(t, f, tr, "analyst", "?limit=2&interface=taxii&next="+p1.Next)
	if p1.Next == "" || len(p2.Records) != 2 || p2.Records[0].Index <= p1.Records[1].Index {
		t.Fatalf("paging: %+v then %+v", p1, p2)
	}
	// The audit log's signed tree head, for audit verify --audit-checkpoint.
	if r := f.do(req{path: "/api/v1/audit/checkpoint", user: "analyst"}); r.status != http.StatusOK || !strings.HasPrefix(string(r.body), "kizuna/log/audit\n") {
		t.Fatalf("checkpoint: %d %s", r.status, r.body)
	}
	if r := f.do(req{path: "/api/v1/audit/checkpoint", user: "alice"}); r.status != http.StatusForbidden {
		t.Fatalf("checkpoint as a member: %d", r.status)
	}
	// Reading the audit log is itself audited, as admin.
	_, adm := auditPage(t, f, tr, "analyst", "?action=admin&limit=1")
	if len(adm.Records) != 1 || adm.Records[0].User != "admin" {
		t.Fatalf("audit reads not audited: %+v", adm)
	}
}
