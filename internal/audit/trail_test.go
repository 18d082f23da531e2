package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

func open(t *testing.T, dir string, opts audit.Options) *audit.Trail {
	t.Helper()
	tr, err := audit.Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)

func sample(i int) audit.Record {
	orgs := []string{"acme", "globex"}
	acts := []audit.Action{audit.Read, audit.Write, audit.Delete, audit.AuthFailure}
	return audit.Record{
		Time: t0.Add(time.Duration(i) * time.Minute), OrgID: "identity--" + orgs[i%2], Org: orgs[i%2],
		UserID: fmt.Sprint("u", i%3), User: fmt.Sprint("user", i%3), TokenID: "tok", Role: "member",
		Interface: audit.TAXII, Action: acts[i%4], Method: "GET", Path: fmt.Sprintf("/taxii2/hub/collections/c/objects/?limit=%d", i),
		Collection: "c", Objects: []string{fmt.Sprintf("indicator--%d", i)}, Status: 200, Client: "127.0.0.1:1",
	}
}

func TestWriteListVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := open(t, dir, audit.Options{})
	for i := range 20 {
		if err := tr.Record(ctx, sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    audit.Filter
		want int
	}{
		{"all", audit.Filter{}, 20},
		{"org by name", audit.Filter{Org: "acme"}, 10},
		{"org by id", audit.Filter{Org: "identity--globex"}, 10},
		{"user", audit.Filter{User: "user1"}, 7},
		{"action", audit.Filter{Action: audit.AuthFailure}, 5},
		{"interface", audit.Filter{Interface: audit.CLI}, 0},
		{"object", audit.Filter{Object: "indicator--7"}, 1},
		{"object prefix does not match", audit.Filter{Object: "indicator--1"}, 1},
		{"since", audit.Filter{Since: t0.Add(15 * time.Minute)}, 5},
		{"until", audit.Filter{Until: t0.Add(2 * time.Minute)}, 2},
		{"from", audit.Filter{From: 18}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, err := tr.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(pg.Records) != tt.want {
				t.Fatalf("%d records, want %d", len(pg.Records), tt.want)
			}
		})
	}
	pg, err := tr.List(ctx, audit.Filter{Limit: 7})
	if err != nil || len(pg.Records) != 7 || pg.Next != "7" {
		t.Fatalf("page: %d records, next %q, %v", len(pg.Records), pg.Next, err)
	}
	if r := pg.Records[3]; r.Index != 3 || r.Path != sample(3).Path || r.Time != t0.Add(3*time.Minute).Truncate(time.Microsecond) || r.Hash == "" {
		t.Fatalf("record 3 read back as %+v", r)
	}
	n := 0
	for _, err := range tr.All(ctx, audit.Filter{From: 5}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 15 {
		t.Fatalf("All from 5: %d", n)
	}
	rep, err := tr.Verify(ctx, tlog.Tree{})
	if err != nil || rep.Err() != nil || rep.Objects != 20 || rep.Tree.N != 20 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// A receipt proves an exported record offline.
	rc, err := tr.Receipt(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewHeadVerifier(tr.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	r4 := sample(4)
	h, err := audit.Hash(4, &pg.Records[4].Record)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := translog.VerifyReceipt(rc, v, h); err != nil {
		t.Fatalf("receipt of record 4: %v", err)
	}
	r4.Path += "x"
	if h2, _ := audit.Hash(4, &r4); h2 == h {
		t.Fatal("hash ignores the path")
	}
}

// tamper runs SQL on audit.db behind the trail's back (dropping the
// append-only triggers first, as an attacker with the file would).
func tamper(t *testing.T, dir, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, audit.File))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{"DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete", stmt} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name, stmt string
		kind       translog.FindingKind
		record     string
	}{
		{"edited user", `UPDATE audit_records SET user = 'mallory' WHERE seq = 3`, translog.Edited, "audit-record-3"},
		{"edited objects", `UPDATE audit_records SET objects = '[]', count = 0 WHERE seq = 5`, translog.Edited, "audit-record-5"},
		{"edited time", `UPDATE audit_records SET time = '2026-01-01T00:00:00.000000Z' WHERE seq = 0`, translog.Edited, "audit-record-0"},
		{"deleted", `DELETE FROM audit_records WHERE seq = 4`, translog.Removed, "audit-record-4"},
		{"deleted last", `DELETE FROM audit_records WHERE seq = 7`, translog.Removed, "audit-record-7"},
		{"forged", `INSERT INTO audit_records SELECT 8, time, org_id, org, user_id, user, token_id, role, iface, action, method, path, collection, objects, count, status, client FROM audit_records WHERE seq = 1`, translog.Unlogged, "audit-record-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			tr := open(t, dir, audit.Options{})
			for i := range 8 {
				if err := tr.Write(ctx, sample(i)); err != nil {
					t.Fatal(err)
				}
			}
			tr.Close()
			tamper(t, dir, tt.stmt)
			ro := open(t, dir, audit.Options{ReadOnly: true})
			rep, err := ro.Verify(ctx, tlog.Tree{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 1 {
				t.Fatalf("findings %v", rep.Findings)
			}
			f := rep.Findings[0]
			if f.Kind != tt.kind || f.Key.ObjectID != tt.record || !strings.Contains(rep.Err().Error(), tt.record) {
				t.Fatalf("finding %v (%v)", f, rep.Err())
			}
		})
	}
}

func TestAppendOnlyTriggers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := open(t, dir, audit.Options{})
	if err := tr.Write(ctx, sample(0)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, audit.File))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit_records SET user = 'x'`); err == nil {
		t.Fatal("update allowed")
	}
	if _, err := db.Exec(`DELETE FROM audit_records`); err == nil {
		t.Fatal("delete allowed")
	}
}

// TestQueueBlocksNotDrops fills a one-slot queue from many goroutines:
// every record arrives.
func TestQueueBlocksNotDrops(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := open(t, dir, audit.Options{Queue: 1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := tr.Record(ctx, sample(g*50+i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := tr.Close(); err != nil { // Close flushes
		t.Fatal(err)
	}
	ro := open(t, dir, audit.Options{ReadOnly: true})
	rep, err := ro.Verify(ctx, tlog.Tree{})
	if err != nil || rep.Err() != nil || rep.Objects != 400 || rep.Tree.N != 400 {
		t.Fatalf("after close: %d records, log %d, %v %v", rep.Objects, rep.Tree.N, err, rep.Err())
	}
	if err := tr.Record(ctx, sample(0)); err == nil {
		t.Fatal("Record after Close succeeded")
	}
}

// TestCatchUp: records stored but not logged (a crash between the two)
// are logged on the next Open; a second process writing meanwhile is fine.
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := open(t, dir, audit.Options{})
	b := open(t, dir, audit.Options{})
	for i := range 10 {
		w := a
		if i%2 == 1 {
			w = b
		}
		if err := w.Write(ctx, sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, audit.File))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO audit_records SELECT 10, time, org_id, org, user_id, user, token_id, role, iface, action, method, path, collection, objects, count, status, client FROM audit_records WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro := open(t, dir, audit.Options{ReadOnly: true})
	if rep, _ := ro.Verify(ctx, tlog.Tree{}); len(rep.Findings) != 1 || rep.Findings[0].Kind != translog.Unlogged {
		t.Fatalf("before catch-up: %v", rep.Findings)
	}
	c := open(t, dir, audit.Options{})
	rep, err := c.Verify(ctx, tlog.Tree{})
	if err != nil || rep.Err() != nil || rep.Tree.N != 11 {
		t.Fatalf("after catch-up: %v %v", rep.Findings, err)
	}
}
