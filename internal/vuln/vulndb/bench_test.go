package vulndb

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"log/slog"
	"os"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// BenchmarkImportVulnrichment imports the CISA vulnrichment tarball (44,130
// CVE 5 records) and the KEV catalogue into an empty data directory: the
// vulnerability database plus one STIX vulnerability object per record
// through the ingest pipeline into SQLite, as `kizuna vuln import` does
// (without the transparency log). KIZUNA_BENCH_EXTRA names more files or
// directories to import in the same run (for instance a generated tarball
// of renamed copies to reach 100,000 records).
func BenchmarkImportVulnrichment(b *testing.B) {
	paths := []string{
		realdata.Path(b, "vuln/vulnrichment/vulnrichment-b0ed758.tar.gz"),
		realdata.Path(b, "vuln/kev/known_exploited_vulnerabilities.json"),
	}
	if extra := os.Getenv("KIZUNA_BENCH_EXTRA"); extra != "" {
		paths = append(paths, extra)
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		st, err := sqlite.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		db, err := Open(ctx, dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		policy := sharing.NewPolicy(sharing.TLPAmber)
		p := &ingest.Pipeline{Store: st, Policy: policy, Log: slog.New(slog.DiscardHandler)}
		sub := ingest.Submission{Collection: store.DefaultCollectionID, DefaultTLP: sharing.TLPClear,
			Principal: sharing.Principal{OrgName: "local operator", User: "local-operator", Role: sharing.RoleHubAdmin}}
		im := &Importer{DB: db, Markings: []string{sharing.TLP2Clear},
			Emit: func(ctx context.Context, objs []json.RawMessage) error {
				res, err := p.Submit(ctx, sub, objs)
				if err == nil && len(res.Failures) > 0 {
					err = fmt.Errorf("%d refused: %s", len(res.Failures), res.Failures[0].Message)
				}
				return err
			}}
		b.StartTimer()
		sum, err := im.Import(ctx, paths)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		records := 0
		for _, c := range sum.Formats {
			records += c.Records
		}
		b.ReportMetric(float64(records), "records")
		b.ReportMetric(float64(sum.STIX), "stix")
		b.ReportMetric(float64(records)/b.Elapsed().Seconds()*float64(b.N), "records/s")
		if sum.Failed > 0 {
			b.Fatalf("%d files failed", sum.Failed)
		}
		db.Close()
		st.Close()
		b.StartTimer()
	}
}
