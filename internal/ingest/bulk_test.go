package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// memStore is an in-memory store.Objects for pipeline tests: it keeps
// records per collection in commit order, treats an identical re-submission
// as a success and a different object with the same id and version as a
// conflict, like the real backends. Only the methods the pipeline uses are
// implemented; the embedded nil interface panics on anything else.
type memStore struct {
	store.Store

	mu       sync.Mutex
	recs     []store.Record
	byKey    map[string]string // id|version -> raw
	adds     int               // transactions
	failAt   int               // fail the failAt-th Add (1-based; 0: never)
	failures []store.StatusDetail
}

func newMemStore() *memStore { return &memStore{byKey: map[string]string{}} }

func (m *memStore) Add(ctx context.Context, coll string, recs []store.Record, statusID string) ([]store.AddResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.adds++
	if m.failAt == m.adds {
		return nil, errors.New("disk full")
	}
	out := make([]store.AddResult, len(recs))
	for i, r := range recs {
		k := r.Object.ID + "|" + r.Object.Version()
		out[i] = store.AddResult{ID: r.Object.ID, Version: r.Object.Version(), DateAdded: time.Now()}
		if prev, ok := m.byKey[k]; ok {
			if prev != string(r.Object.Raw) {
				out[i].Err = fmt.Errorf("%w: %s: a different object with this version exists", errkind.Conflict, r.Object.ID)
			}
			continue
		}
		m.byKey[k] = string(r.Object.Raw)
		m.recs = append(m.recs, r)
	}
	return out, nil
}

func (m *memStore) MarkingKnown(ctx context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Object.ID == id && r.Object.Type == "marking-definition" {
			return true, nil
		}
	}
	return false, nil
}

func (m *memStore) FailStatus(ctx context.Context, id string, f []store.StatusDetail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures = append(m.failures, f...)
	return nil
}

func (m *memStore) label(id string) (sharing.Label, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.recs {
		if r.Object.ID == id {
			return r.Label, true
		}
	}
	return sharing.Label{}, false
}

