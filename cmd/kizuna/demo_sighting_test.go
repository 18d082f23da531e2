package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	kizuna "github.com/kizuna-cti/kizuna"
	"github.com/kizuna-cti/kizuna/internal/demo"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// TestDemoSightingNotifiesOwner runs the demo's hub (Setup, the alerting
// of `kizuna demo`, its server) and uploads the utility's conn log as
// TLP:GREEN, as the demo prints: the connection to the city's compromised
// server 198.51.100.23 becomes a sighting, routed to the city, which alone
// gets a notification with source "sighting". The DNS log, uploaded as
// TLP:AMBER (the default), notifies nobody. The partner CERT's indicator
// the demo shares (demo.ShareIntel, twice) notifies the city alone, once
// per value, with source "intel".
func TestDemoSightingNotifiesOwner(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	policy := sharing.NewPolicy(sharing.TLPNone)
	data, err := fs.Sub(kizuna.DemoData, "testdata/demo")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := demo.OpenServices(ctx, dir, st, log)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	info, err := demo.Setup(ctx, st, policy, data, svc, log)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	var utilityToken string
	for _, s := range demo.Orgs() {
		ids[s.Key] = s.Org.ID
	}
	for _, c := range info.Credentials {
		if c.Org.ID == ids["utility"] && utilityToken == "" {
			utilityToken = c.Token
		}
	}
	al, _, err := startDemoAlerting(ctx, dir, st, policy, svc.Cases, svc.Vuln, svc.Notifications, ids["utility"], ids["city"], io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	defer al.close(context.Background())
	cfg := demo.ServerConfig("127.0.0.1:0", st, policy, svc, nil, info.Orgs[0].ID, log)
	cfg.Store, cfg.Alerts = al.publisher.Store(cfg.Store), al.dispatcher
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	upload := func(file, query string) {
		body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "demo", file))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/api/v1/telemetry"+query, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+utilityToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sum struct {
			Hits int `json:"hits"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&sum) != nil || sum.Hits == 0 {
			t.Fatalf("telemetry %s: %d, %d hits", file, resp.StatusCode, sum.Hits)
		}
	}
	upload(demo.DNSLog, "")
	upload(demo.ConnLog, "?tlp=green")

	everyone := sharing.Access{Clauses: []sharing.Clause{{}}}
	ofSource := func(src string) []notify.Notification {
		list, err := svc.Notifications.List(ctx, everyone, notify.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []notify.Notification
		for _, n := range list {
			if n.Source == src {
				out = append(out, n)
			}
		}
		return out
	}
	sightings := func() []notify.Notification { return ofSource(events.SightingSource) }
	deadline := time.Now().Add(20 * time.Second)
	for len(sightings()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sighting notification")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the other sightings are routed by now
	got := sightings()
	if len(got) != 1 || got[0].OrgID != ids["city"] || got[0].Value != "198.51.100.23" || got[0].Matched != "198.51.100.0/24" {
		t.Fatalf("sighting notifications: %+v, want one for the city about 198.51.100.23", got)
	}

	// The partner CERT's shared indicator (as the demo shares it) notifies
	// the city alone, once per value, however often it is shared.
	pipe := &ingest.Pipeline{Store: cfg.Store, Policy: policy, Log: log, HubOrgID: info.Orgs[0].ID}
	for range 2 {
		if err := demo.ShareIntel(ctx, pipe, log); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(20 * time.Second)
	for len(ofSource(events.IntelSource)) < len(demo.IntelValues) {
		if time.Now().After(deadline) {
			t.Fatalf("intel notifications: %+v", ofSource(events.IntelSource))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	var values []string
	for _, n := range ofSource(events.IntelSource) {
		if n.OrgID != ids["city"] || n.Fields["object"] != demo.IntelIndicatorID {
			t.Errorf("intel notification for %s about %s (%v), want the city's only", n.OrgID, n.Value, n.Fields)
		}
		values = append(values, n.Value)
	}
	slices.Sort(values)
	if want := slices.Sorted(slices.Values(demo.IntelValues)); !slices.Equal(values, want) {
		t.Errorf("intel notifications about %q, want %q", values, want)
	}
}
