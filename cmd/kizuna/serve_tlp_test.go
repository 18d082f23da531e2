package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/store"
)

// TestServeDefaultTLP: kizuna serve shares unmarked objects as --default-tlp
// says (the root flag, else KIZUNA_DEFAULT_TLP, else TLP:AMBER): an
// unmarked indicator published by one organisation reaches another
// organisation's member under --default-tlp green, not under the default.
func TestServeDefaultTLP(t *testing.T) {
	t.Setenv("KIZUNA_NATS_URL", "")
	t.Setenv("KIZUNA_DEFAULT_TLP", "")
	dir := t.TempDir()
	kzOK(t, "org", "create", "--data", dir, "--name", "Hub", "--sector", "government", "--type", "hub")
	kzOK(t, "org", "create", "--data", dir, "--name", "Acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "Beta", "--sector", "finance", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "Acme", "--name", "alice", "--role", "member")
	kzOK(t, "user", "create", "--data", dir, "--org", "Beta", "--name", "bob", "--role", "member")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	path := "/taxii2/hub/collections/" + store.DefaultCollectionID + "/objects/?match[type]=indicator"
	for i, tc := range []struct {
		args []string
		want bool // Beta sees Acme's unmarked indicator
	}{
		{[]string{"--default-tlp", "green"}, true},
		{nil, false},
		{[]string{"--default-tlp", "clear"}, true},
	} {
		url, stop := startServe(t, append([]string{"--data", dir, "--listen", "127.0.0.1:0"}, tc.args...)...)
		tok := func(org, user string) *hubClient {
			return &hubClient{t: t, url: url, c: client, token: kzOK(t, "token", "create", "--data", dir, "--org", org, "--user", user)}
		}
		alice, bob := tok("Acme", "alice"), tok("Beta", "bob")
		id := indicatorJSON(100+i, "")
		alice.taxiiPost(id)
		want := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", 100+i)
		code, body := alice.do("GET", path, "", nil)
		if code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%v: the producer does not see its own unmarked indicator: %d %s", tc.args, code, body)
		}
		code, body = bob.do("GET", path, "", nil)
		if code != http.StatusOK || strings.Contains(string(body), want) != tc.want {
			t.Errorf("%v: another organisation sees the unmarked indicator: %v, want %v (%d %s)", tc.args, !tc.want, tc.want, code, body)
		}
		if c := stop(); c != 0 {
			t.Fatalf("serve exit %d", c)
		}
	}
	// A bad level is refused before serving (bounded: a server that
	// ignored the flag would serve until cancelled).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb syncBuffer
	if code := run(ctx, []string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--default-tlp", "purple"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "--default-tlp") {
		t.Errorf("serve --default-tlp purple: exit %d, stderr %q; want 2 naming the flag", code, errb.String())
	}
}
