package server

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// testClock is a fake clock safe for use by the server's goroutines.
type testClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// withCases serves incidents from a case store in its own directory.
func withCases(t *testing.T, clk *testClock) fixtureOpt {
	return func(cfg *Config) {
		cs, err := incident.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		cs.Dir, cs.Now = cfg.Store, clk.now
		cfg.Cases = cs
	}
}

const incIndicator = "indicator--6b1a3c2e-1f2d-4c3b-9a8e-7d6c5b4a3f21"

func incReport(title, tlp string, anonymous bool) string {
	b, _ := json.Marshal(map[string]any{
		"title": title, "description": "credential phishing", "detected": "2026-03-01T09:30:00Z",
		"classification": "fraud", "type": "phishing", "impact": "low", "severity": "medium", "sector": "energy",
		"affected_services": []string{"webmail"}, "affected_organizations": []string{orgBeta},
		"tlp": tlp, "contact": "soc@acme.example", "anonymous": anonymous,
		"objects": []json.RawMessage{json.RawMessage(`{"type":"indicator","spec_version":"2.1","id":"` + incIndicator + `","created":"2026-03-01T09:00:00.000Z","modified":"2026-03-01T09:00:00.000Z","pattern":"[domain-name:value = 'webmail-login.example']","pattern_type":"stix","valid_from":"2026-03-01T09:00:00Z"}`)},
	})
	return string(b)
}

func (f *fixture) api(method, user, path, body string) response {
	f.t.Helper()
	r := req{method: method, path: path, user: user, header: map[string]string{"Accept": "application/json"}}
	if body != "" {
		r.body = []byte(body)
		r.header["Content-Type"] = "application/json"
	}
	return f.do(r)
}

func decodeCase(t *testing.T, r response) incident.Case {
	t.Helper()
	var c incident.Case
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("not a case: %v: %s", err, r.body)
	}
	return c
}

// stixObjects returns the objects of a type user sees in the default
// collection, keyed by id.
func stixObjects(t *testing.T, f *fixture, user, typ string) map[string]json.RawMessage {
	t.Helper()
	r := f.get(user, objectsPath(store.DefaultCollectionID)+"?match[type]="+typ)
	wantStatus(t, r, 200)
	var env struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("envelope: %v: %s", err, r.body)
	}
	out := map[string]json.RawMessage{}
	for _, o := range env.Objects {
		var h struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(o, &h)
		out[h.ID] = o
	}
	return out
}

