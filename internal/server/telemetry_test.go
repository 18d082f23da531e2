package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Indicators of the telemetry tests: a GREEN address published by the hub
// and an AMBER domain published by beta (visible to beta and hub analysts,
// not to acme).
const (
	telIndGreen = "indicator--00000000-0000-4000-8000-00000000a001"
	telIndAmber = "indicator--00000000-0000-4000-8000-00000000a002"
)

func telIndicator(id, pattern, tlp string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":%q,"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["%s"]}`,
		id, pattern, tlp)
}

// telZeekDNS is a Zeek dns.log: three queries for evil.example answered by
// 198.51.100.7, two at 10:00 and 10:59:59 and one at 11:00:00 on 1 March
// 2026 (UTC), an unrelated query, and a malformed line (line 11).
const telZeekDNS = "#separator \\x09\n" +
	"#set_separator\t,\n" +
	"#empty_field\t(empty)\n" +
	"#unset_field\t-\n" +
	"#path\tdns\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
	"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\n" +
	"1772359200.000000\tC1\t10.1.0.5\t53001\t10.1.0.1\t53\tudp\tevil.example\t198.51.100.7\n" +
	"1772362799.000000\tC2\t10.1.0.5\t53002\t10.1.0.1\t53\tudp\tevil.example\t198.51.100.7\n" +
	"1772362800.000000\tC3\t10.1.0.5\t53003\t10.1.0.1\t53\tudp\tevil.example\t198.51.100.7\n" +
	"1772362801.000000\tC4\tbroken\n" +
	"1772362802.000000\tC5\t10.1.0.5\t53004\t10.1.0.1\t53\tudp\tbenign.example\t192.0.2.1\n"

type telResult struct {
	Format         string `json:"format"`
	Events         int    `json:"events"`
	Malformed      int    `json:"malformed"`
	MalformedLines []struct {
		Line int `json:"line"`
	} `json:"malformed_lines"`
	Indicators int      `json:"indicators"`
	Hits       int      `json:"hits"`
	TLP        string   `json:"tlp"`
	Sightings  []string `json:"sightings"`
}

func postTelemetry(t *testing.T, f *fixture, user, query, body string) (response, telResult) {
	t.Helper()
	r := f.do(req{method: http.MethodPost, path: "/api/v1/telemetry" + query, user: user, body: []byte(body),
		header: map[string]string{"Content-Type": "text/plain", "Accept": "application/json"}})
	var res telResult
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatalf("telemetry response: %v: %s", err, r.body)
		}
	}
	return r, res
}

// seedTelemetryIndicators stores the two indicators over TAXII.
func seedTelemetryIndicators(t *testing.T, f *fixture) {
	t.Helper()
	for _, s := range []struct{ user, obj string }{
		{"analyst", telIndicator(telIndGreen, "[ipv4-addr:value = '198.51.100.7']", sharing.TLP2Green)},
		{"bob", telIndicator(telIndAmber, "[domain-name:value = 'evil.example']", sharing.TLP2Amber)},
	} {
		r := f.post(s.user, store.DefaultCollectionID, s.obj)
		if st := r.json(t); st["status"] != "complete" || st["success_count"] != 1.0 {
			t.Fatalf("seeding indicator as %s: %s", s.user, r.body)
		}
	}
}

// sightings returns the sightings user sees in the default collection.
func (f *fixture) sightings(t *testing.T, user string) []map[string]any {
	t.Helper()
	r := f.get(user, objectsPath(store.DefaultCollectionID)+"?match[type]=sighting")
	wantStatus(t, r, 200)
	var env struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("envelope: %v: %s", err, r.body)
	}
	return env.Objects
}

func TestTelemetrySightingsRespectVisibility(t *testing.T) {
	f := newFixture(t)
	seedTelemetryIndicators(t, f)

	// acme may see the GREEN indicator only.
	r, res := postTelemetry(t, f, "alice", "", telZeekDNS)
	wantStatus(t, r, 200)
	if res.Format != "zeek-tsv" || res.Events != 4 || res.Malformed != 1 || len(res.MalformedLines) != 1 ||
		res.MalformedLines[0].Line != 11 || res.Indicators != 1 || res.Hits != 3 || res.TLP != "TLP:AMBER" {
		t.Fatalf("acme result = %s", r.body)
	}
	if len(res.Sightings) != 2 {
		t.Fatalf("acme sightings = %v, want 2 (one per hour)", res.Sightings)
	}
	got := f.sightings(t, "alice")
	if len(got) != 2 {
		t.Fatalf("acme sees %d sightings, want 2", len(got))
	}
	slices.SortFunc(got, func(a, b map[string]any) int {
		return strings.Compare(a["first_seen"].(string), b["first_seen"].(string))
	})
	want := []struct {
		count       float64
		first, last string
	}{
		{2, "2026-03-01T10:00:00.000Z", "2026-03-01T10:59:59.000Z"},
		{1, "2026-03-01T11:00:00.000Z", "2026-03-01T11:00:00.000Z"},
	}
	for i, s := range got {
		if !slices.Contains(res.Sightings, s["id"].(string)) {
			t.Errorf("stored sighting %s not in the response %v", s["id"], res.Sightings)
		}
		if s["sighting_of_ref"] != telIndGreen || s["created_by_ref"] != orgAcme || s["count"] != want[i].count ||
			s["first_seen"] != want[i].first || s["last_seen"] != want[i].last {
			t.Errorf("sighting %d = %v, want count %v %s..%s of %s by %s", i, s, want[i].count, want[i].first, want[i].last, telIndGreen, orgAcme)
		}
		if w, _ := s["where_sighted_refs"].([]any); len(w) != 1 || w[0] != orgAcme {
			t.Errorf("where_sighted_refs = %v, want [%s]", s["where_sighted_refs"], orgAcme)
		}
		if m, _ := s["object_marking_refs"].([]any); len(m) != 1 || m[0] != sharing.TLP2Amber {
			t.Errorf("object_marking_refs = %v, want TLP:AMBER", s["object_marking_refs"])
		}
	}
	// Stored as AMBER by acme: beta does not see them, hub analysts do.
	if n := len(f.sightings(t, "bob")); n != 0 {
		t.Errorf("beta sees %d of acme's AMBER sightings", n)
	}
	if n := len(f.sightings(t, "analyst")); n != 2 {
		t.Errorf("hub analyst sees %d sightings, want 2", n)
	}

	// beta sees both indicators: the same log hits both, 3 events each.
	r, res = postTelemetry(t, f, "bob", "?tlp=green&format=zeek-tsv", telZeekDNS)
	wantStatus(t, r, 200)
	if res.Indicators != 2 || res.Hits != 6 || len(res.Sightings) != 4 || res.TLP != "TLP:GREEN" {
		t.Fatalf("beta result = %s", r.body)
	}
	// acme now also sees beta's GREEN sightings, but none of the AMBER indicator is ever acme's.
	var ofAmber int
	for _, s := range f.sightings(t, "alice") {
		if s["sighting_of_ref"] == telIndAmber {
			ofAmber++
			if s["created_by_ref"] != orgBeta {
				t.Errorf("a sighting of the AMBER indicator not by beta: %v", s)
			}
		}
	}
	if ofAmber != 2 {
		t.Errorf("acme sees %d GREEN sightings of beta's indicator, want 2", ofAmber)
	}
}

func TestTelemetryNoHitNoSighting(t *testing.T) {
	f := newFixture(t)
	seedTelemetryIndicators(t, f)
	// Only the AMBER domain appears, which acme may not see.
	log := strings.ReplaceAll(telZeekDNS, "198.51.100.7", "192.0.2.9")
	r, res := postTelemetry(t, f, "alice", "", log)
	wantStatus(t, r, 200)
	if res.Hits != 0 || len(res.Sightings) != 0 || res.Events != 4 {
		t.Fatalf("acme result = %s, want no hit", r.body)
	}
	if n := len(f.sightings(t, "analyst")); n != 0 {
		t.Errorf("%d sightings stored, want none", n)
	}
	// beta, which may see the domain, gets hits from the same log.
	r, res = postTelemetry(t, f, "bob", "", log)
	wantStatus(t, r, 200)
	if res.Hits != 3 || len(res.Sightings) != 2 {
		t.Fatalf("beta result = %s, want 3 hits in 2 sightings", r.body)
	}
}

func TestTelemetryErrors(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxContentLength = 4096 })
	tests := []struct {
		name, user, query, body string
		status                  int
	}{
		{"unauthenticated", "", "", telZeekDNS, 401},
		{"bad tlp", "alice", "?tlp=purple", telZeekDNS, 400},
		{"bad window", "alice", "?window=1s", telZeekDNS, 400},
		{"bad format", "alice", "?format=pcap", telZeekDNS, 400},
		{"undetectable", "alice", "", "hello world\n", 400},
		{"too large", "alice", "", telZeekDNS + strings.Repeat("x", 5000), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := postTelemetry(t, f, tt.user, tt.query, tt.body)
			wantStatus(t, r, tt.status)
		})
	}
}

// TestTelemetrySightingsLogged checks that sightings go through the same
// pipeline wiring as TAXII submissions: with a ledger, each one is logged.
func TestTelemetrySightingsLogged(t *testing.T) {
	var l *ledger.Ledger
	var keys *ledger.OrgKeys
	f := newFixture(t, withLedger(t, &l, &keys))
	seedTelemetryIndicators(t, f)
	before, err := l.Log().Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, res := postTelemetry(t, f, "alice", "", telZeekDNS)
	wantStatus(t, r, 200)
	if len(res.Sightings) != 2 {
		t.Fatalf("result = %s, want 2 sightings", r.body)
	}
	after, err := l.Log().Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.N-before.N != 2 {
		t.Errorf("log grew by %d entries, want 2 (one per sighting)", after.N-before.N)
	}
}
