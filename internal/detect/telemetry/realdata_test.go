package telemetry

import (
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFile(t *testing.T, path string) (Reader, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Open(f, path, Options{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	evs := readAll(t, r)
	return r, len(evs)
}

// TestZeekBtestBaselines reads every log of Zeek's own test baselines
// (600 logs of edge cases): no fatal error and few malformed lines. About
// a dozen baselines are fragments without any header (custom separators
// without #separator, JSON with btest's masked "ts":XXXXXXXXXX.XXXXXX)
// that cannot be recognised; Open rejects those with errkind.Invalid.
func TestZeekBtestBaselines(t *testing.T) {
	root := filepath.Join(realdata.Path(t, ""), "telemetry", "zeek-btest-baselines")
	var files, events, malformed, badTime, unknown int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r, err := Open(strings.NewReader(string(data)), path, Options{})
		if err != nil {
			// a few baselines are fragments without any header
			t.Logf("not read: %v", err)
			unknown++
			return nil
		}
		files++
		events += len(readAll(t, r))
		st := r.Stats()
		malformed += st.Malformed
		badTime += st.BadTime
		if st.Malformed > 0 {
			t.Logf("%s: %d malformed: %v", strings.TrimPrefix(path, root), st.Malformed, st.Errors[0])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d logs, %d events, %d malformed lines, %d masked timestamps; %d files without a header not read", files, events, malformed, badTime, unknown)
	if files < 580 || events < 3000 || unknown > 15 {
		t.Errorf("only %d logs and %d events read, %d not recognised", files, events, unknown)
	}
	if malformed > events/100 {
		t.Errorf("%d malformed lines for %d events", malformed, events)
	}
}

// TestZedSampleData reads the WRCCDC 2018 Zeek logs, TSV and JSON, of
// zed-sample-data: every line is an event, and the two forms of a log
// give the same number of events.
func TestZedSampleData(t *testing.T) {
	root := filepath.Join(realdata.Path(t, ""), "telemetry", "zed-sample-data")
	tsv, _ := filepath.Glob(filepath.Join(root, "zeek-default", "*.log.gz"))
	if len(tsv) == 0 {
		t.Skip("zed-sample-data has no logs")
	}
	for _, path := range tsv {
		name := strings.TrimSuffix(filepath.Base(path), ".log.gz")
		t.Run(name, func(t *testing.T) {
			rt, nt := readFile(t, path)
			rj, nj := readFile(t, filepath.Join(root, "zeek-json", name+".json.gz"))
			if rt.Format() != FormatZeekTSV || rj.Format() != FormatZeekJSON {
				t.Errorf("formats %s, %s", rt.Format(), rj.Format())
			}
			st, sj := rt.Stats(), rj.Stats()
			if st.Malformed != 0 || sj.Malformed != 0 || st.BadTime != 0 || sj.BadTime != 0 {
				t.Errorf("malformed %d/%d, bad times %d/%d: %v %v", st.Malformed, sj.Malformed, st.BadTime, sj.BadTime, st.Errors, sj.Errors)
			}
			if nt != nj {
				t.Errorf("TSV gives %d events, JSON %d", nt, nj)
			}
		})
	}
}
