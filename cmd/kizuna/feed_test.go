package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// feedHub prepares a data directory with a hub, a member organisation
// (Beta, user bob) and the organisation standing for the other hub
// (partnerName, user fed); it returns fed's token and the partner's id.
func feedHub(t *testing.T, dir, partnerName string) (token, partnerID string) {
	t.Helper()
	kzOK(t, "org", "create", "--data", dir, "--name", "hub", "--sector", "cti", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "member")
	partnerID = kzOK(t, "org", "create", "--data", dir, "--name", partnerName, "--sector", "cti", "--type", "partner-cert")
	kzOK(t, "user", "create", "--data", dir, "--org", partnerName, "--name", "fed", "--role", "member")
	token = kzOK(t, "token", "create", "--data", dir, "--org", partnerName, "--user", "fed")
	return token, partnerID
}

func feedIndicator(n int, extra string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-%012d","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"%s}`, n, n, extra)
}

func feedList(t *testing.T, dir string) map[string]feedJSON {
	t.Helper()
	r := kz(t, "feed", "list", "--data", dir, "--json")
	if r.code != 0 {
		t.Fatalf("feed list: %d %s", r.code, r.stderr)
	}
	var list []feedJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("feed list --json: %v: %s", err, r.stdout)
	}
	out := map[string]feedJSON{}
	for _, f := range list {
		out[f.Name] = f
	}
	return out
}

// TestFeedCLI drives feed add/list/run/remove against a real hub started
// with kizuna serve, and the scheduler of a second kizuna serve.
func TestFeedCLI(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	tokB, partnerAtB := feedHub(t, dirB, "hub-a")
	objs := "[" + feedIndicator(1, `,"object_marking_refs":["`+sharing.TLP2Green+`"]`) + "," +
		feedIndicator(2, `,"object_marking_refs":["`+sharing.TLP2AmberStrict+`"],"extensions":{"`+sharing.DistributionExtension+
			`":{"extension_type":"property-extension","organizations":["`+partnerAtB+`"]}}`) + "," +
		feedIndicator(3, `,"object_marking_refs":["`+sharing.TLP2Amber+`"]`) + "]"
	file := filepath.Join(t.TempDir(), "objs.json")
	if err := os.WriteFile(file, []byte(objs), 0o600); err != nil {
		t.Fatal(err)
	}
	kzOK(t, "import", "--data", dirB, "--org", "Beta", file)
	urlB, stopB := startServe(t, "--data", dirB, "--listen", "127.0.0.1:0", "--insecure-http")
	defer stopB()
	root := urlB + "/taxii2/hub/"

	out := kzOK(t, "feed", "add", "--data", dirA, "--name", "hub-b", "--url", root, "--collection", store.DefaultCollectionID, "--token", tokB)
	if !strings.Contains(out, "feed hub-b added") || strings.Contains(out, tokB) {
		t.Errorf("feed add printed %q", out)
	}
	checkFailure(t, kz(t, "feed", "add", "--data", dirA, "--name", "hub-b", "--url", root, "--collection", "c", "--token", tokB), 1, "already exists")
	checkFailure(t, kz(t, "feed", "add", "--data", dirA, "--name", "x", "--url", root, "--collection", "c", "--token", tokB, "--direction", "sideways"), 2, "--direction")
	checkFailure(t, kz(t, "feed", "add", "--data", dirA, "--name", "x", "--url", "ftp://x", "--collection", "c", "--token", tokB), 2, "url")
	checkFailure(t, kz(t, "feed", "add", "--data", dirA, "--name", "x", "--url", root, "--collection", "c", "--token", tokB, "--org", "hub-b-nope", "--local-collection", "nope"), 1, "local collection")

	r := kz(t, "feed", "run", "--data", dirA, "--name", "hub-b")
	if r.code != 0 || !strings.Contains(r.stdout, "pulled 1,") || !strings.Contains(r.stdout, "withheld 1") {
		t.Fatalf("feed run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = kz(t, "feed", "run", "--data", dirA, "--name", "hub-b")
	if r.code != 0 || !strings.Contains(r.stdout, "pulled 0,") {
		t.Fatalf("second feed run: exit %d, stdout %q", r.code, r.stdout)
	}
	// Every pulled version is in hub A's transparency log (appended in
	// the background during the run, complete when feed run returns).
	if out := kzOK(t, "audit", "verify", "--data", dirA); !strings.Contains(out, "ok: 1 stored versions match the log of 1 records") {
		t.Errorf("audit verify after feed run: %q", out)
	}
	exported := kzOK(t, "export", "--data", dirA)
	if !strings.Contains(exported, "198.51.100.1'") || strings.Contains(exported, "198.51.100.2'") || strings.Contains(exported, "198.51.100.3'") {
		t.Errorf("hub A holds the wrong objects: %s", exported)
	}

	kzOK(t, "feed", "add", "--data", dirA, "--name", "bad-token", "--url", root, "--collection", store.DefaultCollectionID, "--token", "kz_wrong", "--org", "hub-b")
	checkFailure(t, kz(t, "feed", "run", "--data", dirA, "--name", "bad-token"), 1, "401")
	feeds := feedList(t, dirA)
	if f := feeds["hub-b"]; f.Pulled != 1 || f.Withheld != 1 || f.LastSuccess.IsZero() || f.LastError != "" || f.Org != "hub-b" || f.Direction != "pull" {
		t.Errorf("hub-b health %+v", f)
	}
	if f := feeds["bad-token"]; f.Failures != 1 || !strings.Contains(f.LastError, "401") || !f.LastSuccess.IsZero() {
		t.Errorf("bad-token health %+v", f)
	}
	if table := kzOK(t, "feed", "list", "--data", dirA); strings.Contains(table, tokB) || !strings.Contains(table, "hub-b") {
		t.Errorf("feed list table %q", table)
	}
	kzOK(t, "feed", "remove", "--data", dirA, "--name", "bad-token")
	checkFailure(t, kz(t, "feed", "remove", "--data", dirA, "--name", "bad-token"), 1, "no feed")
	checkFailure(t, kz(t, "feed", "run", "--data", dirA, "--name", "bad-token"), 1, "no feed")
	kzOK(t, "org", "create", "--data", dirA, "--name", "Acme", "--sector", "energy", "--type", "sme")
	checkFailure(t, kz(t, "feed", "add", "--data", dirA, "--name", "y", "--url", root, "--collection", "c", "--token", tokB, "--org", "Acme"), 1, "partner-cert")

	// kizuna serve runs feeds that have --every.
	dirC := t.TempDir()
	kzOK(t, "feed", "add", "--data", dirC, "--name", "hub-b", "--url", root, "--collection", store.DefaultCollectionID, "--token", tokB, "--every", "1h")
	_, stopC := startServe(t, "--data", dirC, "--listen", "127.0.0.1:0", "--insecure-http")
	deadline := time.Now().Add(20 * time.Second)
	for feedList(t, dirC)["hub-b"].LastSuccess.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not run the scheduled feed: %+v", feedList(t, dirC)["hub-b"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := stopC(); code != 0 {
		t.Errorf("serve exit %d", code)
	}
	if f := feedList(t, dirC)["hub-b"]; f.Pulled != 1 {
		t.Errorf("scheduled run pulled %d, want 1", f.Pulled)
	}
}
