package pattern

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// indicatorPatterns collects the "pattern" of every indicator in a STIX
// JSON document (bundle or single object), keyed by a location for messages.
func indicatorPatterns(t *testing.T, name string, r io.Reader, out map[string]string) {
	t.Helper()
	var doc struct {
		Objects []struct {
			ID          string `json:"id"`
			Type        string `json:"type"`
			Pattern     string `json:"pattern"`
			PatternType string `json:"pattern_type"`
		} `json:"objects"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		t.Logf("%s: skipped, not a bundle: %v", name, err)
		return
	}
	for _, o := range doc.Objects {
		if o.Type == "indicator" && o.Pattern != "" && (o.PatternType == "" || o.PatternType == "stix") {
			out[name+": "+o.ID] = o.Pattern
		}
	}
}

// TestParseRealIndicators parses every STIX indicator pattern of the OASIS
// STIX 2.1 example bundles and the Unit 42 playbooks (real indicators).
func TestParseRealIndicators(t *testing.T) {
	patterns := map[string]string{}
	examples := realdata.Path(t, filepath.Join("stix", "cti-documentation"))
	err := filepath.WalkDir(examples, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		indicatorPatterns(t, filepath.Base(p), f, patterns)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	nExamples := len(patterns)
	if nExamples == 0 {
		t.Fatal("no indicator patterns in the OASIS examples")
	}

	if !testing.Short() {
		f, err := os.Open(realdata.Path(t, filepath.Join("stix", "unit42-playbooks.tar.gz")))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg && strings.HasSuffix(h.Name, ".json") {
				indicatorPatterns(t, filepath.Base(h.Name), tr, patterns)
			}
		}
	}

	failed := 0
	for where, src := range patterns {
		p, err := Parse(src)
		if err != nil {
			failed++
			if failed <= 20 {
				t.Errorf("%s: %q: %v", where, src, err)
			}
			continue
		}
		assertRoundTrip(t, p)
	}
	t.Logf("parsed %d indicator patterns (%d from the OASIS examples), %d failed", len(patterns), nExamples, failed)
}
