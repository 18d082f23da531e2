package translog_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"iter"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog/storetest"
)

// objects lists the store's current objects for the first n test entries.
func objects(n int, edit func(i int, c *translog.Current) bool) iter.Seq2[translog.Current, error] {
	return func(yield func(translog.Current, error) bool) {
		for i := range n {
			e := storetest.Entry(i)
			c := translog.Current{Key: e.Key(), Hash: e.ObjectHash}
			if edit != nil && !edit(i, &c) {
				continue
			}
			if !yield(c, nil) {
				return
			}
		}
	}
}

// tamperStore returns edited entries, as storage changed behind the log's
// back would.
type tamperStore struct {
	*translog.MemStore
	edit func(i int64, e *translog.Entry)
}

func (s tamperStore) ReadEntries(ctx context.Context, start int64, n int) ([]translog.Entry, error) {
	es, err := s.MemStore.ReadEntries(ctx, start, n)
	for i := range es {
		s.edit(start+int64(i), &es[i])
	}
	return es, err
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	other := sha256.Sum256([]byte("edited"))
	extra := storetest.Entry(99)
	deleted := storetest.Entry(3)
	deleted.Op = translog.Delete
	for _, tc := range []struct {
		name    string
		later   []translog.Entry // appended after the 20 test entries
		current iter.Seq2[translog.Current, error]
		tamper  func(i int64, e *translog.Entry)
		want    []string // findings' String prefixes, in order
	}{
		{name: "clean", current: objects(20, nil)},
		{name: "edited", current: objects(20, func(i int, c *translog.Current) bool {
			if i == 7 {
				c.Hash = other
			}
			return true
		}), want: []string{"edited: indicator--00000000-0000-4000-8000-000000000007 version \"2026-01-01T00:00:00.000Z\" in collection collection-a: stored hash " + hexOf(other)}},
		{name: "removed", current: objects(20, func(i int, _ *translog.Current) bool { return i != 4 && i != 12 }),
			want: []string{"removed: indicator--00000000-0000-4000-8000-000000000004 ", "removed: indicator--00000000-0000-4000-8000-000000000012 "}},
		{name: "unlogged", current: func(yield func(translog.Current, error) bool) {
			for c := range objects(20, nil) {
				if !yield(c, nil) {
					return
				}
			}
			yield(translog.Current{Key: extra.Key(), Hash: extra.ObjectHash}, nil)
		}, want: []string{"unlogged: indicator--00000000-0000-4000-8000-000000000099 "}},
		{name: "deletion logged", later: []translog.Entry{deleted},
			current: objects(20, func(i int, _ *translog.Current) bool { return i != 3 })},
		{name: "resurrected after a logged deletion", later: []translog.Entry{deleted}, current: objects(20, nil),
			want: []string{"resurrected: indicator--00000000-0000-4000-8000-000000000003 "}},
		{name: "new version edited, old one intact", later: []translog.Entry{func() translog.Entry {
			e := storetest.Entry(5)
			e.Version = "2026-03-03T00:00:00.000Z"
			return e
		}()}, current: func(yield func(translog.Current, error) bool) {
			for c := range objects(20, nil) {
				yield(c, nil)
			}
			e := storetest.Entry(5)
			yield(translog.Current{Key: translog.ObjectKey{Collection: e.Collection, ObjectID: e.ObjectID, Version: "2026-03-03T00:00:00.000Z"}, Hash: other}, nil)
		}, want: []string{"edited: indicator--00000000-0000-4000-8000-000000000005 version \"2026-03-03T00:00:00.000Z\""}},
		{name: "log entry rewritten with the edit", current: objects(20, func(i int, c *translog.Current) bool {
			if i == 9 {
				c.Hash = other
			}
			return true
		}), tamper: func(i int64, e *translog.Entry) {
			if i == 9 {
				e.ObjectHash = other
			}
		}, want: []string{"log-tampered: the first 20 entries give root", "log-tampered: the log's stored hashes give root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &translog.MemStore{}
			var s translog.Store = mem
			if tc.tamper != nil {
				s = tamperStore{mem, tc.tamper}
			}
			l := translog.New(s)
			if _, err := l.Append(ctx, storetest.Entries(0, 20)...); err != nil {
				t.Fatal(err)
			}
			trusted, _ := l.Head(ctx)
			if _, err := l.Append(ctx, tc.later...); err != nil {
				t.Fatal(err)
			}
			rep, err := translog.Audit(ctx, l, trusted, tc.current)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != len(tc.want) {
				t.Fatalf("findings %v, want %d", rep.Findings, len(tc.want))
			}
			for i, w := range tc.want {
				if got := rep.Findings[i].String(); !strings.HasPrefix(got, w) {
					t.Errorf("finding %d = %q, want prefix %q", i, got, w)
				}
			}
			if err := rep.Err(); (err != nil) != (len(tc.want) > 0) || (err != nil && !errors.Is(err, provenance.ErrVerification)) {
				t.Fatalf("Err() = %v", err)
			}
		})
	}
}

func TestAuditTruncatedLog(t *testing.T) {
	ctx := context.Background()
	big := buildLog(t, 20)
	trusted, _ := big.Head(ctx)
	small := buildLog(t, 15) // the same first 15 records: the last 5 were cut off
	rep, err := translog.Audit(ctx, small, trusted, objects(15, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != translog.LogTampered ||
		!strings.Contains(rep.Findings[0].Detail, "15 records, fewer than the trusted tree head's 20") {
		t.Fatalf("findings %v", rep.Findings)
	}
}

func hexOf(h [32]byte) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for _, c := range h {
		b.WriteByte(digits[c>>4])
		b.WriteByte(digits[c&15])
	}
	return b.String()
}

// TestAuditEmptyLog: an empty log over an empty store is clean.
func TestAuditEmptyLog(t *testing.T) {
	l := translog.New(&translog.MemStore{})
	rep, err := translog.Audit(context.Background(), l, tlog.Tree{}, func(func(translog.Current, error) bool) {})
	if err != nil || rep.Err() != nil {
		t.Fatalf("empty log: %v %v", err, rep.Err())
	}
}
