package demo

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// dataDir is the shipped demo data, relative to this package.
const dataDir = "../../testdata/demo"

// visible returns the ids of every object version the principal may see in
// the default collection, paging through the store.
func visible(t *testing.T, st store.Store, pol *sharing.Policy, pr sharing.Principal) map[string]sharing.TLP {
	t.Helper()
	f := store.Filter{Collection: store.DefaultCollectionID, Access: pol.Access(pr), Versions: []string{"all"}, Limit: 100}
	out := map[string]sharing.TLP{}
	for {
		page, err := st.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			out[e.ID] = pol.Effective(e.Label)
		}
		if !page.More {
			return out
		}
		f.Next = page.Next
	}
}

func principal(spec OrgSpec, user int) sharing.Principal {
	u := spec.Users[user]
	return sharing.Principal{OrgID: spec.Org.ID, OrgName: spec.Org.Name, UserID: u.ID, User: u.Name, Role: u.Role}
}

func TestSetup(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pol := sharing.NewPolicy(sharing.TLPNone)
	data := os.DirFS(dataDir)

	info, err := Setup(ctx, st, pol, data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Failed != 0 {
		t.Fatalf("%d objects refused: %v", info.Failed, info.Failures)
	}
	if info.Imported < 400 {
		t.Errorf("imported %d objects, want the whole shipped set (>= 400)", info.Imported)
	}
	orgs, err := st.Orgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, o := range orgs {
		types[o.Type] = true
	}
	for _, typ := range []string{"hub", "government", "critical-infrastructure", "local-government", "academia", "sme", "partner-cert"} {
		if !types[typ] {
			t.Errorf("no organisation of type %s among %v", typ, orgs)
		}
	}
	roles := map[sharing.Role]bool{}
	for _, c := range info.Credentials {
		roles[c.User.Role] = true
		_, u, o, err := st.TokenByHash(ctx, auth.HashToken(c.Token))
		if err != nil || u.ID != c.User.ID || o.ID != c.Org.ID {
			t.Errorf("token of %s/%s: user %s org %s err %v", c.Org.Name, c.User.Name, u.ID, o.ID, err)
		}
	}
	if len(roles) != 4 {
		t.Errorf("roles %v, want all four", roles)
	}

	specs := map[string]OrgSpec{}
	for _, s := range Orgs() {
		specs[s.Key] = s
	}
	public := visible(t, st, pol, sharing.Principal{Public: true})
	cert := visible(t, st, pol, principal(specs["cert"], 0))
	certMember := visible(t, st, pol, principal(specs["cert"], 1))
	city := visible(t, st, pol, principal(specs["city"], 0))
	ministry := visible(t, st, pol, principal(specs["ministry"], 1))
	analyst := visible(t, st, pol, principal(specs["hub"], 1))
	utilityAdmin := visible(t, st, pol, principal(specs["utility"], 0))
	sme := visible(t, st, pol, principal(specs["sme"], 0))

	// The spread: every TLP level is present among what the hub analyst,
	// the utility's admin and the SME see together.
	levels := map[sharing.TLP]int{}
	for _, m := range []map[string]sharing.TLP{analyst, utilityAdmin, sme} {
		for _, l := range m {
			levels[l]++
		}
	}
	for _, l := range []sharing.TLP{sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed} {
		if levels[l] == 0 {
			t.Errorf("no object at %v (levels %v)", l, levels)
		}
	}

	count := func(m map[string]sharing.TLP, t sharing.TLP) int {
		n := 0
		for _, l := range m {
			if l == t {
				n++
			}
		}
		return n
	}
	tests := []struct {
		name string
		got  int
		want func(int) bool
	}{
		{"public sees only CLEAR", len(public) - count(public, sharing.TLPClear), func(n int) bool { return n == 0 }},
		{"public sees ATT&CK and KEV", len(public), func(n int) bool { return n >= 300 }},
		{"utility AMBER+STRICT reaches the named CERT", count(cert, sharing.TLPAmberStrict), func(n int) bool { return n == 20 }},
		{"utility AMBER+STRICT not at the city", count(city, sharing.TLPAmberStrict), func(n int) bool { return n == 0 }},
		{"city AMBER reaches the named ministry", count(ministry, sharing.TLPAmber), func(n int) bool { return n == 8 }},
		{"hub analyst sees AMBER of all producers", count(analyst, sharing.TLPAmber), func(n int) bool { return n >= 8+6+3 }},
		{"RED reaches the named utility admin", count(utilityAdmin, sharing.TLPRed), func(n int) bool { return n == 3 }},
		{"RED not at a CERT member who is not named", count(certMember, sharing.TLPRed), func(n int) bool { return n == 0 }},
		{"unmarked SME data is AMBER for its producer", count(sme, sharing.TLPAmber), func(n int) bool { return n == 3 }},
		{"GREEN reaches every organisation", count(city, sharing.TLPGreen), func(n int) bool { return n >= 100 }},
	}
	for _, tt := range tests {
		if !tt.want(tt.got) {
			t.Errorf("%s: got %d", tt.name, tt.got)
		}
	}

	// Re-running reuses everything and issues new tokens.
	info2, err := Setup(ctx, st, pol, data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Failed != 0 || info2.Imported != info.Imported {
		t.Errorf("re-run: imported %d (failed %d), first run %d", info2.Imported, info2.Failed, info.Imported)
	}
	orgs2, _ := st.Orgs(ctx)
	if len(orgs2) != len(orgs) {
		t.Errorf("re-run: %d organisations, was %d", len(orgs2), len(orgs))
	}
	users, _ := st.Users(ctx, specs["cert"].Org.ID)
	if len(users) != 2 {
		t.Errorf("re-run: CERT has %d users", len(users))
	}
	if again := visible(t, st, pol, principal(specs["hub"], 1)); len(again) != len(analyst) {
		t.Errorf("re-run: analyst sees %d objects, was %d (duplicates?)", len(again), len(analyst))
	}
	for i, c := range info2.Credentials {
		if c.Token == info.Credentials[i].Token {
			t.Errorf("token of %s not re-issued", c.User.Name)
		}
		if _, _, _, err := st.TokenByHash(ctx, auth.HashToken(c.Token)); err != nil {
			t.Errorf("new token of %s: %v", c.User.Name, err)
		}
	}
	if !slices.EqualFunc(info.Orgs, info2.Orgs, func(a, b store.Org) bool { return a.ID == b.ID }) {
		t.Errorf("organisations changed on re-run")
	}
}

// get fetches url with an optional bearer token and returns the status
// and body.
func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, token, nil, nil)
}

