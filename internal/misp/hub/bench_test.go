package hub

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/misp"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// esetCorpus reads the real ESET MISP events (skipping when the shared
// data is absent) and returns copies copies of them as MISP JSON, every
// uuid rewritten per copy, with the number of attributes they hold.
func esetCorpus(b *testing.B, copies int) ([][]byte, int) {
	b.Helper()
	dir := "../../../../shared/data/misp/eset-malware-ioc"
	if _, err := os.Stat(dir); err != nil {
		b.Skipf("real MISP data not available (%s): %v", dir, err)
	}
	var events []*misp.Event
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		evs, err := misp.ParseEvents(p, data, nil)
		if err == nil {
			events = append(events, evs...)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	attrs := 0
	for k := range copies {
		re := func(u string) string {
			if len(u) != 36 {
				return u
			}
			return fmt.Sprintf("%08x", k) + u[8:]
		}
		for _, ev := range events {
			data, err := misp.EventFile(ev)
			if err != nil {
				b.Fatal(err)
			}
			cp, err := misp.ParseEvents("copy", data, nil)
			if err != nil {
				b.Fatal(err)
			}
			e := cp[0]
			e.UUID = re(e.UUID)
			for i := range e.Attribute {
				e.Attribute[i].UUID = re(e.Attribute[i].UUID)
			}
			attrs += len(e.Attribute)
			for i := range e.Object {
				o := &e.Object[i]
				o.UUID = re(o.UUID)
				for j := range o.Attribute {
					o.Attribute[j].UUID = re(o.Attribute[j].UUID)
				}
				attrs += len(o.Attribute)
				for j := range o.ObjectReference {
					o.ObjectReference[j].UUID = re(o.ObjectReference[j].UUID)
					o.ObjectReference[j].ReferencedUUID = re(o.ObjectReference[j].ReferencedUUID)
				}
			}
			data, err = misp.EventFile(e)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out, attrs
}

// BenchmarkImport measures MISP import end to end: parse the MISP JSON,
// convert to STIX, and store through the ingest pipeline (parse, validate,
// classify, commit to SQLite in 2,000-object transactions). Metric:
// attributes/s (event and object attributes). Target: >= 10,000.
func BenchmarkImport(b *testing.B) {
	const copies = 4
	files, attrs := esetCorpus(b, copies)
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st, err := sqlite.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		p := &ingest.Pipeline{Store: st, Policy: sharing.NewPolicy(sharing.TLPAmber), Log: slog.New(slog.DiscardHandler)}
		inputs := make([]File, len(files))
		for i, data := range files {
			inputs[i] = File{Name: fmt.Sprint(i), Read: func() ([]byte, error) { return data, nil }}
		}
		b.StartTimer()
		srcs := Sources(ctx, inputs, &Stats{})
		prog, err := p.Import(ctx, ingest.Submission{Collection: store.DefaultCollectionID,
			Principal: sharing.Principal{OrgName: "bench", Role: sharing.RoleHubAdmin}}, srcs, ingest.ImportOptions{})
		if err != nil || prog.Failed > 0 {
			b.Fatalf("import: %v (%d failed)", err, prog.Failed)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(attrs)*float64(b.N)/b.Elapsed().Seconds(), "attributes/s")
	b.ReportMetric(float64(attrs), "attributes/op")
}
