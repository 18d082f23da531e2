package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect/blind"
	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

const (
	blindIndRed    = "indicator--00000000-0000-4000-8000-00000000b001" // beta's bob, RED: bob only
	blindIndStrict = "indicator--00000000-0000-4000-8000-00000000b002" // acme, AMBER+STRICT: acme only
	blindIndAmber  = "indicator--00000000-0000-4000-8000-00000000b003" // beta, AMBER: not blinded
	blindIndGreen  = "indicator--00000000-0000-4000-8000-00000000b004" // hub, GREEN: not blinded
)

// seedBlindIndicators stores indicators of every level that matters.
func seedBlindIndicators(t *testing.T, f *fixture) {
	t.Helper()
	for _, s := range []struct{ user, obj string }{
		{"bob", telIndicator(blindIndRed, "[domain-name:value = 'red.example']", sharing.TLP2Red)},
		{"alice", telIndicator(blindIndStrict, "[ipv4-addr:value = '203.0.113.50']", sharing.TLP2AmberStrict)},
		{"bob", telIndicator(blindIndAmber, "[domain-name:value = 'amber.example']", sharing.TLP2Amber)},
		{"analyst", telIndicator(blindIndGreen, "[domain-name:value = 'green.example']", sharing.TLP2Green)},
	} {
		r := f.post(s.user, store.DefaultCollectionID, s.obj)
		if st := r.json(t); st["status"] != "complete" || st["success_count"] != 1.0 {
			t.Fatalf("seeding indicator as %s: %s", s.user, r.body)
		}
	}
}

// blindZeekDNS queries red.example twice (10:00 and 10:30 on 1 March 2026
// UTC), and amber.example, green.example and 203.0.113.50 once each.
const blindZeekDNS = "#separator \\x09\n" +
	"#path\tdns\n" +
	"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
	"1772359200.000000\tC1\t10.1.0.5\t53001\t10.1.0.1\t53\tudp\tRED.example.\t192.0.2.1\n" +
	"1772361000.000000\tC2\t10.1.0.5\t53002\t10.1.0.1\t53\tudp\tred.example\t192.0.2.1\n" +
	"1772361001.000000\tC3\t10.1.0.5\t53003\t10.1.0.1\t53\tudp\tamber.example\t192.0.2.1\n" +
	"1772361002.000000\tC4\t10.1.0.5\t53004\t10.1.0.1\t53\tudp\tgreen.example\t203.0.113.50\n"

func fetchBlindIndex(t *testing.T, f *fixture, user string) (*blind.Index, []byte, response) {
	t.Helper()
	r := f.do(req{path: "/api/v1/blinded-index", user: user, header: map[string]string{"Accept": BlindedIndexType}})
	wantStatus(t, r, 200)
	if ct := r.header.Get("Content-Type"); ct != BlindedIndexType {
		t.Fatalf("Content-Type %q", ct)
	}
	x, err := blind.Parse(r.body)
	if err != nil {
		t.Fatalf("parsing the index: %v", err)
	}
	return x, r.body, r
}

// localMatch is what a constituent does: read its log, look every
// observable up in the index.
func localMatch(t *testing.T, x *blind.Index, log string) []blindedHit {
	t.Helper()
	rd, err := telemetry.Open(strings.NewReader(log), "dns.log", telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var hits []blindedHit
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range ev.Observables {
			for _, tok := range x.Lookup(o.Kind, o.Value) {
				hits = append(hits, blindedHit{Token: tok.String(), Count: 1, Time: ev.Time.UTC().Format(time.RFC3339)})
			}
		}
	}
	return hits
}

func postBlindHits(t *testing.T, f *fixture, user string, body any) (response, blindedHitsResponse) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := f.do(req{method: http.MethodPost, path: "/api/v1/blinded-hits", user: user, body: b,
		header: map[string]string{"Content-Type": "application/json", "Accept": "application/json"}})
	var res blindedHitsResponse
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &res); err != nil {
			t.Fatalf("response: %v: %s", err, r.body)
		}
	}
	return r, res
}

