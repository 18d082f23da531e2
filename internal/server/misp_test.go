package server

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/misp"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

const (
	mispGreenEvent = "0b3a9d2e-1111-4c1a-8f00-000000000001" // synthetic.json, TLP:GREEN
	mispAmberEvent = "0b3a9d2e-1111-4c1a-8f00-0000000000aa" // same, retagged TLP:AMBER
)

// seedMISP converts the synthetic MISP event (and a TLP:AMBER copy) and
// submits it as acme through the ingest pipeline.
func seedMISP(t *testing.T, f *fixture) {
	t.Helper()
	data, err := os.ReadFile("../misp/testdata/synthetic.json")
	if err != nil {
		t.Fatal(err)
	}
	amber := strings.NewReplacer(mispGreenEvent, mispAmberEvent, `"tlp:green"`, `"tlp:amber"`).Replace(string(data))
	// The copy needs its own attribute and object uuids too.
	amber = strings.ReplaceAll(amber, "-4c1a-8f00-00000000000", "-4c1a-8f00-0000000000a")
	var raws []json.RawMessage
	for _, in := range []string{string(data), amber} {
		evs, err := misp.ParseEvents("synthetic", []byte(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := misp.ToSTIX(evs[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, objs...)
	}
	p := &ingest.Pipeline{Store: f.st, Policy: sharing.NewPolicy(sharing.TLPAmber), Log: slog.New(slog.DiscardHandler)}
	res, err := p.Submit(context.Background(), ingest.Submission{Collection: store.DefaultCollectionID,
		Principal: sharing.Principal{OrgID: orgAcme, OrgName: "acme", UserID: f.users["alice"], User: "alice", Role: sharing.RoleMember}}, raws)
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("seeding MISP objects: %v %+v", err, res.Failures)
	}
}

func TestMISPFeed(t *testing.T) {
	f := newFixture(t)
	seedMISP(t, f)

	wantStatus(t, f.get("", "/misp/feed/manifest.json"), http.StatusUnauthorized)
	wantStatus(t, f.get("bob", "/misp/feed/nothing.txt"), http.StatusNotFound)

	manifest := func(user string) map[string]misp.ManifestEntry {
		t.Helper()
		r := f.get(user, "/misp/feed/manifest.json")
		wantStatus(t, r, http.StatusOK)
		m, err := misp.ParseManifest("manifest", r.body)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// bob (another organisation) sees the GREEN event only; alice (the
	// producer's organisation) sees both.
	if m := manifest("bob"); len(m) != 1 || m[mispGreenEvent].Info == "" {
		t.Errorf("bob's manifest %v: want the TLP:GREEN event only", m)
	}
	if m := manifest("alice"); len(m) != 2 {
		t.Errorf("alice's manifest has %d events, want 2", len(m))
	}
	wantStatus(t, f.get("bob", "/misp/feed/"+mispAmberEvent+".json"), http.StatusNotFound)
	wantStatus(t, f.get("alice", "/misp/feed/"+mispAmberEvent+".json"), http.StatusOK)

	r := f.get("bob", "/misp/feed/"+mispGreenEvent+".json")
	wantStatus(t, r, http.StatusOK)
	evs, err := misp.ParseEvents("feed event", r.body, nil)
	if err != nil || len(evs) != 1 {
		t.Fatalf("event file: %v", err)
	}
	seen := map[string]bool{}
	for _, a := range evs[0].Attribute {
		seen[a.Value] = true
	}
	if seen["203.0.113.9|8443"] || seen["https://c2.example.net/gate.php"] {
		t.Errorf("bob sees attributes marked TLP:RED / AMBER+STRICT: %v", seen)
	}
	if !seen["198.51.100.7"] || len(evs[0].Attribute) != 5 {
		t.Errorf("bob sees %d attributes %v, want the 5 TLP:GREEN ones", len(evs[0].Attribute), seen)
	}

	hashes := f.get("bob", "/misp/feed/hashes.csv")
	wantStatus(t, hashes, http.StatusOK)
	body := string(hashes.body)
	if want := fmt.Sprintf("%x,%s\n", md5.Sum([]byte("198.51.100.7")), mispGreenEvent); !strings.Contains(body, want) {
		t.Errorf("hashes.csv lacks %q:\n%s", want, body)
	}
	if red := fmt.Sprintf("%x", md5.Sum([]byte("203.0.113.9"))); strings.Contains(body, red) {
		t.Errorf("hashes.csv leaks the TLP:RED value's hash")
	}
	if strings.Contains(body, mispAmberEvent) {
		t.Errorf("hashes.csv names the event bob may not see")
	}
}
