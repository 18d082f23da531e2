package sqlitelog_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/sqlitelog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

func open(t testing.TB) *sqlitelog.Store {
	t.Helper()
	s, err := sqlitelog.Open(context.Background(), filepath.Join(t.TempDir(), "log.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) translog.Store { return open(t) })
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "log.db")
	s, err := sqlitelog.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	l := translog.New(s)
	if _, err := l.Append(ctx, storetest.Entries(0, 10)...); err != nil {
		t.Fatal(err)
	}
	head, _ := l.Head(ctx)
	s.Close()
	s, err = sqlitelog.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l = translog.New(s)
	if _, err := l.Append(ctx, storetest.Entries(10, 20)...); err != nil {
		t.Fatal(err)
	}
	p, err := l.ConsistencyProof(ctx, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	newHead, _ := l.Head(ctx)
	if err := translog.VerifyConsistency(p, head, newHead); err != nil {
		t.Fatal(err)
	}
}

func TestAppendOnlyTriggers(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	if _, err := translog.New(s).Append(ctx, storetest.Entries(0, 3)...); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE translog_records SET entry = x'00' WHERE seq = 1`,
		`DELETE FROM translog_records WHERE seq = 2`,
	} {
		if _, err := s.DB().ExecContext(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// TestAuditDetectsTampering edits the database behind the log's back (as
// someone with file access would, dropping the triggers) and checks that
// the audit against a trusted tree head notices.
func TestAuditDetectsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		sql    string
		errors bool // the entries no longer parse: Audit fails with ErrVerification
	}{
		{"entry rewritten", `UPDATE translog_records SET entry = replace(entry, 'collection-a', 'collection-b') WHERE seq = 4`, false},
		{"entry corrupted", `UPDATE translog_records SET entry = x'00' WHERE seq = 4`, true},
		{"last record removed", `DELETE FROM translog_records WHERE seq = 9`, false},
		{"hashes rewritten", `UPDATE translog_records SET hashes = zeroblob(length(hashes)) WHERE seq = 7`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			l := translog.New(s)
			if _, err := l.Append(ctx, storetest.Entries(0, 10)...); err != nil {
				t.Fatal(err)
			}
			trusted, _ := l.Head(ctx)
			clean, err := translog.Audit(ctx, l, trusted, none)
			if err != nil || len(clean.Findings) != 10 { // all ten are Removed: the store is empty
				t.Fatalf("clean audit: %v, %v", clean, err)
			}
			for _, q := range []string{`DROP TRIGGER translog_no_update`, `DROP TRIGGER translog_no_delete`, tc.sql} {
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := translog.Audit(ctx, l, trusted, none)
			if tc.errors {
				if !errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("Audit = %v; want ErrVerification", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) == 0 || rep.Findings[0].Kind != translog.LogTampered {
				t.Fatalf("findings %v; want log tampering first", rep.Findings)
			}
		})
	}
}

func none(func(translog.Current, error) bool) {}