func TestBlindedMatchingEndToEnd(t *testing.T) {
	f := newFixture(t)
	seedBlindIndicators(t, f)

	// bob may see the RED indicator (his own); acme's AMBER+STRICT one
	// and the AMBER and GREEN ones are not in his index.
	x, raw, r := fetchBlindIndex(t, f, "bob")
	if r.header.Get("X-Kizuna-Indicators") != "1" || len(x.Entries) != 1 || x.Recipient != orgBeta {
		t.Fatalf("bob's index: %s indicators, %d entries, recipient %s", r.header.Get("X-Kizuna-Indicators"), len(x.Entries), x.Recipient)
	}
	for _, secret := range []string{"red.example", "amber.example", "203.0.113.50", blindIndRed} {
		if bytes.Contains(bytes.ToLower(raw), []byte(secret)) {
			t.Errorf("the index contains %q", secret)
		}
	}
	// The hub secret was generated in the data directory, mode 0600.
	fi, err := os.Stat(filepath.Join(f.srv.cfg.DataDir, blindSecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != blind.SecretSize {
		t.Fatalf("hub secret: %v, %v", fi, err)
	}

	hits := localMatch(t, x, blindZeekDNS)
	if len(hits) != 2 || hits[0].Token != hits[1].Token {
		t.Fatalf("local hits = %+v, want red.example twice", hits)
	}
	r, res := postBlindHits(t, f, "bob", blindedHitsRequest{KeyID: x.KeyID, Hits: hits})
	wantStatus(t, r, 200)
	if res.Hits != 2 || res.Resolved != 2 || res.Unresolved != 0 || len(res.Sightings) != 1 || res.TLP != "TLP:AMBER+STRICT" {
		t.Fatalf("bob's report: %s", r.body)
	}
	got := f.sightings(t, "bob")
	if len(got) != 1 {
		t.Fatalf("bob sees %d sightings, want 1", len(got))
	}
	s := got[0]
	if s["id"] != res.Sightings[0] || s["sighting_of_ref"] != blindIndRed || s["created_by_ref"] != orgBeta || s["count"] != 2.0 ||
		s["first_seen"] != "2026-03-01T10:00:00.000Z" || s["last_seen"] != "2026-03-01T10:30:00.000Z" {
		t.Errorf("sighting = %v", s)
	}
	if n := len(f.sightings(t, "alice")); n != 0 {
		t.Errorf("acme sees %d of beta's AMBER+STRICT sightings", n)
	}

	// alice's index has acme's AMBER+STRICT indicator, not the RED one:
	// the same log hits only the address.
	xa, _, r := fetchBlindIndex(t, f, "alice")
	if r.header.Get("X-Kizuna-Indicators") != "1" || xa.Recipient != orgAcme || xa.KeyID == x.KeyID {
		t.Fatalf("alice's index: %s indicators, recipient %s, key %s", r.header.Get("X-Kizuna-Indicators"), xa.Recipient, xa.KeyID)
	}
	if toks := xa.Lookup(telemetry.KindDomain, "red.example"); toks != nil {
		t.Fatal("alice's index finds red.example")
	}
	aHits := localMatch(t, xa, blindZeekDNS)
	if len(aHits) != 1 {
		t.Fatalf("alice's local hits = %+v, want the address once", aHits)
	}
	// bob's tokens reported by alice resolve to nothing.
	r, res = postBlindHits(t, f, "alice", blindedHitsRequest{KeyID: xa.KeyID, Hits: hits})
	wantStatus(t, r, 200)
	if res.Resolved != 0 || res.Unresolved != 2 || len(res.Sightings) != 0 {
		t.Fatalf("alice reporting bob's tokens: %s", r.body)
	}
	r, res = postBlindHits(t, f, "alice", blindedHitsRequest{KeyID: xa.KeyID, Hits: aHits})
	wantStatus(t, r, 200)
	if res.Resolved != 1 || len(res.Sightings) != 1 {
		t.Fatalf("alice's report: %s", r.body)
	}
	if got := f.sightings(t, "alice"); len(got) != 1 || got[0]["sighting_of_ref"] != blindIndStrict || got[0]["created_by_ref"] != orgAcme {
		t.Errorf("alice's sightings = %v", got)
	}
	// The hub analyst gets an index without either (RED is bob's, and
	// AMBER+STRICT excludes hub analysts).
	if xh, _, r := fetchBlindIndex(t, f, "analyst"); r.header.Get("X-Kizuna-Indicators") != "0" || len(xh.Entries) != 0 {
		t.Errorf("analyst's index has %d entries", len(xh.Entries))
	}
}

func TestBlindedHitsErrors(t *testing.T) {
	f := newFixture(t)
	seedBlindIndicators(t, f)
	x, _, _ := fetchBlindIndex(t, f, "bob")
	tok := blind.Token{}.String()
	tests := []struct {
		name, user string
		body       any
		status     int
	}{
		{"unauthenticated", "", blindedHitsRequest{KeyID: x.KeyID}, 401},
		{"stale key", "bob", blindedHitsRequest{KeyID: "0000000000000000", Hits: []blindedHit{{Token: tok}}}, 409},
		{"bad token", "bob", blindedHitsRequest{KeyID: x.KeyID, Hits: []blindedHit{{Token: "zz"}}}, 400},
		{"bad time", "bob", blindedHitsRequest{KeyID: x.KeyID, Hits: []blindedHit{{Token: tok, Time: "yesterday"}}}, 400},
		{"bad count", "bob", blindedHitsRequest{KeyID: x.KeyID, Hits: []blindedHit{{Token: tok, Count: -1}}}, 400},
		{"unknown field", "bob", map[string]any{"key_id": x.KeyID, "values": []string{"red.example"}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := postBlindHits(t, f, tt.user, tt.body)
			wantStatus(t, r, tt.status)
		})
	}
	if r := f.do(req{path: "/api/v1/blinded-index"}); r.status != 401 {
		t.Errorf("unauthenticated index: %d", r.status)
	}
	if n := len(f.sightings(t, "bob")); n != 0 {
		t.Errorf("%d sightings stored by failed requests", n)
	}
}

func TestBlindSecretRefusedWhenShared(t *testing.T) {
	dir := t.TempDir()
	a, err := loadBlindSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadBlindSecret(dir)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load differs (err %v)", err)
	}
	if err := os.Chmod(filepath.Join(dir, blindSecretFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadBlindSecret(dir); err == nil {
		t.Error("a world-readable secret was accepted")
	}
	if _, err := loadBlindSecret(""); err == nil {
		t.Error("no data directory accepted")
	}
}
