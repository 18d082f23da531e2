package events_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

const (
	orgA = "identity--aaaaaaaa-0000-4000-8000-000000000001"
	orgB = "identity--bbbbbbbb-0000-4000-8000-000000000002"
	orgC = "identity--cccccccc-0000-4000-8000-000000000003"
)

// sink collects deliveries by organisation.
type sink struct {
	mu   sync.Mutex
	got  map[string][]alert.Alert
	keys map[string]int
}

func (s *sink) Deliver(_ context.Context, d *alert.Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[d.Org] = append(s.got[d.Org], d.Message.Alerts...)
	s.keys[d.Key]++
	return nil
}

func (s *sink) alerts(org string) []alert.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got[org])
}

// TestDeliver publishes findings and cases through a bus into a real
// dispatcher: each reaches the organisations that may see it and whose
// rule matches, once, even when the bus delivers it twice.
func TestDeliver(t *testing.T) {
	for _, impl := range []string{"local", "nats"} {
		t.Run(impl, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			var b bus.Bus
			if impl == "nats" {
				b = bustest.NATS(t)
			} else {
				l, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 20 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				b = l
			}
			out := &sink{got: map[string][]alert.Alert{}, keys: map[string]int{}}
			policy := sharing.NewPolicy(sharing.TLPAmber)
			d, err := alert.Open(ctx, dir, alert.Options{
				Visible: func(org string, l sharing.Label) bool {
					return policy.CanSee(sharing.Principal{OrgID: org, Role: sharing.RoleMember}, l)
				},
				Channels: map[string]alert.Channel{"test": out},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close(ctx)
			for _, r := range []alert.Rule{
				{ID: "a-findings", Org: orgA, Kinds: []alert.Kind{alert.Finding}, MinSeverity: alert.SeverityHigh, Target: alert.Target{Channel: "test"}},
				{ID: "b-all", Org: orgB, Target: alert.Target{Channel: "test"}},
				{ID: "c-all", Org: orgC, Target: alert.Target{Channel: "test"}},
			} {
				if err := d.PutRule(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := events.Deliver(ctx, b, d, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Stop()
			pub := events.NewPublisher(b, nil, nil)
			high := vulndb.Finding{Org: orgA, Asset: "web", SBOMVersion: 1, Vulnerability: "CVE-2026-0001", Component: "lib", InstalledVersion: "1.0", Severity: "HIGH", KEV: true}
			low := high
			low.Vulnerability, low.Severity = "CVE-2026-0002", "LOW"
			pub.Findings(ctx, []vulndb.Finding{high, low})
			pub.Findings(ctx, []vulndb.Finding{high}) // the same finding again: no second alert
			c := incident.Case{ID: "case--1", ReporterOrg: orgB, Affected: []string{orgB}, State: incident.StateNew,
				Report: incident.Report{Title: "phishing wave", Severity: "high", TLP: "green"}, Reported: time.Now().UTC()}
			pub.Case(ctx, c, "reported")

			bustest.WaitFor(t, "finding alert for org A and case alert for org B", func() bool {
				return len(out.alerts(orgA)) >= 1 && len(out.alerts(orgB)) >= 1
			})
			time.Sleep(300 * time.Millisecond) // let duplicates, if any, arrive
			a := out.alerts(orgA)
			if len(a) != 1 || a[0].Kind != alert.Finding || a[0].Severity != "high" {
				t.Fatalf("org A got %+v, want one high finding alert", a)
			}
			var f struct {
				Type          string `json:"type"`
				Vulnerability string `json:"vulnerability"`
				KEV           bool   `json:"kev"`
			}
			if err := json.Unmarshal(a[0].Object, &f); err != nil || f.Type != "finding" || f.Vulnerability != "CVE-2026-0001" || !f.KEV {
				t.Errorf("finding payload %s (%v)", a[0].Object, err)
			}
			bAlerts := out.alerts(orgB)
			if len(bAlerts) != 1 || bAlerts[0].Kind != alert.Case || bAlerts[0].TLP != "TLP:AMBER+STRICT" {
				t.Fatalf("org B got %+v, want its case alert at AMBER+STRICT", bAlerts)
			}
			if got := string(bAlerts[0].Object); !json.Valid(bAlerts[0].Object) || strings.Contains(got, orgB) {
				t.Errorf("case payload names the reporter: %s", got)
			}
			if c := out.alerts(orgC); len(c) != 0 {
				t.Errorf("org C (not affected, not the finding's owner) got %+v", c)
			}
			for k, n := range out.keys {
				if n != 1 {
					t.Errorf("key %s delivered %d times", k, n)
				}
			}
		})
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		obj  string
		want []string
	}{
		{`{"type":"ipv4-addr","value":"198.51.100.7"}`, []string{"198.51.100.7"}},
		{`{"type":"domain-name","value":"mail.example.org"}`, []string{"mail.example.org"}},
		{`{"type":"indicator","pattern":"[ipv4-addr:value = '203.0.113.9'] OR [domain-name:value='bad.example']"}`, []string{"203.0.113.9", "bad.example"}},
		{`{"type":"indicator","pattern":"[file:hashes.'SHA-256' = 'aa']"}`, nil},
		{`{"type":"indicator","pattern":"[ipv4-addr:value IN ('198.51.100.1', '2001:db8::1' ,'a.example')] AND [domain-name:value = 'b.example']"}`, []string{"198.51.100.1", "2001:db8::1", "a.example", "b.example"}},
		{`{"type":"indicator","pattern":"[domain-name:value IN ('x.example'"}`, nil},
		{`{"type":"url","value":"https://portal.example/login"}`, []string{"https://portal.example/login"}},
		{`{"type":"indicator","pattern":"[url:value = 'http://198.51.100.9:8080/x']"}`, []string{"http://198.51.100.9:8080/x"}},
		{`{"type":"email-addr","value":"it@bücher.example"}`, []string{"it@bücher.example"}},
		{`{"type":"indicator","pattern":"[email-addr:value = 'ceo@corp.example'] OR [ipv4-addr:value ISSUBSET '198.51.100.0/28']"}`, []string{"ceo@corp.example", "198.51.100.0/28"}},
		{`{"type":"indicator","pattern":"[email-message:from_ref.value = 'x@y.example']"}`, nil},
		{`{"type":"malware","name":"x"}`, nil},
		{`not json`, nil},
	} {
		if got := events.Values(json.RawMessage(tc.obj)); !slices.Equal(got, tc.want) {
			t.Errorf("Values(%s) = %q, want %q", tc.obj, got, tc.want)
		}
	}
}

// FuzzValues: any input yields values without panicking, each a substring
// of the input's decoded strings.
func FuzzValues(f *testing.F) {
	f.Add(`{"type":"indicator","pattern":"[ipv4-addr:value = '203.0.113.9']"}`)
	f.Add(`{"type":"ipv6-addr","value":"2001:db8::1"}`)
	f.Add(`{"type":"indicator","pattern":"[domain-name:value IN ('a.example', 'b\\'c')]"}`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range events.Values(json.RawMessage(s)) {
			if len(v) > len(s) {
				t.Fatalf("value %q longer than the input", v)
			}
		}
	})
}
