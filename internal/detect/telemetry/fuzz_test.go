package telemetry

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed adds the fixtures to a fuzz corpus.
func seed(f *testing.F, names ...string) {
	f.Helper()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(testdata, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// check reads everything and asserts the reader invariants: no panic, no
// fatal error on in-memory input, counts consistent, line numbers in range
// and increasing, observables normalised.
func check(t *testing.T, data []byte, opts Options) {
	opts.MaxLineBytes = 4096
	r, err := Open(strings.NewReader(string(data)), "fuzz", opts)
	if err != nil {
		return // unrecognised input is an error, never a panic
	}
	last := 0
	events := 0
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if opts.Format == "" && len(data) > 1 && data[0] == 0x1f {
				return // corrupt gzip ends the reading
			}
			t.Fatalf("fatal error on in-memory input: %v", err)
		}
		events++
		if ev.Line <= last {
			t.Fatalf("line %d after %d", ev.Line, last)
		}
		last = ev.Line
		src, dst := 0, 0
		for _, o := range ev.Observables {
			if v, ok := Normalize(o.Kind, o.Value); !ok || v != o.Value {
				t.Fatalf("observable %v %q not normalised (%q)", o.Kind, o.Value, v)
			}
			switch o.Role {
			case RoleSrc:
				src++
			case RoleDst:
				dst++
			}
		}
		if src > 1 || dst > 1 {
			t.Fatalf("%d src and %d dst addresses", src, dst)
		}
	}
	st := r.Stats()
	if st.Events != events || st.Events+st.Malformed > st.Lines || len(st.Errors) > st.Malformed {
		t.Fatalf("inconsistent stats %+v for %d events", st, events)
	}
	for _, e := range st.Errors {
		if e.Line < 1 || e.Line > st.Lines {
			t.Fatalf("error line %d outside 1..%d", e.Line, st.Lines)
		}
	}
}

// FuzzOpen fuzzes format detection and every reader behind it.
func FuzzOpen(f *testing.F) {
	seed(f, "eve.json", "cef.log", "zeek-json.log", "zeek-malformed.log", "zeek/dns.log", "zeek/ssl.log", "zeek/files.log")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{}) })
}

// FuzzZeekTSV fuzzes the Zeek TSV reader (headers, escapes, sets).
func FuzzZeekTSV(f *testing.F) {
	seed(f, "zeek-malformed.log", "zeek/conn.log", "zeek/dns.log", "zeek/files.log", "zeek/smtp.log", "zeek/ssl.log")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatZeekTSV}) })
}

// FuzzZeekJSON fuzzes the Zeek JSON reader.
func FuzzZeekJSON(f *testing.F) {
	seed(f, "zeek-json.log")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatZeekJSON}) })
}

// FuzzEVE fuzzes the Suricata EVE reader.
func FuzzEVE(f *testing.F) {
	seed(f, "eve.json")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatEVE}) })
}

// FuzzCEF fuzzes the CEF reader (header and extension escapes).
func FuzzCEF(f *testing.F) {
	seed(f, "cef.log")
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatCEF}) })
}

// FuzzCSV fuzzes the mapped CSV reader.
func FuzzCSV(f *testing.F) {
	seed(f, "mapped.csv")
	m, err := ParseMapping("client=ip:src,server=ip:dst,query=domain,port=dst-port,time=time")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatCSV, Mapping: m}) })
}

// FuzzJSONLines fuzzes the mapped JSON lines reader.
func FuzzJSONLines(f *testing.F) {
	seed(f, "mapped.jsonl")
	m, err := ParseMapping("net.src=ip:src,net.dst=ip:dst,hostnames=domain,time=when")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) { check(t, data, Options{Format: FormatJSONLines, Mapping: m}) })
}
