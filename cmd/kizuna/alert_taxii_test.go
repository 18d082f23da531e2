package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/response/alert/collection"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// alertObjects returns the ids of the objects c reads in collection id,
// with their JSON, or the status code when the read fails.
func alertObjects(c *hubClient, id string) (map[string]json.RawMessage, int) {
	code, body := c.do("GET", "/taxii2/hub/collections/"+id+"/objects/", taxiiMedia, nil)
	if code != http.StatusOK {
		return nil, code
	}
	var env struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		c.t.Fatalf("objects of %s: %v %s", id, err, body)
	}
	out := map[string]json.RawMessage{}
	for _, o := range env.Objects {
		var h struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(o, &h)
		out[h.ID] = o
	}
	return out, code
}

// collectionIDs returns the ids of the collections c lists.
func collectionIDs(c *hubClient) map[string]map[string]any {
	code, body := c.do("GET", "/taxii2/hub/collections/", taxiiMedia, nil)
	if code != http.StatusOK {
		c.t.Fatalf("collections: %d %s", code, body)
	}
	var out struct {
		Collections []map[string]any `json:"collections"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		c.t.Fatal(err)
	}
	m := map[string]map[string]any{}
	for _, x := range out.Collections {
		m[x["id"].(string)] = x
	}
	return m
}

// TestAlertTAXIICollection runs serve with a taxii alert rule of Acme's:
// indicators posted over TAXII that Acme may see land in Acme's alert
// collection with their TLP markings, which Acme's member reads over
// TAXII; an AMBER indicator Acme may not see never does; Beta neither
// lists nor reads that collection (404), nobody writes to it, a hub admin
// reads it.
func TestAlertTAXIICollection(t *testing.T) {
	t.Setenv("KIZUNA_NATS_URL", "")
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "health", "--type", "academia")
	kzOK(t, "user", "create", "--data", dir, "--org", "Hub", "--name", "root", "--role", "hub-admin")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "org-admin")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "amy", "--role", "member")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "org-admin")
	acmeID := orgID(t, dir, "Acme")
	alertColl, betaColl := collection.ID(acmeID), collection.ID(orgID(t, dir, "Beta"))
	// Beta subscribes through the command line before the hub starts; the
	// hub creates its alert collection when it starts.
	kzOK(t, "alert", "rule", "add", "--data", dir, "--org", "Beta", "--channel", "taxii")
	checkFailure(t, kz(t, "alert", "rule", "add", "--data", dir, "--org", "Beta", "--channel", "taxii", "--kind", "case"), 2, "object-added and sighting only")

	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0")
	defer stop()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	tok := func(org, user string) *hubClient {
		return &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", org, "--user", user)}
	}
	alice, amy, bob, root := tok("Acme", "alice"), tok("Acme", "amy"), tok("Beta", "bob"), tok("Hub", "root")

	if _, ok := collectionIDs(bob)[betaColl]; !ok {
		t.Error("Beta's alert collection is not listed when the hub starts")
	}
	if _, ok := collectionIDs(amy)[betaColl]; ok {
		t.Error("Acme lists Beta's alert collection")
	}
	if code, body := alice.do("POST", "/api/v1/alert-rules", "application/json", []byte(`{"channel":"taxii","kinds":["finding"]}`)); code != http.StatusBadRequest ||
		!strings.Contains(string(body), "object-added and sighting only") {
		t.Errorf("a taxii rule for findings: %d %s", code, body)
	}
	code, body := alice.do("POST", "/api/v1/alert-rules", "application/json", []byte(`{"channel":"taxii","types":["indicator"]}`))
	if code != http.StatusCreated || !strings.Contains(string(body), `"kinds":["object-added","sighting"]`) {
		t.Fatalf("taxii rule: %d %s", code, body)
	}
	if c := collectionIDs(amy)[alertColl]; c == nil {
		t.Error("Acme's alert collection is not listed once its taxii rule is added")
	}
	if got, code := alertObjects(amy, alertColl); code != http.StatusOK || len(got) != 0 {
		t.Errorf("Acme's new alert collection: %d %v", code, got)
	}

	// GREEN, then AMBER by Beta for Beta alone, then a GREEN marker.
	bob.taxiiPost(indicatorJSON(1, greenMarking))
	bob.taxiiPost(indicatorJSON(2, fmt.Sprintf(`,"object_marking_refs":[%q]`, sharing.TLP2Amber)))
	bob.taxiiPost(indicatorJSON(3, greenMarking))
	id := func(n int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n) }
	var objs map[string]json.RawMessage
	bustest.WaitFor(t, "the GREEN indicators in Acme's alert collection", func() bool {
		objs, _ = alertObjects(amy, alertColl)
		return objs[id(1)] != nil && objs[id(3)] != nil
	})
	if len(objs) != 2 {
		t.Errorf("Acme's alert collection holds %d objects, want the 2 GREEN ones", len(objs))
	}
	if !strings.Contains(string(objs[id(1)]), sharing.TLP2Green) {
		t.Errorf("the copy lost its TLP marking: %s", objs[id(1)])
	}
	if got, _ := alertObjects(root, alertColl); got[id(2)] != nil {
		t.Error("the AMBER indicator Acme may not see is in Acme's alert collection")
	}

	// Beta's own AMBER indicator is in Beta's alert collection, with its marking.
	bustest.WaitFor(t, "Beta's three indicators in its alert collection", func() bool {
		got, _ := alertObjects(bob, betaColl)
		return len(got) == 3 && strings.Contains(string(got[id(2)]), sharing.TLP2Amber)
	})
	if _, code := alertObjects(amy, betaColl); code != http.StatusNotFound {
		t.Errorf("Acme reading Beta's alert collection: %d", code)
	}

	// Listed for Acme, read-only; unknown to Beta.
	c := collectionIDs(amy)[alertColl]
	if c == nil || c["can_read"] != true || c["can_write"] != false || !strings.HasPrefix(c["alias"].(string), "alerts-") {
		t.Errorf("Acme's collection list: %v", c)
	}
	if _, ok := collectionIDs(bob)[alertColl]; ok {
		t.Error("Beta lists Acme's alert collection")
	}
	if _, code := alertObjects(bob, alertColl); code != http.StatusNotFound {
		t.Errorf("Beta reading Acme's alert collection: %d", code)
	}
	if code, _ := bob.do("GET", "/taxii2/hub/collections/"+alertColl+"/", taxiiMedia, nil); code != http.StatusNotFound {
		t.Errorf("Beta getting Acme's alert collection: %d", code)
	}
	env := `{"objects":[` + indicatorJSON(4, greenMarking) + `]}`
	if code, body := alice.do("POST", "/taxii2/hub/collections/"+alertColl+"/objects/", taxiiMedia, []byte(env)); code != http.StatusForbidden {
		t.Errorf("Acme's admin writing to its alert collection: %d %s", code, body)
	}
	if code, _ := bob.do("POST", "/taxii2/hub/collections/"+alertColl+"/objects/", taxiiMedia, []byte(env)); code != http.StatusNotFound {
		t.Errorf("Beta writing to Acme's alert collection: %d", code)
	}
	if _, ok := collectionIDs(amy)[store.DefaultCollectionID]; !ok {
		t.Error("the default collection is no longer listed")
	}
	// The deliveries are recorded as delivered.
	code, body = alice.do("GET", "/api/v1/alerts?state=delivered", "", nil)
	if code != http.StatusOK || strings.Count(string(body), `"state":"delivered"`) != 2 {
		t.Errorf("Acme's delivered alerts: %d %s", code, body)
	}
}
