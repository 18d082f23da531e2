package source_test

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
)

// TestRunRealAdvisories publishes the real CSAF 2.0 advisories of
// ../shared/data (OASIS examples, Red Hat advisories of the vunnel
// fixtures) on a Kizuna provider and reads them back: every published one
// is fetched, verified and imported.
func TestRunRealAdvisories(t *testing.T) {
	ctx := context.Background()
	var files []string
	for _, dir := range []string{"vuln/oasis-csaf/csaf_2.0/examples/csaf", "vuln/vunnel-fixtures/tests/unit/providers/rhel/test-fixtures/csaf"} {
		root := realdata.Path(t, dir)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") && !strings.Contains(p, "/input/") {
				files = append(files, p)
			}
			return nil
		})
	}
	k := startKizuna(t)
	published := map[string]bool{}
	for _, f := range files {
		e, err := k.p.Publish(ctx, readFile(t, f), csaf.PublishOptions{ProducerOrg: hubID})
		if err != nil {
			continue // not a valid, labelled, final CSAF 2.0 document (hydra CVE pages, drafts)
		}
		published[e.ID] = e.TLP == "WHITE" || e.TLP == "GREEN"
	}
	if len(published) < 10 {
		t.Fatalf("only %d of %d files published", len(published), len(files))
	}
	r, _ := consumer(t)
	if err := r.Registry.Add(ctx, source.Source{Name: "real", Kind: source.CSAFProvider, URL: k.url, Token: k.token, InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, "real")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Fetched != len(published) || res.Failed != 0 || res.Added == 0 {
		t.Errorf("%d advisories published, run %+v", len(published), res)
	}
	t.Logf("%d files, %d advisories published and fetched; %d records added, %d withheld", len(files), len(published), res.Added, res.Withheld)
}
