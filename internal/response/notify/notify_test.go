package notify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/feed"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

const (
	orgHub  = "identity--00000000-0000-4000-8000-000000000001"
	orgProv = "identity--00000000-0000-4000-8000-000000000002"
	orgCust = "identity--00000000-0000-4000-8000-000000000003"
	orgShop = "identity--00000000-0000-4000-8000-000000000004"
)

var (
	policy   = sharing.NewPolicy(sharing.TLPNone)
	analyst  = sharing.Principal{OrgID: orgHub, UserID: "user--a", Role: sharing.RoleAnalyst}
	provider = sharing.Principal{OrgID: orgProv, UserID: "user--p", Role: sharing.RoleMember}
	customer = sharing.Principal{OrgID: orgCust, UserID: "user--c", Role: sharing.RoleOrgAdmin}
	shop     = sharing.Principal{OrgID: orgShop, UserID: "user--s", Role: sharing.RoleMember}
)

// testTable: the provider owns 192.0.2.0/24 and 2001:db8::/32, the
// customer 192.0.2.64/26 inside it, the shop bücher.example.
func testTable(t *testing.T) *route.Table {
	t.Helper()
	var regs []route.Registration
	for owner, rs := range map[string][]string{
		orgProv: {"192.0.2.0/24", "2001:db8::/32"},
		orgCust: {"192.0.2.64/26"},
		orgShop: {"Bücher.example"},
	} {
		for _, r := range rs {
			res, err := route.ParseResource(r)
			if err != nil {
				t.Fatal(err)
			}
			regs = append(regs, route.Registration{Owner: route.Owner(owner), Resource: res})
		}
	}
	tab, err := route.New(regs, route.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &clock{t: time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)}
	s.Now = c.now
	return s, c
}

func scanRequest(t *testing.T) ImportRequest {
	t.Helper()
	m, err := ParseMapping("csv", []string{"value=ip", "value=hostname", "time=timestamp", "port=port", "vulnerability=tag", "product=device_vendor"})
	if err != nil {
		t.Fatal(err)
	}
	return ImportRequest{Source: "scan", Mapping: m}
}

func readScan(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "scan.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestImportScan(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	res, err := s.Import(ctx, strings.NewReader(readScan(t)), testTable(t), scanRequest(t), analyst)
	if err != nil {
		t.Fatal(err)
	}
	if res.Malformed != 2 || len(res.Errors) != 2 || res.Errors[0].Line != 5 || res.Errors[1].Line != 6 {
		t.Errorf("malformed = %d %v, want lines 5 and 6", res.Malformed, res.Errors)
	}
	if res.New == 0 || res.New != res.Notifications || res.Duplicates != 0 || res.Routed+res.Unrouted != res.Records {
		t.Errorf("result %+v", res)
	}
	all, err := s.List(ctx, policy.Access(analyst), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != res.New {
		t.Fatalf("analyst sees %d, %d stored", len(all), res.New)
	}
	var cam *Notification
	for i, n := range all {
		if n.TLP != "TLP:AMBER+STRICT" || n.Source != "scan" || n.Matched == "" {
			t.Errorf("notification %+v", n)
		}
		if n.Value == "cam1.bücher.example" {
			cam = &all[i]
		}
	}
	if cam == nil {
		t.Fatal("no notification for cam1.bücher.example")
	}
	want := map[string]string{"port": "23", "vulnerability": "telnet,iot", "product": "ExampleCam"}
	if cam.OrgID != orgShop || cam.Matched != "xn--bcher-kva.example" || cam.Time != "2026-11-20 03:14:07" || cam.Line != 2 {
		t.Errorf("cam notification %+v", cam)
	}
	for k, v := range want {
		if cam.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, cam.Fields[k], v)
		}
	}
	// Each organisation sees exactly its own.
	for _, p := range []sharing.Principal{provider, customer, shop} {
		mine, err := s.List(ctx, policy.Access(p), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, n := range all {
			if n.OrgID == p.OrgID {
				count++
			}
		}
		if len(mine) != count {
			t.Errorf("%s sees %d, owns %d", p.OrgID, len(mine), count)
		}
		for _, n := range mine {
			if n.OrgID != p.OrgID {
				t.Errorf("%s sees %s's notification %d", p.OrgID, n.OrgID, n.ID)
			}
		}
	}
}

