package main

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeASNTable imports a scan feed over HTTP into a hub whose
// organisation Carrier registered only its ASN: with serve --asn-table the
// feed's address in that AS becomes Carrier's notification; without it,
// nothing reaches Carrier.
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
		{"with table", []string{"--asn-table", asn, "--asn-format", "csv"}, []string{"198.51.100.200 AS64502", "2001:db8:bad::7 AS64502"}},
		{"without table", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
			kzOK(t, "org", "create", "--data", dir, "--name", "Carrier", "--sector", "telecom", "--type", "sme")
			kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "ana", "--role", "analyst")
			kzOK(t, "constituency", "add", "--data", dir, "--org", "Carrier", "AS64502")
			url, stop := startServe(t, append([]string{"--data", dir, "--listen", "127.0.0.1:0"}, tc.args...)...)
			defer stop()
			ana := &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", "Hub", "--user", "ana")}
			code, body := ana.do("POST", "/api/v1/notifications/import?source=scan&format=csv&map=value=ip&map=port=port", "text/csv", scan)
			if code != http.StatusOK || !strings.Contains(string(body), `"malformed":2`) {
				t.Fatalf("import: %d %s", code, body)
			}
			got, _ := notifications(t, dir, "Carrier")
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Carrier's notifications %q, want %q", got, tc.want)
			}
		})
	}
	// A bad table or format stops serve with a clear error.
	dir := t.TempDir()
	checkFailure(t, kz(t, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--asn-table", filepath.Join(dir, "missing.csv")), 1, "missing.csv")
	checkFailure(t, kz(t, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--asn-table", asn, "--asn-format", "xml"), 2, "--asn-format")
}
