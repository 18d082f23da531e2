package fetch_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/realdata"
)

// serveGocsaf serves one of the provider trees of the gocsaf test data
// (templates with {{.URL}}) over HTTPS on loopback.
func serveGocsaf(t *testing.T, tree string, sha256, sha512 bool) string {
	root := realdata.Path(t, "vuln/gocsaf/testdata/"+tree)
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/"))
		if strings.Contains(rel, "..") || strings.Contains(rel, "privkey") {
			http.NotFound(w, r)
			return
		}
		if (!sha256 && strings.HasSuffix(rel, ".sha256")) || (!sha512 && strings.HasSuffix(rel, ".sha512")) {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if bytes.Contains(b, []byte("{{")) {
			tpl, err := template.New(rel).Parse(string(b))
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			var out bytes.Buffer
			if err := tpl.Execute(&out, map[string]any{"URL": srv.URL, "EnableSha256": sha256, "EnableSha512": sha512}); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			b = out.Bytes()
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSyncGocsafProviders reads the directory and ROLIE provider trees
// of the BSI's CSAF tooling (real keys and signatures).
func TestSyncGocsafProviders(t *testing.T) {
	for _, tc := range []struct {
		tree           string
		sha256, sha512 bool
	}{
		{"simple-directory-provider", true, true},
		{"simple-directory-provider", false, true},
		{"simple-rolie-provider", true, false},
		{"simple-rolie-provider", true, true},
	} {
		url := serveGocsaf(t, tc.tree, tc.sha256, tc.sha512)
		c := fetch.New(fetch.Options{InsecureSkipVerify: true})
		rep, col := syncOnce(t, c, url+"/provider-metadata.json", nil)
		if rep.Failed != 0 || len(col.docs) != 1 || col.docs[0].TrackingID != "Avendor-advisory-0004" || col.docs[0].TLP != "WHITE" {
			t.Errorf("%s (sha256 %v, sha512 %v): %+v, %v", tc.tree, tc.sha256, tc.sha512, rep, col.ids())
		}
	}
}
