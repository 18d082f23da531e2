package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const detectTestdata = "../../internal/detect/testdata/"

// matchIndicators is a bundle of a domain rule, an address, an indicator
// that matches nothing, an invalid pattern and a non-indicator.
const matchIndicators = `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[
{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000001","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'bad.example' OR domain-name:value LIKE '%.bad.example']","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z"},
{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000002","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '203.0.113.8']","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z"},
{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000003","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[file:hashes.MD5 = 'ffffffffffffffffffffffffffffffff']","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z"},
{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-000000000004","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[file:name = ]","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z"},
{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000001","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","name":"x","is_family":true}
]}`

const (
	ind1 = "indicator--00000000-0000-4000-8000-000000000001"
	ind2 = "indicator--00000000-0000-4000-8000-000000000002"
)

// writeIndicatorFiles writes matchIndicators as JSON and gzip'd JSON.
func writeIndicatorFiles(t *testing.T) (plain, gz string) {
	t.Helper()
	dir := t.TempDir()
	plain, gz = filepath.Join(dir, "inds.json"), filepath.Join(dir, "inds.json.gz")
	if err := os.WriteFile(plain, []byte(matchIndicators), 0o600); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(matchIndicators))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gz, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return plain, gz
}

// hitsOf parses the JSON lines of stdout into "source indicator field=value".
func hitsOf(t *testing.T, stdout string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var h struct {
			Source, Time, Field, Value string
			IndicatorID                string `json:"indicator_id"`
			Pattern                    string
		}
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatalf("hit is not a JSON line: %v: %q", err, line)
		}
		if h.Pattern == "" || h.IndicatorID == "" {
			t.Errorf("hit without pattern or indicator: %q", line)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s=%s", h.Source, h.Time, h.IndicatorID, h.Field, h.Value))
	}
	return out
}