func do(t *testing.T, method, url, token string, body []byte, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestSetupServices checks what Setup seeds beside the store, directly and
// over HTTP through the server configuration kizuna demo serves with, and
// that a re-run changes none of it.
func TestSetupServices(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pol := sharing.NewPolicy(sharing.TLPNone)
	data := os.DirFS(dataDir)
	svc, err := OpenServices(ctx, dir, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	start := time.Now()
	info, err := Setup(ctx, st, pol, data, svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("setup with services: %v", time.Since(start))
	x := info.Extras
	if info.Failed != 0 || x == nil {
		t.Fatalf("failed %d %v, extras %v", info.Failed, info.Failures, x)
	}
	specs := map[string]OrgSpec{}
	for _, s := range Orgs() {
		specs[s.Key] = s
	}
	id := func(key string) string { return specs[key].Org.ID }
	token := func(key string, user int) string {
		for _, c := range info.Credentials {
			if c.Org.ID == id(key) && c.User.ID == specs[key].Users[user].ID {
				return c.Token
			}
		}
		t.Fatalf("no token for %s/%d", key, user)
		return ""
	}

	// Notifications: the scan report reached each owner, and only it.
	if x.Scan.New+x.Scan.Duplicates != 9 || x.Scan.Unrouted != 2 || x.Scan.Malformed != 1 {
		t.Errorf("scan import: %d+%d notifications, %d unrouted, %d malformed: want 9, 2 (one malformed), 1", x.Scan.New, x.Scan.Duplicates, x.Scan.Unrouted, x.Scan.Malformed)
	}
	wantNotes := map[string][]string{
		"utility": {"192.0.2.10", "portal.kanto-denryoku.example"}, "city": {"198.51.100.23"},
		"university": {"2001:db8::7", "203.0.113.5"}, "sme": {"203.0.113.200", "files.hinode-seimitsu.example"},
		"ministry": {"mail.cyber-policy.example"}, "cert": {"vpn.partner-cert.example"}, "hub": nil,
	}
	for key, want := range wantNotes {
		member := sharing.Principal{OrgID: id(key), Role: sharing.RoleMember}
		list, err := svc.Notifications.List(ctx, pol.Access(member), notify.Filter{OrgID: id(key)})
		if err != nil {
			t.Fatal(err)
		}
		var values []string
		for _, n := range list {
			values = append(values, n.Value)
		}
		slices.Sort(values)
		slices.Sort(want)
		if !slices.Equal(values, want) {
			t.Errorf("%s's notifications %q, want %q", key, values, want)
		}
	}

	// Constituency: every registration stored under its organisation, and
	// routing as printed (most specific wins; the AS through the table).
	got := map[string][]string{}
	for _, r := range x.Registrations {
		got[r.OrgID] = append(got[r.OrgID], r.Resource.String())
	}
	total := 0
	for key, res := range Registrations() {
		total += len(res)
		for _, r := range res {
			if !slices.Contains(got[id(key)], r) {
				t.Errorf("%s: registration %s missing (have %v)", key, r, got[id(key)])
			}
		}
	}
	if len(x.Registrations) != total {
		t.Errorf("%d registrations, want %d", len(x.Registrations), total)
	}
	f, err := os.Open(filepath.Join(dataDir, ASNTable))
	if err != nil {
		t.Fatal(err)
	}
	asn, _, err := route.ParseASNCSV(ctx, f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := svc.Constituency.Table(ctx, route.Options{ASN: asn})
	if err != nil {
		t.Fatal(err)
	}
	for obs, want := range map[string]string{
		"192.0.2.10": "utility", "198.51.100.23": "city", "203.0.113.200": "sme", "203.0.113.5": "university",
		"[2001:db8::7]:443": "university", "https://portal.minato-kita.example/login": "city", "mail.cyber-policy.example": "ministry", "8.8.8.8": "",
	} {
		owners := tab.Route(obs)
		switch {
		case want == "" && len(owners) != 0:
			t.Errorf("route %s: %v, want nobody", obs, owners)
		case want != "" && (len(owners) != 1 || string(owners[0]) != id(want)):
			t.Errorf("route %s: %v, want only %s", obs, owners, want)
		}
	}

	// Signing key: registered for the CERT; the envelope signed with the
	// private key verifies as the CERT's, not as another organisation's,
	// and not once changed.
	keyData, err := os.ReadFile(x.Key.PrivateFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, priv, err := sign.ParsePrivateKeyFile(keyData)
	if err != nil || signer != id(SigningOrg) || priv.Public().ID() != x.Key.KeyID {
		t.Fatalf("key file: signer %s key %v err %v", signer, priv, err)
	}
	if fi, err := os.Stat(x.Key.PrivateFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode: %v %v", fi, err)
	}
	env, err := os.ReadFile(x.Key.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sign.Sign(priv, signer, env)
	if err != nil {
		t.Fatal(err)
	}
	header := sign.FormatHeader(sig)
	keys := ledger.NewOrgKeys(dir)
	if who, kid, err := keys.VerifySubmission(ctx, id(SigningOrg), header, env); err != nil || who != id(SigningOrg) || kid != x.Key.KeyID {
		t.Errorf("signed envelope: signer %s key %s err %v", who, kid, err)
	}
	if _, _, err := keys.VerifySubmission(ctx, id("city"), header, env); err == nil {
		t.Error("the CERT's signature verified as the city's submission")
	}
	tampered := bytes.Replace(env, []byte("198.51.100.250"), []byte("198.51.100.251"), 1)
	if _, _, err := keys.VerifySubmission(ctx, id(SigningOrg), header, tampered); err == nil {
		t.Error("a changed envelope verified")
	}

	// Vulnerabilities: the shipped records, and findings for the utility's
	// gateway only, with the advisory's KEV-listed one.
	// 3 OSV records, the advisory's vulnerability and the record PutKEV
	// keeps for the KEV entry (CVE-2023-44487).
	if x.Vulns != 5 {
		t.Errorf("%d vulnerability records, want 5", x.Vulns)
	}
	want := map[string]string{ // component -> vulnerability
		"hsg-200-firmware":       AdvisoryID + "/CVE-2023-44487",
		"stdlib":                 "GO-2023-2102",
		"golang.org/x/net":       "GO-2023-2102",
		"google.golang.org/grpc": "GO-2023-2153",
		"golang.org/x/crypto":    "GO-2023-2402",
	}
	for _, fd := range x.Findings {
		if fd.Org != id("utility") || fd.Asset != SBOMAsset {
			t.Errorf("finding of %s/%s", fd.Org, fd.Asset)
		}
		if want[fd.Component] != fd.Vulnerability {
			t.Errorf("unexpected finding %s on %s", fd.Vulnerability, fd.Component)
		}
		if fd.KEV != (fd.Component == "hsg-200-firmware") {
			t.Errorf("%s on %s: KEV %v", fd.Vulnerability, fd.Component, fd.KEV)
		}
	}
	if len(x.Findings) != len(want) {
		t.Errorf("%d findings for the utility, want %d: %+v", len(x.Findings), len(want), x.Findings)
	}
	if fs, err := svc.Vuln.Findings(ctx, id("city")); err != nil || len(fs) != 0 {
		t.Errorf("city findings %v (%v), want none", fs, err)
	}

	// CSAF: published as WHITE by the hub analyst.
	if x.Advisory.ID != AdvisoryID || x.Advisory.TLP != "WHITE" || x.Advisory.ProducerOrg != id("hub") {
		t.Errorf("advisory %+v", x.Advisory)
	}

	// Case: anonymous, the SME's, visible to the hub and the SME only.
	analyst, smeP, cityP := principal(specs["hub"], 1), principal(specs["sme"], 1), principal(specs["city"], 0)
	if x.Case.ID == "" || !x.Case.Anonymous || x.Case.ReporterOrg != id("sme") || len(x.Case.Links) != 1 {
		t.Errorf("case %+v", x.Case)
	}
	for _, p := range []sharing.Principal{analyst, smeP} {
		if c, err := svc.Cases.Get(ctx, p, x.Case.ID); err != nil || c.ID != x.Case.ID {
			t.Errorf("%s cannot see the case: %v", p.User, err)
		}
	}
	if _, err := svc.Cases.Get(ctx, cityP, x.Case.ID); !errors.Is(err, errkind.NotFound) {
		t.Errorf("city reads the SME's case: %v", err)
	}
	// The attached indicator reaches the city at GREEN, published
	// anonymously.
	const attached = "indicator--5f0c2d1e-7a3b-4c6d-8e9f-0a1b2c3d8e01"
	page, err := st.Query(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: pol.Access(cityP), IDs: []string{attached}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 1 || !page.Entries[0].Label.Anonymous || pol.Effective(page.Entries[0].Label) != sharing.TLPGreen ||
		x.Case.Links[0].ObjectID != attached {
		var labels []sharing.Label
		for _, e := range page.Entries {
			labels = append(labels, e.Label)
		}
		t.Errorf("the SME's indicator as the city sees it: labels %+v (case links %v)", labels, x.Case.Links)
	}

	// Over HTTP, as kizuna demo serves it.
	led, err := ledger.Open(ctx, dir, st, pol, nil, ledger.Options{HubIdentity: id("hub")})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	srv, err := server.New(ServerConfig("127.0.0.1:0", st, pol, svc, led, id("hub"), nil))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := srv.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	url := srv.URL()

	var findings struct {
		Findings []json.RawMessage `json:"findings"`
	}
	code, body := get(t, url+"/api/v1/findings", token("utility", 0))
	if code != 200 || json.Unmarshal(body, &findings) != nil || len(findings.Findings) != len(want) {
		t.Errorf("utility findings: %d %s", code, body)
	}
	code, body = get(t, url+"/api/v1/findings", token("city", 0))
	if code != 200 || json.Unmarshal(body, &findings) != nil || len(findings.Findings) != 0 {
		t.Errorf("city findings: %d %s", code, body)
	}

	code, body = get(t, url+"/.well-known/csaf/provider-metadata.json", "")
	if code != 200 || !bytes.Contains(body, []byte(url+"/.well-known/csaf/white/")) {
		t.Errorf("provider metadata: %d %s", code, body)
	}
	code, body = get(t, url+"/.well-known/csaf/white/index.txt", "")
	if code != 200 || strings.TrimSpace(string(body)) != x.Advisory.Path {
		t.Errorf("white/index.txt: %d %q, want %s", code, body, x.Advisory.Path)
	}
	code, body = get(t, url+"/.well-known/csaf/white/csaf-feed-tlp-white.json", "")
	if code != 200 || !bytes.Contains(body, []byte(AdvisoryID)) {
		t.Errorf("ROLIE feed: %d %s", code, body)
	}

	for _, c := range []struct {
		who  string
		tok  string
		sees bool
	}{{"hub analyst", token("hub", 1), true}, {"SME", token("sme", 1), true}, {"city", token("city", 0), false}, {"utility", token("utility", 0), false}} {
		code, body := get(t, url+"/api/v1/cases", c.tok)
		if code != 200 || bytes.Contains(body, []byte(x.Case.ID)) != c.sees {
			t.Errorf("%s: GET /api/v1/cases %d, sees the case: %v, want %v", c.who, code, !c.sees, c.sees)
		}
	}

	// Telemetry: the utility's DNS log hits its own Sandworm indicators.
	dns, err := os.ReadFile(filepath.Join(dataDir, DNSLog))
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Hits      int      `json:"hits"`
		Sightings []string `json:"sightings"`
	}
	code, body = do(t, http.MethodPost, url+"/api/v1/telemetry", token("utility", 0), dns, nil)
	if code != 200 || json.Unmarshal(body, &sum) != nil || sum.Hits != 3 || len(sum.Sightings) != 2 {
		t.Errorf("telemetry dns: %d %s", code, body)
	}
	conn, err := os.ReadFile(filepath.Join(dataDir, ConnLog))
	if err != nil {
		t.Fatal(err)
	}
	code, body = do(t, http.MethodPost, url+"/api/v1/telemetry?tlp=green", token("utility", 0), conn, nil)
	if code != 200 || json.Unmarshal(body, &sum) != nil || sum.Hits != 3 || len(sum.Sightings) != 3 {
		t.Errorf("telemetry conn: %d %s", code, body)
	}

	// The printed signed POST: accepted, and refused once the body changes.
	objects := url + "/taxii2/" + store.DefaultAPIRoot + "/collections/" + store.DefaultCollectionID + "/objects/"
	h := map[string]string{"Content-Type": "application/taxii+json;version=2.1", "Accept": "application/taxii+json;version=2.1", sign.HeaderName: header}
	if code, body := do(t, http.MethodPost, objects, token(SigningOrg, 0), env, h); code/100 != 2 || !bytes.Contains(body, []byte(`"success_count":1`)) {
		t.Errorf("signed POST: %d %s", code, body)
	}
	if code, body := do(t, http.MethodPost, objects, token(SigningOrg, 0), tampered, h); code != http.StatusUnprocessableEntity {
		t.Errorf("tampered signed POST: %d %s", code, body)
	}
	// The transparency log records the signer and key of the accepted one.
	var envelope struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(env, &envelope); err != nil || len(envelope.Objects) != 1 {
		t.Fatalf("envelope: %v", err)
	}
	o, err := stix.Parse(envelope.Objects[0])
	if err != nil {
		t.Fatal(err)
	}
	hash := stix.Hash(o)
	code, body = get(t, url+"/api/v1/log/inclusion?hash="+hex.EncodeToString(hash[:]), token(SigningOrg, 0))
	if code != 200 || !bytes.Contains(body, []byte(id(SigningOrg))) || !bytes.Contains(body, []byte(x.Key.KeyID)) {
		t.Errorf("receipt of the signed indicator: %d %s", code, body)
	}

	// Re-running changes nothing.
	info2, err := Setup(ctx, st, pol, data, svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := info2.Extras
	if len(y.Registrations) != len(x.Registrations) || y.Key.KeyID != x.Key.KeyID || y.SBOM.Version != 1 ||
		len(y.Findings) != len(x.Findings) || y.Advisory.Version != x.Advisory.Version || y.Case.ID != x.Case.ID || y.Vulns != x.Vulns {
		t.Errorf("re-run changed the services:\n%+v\n%+v", y, x)
	}
	if cases, err := svc.Cases.List(ctx, analyst, ""); err != nil || len(cases) != 1 {
		t.Errorf("re-run: %d cases (%v)", len(cases), err)
	}
	if ks, err := keys.List(); err != nil || len(ks) != 1 {
		t.Errorf("re-run: %d registered keys (%v)", len(ks), err)
	}
}
