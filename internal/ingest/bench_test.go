package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// enterpriseATTACK is the real ATT&CK Enterprise load in the shared data
// folder (relative to this package directory).
const enterpriseATTACK = "../../../shared/data/stix/enterprise-attack-18.1-derived-stix21.json.gz"

// demoATTACK is the ATT&CK ICS subset shipped in testdata/demo.
const demoATTACK = "../../testdata/demo/attack-ics-subset.json"

// benchObjects returns real ATT&CK objects (compacted) to replicate.
func benchObjects(b *testing.B) []json.RawMessage {
	b.Helper()
	var r io.Reader
	if f, err := os.Open(enterpriseATTACK); err == nil {
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			b.Fatal(err)
		}
		r = zr
	} else if f, err := os.Open(demoATTACK); err == nil {
		b.Logf("%s absent; using %s", enterpriseATTACK, demoATTACK)
		defer f.Close()
		r = f
	} else {
		b.Skipf("neither %s nor %s present", enterpriseATTACK, demoATTACK)
	}
	var objs []json.RawMessage
	err := stix.ReadObjects(r, func(_ int, raw json.RawMessage) error {
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return err
		}
		objs = append(objs, c.Bytes())
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return objs
}

var idRE = regexp.MustCompile(`"id":"([a-z0-9-]+)--[0-9a-f]{8}`)

// replicate builds a bundle of n objects: copies of objs whose ids get the
// copy number in their first eight hex digits, so every copy is a new object.
func replicate(objs []json.RawMessage, n int) []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"type":"bundle","id":"bundle--11111111-2222-4333-8444-555555555555","objects":[`)
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		o := objs[i%len(objs)]
		copyNo := i / len(objs)
		if copyNo == 0 {
			buf.Write(o)
			continue
		}
		buf.Write(idRE.ReplaceAll(o, fmt.Appendf(nil, `"id":"${1}--%08x`, copyNo)))
	}
	buf.WriteString("]}")
	return buf.Bytes()
}

// BenchmarkImport measures bulk import end to end (read, parse, validate,
// classify, commit to SQLite) of real ATT&CK objects.
func BenchmarkImport(b *testing.B) {
	objs := benchObjects(b)
	for _, n := range []int{100_000} {
		data := replicate(objs, n)
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var total int64
			for i := 0; b.Loop(); i++ {
				dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
				st, err := sqlite.Open(context.Background(), dir)
				if err != nil {
					b.Fatal(err)
				}
				p := &Pipeline{Store: st, Policy: sharing.NewPolicy(sharing.TLPNone)}
				src := Source{Name: "bench.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
				prog, err := p.Import(context.Background(), Submission{Collection: "8e8c3e7c-0f3f-4b5e-9a43-2f6c1a7b9d01"}, []Source{src}, ImportOptions{})
				if err != nil {
					b.Fatal(err)
				}
				if prog.Committed+prog.Failed != int64(n) {
					b.Fatalf("progress %+v for %d objects", prog, n)
				}
				total += prog.Committed
				st.Close()
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
