package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"

	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOpenDefaults(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	roots, err := s.APIRoots(ctx)
	if err != nil || len(roots) != 1 || roots[0].Name != store.DefaultAPIRoot || roots[0].Title != "Kizuna hub" || roots[0].MaxContentLength != 100<<20 {
		t.Fatalf("default API roots: %+v, %v", roots, err)
	}
	c, err := s.Collection(ctx, store.DefaultAPIRoot, store.DefaultCollectionID)
	if err != nil || c.Title != "Shared intelligence" || !slices.Equal(c.ReadOrgs, []string{"*"}) || !slices.Equal(c.WriteOrgs, []string{"*"}) {
		t.Fatalf("default collection: %+v, %v", c, err)
	}
	var mode string
	if err := s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
	var sync int
	if err := s.DB().QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync < 1 {
		t.Errorf("synchronous %d, %v; want NORMAL (1) or FULL (2)", sync, err)
	}
	o, err := stix.Parse([]byte(`{"type":"malware","spec_version":"2.1","id":"malware--1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","is_family":false}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(ctx, store.DefaultCollectionID, []store.Record{{Object: o, Label: sharing.Label{TLP: sharing.TLPClear}}}, "")
	if err != nil || res[0].Err != nil {
		t.Fatalf("Add: %v %+v", err, res)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Reopening keeps data, adds no second default and keeps the version.
	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	cols, err := s.Collections(ctx, store.DefaultAPIRoot)
	if err != nil || len(cols) != 1 {
		t.Errorf("collections after reopen: %+v, %v", cols, err)
	}
	var v int
	if err := s.DB().QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != SchemaVersion {
		t.Errorf("schema_version %d, %v; want %d", v, err, SchemaVersion)
	}
	p, err := s.Query(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPClear}}}}})
	if err != nil || len(p.Entries) != 1 || string(p.Entries[0].Raw) != string(o.Raw) || !p.Entries[0].DateAdded.Equal(res[0].DateAdded) {
		t.Errorf("after reopen: %+v, %v", p, err)
	}
	// A later Add after reopen still gets a later date_added.
	o2, _ := stix.Parse([]byte(`{"type":"malware","spec_version":"2.1","id":"malware--2","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","is_family":false}`))
	res2, err := s.Add(ctx, store.DefaultCollectionID, []store.Record{{Object: o2}}, "")
	if err != nil || !res2[0].DateAdded.After(res[0].DateAdded) {
		t.Errorf("Add after reopen: %+v, %v", res2, err)
	}
}

func TestSchemaVersionConstant(t *testing.T) {
	if SchemaVersion != len(migrations) {
		t.Errorf("SchemaVersion = %d but there are %d migrations", SchemaVersion, len(migrations))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, dir); !errors.Is(err, errkind.Invalid) {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open of a newer schema: %v, want errkind.Invalid", err)
	}
}

func TestAccessSQL(t *testing.T) {
	tests := []struct {
		name string
		a    sharing.Access
		sql  string
		args []any
	}{
		{"zero access sees nothing", sharing.Access{}, "0", nil},
		{"unconstrained clause sees all", sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{1}}, {}}}, "1", nil},
		{"tlps", sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{1, 2}}}}, "((o.tlp IN (1,2)))", nil},
		{"all fields", sharing.Access{Clauses: []sharing.Clause{
			{TLPs: []sharing.TLP{3}, ProducerOrg: "org", ProducerUser: "u", DistOrg: "d", DistUser: "du"},
			{DistOrg: "x"},
		}}, "((o.tlp IN (3) AND o.producer_org = ? AND o.producer_user = ? AND instr(o.dist_orgs, ?) > 0 AND instr(o.dist_users, ?) > 0) OR (instr(o.dist_orgs, ?) > 0))",
			[]any{"org", "u", "\x1fd\x1f", "\x1fdu\x1f", "\x1fx\x1f"}},
	}
	for _, tc := range tests {
		sql, args := accessSQL("o", tc.a)
		if sql != tc.sql || !slices.Equal(args, tc.args) {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, sql, args, tc.sql, tc.args)
		}
	}
}

func TestDistListEncoding(t *testing.T) {
	for _, l := range [][]string{nil, {"a"}, {"identity--1", "identity--2"}} {
		enc := encodeList(l)
		if got := decodeList(enc); !slices.Equal(got, l) {
			t.Errorf("round trip of %q: %q via %q", l, got, enc)
		}
		for _, x := range l {
			if !strings.Contains(enc, distSep+x+distSep) {
				t.Errorf("%q: member %q not found as a delimited substring", enc, x)
			}
		}
	}
	// A recipient that is a prefix of another must not match it.
	if strings.Contains(encodeList([]string{"org-10"}), distSep+"org-1"+distSep) {
		t.Error("prefix matched")
	}
}

// TestQueryPlans guards the indexes the performance targets depend on: no
// query may scan the table, and collection-wide queries must not sort in a
// temporary B-tree (they follow an index in date_added order).
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acc := sharing.NewPolicy(sharing.TLPNone).Access(sharing.Principal{OrgID: "identity--o", UserID: "u", Role: sharing.RoleMember})
	tests := []struct {
		name  string
		f     store.Filter
		index string
	}{
		{"page", store.Filter{Collection: store.DefaultCollectionID, Access: acc, Limit: 1000, Next: encodeCursor(12345)}, "objects_coll"},
		{"indicators added after", store.Filter{Collection: store.DefaultCollectionID, Access: acc, Types: []string{"indicator"}, AddedAfter: time.Unix(1e9, 0), Limit: 100}, "objects_type"},
		{"two types added after", store.Filter{Collection: store.DefaultCollectionID, Access: acc, Types: []string{"indicator", "malware"}, AddedAfter: time.Unix(1e9, 0), Limit: 100}, "objects_"},
		{"export", store.Filter{Access: acc, Limit: 1000, Next: encodeCursor(12345)}, "SEARCH o USING INTEGER PRIMARY KEY"},
		{"one object", store.Filter{Collection: store.DefaultCollectionID, Access: acc, IDs: []string{"indicator--1"}, Versions: []string{"all"}}, "objects_idh"},
		{"one object, last", store.Filter{Collection: store.DefaultCollectionID, Access: acc, IDs: []string{"indicator--1"}}, "objects_idh"},
		{"one object in every collection", store.Filter{Access: acc, IDs: []string{"indicator--1", "indicator--2"}}, "objects_idh"},
	}
	for _, tc := range tests {
		q, err := s.filterSQL(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT o.date_added FROM "+q.from+" WHERE "+strings.Join(q.where, " AND ")+" ORDER BY o.date_added LIMIT 10", q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		// Sorting the few versions of the objects asked for is fine.
		if strings.Contains(all, "TEMP B-TREE") && len(tc.f.IDs) == 0 || strings.Contains(all, "SCAN o\n") || strings.HasSuffix(all, "SCAN o") || !strings.Contains(plan[0], tc.index) {
			t.Errorf("%s: plan does not use %s without sorting:\n%s", tc.name, tc.index, all)
		}
	}
}

// TestMigrateFromV1 opens a database written with schema version 1 (before
// id hashes) and checks that its objects are still found by id.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, FileName), true))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (1)`,
		migrations[0].sql,
		`INSERT INTO api_roots VALUES ('hub', 'Kizuna hub', '', 104857600)`,
		`INSERT INTO collections (key, id, api_root, title, description, alias, read_orgs, write_orgs) VALUES (1, '` + store.DefaultCollectionID + `', 'hub', 'Shared intelligence', '', '', '["*"]', '["*"]')`,
		`INSERT INTO objects VALUES (1000, 1, 'tool--1', 'tool', 1577836800000000, '2020-01-01T00:00:00Z', '2.1', 1, '', '', 0, '', '', '{"type":"tool","id":"tool--1"}')`,
		`UPDATE clock SET last = 1000`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	all := sharing.Access{Clauses: []sharing.Clause{{}}}
	p, err := s.Query(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: all, IDs: []string{"tool--1"}})
	if err != nil || len(p.Entries) != 1 || string(p.Entries[0].Raw) != `{"type":"tool","id":"tool--1"}` {
		t.Fatalf("migrated object by id: %+v, %v", p, err)
	}
	// Different content under the migrated id and version is a conflict.
	o, _ := stix.Parse([]byte(`{"type":"tool","id":"tool--1","modified":"2020-01-01T00:00:00Z"}`))
	res, err := s.Add(ctx, store.DefaultCollectionID, []store.Record{{Object: o, Label: sharing.Label{TLP: 1}}}, "")
	if err != nil || !errors.Is(res[0].Err, errkind.Conflict) {
		t.Errorf("conflicting copy of a migrated version: %+v, %v", res, err)
	}
}
