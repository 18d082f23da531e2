// Package sqlitedb opens the embedded SQLite databases of a data directory
// (the bus, the registries, the audit trail, the alert outbox, ...) with
// the hub's common settings, so every capability's file behaves alike.
package sqlitedb

import (
	"database/sql"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// DSN returns the connection string for path: every connection waits up
// to 10 s for locks, the file is in WAL mode with synchronous=NORMAL
// (committed transactions survive a process crash), and transactions begin
// IMMEDIATE so writers queue instead of failing to upgrade a read lock.
// The WAL is checkpointed every 16 MiB rather than SQLite's 4 MiB: a bulk
// import publishes an event per object on the bus, and each checkpoint
// costs two fsyncs. Statement journals (multi-row INSERTs) stay in memory.
func DSN(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(4096)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens path with DSN's settings (the file is created on first use).
func Open(path string) (*sql.DB, error) {
	return sql.Open("sqlite", DSN(path))
}