// indicator returns a valid indicator with the given number and markings.
func indicator(n int, markings ...string) string {
	m := ""
	if len(markings) > 0 {
		b, _ := json.Marshal(markings)
		m = `,"object_marking_refs":` + string(b)
	}
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.0.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}`, n, n%256, m)
}

func bundle(objs ...string) string {
	return `{"type":"bundle","id":"bundle--6a8a3b9b-3c1e-4d4b-9a43-2f6c1a7b9d01","objects":[` + strings.Join(objs, ",") + `]}`
}

func memSource(name, content string) Source {
	return Source{Name: name, Size: int64(len(content)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(content)), nil
	}}
}

func gzipped(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func newTestPipeline(st *memStore) *Pipeline {
	return &Pipeline{Store: st, Policy: sharing.NewPolicy(sharing.TLPNone)}
}

func TestImport(t *testing.T) {
	noSpec := `{"type":"indicator","id":"indicator--11111111-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00.000Z"}`
	tests := []struct {
		name          string
		srcs          func(t *testing.T) []Source
		batch         int
		wantCommitted int64
		wantFailed    int64
		// wantFailures are substrings expected in the reported failures, in order.
		wantFailures []string
	}{
		{
			name: "bundle",
			srcs: func(t *testing.T) []Source {
				return []Source{memSource("a.json", bundle(indicator(1), indicator(2), indicator(3)))}
			},
			wantCommitted: 3,
		},
		{
			name: "gzip and array and single object",
			srcs: func(t *testing.T) []Source {
				return []Source{
					memSource("a.json.gz", gzipped(t, bundle(indicator(1), indicator(2)))),
					memSource("b.json", "["+indicator(3)+","+indicator(4)+"]"),
					memSource("c.json", indicator(5)),
				}
			},
			batch:         2,
			wantCommitted: 5,
		},
		{
			name: "invalid objects reported with file index id and reason",
			srcs: func(t *testing.T) []Source {
				return []Source{memSource("mixed.json", bundle(indicator(1), noSpec, `{"id":"x"}`, indicator(2)))}
			},
			wantCommitted: 2,
			wantFailed:    2,
			wantFailures: []string{
				"mixed.json: object 1 (indicator--11111111-0000-4000-8000-000000000000): ",
				"spec_version: required property missing",
				"mixed.json: object 2 (x): x: type",
			},
		},
		{
			name: "malformed input keeps earlier objects and goes on",
			srcs: func(t *testing.T) []Source {
				return []Source{
					memSource("broken.json", `{"type":"bundle","objects":[`+indicator(1)+`,{"type":`),
					memSource("ok.json", bundle(indicator(2))),
				}
			},
			wantCommitted: 2,
			wantFailed:    1,
			wantFailures:  []string{"broken.json: invalid input"},
		},
		{
			name: "conflicting version refused by the store",
			srcs: func(t *testing.T) []Source {
				other := strings.Replace(indicator(1), "10.0.0.1'", "10.9.9.9'", 1)
				return []Source{memSource("a.json", bundle(indicator(1))), memSource("b.json", bundle(other))}
			},
			wantCommitted: 1,
			wantFailed:    1,
			wantFailures:  []string{"b.json: object 0 (indicator--00000000-0000-4000-8000-000000000001): ", "conflict"},
		},
		{
			name: "many batches",
			srcs: func(t *testing.T) []Source {
				var objs []string
				for i := range 1000 {
					objs = append(objs, indicator(i))
				}
				return []Source{memSource("big.json", bundle(objs...))}
			},
			batch:         64,
			wantCommitted: 1000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			p := newTestPipeline(st)
			var fails []string
			var commits []Progress
			prog, err := p.Import(context.Background(), Submission{Collection: "c"}, tt.srcs(t), ImportOptions{
				BatchSize: tt.batch,
				OnCommit:  func(pr Progress) { commits = append(commits, pr) },
				OnFailure: func(f Failure) { fails = append(fails, f.Error()) },
			})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if prog.Committed != tt.wantCommitted || prog.Failed != tt.wantFailed {
				t.Errorf("progress = %+v, want committed %d failed %d", prog, tt.wantCommitted, tt.wantFailed)
			}
			if got := int64(len(st.recs)); got != tt.wantCommitted {
				t.Errorf("store holds %d records, want %d", got, tt.wantCommitted)
			}
			all := strings.Join(fails, "\n")
			pos := 0
			for _, w := range tt.wantFailures {
				i := strings.Index(all[pos:], w)
				if i < 0 {
					t.Errorf("failures %q lack %q (in order)", all, w)
					break
				}
				pos += i + len(w)
			}
			if int64(len(fails)) != tt.wantFailed {
				t.Errorf("%d failures reported, want %d: %q", len(fails), tt.wantFailed, fails)
			}
			var last Progress
			for _, c := range commits {
				if c.Committed < last.Committed || c.Failed < last.Failed || c.Bytes < last.Bytes {
					t.Errorf("progress went backwards: %+v after %+v", c, last)
				}
				last = c
			}
			if last != prog {
				t.Errorf("last OnCommit %+v != result %+v", last, prog)
			}
			if tt.batch > 0 && tt.wantCommitted > int64(tt.batch) && st.adds < int(tt.wantCommitted)/tt.batch {
				t.Errorf("%d transactions for %d objects in batches of %d", st.adds, tt.wantCommitted, tt.batch)
			}
		})
	}
}

func TestImportDefaultTLPAndMarkings(t *testing.T) {
	stmt := `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168","created":"2017-06-01T00:00:00.000Z","definition_type":"statement","definition":{"statement":"Copyright"}}`
	unknown := "marking-definition--00000000-1111-4000-8000-000000000000"
	st := newMemStore()
	p := newTestPipeline(st)
	pr := sharing.Principal{OrgID: "identity--aaaaaaaa-0000-4000-8000-000000000000", UserID: "u1"}
	// The statement marking comes after the objects that reference it, in
	// the same batch; the last object is in a later batch.
	srcs := []Source{memSource("a.json", bundle(
		indicator(1),
		indicator(2, sharing.TLP2Red),
		indicator(3, "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"),
		indicator(4, unknown),
		stmt,
		indicator(5, "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"),
	))}
	_, err := p.Import(context.Background(), Submission{Collection: "c", Principal: pr, DefaultTLP: sharing.TLPClear}, srcs, ImportOptions{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]sharing.TLP{1: sharing.TLPClear, 2: sharing.TLPRed, 3: sharing.TLPClear, 4: sharing.TLPUnknown, 5: sharing.TLPClear}
	for n, tlp := range want {
		id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n)
		l, ok := st.label(id)
		if !ok {
			t.Fatalf("%s not stored", id)
		}
		if l.TLP != tlp {
			t.Errorf("%s: TLP %v, want %v", id, l.TLP, tlp)
		}
		if l.ProducerOrg != pr.OrgID || l.ProducerUser != pr.UserID {
			t.Errorf("%s: producer %q/%q", id, l.ProducerOrg, l.ProducerUser)
		}
	}
	// The stored JSON is untouched by the default TLP.
	for _, r := range st.recs {
		if r.Object.ID == "indicator--00000000-0000-4000-8000-000000000001" && string(r.Object.Raw) != indicator(1) {
			t.Errorf("raw changed: %s", r.Object.Raw)
		}
	}
}

func TestImportStoreFailure(t *testing.T) {
	st := newMemStore()
	st.failAt = 3
	p := newTestPipeline(st)
	var objs []string
	for i := range 500 {
		objs = append(objs, indicator(i))
	}
	prog, err := p.Import(context.Background(), Submission{Collection: "c"}, []Source{memSource("a.json", bundle(objs...))}, ImportOptions{BatchSize: 100})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the store's error", err)
	}
	if prog.Committed != 200 || len(st.recs) != 200 {
		t.Errorf("committed %d, stored %d; want 200 (two batches)", prog.Committed, len(st.recs))
	}
}

func TestImportCancelled(t *testing.T) {
	st := newMemStore()
	p := newTestPipeline(st)
	ctx, cancel := context.WithCancel(context.Background())
	var objs []string
	for i := range 2000 {
		objs = append(objs, indicator(i))
	}
	prog, err := p.Import(ctx, Submission{Collection: "c"}, []Source{memSource("a.json", bundle(objs...))}, ImportOptions{
		BatchSize: 100,
		OnCommit: func(Progress) {
			cancel()
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if prog.Committed != int64(len(st.recs)) || prog.Committed >= 2000 {
		t.Errorf("progress %+v, stored %d", prog, len(st.recs))
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.json", bundle(indicator(1)))
	write("sub/a.json.gz", gzipped(t, bundle(indicator(2))))
	write("sub/readme.txt", "not stix")
	write("sub/deeper/c.json", indicator(3))
	single := filepath.Join(dir, "b.json")

	tests := []struct {
		name string
		args []string
		want []string
		err  bool
	}{
		{"directory recursive", []string{dir}, []string{"b.json", "sub/a.json.gz", "sub/deeper/c.json"}, false},
		{"file and stdin", []string{single, "-"}, []string{"b.json", "-"}, false},
		{"missing", []string{filepath.Join(dir, "nope.json")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs, err := Sources(tt.args, strings.NewReader(indicator(9)))
			if tt.err {
				if !errors.Is(err, errkind.NotFound) {
					t.Fatalf("err = %v, want NotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				rel, _ := filepath.Rel(dir, s.Name)
				if s.Name == "-" {
					rel = "-"
				}
				got = append(got, filepath.ToSlash(rel))
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("sources %v, want %v", got, tt.want)
			}
			st := newMemStore()
			prog, err := newTestPipeline(st).Import(context.Background(), Submission{Collection: "c"}, srcs, ImportOptions{})
			if err != nil || prog.Committed != int64(len(tt.want)) || prog.Failed != 0 {
				t.Errorf("import: %+v, %v", prog, err)
			}
		})
	}
}

func TestSubmit(t *testing.T) {
	st := newMemStore()
	p := newTestPipeline(st)
	raws := []json.RawMessage{json.RawMessage(indicator(1)), json.RawMessage(`{"type":"indicator"}`), json.RawMessage(indicator(2, sharing.TLP2Green))}
	res, err := p.Submit(context.Background(), Submission{Collection: "c", StatusID: "s1"}, raws)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Successes) != 2 || len(res.Failures) != 1 {
		t.Fatalf("result %+v", res)
	}
	if len(st.failures) != 1 || !strings.Contains(st.failures[0].Message, "id") {
		t.Errorf("status failures %+v", st.failures)
	}
	if l, _ := st.label("indicator--00000000-0000-4000-8000-000000000002"); l.TLP != sharing.TLPGreen {
		t.Errorf("label %+v", l)
	}
}

func FuzzImport(f *testing.F) {
	f.Add([]byte(bundle(indicator(1), indicator(2))))
	f.Add([]byte("[" + indicator(3) + "]"))
	f.Add([]byte(indicator(4)))
	f.Add([]byte(`{"objects":[{"type":"x"},1,"s",null]}`))
	f.Add([]byte(`{"type":"bundle","objects":[` + indicator(1) + `,{"type":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := newMemStore()
		p := newTestPipeline(st)
		var failures int64
		prog, err := p.Import(context.Background(), Submission{Collection: "c"}, []Source{memSource("f.json", string(data))}, ImportOptions{
			BatchSize: 3,
			OnFailure: func(f Failure) {
				failures++
				if f.File != "f.json" || f.Reason == "" {
					t.Errorf("bad failure %+v", f)
				}
			},
		})
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		if failures != prog.Failed {
			t.Errorf("%d failures reported, %d counted", failures, prog.Failed)
		}
		if int64(len(st.recs)) > prog.Committed {
			t.Errorf("%d stored, %d committed", len(st.recs), prog.Committed)
		}
		for _, r := range st.recs {
			if !json.Valid(r.Object.Raw) {
				t.Errorf("stored invalid JSON %q", r.Object.Raw)
			}
		}
	})
}
