package source

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sqlitedb"
)

// TestMigrateOldRegistry: a registry written before RED recipients existed
// gains the column when opened, and its sources read back.
func TestMigrateOldRegistry(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlitedb.Open(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE vuln_sources (
		name TEXT PRIMARY KEY, kind TEXT NOT NULL, url TEXT NOT NULL, token TEXT NOT NULL, every_ms INTEGER NOT NULL,
		insecure INTEGER NOT NULL, created_ns INTEGER NOT NULL, last_attempt_ns INTEGER NOT NULL DEFAULT 0,
		last_success_ns INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', failures INTEGER NOT NULL DEFAULT 0,
		fetched INTEGER NOT NULL DEFAULT 0, imported INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
		withheld INTEGER NOT NULL DEFAULT 0, last_fetched INTEGER NOT NULL DEFAULT 0, last_imported INTEGER NOT NULL DEFAULT 0,
		last_failed INTEGER NOT NULL DEFAULT 0) STRICT;
		INSERT INTO vuln_sources (name, kind, url, token, every_ms, insecure, created_ns) VALUES ('old', 'kev', 'https://example.org/kev.json', '', 0, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // the second open finds the column in place
		reg, err := OpenRegistry(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := reg.Get(ctx, "old")
		if err != nil || s.Kind != KEV || len(s.RedRecipients) != 0 {
			t.Errorf("old source: %v %+v", err, s)
		}
		reg.Close()
	}
}
