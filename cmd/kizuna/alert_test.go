package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// hook is a webhook receiver on loopback: it verifies signatures, keeps
// the first copy per idempotency key and counts every attempt. While down
// it answers 503.
type hook struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	down     bool
	attempts map[string]int
	alerts   map[string]alert.Alert // by idempotency key, first accepted copy
	bad      []string
}

func newHook(t *testing.T, secret string) *hook {
	h := &hook{t: t, secret: secret, attempts: map[string]int{}, alerts: map[string]alert.Alert{}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get(webhook.IdempotencyHeader)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts[key]++
	if h.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if _, err := webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), 0, []byte(h.secret)); err != nil {
		h.bad = append(h.bad, "signature: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m alert.Message
	if err := json.Unmarshal(body, &m); err != nil || m.Key != key || !strings.HasPrefix(key, "kz1_") {
		h.bad = append(h.bad, fmt.Sprintf("body/key %q: %v", key, err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, a := range m.Alerts {
		if _, dup := h.alerts[a.Key]; !dup {
			h.alerts[a.Key] = a
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hook) setDown(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

// find returns the accepted alerts whose event starts with prefix.
func (h *hook) find(kind alert.Kind, eventPrefix string) []alert.Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []alert.Alert
	for _, a := range h.alerts {
		if a.Kind == kind && strings.HasPrefix(a.Event, eventPrefix) {
			out = append(out, a)
		}
	}
	return out
}

func (h *hook) check() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bad {
		h.t.Errorf("webhook receiver: %s", b)
	}
}

// hubClient calls the hub's API with a token.
type hubClient struct {
	t     *testing.T
	url   string
	token string
	c     *http.Client
}

func (c *hubClient) do(method, path, ctype string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Accept", ctype)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *hubClient) taxiiPost(objs ...string) {
	c.t.Helper()
	env := `{"objects":[` + strings.Join(objs, ",") + `]}`
	code, body := c.do("POST", "/taxii2/hub/collections/"+store.DefaultCollectionID+"/objects/", "application/taxii+json;version=2.1", []byte(env))
	if code != http.StatusAccepted {
		c.t.Fatalf("TAXII POST: %d %s", code, body)
	}
}

func indicatorJSON(n int, extra string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"%s}`, n, n%250, extra)
}

const greenMarking = `,"object_marking_refs":["` + sharing.TLP2Green + `"]`

// TestAlertingEndToEnd runs the hub with its alerting over real HTTP, with
// the embedded bus and with NATS JetStream: TAXII publications, an SBOM
// finding and a new case reach the subscribed organisations' webhooks
// signed and keyed, an AMBER object never reaches a non-recipient, a case
// alert's acknowledgement counts for the case, and after a restart with the
// receivers down every alert arrives exactly once per idempotency key.
func TestAlertingEndToEnd(t *testing.T) {
	for _, mode := range []string{"local", "nats"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "nats" {
				u := bustest.URL(t)
				stream, _ := bustest.Stream(t)
				t.Setenv("KIZUNA_NATS_URL", u)
				t.Setenv("KIZUNA_NATS_STREAM", stream)
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if b, err := bus.DialNATS(ctx, u, bus.NATSOptions{Stream: stream, Subject: "kizuna." + stream}); err == nil {
						_ = b.DeleteStream(ctx)
						b.Close()
					}
				})
			} else {
				t.Setenv("KIZUNA_NATS_URL", "")
			}
			alertingEndToEnd(t)
		})
	}
}

func alertingEndToEnd(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "health", "--type", "academia")
	kzOK(t, "org", "create", "--data", dir, "--name", "Gamma", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "root", "--role", "hub-admin")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "org-admin")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "member")
	kzOK(t, "user", "create", "--data", dir, "--org", "Gamma", "--name", "carol", "--role", "member")
	kzOK(t, "vuln", "import", "--data", dir, filepath.Join("..", "..", "internal", "vuln", "testdata", "vulndb", "osv-KZ-DEMO-1-v1.json"))
	acmeID := orgID(t, dir, "Acme")

	const secret = "0123456789abcdef-secret"
	hookA, hookB, hookC := newHook(t, secret), newHook(t, secret), newHook(t, secret)
	// Beta and Gamma subscribe through the command line ...
	kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Beta", "--channel", "webhook", "--url", hookB.srv.URL, "--secret", secret, "--type", "indicator", "--allow-private-webhooks")
	kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Gamma", "--channel", "webhook", "--url", hookC.srv.URL, "--secret", secret, "--type", "indicator", "--allow-private-webhooks")
	if r := kz(t, "alert", "rule", "add", "--data", dir, "--org", "Gamma", "--channel", "webhook", "--url", "ftp://x", "--secret", secret); r.code != 2 {
		t.Errorf("bad URL: exit %d %s", r.code, r.stderr)
	}

	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--allow-private-webhooks")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	tok := func(org, user string) *hubClient {
		return &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", org, "--user", user)}
	}
	alice, bob, carol, root := tok("Acme", "alice"), tok("Beta", "bob"), tok("Gamma", "carol"), tok("Hub", "root")

	// ... Acme through the API (its org admin).
	rule := fmt.Sprintf(`{"channel":"webhook","url":%q,"secret":%q,"kinds":["object-added","finding","case"]}`, hookA.srv.URL, secret)
	code, body := alice.do("POST", "/api/v1/alert-rules", "application/json", []byte(rule))
	if code != http.StatusCreated || strings.Contains(string(body), secret) {
		t.Fatalf("rule by API: %d %s", code, body)
	}
	if code, body := carol.do("POST", "/api/v1/alert-rules", "application/json", []byte(rule)); code != http.StatusForbidden {
		t.Errorf("a member adding a rule: %d %s", code, body)
	}
	code, body = bob.do("GET", "/api/v1/alert-rules", "", nil)
	if code != http.StatusOK || strings.Count(string(body), `"id"`) != 1 || strings.Contains(string(body), acmeID) {
		t.Errorf("Beta's rule list: %d %s", code, body)
	}

	// 1. A GREEN indicator by Beta reaches every subscriber.
	bob.taxiiPost(indicatorJSON(1, greenMarking))
	green := "indicator--00000000-0000-4000-8000-000000000001@"
	bustest.WaitFor(t, "the GREEN indicator at Acme's and Gamma's webhooks", func() bool {
		return len(hookA.find(alert.ObjectAdded, green)) == 1 && len(hookC.find(alert.ObjectAdded, green)) == 1
	})
	if a := hookA.find(alert.ObjectAdded, green)[0]; a.TLP != "TLP:GREEN" || a.Type != "indicator" || len(a.Object) == 0 {
		t.Errorf("Acme's alert %+v", a)
	}

	// 2. AMBER distributed to Acme only: Acme gets it, Gamma never.
	dist := fmt.Sprintf(`,"object_marking_refs":[%q],"extensions":{%q:{"extension_type":"property-extension","organizations":[%q]}}`,
		sharing.TLP2Amber, sharing.DistributionExtension, acmeID)
	bob.taxiiPost(indicatorJSON(2, dist))
	bob.taxiiPost(indicatorJSON(3, greenMarking)) // a marker behind it on the bus
	amber, marker := "indicator--00000000-0000-4000-8000-000000000002@", "indicator--00000000-0000-4000-8000-000000000003@"
	bustest.WaitFor(t, "AMBER at Acme and the marker at Gamma", func() bool {
		return len(hookA.find(alert.ObjectAdded, amber)) == 1 && len(hookC.find(alert.ObjectAdded, marker)) == 1
	})
	if got := hookC.find(alert.ObjectAdded, amber); len(got) != 0 {
		t.Errorf("Gamma received the AMBER indicator distributed to Acme only: %+v", got)
	}

	// 3. An SBOM with a vulnerable component raises a finding alert.
	sbom, err := os.ReadFile(filepath.Join("..", "..", "internal", "vuln", "testdata", "vulndb", "sbom-demo.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := alice.do("POST", "/api/v1/sboms?name=web", "application/octet-stream", sbom); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("SBOM upload: %d %s", code, body)
	}
	bustest.WaitFor(t, "a finding alert at Acme", func() bool { return len(hookA.find(alert.Finding, acmeID)) > 0 })

	// 4. A new case raises a case alert; acknowledging the alert
	// acknowledges the case.
	report := `{"title":"Phishing wave","detected":"2026-01-01T00:00:00Z","classification":"fraud","type":"phishing","impact":"low","severity":"high","tlp":"amber"}`
	code, body = alice.do("POST", "/api/v1/incidents", "application/json", []byte(report))
	if code != http.StatusCreated {
		t.Fatalf("incident report: %d %s", code, body)
	}
	var c struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &c)
	bustest.WaitFor(t, "the case alert at Acme", func() bool { return len(hookA.find(alert.Case, c.ID)) == 1 })
	caseKey := hookA.find(alert.Case, c.ID)[0].Key
	var caseDelivery int64
	// The outbox records the outcome in batches, just after the receiver
	// answered: poll the list until the delivery shows as delivered.
	bustest.WaitFor(t, "the case alert delivered in Acme's alert list", func() bool {
		code, body := alice.do("GET", "/api/v1/alerts?state=delivered", "", nil)
		var list struct {
			Alerts []struct {
				ID  int64  `json:"id"`
				Key string `json:"idempotency_key"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &list); code != http.StatusOK || err != nil {
			t.Fatalf("alert list: %d %s", code, body)
		}
		for _, a := range list.Alerts {
			if a.Key == caseKey {
				caseDelivery = a.ID
			}
		}
		return caseDelivery != 0
	})
	if code, body := carol.do("POST", fmt.Sprintf("/api/v1/alerts/%d/ack", caseDelivery), "", nil); code != http.StatusNotFound {
		t.Errorf("Gamma acknowledging Acme's alert: %d %s", code, body)
	}
	if code, body := alice.do("POST", fmt.Sprintf("/api/v1/alerts/%d/ack", caseDelivery), "", nil); code != http.StatusOK || !strings.Contains(string(body), `"acknowledged"`) {
		t.Errorf("ack: %d %s", code, body)
	}
	if code, body := alice.do("GET", "/api/v1/cases/"+c.ID, "", nil); code != http.StatusOK || !strings.Contains(string(body), `"org":"`+acmeID+`"`) {
		t.Errorf("the case does not record Acme's acknowledgement: %d %s", code, body)
	}
	if code, _ := alice.do("GET", "/api/v1/alerts/dead-letters", "", nil); code != http.StatusForbidden {
		t.Errorf("dead letters for an org admin: %d", code)
	}
	if code, body := root.do("GET", "/api/v1/alerts/dead-letters", "", nil); code != http.StatusOK || !strings.Contains(string(body), `"dead_letters"`) {
		t.Errorf("dead letters for the hub admin: %d %s", code, body)
	}

	// 5. Restart mid-delivery: the receivers are down, the hub stops with
	// deliveries pending; more events arrive through the command line
	// while it is down; after the restart every alert arrives once.
	hookA.setDown(true)
	hookC.setDown(true)
	bob.taxiiPost(indicatorJSON(4, greenMarking))
	bustest.WaitFor(t, "a failed attempt at Gamma", func() bool {
		hookC.mu.Lock()
		defer hookC.mu.Unlock()
		n := 0
		for _, v := range hookC.attempts {
			n += v
		}
		return n > 2
	})
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	imp := filepath.Join(dir, "more.json")
	if err := os.WriteFile(imp, []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000009","objects":[`+indicatorJSON(5, greenMarking)+`]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	kzOK(t, "import", "--data", dir, "--org", "Beta", imp)
	hookA.setDown(false)
	hookC.setDown(false)
	_, stop = startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--allow-private-webhooks")
	defer stop()
	for _, n := range []int{4, 5} {
		id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d@", n)
		bustest.WaitFor(t, id+" at Acme and Gamma after the restart", func() bool {
			return len(hookA.find(alert.ObjectAdded, id)) == 1 && len(hookC.find(alert.ObjectAdded, id)) == 1
		})
	}
	for _, h := range []*hook{hookA, hookB, hookC} {
		h.check()
		h.mu.Lock()
		for key, a := range h.alerts {
			if a.Key != key {
				t.Errorf("alert under key %s carries key %s", key, a.Key)
			}
		}
		h.mu.Unlock()
	}
}

// TestAlertCLI: rules added, listed (secret hidden) and removed per
// organisation; acknowledging another organisation's or a missing delivery
// fails; dead letters list empty; redriving a missing one fails; bad
// arguments are usage errors.
func TestAlertCLI(t *testing.T) {
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "health", "--type", "academia")
	id := kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "webhook", "--url", "https://soc.acme.example/hook",
		"--secret", "0123456789abcdef", "--kind", "finding", "--min-severity", "high", "--max-tlp", "amber", "--digest", "1h")
	if !strings.HasPrefix(id, "rule-") {
		t.Fatalf("rule id %q", id)
	}
	var rules []map[string]any
	if err := json.Unmarshal([]byte(kzOK(t, "alert", "rule", "list", "--data", dir, "--org", "Acme")), &rules); err != nil || len(rules) != 1 {
		t.Fatalf("Acme's rules: %v %v", rules, err)
	}
	r := rules[0]
	if r["id"] != id || r["min_severity"] != "high" || r["max_tlp"] != "TLP:AMBER" || r["digest"] != "1h0m0s" || r["secret_set"] != true || r["secret"] != nil {
		t.Errorf("rule as listed: %v", r)
	}
	if got := kzOK(t, "alert", "rule", "list", "--data", dir, "--org", "Beta"); got != "[]" {
		t.Errorf("Beta's rules: %s", got)
	}
	checkFailure(t, kz(t, "alert", "rule", "remove", "--data", dir, "--org", "Beta", id), 1, "not found")
	kzOK(t, "alert", "rule", "remove", "--data", dir, "--org", "Acme", id)
	if got := kzOK(t, "alert", "rule", "list", "--data", dir); got != "[]" {
		t.Errorf("rules after removal: %s", got)
	}
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "webhook", "--url", "https://x.example", "--secret", "short"), 2, "secret")
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "webhook", "--url", "http://127.0.0.1:9/hook",
		"--secret", "0123456789abcdef"), 2, `"http://127.0.0.1:9/hook": address 127.0.0.1 is loopback`)
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "webhook", "--url", "http://169.254.169.254/latest/meta-data/",
		"--secret", "0123456789abcdef"), 2, "cloud metadata")
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "pigeon"), 2, "")
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Nobody", "--channel", "webhook"), 1, "unknown organisation")
	checkFailure(t, kz(t, "alert", "ack", "--data", dir, "--org", "Acme", "7"), 1, "not found")
	checkFailure(t, kz(t, "alert", "ack", "--data", dir, "--org", "Acme", "x"), 2, "not a delivery id")
	checkFailure(t, kz(t, "alert", "list", "--data", dir, "--state", "lost"), 2, "--state")
	if got := kzOK(t, "alert", "list", "--data", dir, "--org", "Acme"); got != "[]" {
		t.Errorf("deliveries: %s", got)
	}
	if got := kzOK(t, "alert", "dead-letters", "--data", dir); got != "[]" {
		t.Errorf("dead letters: %s", got)
	}
	checkFailure(t, kz(t, "alert", "redrive", "--data", dir, "3"), 1, "not found")
}
