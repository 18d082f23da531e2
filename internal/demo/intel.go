package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// IntelIndicatorID is the indicator ShareIntel shares.
const IntelIndicatorID = "indicator--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d9e02"

// IntelValues are the values the shared indicator's pattern compares:
// an address in the city's 198.51.100.0/24 and a URL whose host is under
// its minato-kita.example.
var IntelValues = []string{"198.51.100.80", "https://portal.minato-kita.example/owa/auth.php"}

// intelIndicator is the partner CERT's TLP:GREEN indicator of a phishing
// page on the city's web server (fictional, documentation ranges).
func intelIndicator(cert string) []byte {
	return []byte(`{"type":"bundle","id":"bundle--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d9e03","objects":[{"type":"indicator","spec_version":"2.1","id":"` + IntelIndicatorID + `",` +
		`"created":"2026-11-21T08:00:00.000Z","modified":"2026-11-21T08:00:00.000Z","created_by_ref":"` + cert + `",` +
		`"name":"Credential phishing page on a constituent's web portal","indicator_types":["compromised"],` +
		`"pattern":"[url:value = 'https://portal.minato-kita.example/owa/auth.php'] OR [ipv4-addr:value = '198.51.100.80']","pattern_type":"stix",` +
		`"valid_from":"2026-11-21T08:00:00Z","object_marking_refs":["` + sharing.MarkingID(sharing.TLPGreen) + `"]}]}` + "\n")
}

// ShareIntel has the partner CERT share, through p (the serving hub's
// pipeline, whose store publishes hub events), a TLP:GREEN indicator
// naming an address and a URL of the city: the hub's alerting routes it
// by constituency and the city alone gets notifications (source "intel").
// Sharing it again (a re-run on the same data) stores nothing new.
func ShareIntel(ctx context.Context, p *ingest.Pipeline, log *slog.Logger) error {
	var cert OrgSpec
	for _, s := range Orgs() {
		if s.Key == SigningOrg {
			cert = s
		}
	}
	sub := ingest.Submission{
		Collection: store.DefaultCollectionID,
		Principal:  principalOf(cert, 0),
		DefaultTLP: sharing.TLPGreen,
	}
	raw := intelIndicator(cert.Org.ID)
	src := ingest.Source{Name: "shared-intel.json", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }}
	var failed []ingest.Failure
	prog, err := p.Import(ctx, sub, []ingest.Source{src}, ingest.ImportOptions{OnFailure: func(f ingest.Failure) { failed = append(failed, f) }})
	if err != nil {
		return fmt.Errorf("demo: sharing the partner CERT's indicator: %w", err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("demo: sharing the partner CERT's indicator: %s", failed[0].Error())
	}
	if log != nil {
		log.Info("demo intelligence shared", "indicator", IntelIndicatorID, "committed", prog.Committed)
	}
	return nil
}
