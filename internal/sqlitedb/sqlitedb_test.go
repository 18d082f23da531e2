package sqlitedb

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenSettings: a database opened here is in WAL mode with
// synchronous=NORMAL and a 10 s busy timeout, even for a path with spaces
// and a '?' that must not end the file name.
func TestOpenSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x", "t.db")
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var mode string
	var sync, busy int
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || sync != 1 || busy != 10000 {
		t.Errorf("journal_mode %q, synchronous %d, busy_timeout %d; want wal, 1 (NORMAL), 10000", mode, sync, busy)
	}
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "t.db")); len(m) != 1 {
		t.Errorf("database file not at %s", path)
	}
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o750) }
