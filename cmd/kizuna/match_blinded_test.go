package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect/blind"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// blindedLog is a Zeek dns.log querying red.example at lines 4 and 6
// (10:00 and 10:30 on 1 March 2026 UTC) and benign.example at line 5.
const blindedLog = "#separator \\x09\n" +
	"#path\tdns\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
	"1772359200.000000\tC1\t10.1.0.5\t53001\t10.1.0.1\t53\tudp\tred.example\t192.0.2.1\n" +
	"1772359201.000000\tC2\t10.1.0.5\t53002\t10.1.0.1\t53\tudp\tbenign.example\t192.0.2.1\n" +
	"1772361000.000000\tC3\t10.1.0.5\t53003\t10.1.0.1\t53\tudp\tRED.example.\t192.0.2.1\n"

// writeBlindedIndex writes an index holding red.example for recipient
// acme and returns its path and the token of the indicator.
func writeBlindedIndex(t *testing.T) (string, *blind.Index, blind.Token) {
	t.Helper()
	keys, err := blind.DeriveKeys(bytes.Repeat([]byte{1}, blind.SecretSize), "identity--acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pattern.Parse("[domain-name:value = 'red.example']")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := blind.Build(keys, time.Now(), []blind.Indicator{{ID: "indicator--red", Pattern: p}})
	data, err := x.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "index.kzbi")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, x, blind.TokenOf(keys.Token, "indicator--red")
}

func TestMatchBlinded(t *testing.T) {
	idx, x, tok := writeBlindedIndex(t)
	logPath := filepath.Join(t.TempDir(), "dns.log")
	if err := os.WriteFile(logPath, []byte(blindedLog), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "", "match", "--blinded", idx, logPath)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout = %q, want 2 hits", stdout)
	}
	for i, line := range lines {
		var h map[string]any
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(h))
		for k := range h {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"field", "file", "line", "time", "token"}) {
			t.Errorf("hit %d has keys %v: no value or indicator is printed", i, keys)
		}
		if h["token"] != tok.String() || h["field"] != "query" || h["file"] != logPath || h["line"] != float64(4+2*i) {
			t.Errorf("hit %d = %v", i, h)
		}
	}
	if strings.Contains(stdout, "red.example") || strings.Contains(stdout, "indicator--") {
		t.Error("stdout reveals the value or the indicator")
	}

	// No hit: exit 1.
	if code, _, _ := runCLI(t, strings.NewReplacer("red.example", "blue.example", "RED.example.", "blue.example").Replace(blindedLog), "match", "--blinded", idx, "-"); code != 1 {
		t.Errorf("no hit: exit %d, want 1", code)
	}
	// Usage errors: exit 2.
	if code, _, _ := runCLI(t, "", "match", "--blinded", idx, "--indicators", idx, logPath); code != 2 {
		t.Errorf("--blinded with --indicators: exit %d, want 2", code)
	}
	if code, _, _ := runCLI(t, "", "match", "--blinded", logPath, logPath); code != 2 {
		t.Errorf("a log as the index: exit %d, want 2", code)
	}

	// --report posts token, count and time to the hub.
	var got blindedReport
	var auth string
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/blinded-hits" {
			http.Error(w, "wrong endpoint", http.StatusNotFound)
			return
		}
		auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"hits":2,"resolved":2,"unresolved":0,"sightings":["sighting--1"]}`))
	}))
	defer hub.Close()
	code, _, stderr = runCLI(t, "", "match", "--blinded", idx, "--report", hub.URL, "--token", "T0K", logPath)
	if code != 0 {
		t.Fatalf("--report: exit %d, stderr %s", code, stderr)
	}
	want := blindedReport{KeyID: x.KeyID, Hits: []blindedReportHit{
		{Token: tok.String(), Count: 1, Time: "2026-03-01T10:00:00Z"},
		{Token: tok.String(), Count: 1, Time: "2026-03-01T10:30:00Z"},
	}}
	if auth != "Bearer T0K" || got.KeyID != want.KeyID || !slices.Equal(got.Hits, want.Hits) {
		t.Errorf("reported %+v with %q, want %+v", got, auth, want)
	}
	if !strings.Contains(stderr, "2 resolved") {
		t.Errorf("stderr %q lacks the hub's answer", stderr)
	}
	if code, _, _ := runCLI(t, "", "match", "--blinded", idx, "--report", hub.URL+"/nowhere", "--token", "T0K", logPath); code != 2 {
		t.Errorf("report to a wrong URL: exit %d, want 2", code)
	}
}