func TestIncidentCycleOverHTTP(t *testing.T) {
	clk := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	f := newFixture(t, withCases(t, clk))

	// An SME reports anonymously, at TLP:GREEN, with an indicator.
	r := f.api(http.MethodPost, "alice", "/api/v1/incidents", incReport("Phishing against webmail", "green", true))
	wantStatus(t, r, http.StatusCreated)
	c := decodeCase(t, r)
	if c.State != incident.StateNew || !c.Anonymous || c.ReporterOrg != orgAcme ||
		!slices.ContainsFunc(c.Links, func(l incident.Link) bool { return l.ObjectID == incIndicator && l.Kind == incident.LinkAttached }) {
		t.Fatalf("case = %s", r.body)
	}
	// Invalid reports name the field; the public cannot report.
	r = f.api(http.MethodPost, "alice", "/api/v1/incidents", strings.Replace(incReport("x", "green", false), `"phishing"`, `"spam"`, 1))
	wantStatus(t, r, 400)
	if !strings.Contains(string(r.body), `report field \"type\"`) {
		t.Errorf("400 body does not name the field: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "", "/api/v1/incidents", incReport("x", "green", false)), 401)

	// Another organisation cannot see it, even as an affected one.
	wantStatus(t, f.api(http.MethodGet, "bob", "/api/v1/cases/"+c.ID, ""), 404)
	r = f.api(http.MethodGet, "bob", "/api/v1/cases", "")
	wantStatus(t, r, 200)
	if strings.Contains(string(r.body), c.ID) {
		t.Errorf("bob lists the case: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "bob", "/api/v1/cases/"+c.ID+"/comment", `{"text":"hi"}`), 404)
	// The reporter sees it; the reporter may not triage.
	wantStatus(t, f.api(http.MethodGet, "alice", "/api/v1/cases/"+c.ID, ""), 200)
	wantStatus(t, f.api(http.MethodPost, "alice", "/api/v1/cases/"+c.ID+"/transition", `{"state":"triage"}`), 403)

	// The hub analyst sees the source, triages, assigns, comments, links.
	r = f.api(http.MethodGet, "analyst", "/api/v1/cases?state=new", "")
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), orgAcme) || !strings.Contains(string(r.body), "soc@acme.example") {
		t.Errorf("the hub does not know the source: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/transition", `{"state":"resolved"}`), 409)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/export", ""), 409) // not triaged
	clk.advance(15 * time.Minute)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/transition", `{"state":"triage"}`), 200)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/assign", `{"assignee":"`+f.users["alice"]+`"}`), 400)
	r = f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/assign", `{"assignee":"`+f.users["analyst"]+`"}`)
	wantStatus(t, r, 200)
	if decodeCase(t, r).Assignee != f.users["analyst"] {
		t.Errorf("assign: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/comment", `{"text":"same kit as February","internal":true}`), 200)
	wantStatus(t, f.api(http.MethodPost, "alice", "/api/v1/cases/"+c.ID+"/comment", `{"text":"two more mails"}`), 200)
	mal := "malware--00000000-0000-4000-a000-000000000001"
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/link", `{"object_id":"`+mal+`"}`), 200)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/link", `{"object_id":"nope"}`), 400)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/frobnicate", `{}`), 404)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/comment", `{"txt":"typo"}`), 400)
	seen := decodeCase(t, f.api(http.MethodGet, "alice", "/api/v1/cases/"+c.ID, ""))
	if len(seen.Comments) != 1 || seen.Comments[0].Text != "two more mails" {
		t.Errorf("reporter sees comments %+v", seen.Comments)
	}

	// Export: a STIX incident and report, visible per TLP, with the hub as
	// source and never the reporter's identity.
	clk.advance(105 * time.Minute) // report + 2h
	r = f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/export", "")
	wantStatus(t, r, 200)
	var ex incident.ExportResult
	if err := json.Unmarshal(r.body, &ex); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"incident", "report", "extension-definition", "indicator"} {
		objs := stixObjects(t, f, "bob", typ)
		if len(objs) != 1 {
			t.Fatalf("bob sees %d %s objects, want 1", len(objs), typ)
		}
		for id, raw := range objs {
			s := string(raw)
			if strings.Contains(s, orgAcme) || strings.Contains(s, f.users["alice"]) || strings.Contains(s, "soc@acme.example") {
				t.Errorf("%s names the anonymous reporter: %s", id, s)
			}
			if typ == "incident" || typ == "report" {
				var o struct {
					CreatedBy  string   `json:"created_by_ref"`
					ObjectRefs []string `json:"object_refs"`
				}
				_ = json.Unmarshal(raw, &o)
				if o.CreatedBy != orgHub {
					t.Errorf("%s created_by_ref = %q, want the hub", id, o.CreatedBy)
				}
				if typ == "incident" && (id != ex.IncidentID || !strings.Contains(s, incident.ExtensionID) || !strings.Contains(s, `"rsit_type":"phishing"`)) {
					t.Errorf("incident %s", s)
				}
				if typ == "report" && !reflect.DeepEqual(o.ObjectRefs, []string{ex.IncidentID, incIndicator, mal}) {
					t.Errorf("report object_refs = %v", o.ObjectRefs)
				}
			}
		}
	}
	r = f.do(req{path: "/public/clear"})
	wantStatus(t, r, 200)
	if strings.Contains(string(r.body), ex.IncidentID) {
		t.Errorf("the public feed shows the TLP:GREEN incident: %s", r.body)
	}

	// An AMBER, named report: beta (affected) and acme see the export,
	// another AMBER case without beta would not; the hub's analysts do.
	r = f.api(http.MethodPost, "alice", "/api/v1/incidents", strings.Replace(incReport("Second phishing wave", "amber", false), `"`+orgBeta+`"`, `"identity--00000000-0000-4000-8000-0000000000ff"`, 1))
	wantStatus(t, r, http.StatusCreated)
	c2 := decodeCase(t, r)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c2.ID+"/transition", `{"state":"triage"}`), 200)
	r = f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c2.ID+"/export", "")
	wantStatus(t, r, 200)
	var ex2 incident.ExportResult
	_ = json.Unmarshal(r.body, &ex2)
	if _, ok := stixObjects(t, f, "bob", "incident")[ex2.IncidentID]; ok {
		t.Error("bob sees the AMBER incident of a case that does not name beta")
	}
	inc2, ok := stixObjects(t, f, "alice", "incident")[ex2.IncidentID]
	if !ok || !strings.Contains(string(inc2), `"created_by_ref":"`+orgAcme+`"`) {
		t.Errorf("alice does not see her AMBER incident with her organisation as source: %s", inc2)
	}

	// Merge the second case into the first as a duplicate.
	r = f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c2.ID+"/merge", `{"into":"`+c.ID+`"}`)
	wantStatus(t, r, 200)
	if s := decodeCase(t, r); s.ID != c.ID || !slices.Contains(s.Merged, c2.ID) {
		t.Errorf("merge answered %s", r.body)
	}
	d := decodeCase(t, f.api(http.MethodGet, "alice", "/api/v1/cases/"+c2.ID, ""))
	if d.MergedInto != c.ID || d.State != incident.StateClosed {
		t.Errorf("merged case %+v", d)
	}
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c2.ID+"/transition", `{"state":"triage"}`), 409)

	// Acknowledgements by the affected organisations: acme and beta (the
	// merge added the second case's unknown identity, which never acks).
	clk.advance(time.Hour) // report + 3h
	wantStatus(t, f.api(http.MethodPost, "bob", "/api/v1/cases/"+c.ID+"/ack", ""), 200)
	clk.advance(time.Hour) // report + 4h
	wantStatus(t, f.api(http.MethodPost, "alice", "/api/v1/cases/"+c.ID+"/ack", ""), 200)
	wantStatus(t, f.api(http.MethodPost, "analyst", "/api/v1/cases/"+c.ID+"/ack", ""), 403)

	r = f.api(http.MethodGet, "analyst", "/api/v1/metrics/cycle", "")
	wantStatus(t, r, 200)
	var dash incident.Dashboard
	if err := json.Unmarshal(r.body, &dash); err != nil {
		t.Fatal(err)
	}
	if len(dash.Cases) != 1 {
		t.Fatalf("metrics cases = %s", r.body)
	}
	m := dash.Cases[0]
	// Triage at +15 min, advisory (the export) at +2 h; three affected
	// organisations (acme, beta, and the one merged in), two acknowledged.
	if m.TimeToTriage == nil || *m.TimeToTriage != 900 || m.TimeToAdvisory == nil || *m.TimeToAdvisory != 7200 ||
		m.Affected != 3 || m.Acknowledged != 2 || m.TimeToAcknowledged != nil {
		t.Errorf("case metrics %s", r.body)
	}
	if len(dash.Months) != 1 || !dash.Months[0].Suppressed || len(dash.Sectors) != 0 {
		t.Errorf("one case must not show in the anonymised statistics: %s", r.body)
	}
	// bob's organisation reported nothing: no per-case metrics.
	r = f.api(http.MethodGet, "bob", "/api/v1/metrics/cycle", "")
	wantStatus(t, r, 200)
	if strings.Contains(string(r.body), c.ID) {
		t.Errorf("bob's metrics show the case: %s", r.body)
	}
}