func TestDedupWindow(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	tab := testTable(t)
	req := scanRequest(t)
	req.Window = time.Hour
	feedText := "timestamp,ip,hostname,port,tag,device_vendor\nt1,192.0.2.70,,23,telnet,Cam\nt2,192.0.2.70,,23,telnet,Cam\nt3,192.0.2.70,,22,ssh,Cam\n"
	imp := func() Result {
		t.Helper()
		res, err := s.Import(ctx, strings.NewReader(feedText), tab, req, analyst)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := imp(); res.New != 2 || res.Duplicates != 1 {
		t.Fatalf("first import: new %d dup %d, want 2 and 1", res.New, res.Duplicates)
	}
	c.t = c.t.Add(59 * time.Minute)
	if res := imp(); res.New != 0 || res.Duplicates != 3 {
		t.Fatalf("within window: new %d dup %d, want 0 and 3", res.New, res.Duplicates)
	}
	c.t = c.t.Add(61 * time.Minute) // 61 min after the last sighting
	if res := imp(); res.New != 2 || res.Duplicates != 1 {
		t.Fatalf("after window: new %d dup %d, want 2 and 1", res.New, res.Duplicates)
	}
	list, err := s.List(ctx, policy.Access(customer), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 || list[0].Seen != 4 || list[1].Seen != 2 || list[0].Fields["port"] != "23" {
		t.Errorf("list %+v", list)
	}
	// Key fields: with only the vulnerability as key, a changed port is
	// the same report; with every field, it is not.
	ports := "timestamp,ip,hostname,port,tag,device_vendor\nt,192.0.2.71,,23,telnet,Cam\nt,192.0.2.71,,2323,telnet,Cam\n"
	for _, tc := range []struct {
		key      []string
		new, dup int
	}{{nil, 2, 0}, {[]string{"vulnerability"}, 1, 1}} {
		s2, _ := openStore(t)
		r := req
		r.Mapping.Key = tc.key
		res, err := s2.Import(ctx, strings.NewReader(ports), tab, r, analyst)
		if err != nil || res.New != tc.new || res.Duplicates != tc.dup {
			t.Errorf("key %v: new %d dup %d (%v), want %d and %d", tc.key, res.New, res.Duplicates, err, tc.new, tc.dup)
		}
	}
}

func TestAck(t *testing.T) {
	ctx := context.Background()
	s, c := openStore(t)
	if _, err := s.Import(ctx, strings.NewReader("192.0.2.70\n192.0.2.1\n"), testTable(t), ImportRequest{Source: "list", Mapping: Mapping{Feed: mustFeed(t, "lines")}}, analyst); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, policy.Access(customer), Filter{})
	if err != nil || len(list) != 1 {
		t.Fatalf("customer list %v %v", list, err)
	}
	id := list[0].ID
	for _, tc := range []struct {
		name string
		p    sharing.Principal
		kind error
	}{
		{"other org", provider, errkind.NotFound},
		{"hub analyst", analyst, errkind.Forbidden},
		{"missing", customer, errkind.NotFound},
	} {
		target := id
		if tc.name == "missing" {
			target = 999
		}
		if _, err := s.Ack(ctx, policy.Access(tc.p), tc.p.OrgID, target, tc.p.UserID); !errors.Is(err, tc.kind) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.kind)
		}
	}
	n, err := s.Ack(ctx, policy.Access(customer), orgCust, id, "user--c")
	if err != nil || n.Acked == nil || !n.Acked.Equal(c.t) || n.AckedBy != "user--c" {
		t.Fatalf("ack: %+v %v", n, err)
	}
	first := *n.Acked
	c.t = c.t.Add(time.Hour)
	n, err = s.Ack(ctx, policy.Access(customer), orgCust, id, "user--x")
	if err != nil || !n.Acked.Equal(first) || n.AckedBy != "user--c" {
		t.Errorf("second ack changed it: %+v %v", n, err)
	}
	if un, _ := s.List(ctx, policy.Access(customer), Filter{Unacked: true}); len(un) != 0 {
		t.Errorf("unacked after ack: %v", un)
	}
}

func TestImportAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	req := scanRequest(t)
	req.Mapping.Feed.Extra = append(req.Mapping.Feed.Extra, "nosuch")
	req.Mapping.Names = append(req.Mapping.Names, "nosuch")
	_, err := s.Import(ctx, strings.NewReader(readScan(t)), testTable(t), req, analyst)
	if !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("err %v, want invalid naming the column", err)
	}
	// A context cancelled mid-feed stores nothing either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Import(cctx, strings.NewReader(readScan(t)), testTable(t), scanRequest(t), analyst); err == nil {
		t.Fatal("import with a cancelled context succeeded")
	}
	if all, _ := s.List(ctx, policy.Access(analyst), Filter{}); len(all) != 0 {
		t.Errorf("failed imports stored %d notifications", len(all))
	}
}

func mustFeed(t *testing.T, format string) feed.Mapping {
	t.Helper()
	mm, err := ParseMapping(format, nil)
	if err != nil {
		t.Fatal(err)
	}
	return mm.Feed
}
