package main

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert/collection"
)

// TestServeASNTable runs a hub whose organisation Carrier registered only
// its ASN: with serve --asn-table, an indicator naming an address of that
// AS is routed to Carrier (its constituency-only rule alerts it) and an
// HTTP import of a scan feed gives it the notifications of the feed's
// addresses in that AS; without the table, neither reaches Carrier.
func TestServeASNTable(t *testing.T) {
	asn := filepath.Join("..", "..", "internal", "response", "testdata", "asn.csv") // 198.51.100.128/25 is AS64502
	scan, err := os.ReadFile(filepath.Join("..", "..", "internal", "response", "testdata", "scan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, tc := range []struct {
		name string
		args []string
		want []string // Carrier's notifications as "value matched"
	}{
		// The shared indicator (source intel) and the scan's two rows.
		{"with table", []string{"--asn-table", asn, "--asn-format", "csv"}, []string{"198.51.100.200 AS64502", "198.51.100.200 AS64502", "2001:db8:bad::7 AS64502"}},
		{"without table", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
			kzOK(t, "org", "create", "--data", dir, "--name", "Carrier", "--sector", "telecom", "--type", "sme")
			kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "ana", "--role", "analyst")
			kzOK(t, "user", "create", "--data", dir, "--org", "Carrier", "--name", "cora", "--role", "member")
			kzOK(t, "constituency", "add", "--data", dir, "--org", "Carrier", "AS64502")
			// Carrier's alert collection: indicators routed to it, and every note (a marker).
			kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Carrier", "--channel", "taxii", "--type", "indicator", "--constituency-only")
			kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Carrier", "--channel", "taxii", "--type", "note")
			url, stop := startServe(t, append([]string{"--data", dir, "--listen", "127.0.0.1:0"}, tc.args...)...)
			defer stop()
			ana := &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", "Hub", "--user", "ana")}
			cora := &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", "Carrier", "--user", "cora")}

			// An indicator naming 198.51.100.200 (AS64502 in the table), then the marker.
			ana.taxiiPost(indicatorJSON(200, greenMarking))
			ana.taxiiPost(`{"type":"note","spec_version":"2.1","id":"note--00000000-0000-4000-8000-000000000001","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","content":"marker","object_refs":["indicator--00000000-0000-4000-8000-000000000200"]` + greenMarking + `}`)
			coll := collection.ID(orgID(t, dir, "Carrier"))
			var objs map[string]json.RawMessage
			bustest.WaitFor(t, "the marker in Carrier's alert collection", func() bool {
				objs, _ = alertObjects(cora, coll)
				return objs["note--00000000-0000-4000-8000-000000000001"] != nil
			})
			if routed := objs["indicator--00000000-0000-4000-8000-000000000200"] != nil; routed != (tc.want != nil) {
				t.Errorf("the indicator naming 198.51.100.200 routed to Carrier: %v", routed)
			}
			code, body := ana.do("POST", "/api/v1/notifications/import?source=scan&format=csv&map=value=ip&map=port=port", "text/csv", scan)
			if code != http.StatusOK || !strings.Contains(string(body), `"malformed":2`) {
				t.Fatalf("import: %d %s", code, body)
			}
			got, list := notifications(t, dir, "Carrier")
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Carrier's notifications %q, want %q", got, tc.want)
			}
			intel := 0
			for _, n := range list {
				if n.Source == events.IntelSource {
					intel++
					if n.Value != "198.51.100.200" || n.Fields["object"] != "indicator--00000000-0000-4000-8000-000000000200" {
						t.Errorf("intel notification %+v", n)
					}
				}
			}
			if want := min(len(tc.want), 1); intel != want {
				t.Errorf("%d notifications of the shared indicator, want %d", intel, want)
			}
		})
	}
	// A bad table or format stops serve with a clear error.
	dir := t.TempDir()
	checkFailure(t, kz(t, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--asn-table", filepath.Join(dir, "missing.csv")), 1, "missing.csv")
	checkFailure(t, kz(t, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--asn-table", asn, "--asn-format", "xml"), 2, "--asn-format")
}