func TestMatchIndicatorsFile(t *testing.T) {
	plain, gz := writeIndicatorFiles(t)
	zeek := detectTestdata + "zeek-malformed.log"
	zeekHits := []string{
		zeek + ":8 2018-11-02T00:05:42.680642Z " + ind1 + " host=bad.example",
		zeek + ":10 2018-11-02T00:05:44Z " + ind2 + " id.resp_h=203.0.113.8",
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		code       int
		hits       []string
		stderrHave []string
	}{
		{"zeek and eve", []string{"--indicators", plain, detectTestdata + "eve.json", zeek}, "", 0,
			append([]string{
				detectTestdata + "eve.json:1 2018-11-02T00:09:44.029579Z " + ind1 + " http.hostname=bad.example",
				detectTestdata + "eve.json:2 2018-11-02T00:10:00Z " + ind1 + " dns.rrname=c2.bad.example",
				detectTestdata + "eve.json:3 2018-11-02T00:11:00Z " + ind1 + " tls.sni=tls.bad.example",
			}, zeekHits...),
			[]string{
				"kizuna: match: indicator skipped: invalid input: indicator--00000000-0000-4000-8000-000000000004",
				"kizuna: match: " + detectTestdata + "eve.json:7: malformed: invalid JSON",
				"kizuna: match: " + zeek + ":9: malformed: 4 fields",
				"kizuna: match: 3 indicators, 10 events in 2 logs, 2 malformed lines, 5 hits on 2 indicators\n",
			}},
		{"gzip indicators, stdin log", []string{"--indicators", gz, "-"}, mustRead(t, zeek), 0,
			[]string{
				"-:8 2018-11-02T00:05:42.680642Z " + ind1 + " host=bad.example",
				"-:10 2018-11-02T00:05:44Z " + ind2 + " id.resp_h=203.0.113.8",
			},
			[]string{"kizuna: match: -:9: malformed", "1 malformed lines, 2 hits on 2 indicators"}},
		{"no hit", []string{"--indicators", plain, detectTestdata + "zeek/dns.log"}, "", 1, nil,
			[]string{"3 indicators, 1 events in 1 logs, 0 malformed lines, 0 hits on 0 indicators"}},
		{"neither source", []string{zeek}, "", 2, nil, []string{"kizuna: match: give either --indicators FILE or --server URL"}},
		{"both sources", []string{"--indicators", plain, "--server", "https://x", "--token", "t", zeek}, "", 2, nil, []string{"give either"}},
		{"server without token", []string{"--server", "https://127.0.0.1:1", "--token", "", zeek}, "", 2, nil, []string{"--server needs --token"}},
		{"no log", []string{"--indicators", plain}, "", 2, nil, []string{"requires at least 1 arg"}},
		{"missing log", []string{"--indicators", plain, "nope.log"}, "", 2, nil, []string{"kizuna: match: open nope.log"}},
		{"missing indicators", []string{"--indicators", "nope.json", zeek}, "", 2, nil, []string{"kizuna: match: open nope.json"}},
		{"indicators not JSON", []string{"--indicators", zeek, zeek}, "", 2, nil, []string{"kizuna: match: " + zeek + ": invalid input"}},
		{"undetectable log", []string{"--indicators", plain, plain}, "", 2, nil, []string{"kizuna: match: " + plain}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KIZUNA_TOKEN", "")
			r := kzIn(t, tt.stdin, append([]string{"match"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			got := hitsOf(t, r.stdout)
			if strings.Join(got, "\n") != strings.Join(tt.hits, "\n") {
				t.Errorf("hits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.hits, "\n"))
			}
			for _, w := range tt.stderrHave {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMatchServer pulls indicators from a real hub over TAXII 2.1 (TLS with
// its self-signed certificate): beta published 250 GREEN address
// indicators (three pages of 100) and an AMBER domain rule; acme sees the
// GREEN ones only.
func TestMatchServer(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "education", "--type", "academia")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "member")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "member")
	alice := kzOK(t, "token", "create", "--data", dir, "--org", "Acme", "--user", "alice")
	bob := kzOK(t, "token", "create", "--data", dir, "--org", "Beta", "--user", "bob")

	var green strings.Builder
	green.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[`)
	for i := range 250 {
		if i > 0 {
			green.WriteByte(',')
		}
		fmt.Fprintf(&green, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.18.%d.%d']","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
			100+i, i/100, i%100)
	}
	green.WriteString("]}")
	amber := `{"type":"indicator","spec_version":"2.1","id":"` + ind1 + `","created":"2018-01-01T00:00:00.000Z","modified":"2018-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'bad.example' OR domain-name:value LIKE '%.bad.example']","pattern_type":"stix","valid_from":"2018-01-01T00:00:00Z"}`
	greenFile, amberFile := filepath.Join(dir, "green.json"), filepath.Join(dir, "amber.json")
	if err := os.WriteFile(greenFile, []byte(green.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(amberFile, []byte(amber), 0o600); err != nil {
		t.Fatal(err)
	}
	kzOK(t, "import", "--data", dir, "--org", "Beta", greenFile)
	kzOK(t, "import", "--data", dir, "--org", "Beta", "--tlp", "amber", amberFile)

	// One log: a connection to the last GREEN address (page three) and a
	// query for a subdomain of the AMBER rule.
	log := "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\n" +
		"1541117142.5\tC1\t10.0.0.5\t5300\t198.18.2.49\t53\tudp\tc2.bad.example\t192.0.2.1\n"
	logFile := filepath.Join(dir, "dns.log")
	if err := os.WriteFile(logFile, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}

	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0")
	defer stop()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serve URL %q is not https", url)
	}
	greenLast := "indicator--00000000-0000-4000-8000-000000000349"
	tests := []struct {
		name       string
		token      string
		extra      []string
		code       int
		hits       []string
		stderrHave string
	}{
		{"acme sees GREEN only", alice, []string{"--insecure-skip-verify"}, 0,
			[]string{logFile + ":5 2018-11-02T00:05:42.5Z " + greenLast + " id.resp_h=198.18.2.49"},
			"kizuna: match: 250 indicators, 1 events in 1 logs, 0 malformed lines, 1 hits on 1 indicators"},
		{"beta sees its AMBER rule too", bob, []string{"--insecure-skip-verify"}, 0,
			[]string{
				logFile + ":5 2018-11-02T00:05:42.5Z " + greenLast + " id.resp_h=198.18.2.49",
				logFile + ":5 2018-11-02T00:05:42.5Z " + ind1 + " query=c2.bad.example",
			},
			"kizuna: match: 251 indicators, 1 events in 1 logs, 0 malformed lines, 2 hits on 2 indicators"},
		{"certificate not verified", alice, nil, 2, nil, "certificate"},
		{"bad token", "kz_bad", []string{"--insecure-skip-verify"}, 2, nil, "(401)"},
		{"unknown collection", alice, []string{"--insecure-skip-verify", "--collection", "nope"}, 2, nil, "(404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"match", "--server", url, "--token", tt.token}, tt.extra...)
			r := kz(t, append(args, logFile)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			got := hitsOf(t, r.stdout)
			slices.Sort(got)
			slices.Sort(tt.hits)
			if strings.Join(got, "\n") != strings.Join(tt.hits, "\n") {
				t.Errorf("hits:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.hits, "\n"))
			}
			if !strings.Contains(r.stderr, tt.stderrHave) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.stderrHave)
			}
			if strings.Contains(r.stderr, tt.token) && len(tt.token) > 8 {
				t.Error("the token was printed")
			}
		})
	}
}

// TestMatchPlainList matches a plain list (comments, blank lines, types
// inferred) and checks the contract fields of each hit: indicator_id (the
// UUIDv5 of the pattern), value, field, file and line, the physical line
// number as grep -n counts it (the Zeek header lines included).
func TestMatchPlainList(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte("# trails\n\nbad.example\n203.0.113.8 # address\n/path-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	zeek := detectTestdata + "zeek-malformed.log"
	lineOf := func(s string) int { // grep -n
		for i, l := range strings.Split(mustRead(t, zeek), "\n") {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%s not in %s", s, zeek)
		return 0
	}
	for _, format := range []string{"", "zeek"} {
		args := []string{"match", "--indicators", list}
		if format != "" {
			args = append(args, "--format", format)
		}
		r := kzIn(t, "", append(args, zeek)...)
		if r.code != 0 {
			t.Fatalf("format %q: exit %d; stderr %q", format, r.code, r.stderr)
		}
		type hit struct {
			IndicatorID string `json:"indicator_id"`
			Value       string `json:"value"`
			Field       string `json:"field"`
			File        string `json:"file"`
			Line        int    `json:"line"`
			Pattern     string `json:"pattern"`
		}
		var got []hit
		for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var h hit
			if err := json.Unmarshal([]byte(l), &h); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			got = append(got, h)
		}
		want := []hit{
			{"indicator--604967cd-ff4a-5cbe-8b07-c6df13df0849", "bad.example", "host", zeek, lineOf("\tbad.example\t"), "[domain-name:value = 'bad.example']"},
			{"indicator--8559fbe8-65e6-5f29-8431-ca7685ff432d", "203.0.113.8", "id.resp_h", zeek, lineOf("\t203.0.113.8\t"), "[ipv4-addr:value = '203.0.113.8']"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("format %q: hits\n%+v\nwant\n%+v", format, got, want)
		}
		for _, w := range []string{"1 values of no recognised type", `line 5: "/path-only"`, "2 indicators, 3 events in 1 logs"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("stderr %q lacks %q", r.stderr, w)
			}
		}
	}
	if r := kzIn(t, "", "match", "--indicators", list, detectTestdata+"zeek/dns.log"); r.code != 1 {
		t.Errorf("no hit: exit %d, want 1", r.code)
	}
	if r := kzIn(t, "", "match", "--indicators", list, "--format", "bogus", zeek); r.code != 2 || !strings.Contains(r.stderr, "--format") {
		t.Errorf("bad format: exit %d, stderr %q", r.code, r.stderr)
	}
}
