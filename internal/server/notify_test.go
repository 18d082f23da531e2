package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/notify/notifytest"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// withNotify serves notifications and constituency registrations from
// their own directory, routing with the prefix-to-ASN table asnCSV.
func withNotify(t *testing.T, asnCSV string, added *[]notify.Notification) fixtureOpt {
	return func(cfg *Config) {
		ctx := context.Background()
		dir := t.TempDir()
		ns, err := notify.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		reg, err := constituency.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		cfg.Notifications, cfg.Constituency = ns, reg
		if asnCSV != "" {
			if cfg.RouteOptions.ASN, _, err = route.ParseASNCSV(ctx, strings.NewReader(asnCSV)); err != nil {
				t.Fatal(err)
			}
		}
		if added != nil {
			cfg.NotificationsAdded = func(_ context.Context, ns []notify.Notification) { *added = append(*added, ns...) }
		}
	}
}

// addOrgAdmin creates an organisation with an org-admin user "NAME-admin"
// whose token the fixture keeps.
func (f *fixture) addOrgAdmin(id, name string) {
	f.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := f.st.CreateOrg(ctx, store.Org{ID: id, Name: name, Type: "sme", Created: now}); err != nil {
		f.t.Fatal(err)
	}
	uid := "user--" + strings.TrimPrefix(id, "identity--")
	if err := f.st.CreateUser(ctx, store.User{ID: uid, OrgID: id, Name: name + "-admin", Role: sharing.RoleOrgAdmin, Created: now}); err != nil {
		f.t.Fatal(err)
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.CreateToken(ctx, store.Token{ID: "tok-" + name, UserID: uid, Hash: hash, Created: now}); err != nil {
		f.t.Fatal(err)
	}
	f.tokens[name+"-admin"], f.users[name+"-admin"] = tok, uid
}

// importPath is the import URL of a CSV feed with the given mapping.
func importPath(source string, pairs []string) string {
	q := url.Values{"source": {source}, "format": {"csv"}, "map": pairs}
	return "/api/v1/notifications/import?" + q.Encode()
}

func listed(t *testing.T, r response) []notify.Notification {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var body struct {
		Notifications []notify.Notification `json:"notifications"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	return body.Notifications
}

// TestNotificationsNoLeakHTTP: random constituencies registered by each
// organisation's own org-admin over the API, a random scan feed imported
// by a hub analyst; every organisation reads exactly what the linear-scan
// oracle assigns to it, and cannot acknowledge or ask for another's.
func TestNotificationsNoLeakHTTP(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := notifytest.New(100+seed, 8, 200)
			var added []notify.Notification
			f := newFixture(t, withNotify(t, w.ASNCSV(), &added))
			id := func(i int) string { return fmt.Sprintf("identity--00000000-0000-4000-8000-1000000000%02d", i) }
			for i, name := range w.Orgs {
				f.addOrgAdmin(id(i), name)
			}
			for _, reg := range w.Registrations {
				b, _ := json.Marshal(constituencyRequest{Resources: []string{reg.Text}})
				wantStatus(t, f.api(http.MethodPost, w.Orgs[reg.Org]+"-admin", "/api/v1/constituency", string(b)), http.StatusOK)
			}
			r := f.do(req{method: http.MethodPost, path: importPath("scan", notifytest.Mapping), user: "analyst",
				header: map[string]string{"Content-Type": "text/csv", "Accept": "application/json"}, body: []byte(w.FeedCSV())})
			wantStatus(t, r, http.StatusOK)
			var res importResult
			if err := json.Unmarshal(r.body, &res); err != nil {
				t.Fatal(err)
			}
			if want := len(w.Expected()); res.New != want || len(added) != want {
				t.Fatalf("import stored %d, hook saw %d, oracle expects %d: %s", res.New, len(added), want, r.body)
			}
			for i, name := range w.Orgs {
				list := listed(t, f.api(http.MethodGet, name+"-admin", "/api/v1/notifications?limit=10000", ""))
				var got []string
				for _, n := range list {
					got = append(got, strconv.Itoa(n.Line)+" "+n.Value)
				}
				slices.Sort(got)
				if want := w.ExpectedFor(i); !slices.Equal(got, want) {
					t.Fatalf("%s sees %q\noracle: %q", name, got, want)
				}
				// Another organisation's: neither listed nor acknowledged.
				other := w.Orgs[(i+1)%len(w.Orgs)]
				wantStatus(t, f.api(http.MethodGet, name+"-admin", "/api/v1/notifications?org="+url.QueryEscape(other), ""), http.StatusForbidden)
				for _, n := range added {
					if n.OrgID != id(i) {
						wantStatus(t, f.api(http.MethodPost, name+"-admin", "/api/v1/notifications/"+strconv.FormatInt(n.ID, 10)+"/ack", ""), http.StatusNotFound)
						break
					}
				}
			}
			// Hub staff see them all, or one organisation's.
			if all := listed(t, f.api(http.MethodGet, "analyst", "/api/v1/notifications?limit=10000", "")); len(all) != res.New {
				t.Errorf("analyst sees %d of %d", len(all), res.New)
			}
			if one := listed(t, f.api(http.MethodGet, "analyst", "/api/v1/notifications?limit=10000&org="+url.QueryEscape(w.Orgs[0]), "")); len(one) != len(w.ExpectedFor(0)) {
				t.Errorf("analyst ?org= sees %d, want %d", len(one), len(w.ExpectedFor(0)))
			}
			// The fixture's other organisations see nothing.
			if l := listed(t, f.api(http.MethodGet, "bob", "/api/v1/notifications", "")); len(l) != 0 {
				t.Errorf("bob sees %d notifications", len(l))
			}
		})
	}
}

func TestNotificationsAPI(t *testing.T) {
	f := newFixture(t, withNotify(t, "", nil))
	post := func(user, body string) response {
		return f.api(http.MethodPost, user, "/api/v1/constituency", body)
	}
	wantStatus(t, post("acmeadmin", `{"resources":["192.0.2.0/24","Bücher.example"]}`), http.StatusOK)
	wantStatus(t, post("alice", `{"resources":["198.51.100.0/24"]}`), http.StatusForbidden)                  // a member
	wantStatus(t, post("acmeadmin", `{"org":"beta","resources":["198.51.100.0/24"]}`), http.StatusForbidden) // another org
	wantStatus(t, post("admin", `{"org":"beta","resources":["198.51.100.0/24"]}`), http.StatusOK)            // hub admin
	wantStatus(t, post("acmeadmin", `{"resources":["192.0.2.0/33"]}`), http.StatusBadRequest)
	wantStatus(t, post("acmeadmin", `{"resources":[]}`), http.StatusBadRequest)
	wantStatus(t, post("acmeadmin", `{"resources":["192.0.2.0/24"],"x":1}`), http.StatusBadRequest)
	wantStatus(t, f.api(http.MethodDelete, "acmeadmin", "/api/v1/constituency", `{"resources":["203.0.113.0/24"]}`), http.StatusNotFound)
	r := f.api(http.MethodGet, "acmeadmin", "/api/v1/constituency", "")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"xn--bcher-kva.example"`) || strings.Contains(string(r.body), "198.51.100.0/24") {
		t.Errorf("acme's registrations: %s", r.body)
	}
	wantStatus(t, f.api(http.MethodGet, "bob", "/api/v1/constituency?org=acme", ""), http.StatusForbidden)
	// org=* lists every organisation's registrations, for hub admins only.
	r = f.api(http.MethodGet, "admin", "/api/v1/constituency?org=*", "")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `"xn--bcher-kva.example"`) || !strings.Contains(string(r.body), "198.51.100.0/24") {
		t.Errorf("every organisation's registrations: %s", r.body)
	}
	if r := f.api(http.MethodGet, "acmeadmin", "/api/v1/constituency?org=*", ""); r.status == http.StatusOK {
		t.Errorf("an org-admin listed every organisation's registrations: %s", r.body)
	}
	wantStatus(t, f.get("", "/api/v1/constituency"), http.StatusUnauthorized)

	feed := "timestamp,ip,hostname,port\nt1,192.0.2.5,,23\nt2,198.51.100.9,cam.bücher.example,80\nt3,bad ip,,1\n"
	pairs := []string{"value=ip", "value=hostname", "time=timestamp", "port=port"}
	imp := func(user, path string) response {
		return f.do(req{method: http.MethodPost, path: path, user: user,
			header: map[string]string{"Content-Type": "text/csv", "Accept": "application/json"}, body: []byte(feed)})
	}
	wantStatus(t, imp("acmeadmin", importPath("scan", pairs)), http.StatusForbidden)
	wantStatus(t, imp("", importPath("scan", pairs)), http.StatusUnauthorized)
	wantStatus(t, imp("analyst", importPath("scan", []string{"port=port"})), http.StatusBadRequest)
	wantStatus(t, imp("analyst", importPath("scan", []string{"value=nosuch"})), http.StatusBadRequest)
	wantStatus(t, imp("analyst", importPath("scan", pairs)+"&bogus=1"), http.StatusBadRequest)
	r = imp("analyst", importPath("scan", pairs))
	wantStatus(t, r, http.StatusOK)
	var res importResult
	if err := json.Unmarshal(r.body, &res); err != nil || res.New != 3 || res.Malformed != 1 || len(res.Errors) != 1 || res.Errors[0].Line != 4 {
		t.Fatalf("import: %s", r.body)
	}
	acme := listed(t, f.api(http.MethodGet, "alice", "/api/v1/notifications", ""))
	beta := listed(t, f.api(http.MethodGet, "bob", "/api/v1/notifications", ""))
	if len(acme) != 2 || len(beta) != 1 || beta[0].Value != "198.51.100.9" || acme[0].Fields["port"] != "23" || acme[0].Time != "t1" {
		t.Fatalf("acme %+v\nbeta %+v", acme, beta)
	}
	ack := "/api/v1/notifications/" + strconv.FormatInt(acme[0].ID, 10) + "/ack"
	wantStatus(t, f.api(http.MethodPost, "bob", ack, ""), http.StatusNotFound)
	wantStatus(t, f.api(http.MethodPost, "analyst", ack, ""), http.StatusForbidden)
	wantStatus(t, f.api(http.MethodPost, "alice", ack, ""), http.StatusOK)
	wantStatus(t, f.api(http.MethodPost, "alice", "/api/v1/notifications/x/ack", ""), http.StatusNotFound)
	if un := listed(t, f.api(http.MethodGet, "alice", "/api/v1/notifications?unacked=true", "")); len(un) != 1 {
		t.Errorf("unacked after ack: %+v", un)
	}
	wantStatus(t, f.api(http.MethodGet, "alice", "/api/v1/notifications?limit=0", ""), http.StatusBadRequest)
	if page := listed(t, f.api(http.MethodGet, "analyst", "/api/v1/notifications?limit=2", "")); len(page) != 2 {
		t.Errorf("page of 2: %d", len(page))
	}
}
