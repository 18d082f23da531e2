package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
)

// TestWebhookSSRFGuard runs serve with a webhook rule on 127.0.0.1 (made
// with the command line's --allow-private-webhooks, as a rule whose name
// later resolves to loopback would be): without serve
// --allow-private-webhooks the receiver is never called and the delivery
// is dead-lettered naming the refused address, and the API refuses such a
// rule; restarted with the flag, the API accepts it and alerts arrive.
func TestWebhookSSRFGuard(t *testing.T) {
	t.Setenv("KIZUNA_NATS_URL", "")
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "root", "--role", "hub-admin")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "org-admin")
	const secret = "0123456789abcdef-secret"
	hk := newHook(t, secret)
	kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Acme", "--channel", "webhook", "--url", hk.srv.URL+"/hook",
		"--secret", secret, "--type", "indicator", "--allow-private-webhooks")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	rule := fmt.Sprintf(`{"channel":"webhook","url":%q,"secret":%q,"types":["indicator"]}`, hk.srv.URL+"/api", secret)

	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0")
	tok := func(org, user string) *hubClient {
		return &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", org, "--user", user)}
	}
	alice, root := tok("Acme", "alice"), tok("Hub", "root")
	if code, body := alice.do("POST", "/api/v1/alert-rules", "application/json", []byte(rule)); code != http.StatusBadRequest ||
		!strings.Contains(string(body), hk.srv.URL+"/api") || !strings.Contains(string(body), "loopback") {
		t.Errorf("a loopback webhook rule by API without the flag: %d %s", code, body)
	}
	alice.taxiiPost(indicatorJSON(1, greenMarking))
	var dead []struct {
		LastError string `json:"last_error"`
		Attempts  int    `json:"attempts"`
	}
	bustest.WaitFor(t, "the delivery to loopback dead-lettered", func() bool {
		code, body := root.do("GET", "/api/v1/alerts/dead-letters", "", nil)
		var out struct {
			Dead json.RawMessage `json:"dead_letters"`
		}
		return code == http.StatusOK && json.Unmarshal(body, &out) == nil && json.Unmarshal(out.Dead, &dead) == nil && len(dead) == 1
	})
	if e := dead[0].LastError; !strings.Contains(e, "address 127.0.0.1 is loopback") || dead[0].Attempts != 1 {
		t.Errorf("dead letter: %+v", dead[0])
	}
	hk.mu.Lock()
	n := len(hk.attempts)
	hk.mu.Unlock()
	if n != 0 {
		t.Fatalf("the loopback receiver was called without --allow-private-webhooks (%d keys)", n)
	}
	stop()

	url, stop = startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--allow-private-webhooks")
	defer stop()
	alice.url = url
	if code, body := alice.do("POST", "/api/v1/alert-rules", "application/json", []byte(rule)); code != http.StatusCreated {
		t.Errorf("a loopback webhook rule by API with the flag: %d %s", code, body)
	}
	alice.taxiiPost(indicatorJSON(2, greenMarking))
	id := "indicator--00000000-0000-4000-8000-000000000002@"
	bustest.WaitFor(t, "the indicator at the loopback receiver (both rules)", func() bool { return len(hk.find(alert.ObjectAdded, id)) == 2 })
	hk.check()
}
