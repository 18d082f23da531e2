package events_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/bus/bustest"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// TestNotificationEvents: notifications stored by an import become alert
// events on the bus that reach their owner's rule only.
func TestNotificationEvents(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
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
		{ID: "a-notes", Org: orgA, Kinds: []alert.Kind{alert.Notification}, Target: alert.Target{Channel: "test"}},
		{ID: "b-all", Org: orgB, Target: alert.Target{Channel: "test"}},
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

	res, _ := route.ParseResource("192.0.2.0/24")
	table, err := route.New([]route.Registration{{Owner: orgA, Resource: res}}, route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := notify.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	m, _ := notify.ParseMapping("lines", nil)
	hub := sharing.Principal{OrgID: "identity--hub", Role: sharing.RoleAnalyst}
	r, err := ns.Import(ctx, strings.NewReader("192.0.2.7\n203.0.113.1\n"), table, notify.ImportRequest{Source: "scan", Mapping: m}, hub)
	if err != nil || len(r.Added) != 1 {
		t.Fatalf("import: %+v %v", r, err)
	}
	events.NewPublisher(b, nil, nil).Notifications(ctx, r.Added)
	bustest.WaitFor(t, "notification alert for org A", func() bool { return len(out.alerts(orgA)) >= 1 })
	time.Sleep(300 * time.Millisecond)
	a := out.alerts(orgA)
	var n notify.Notification
	if len(a) != 1 || a[0].Kind != alert.Notification || a[0].TLP != "TLP:AMBER+STRICT" || json.Unmarshal(a[0].Object, &n) != nil || n.Value != "192.0.2.7" {
		t.Fatalf("org A got %+v", a)
	}
	if got := out.alerts(orgB); len(got) != 0 {
		t.Errorf("org B (a rule on every kind, not the owner) got %+v", got)
	}
}
