package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

const defColl = store.DefaultCollectionID

func TestDiscoveryAndAPIRoot(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxContentLength = 1 << 20 })
	r := f.get("alice", "/taxii2/")
	wantStatus(t, r, 200)
	if ct := r.header.Get("Content-Type"); ct != taxii.MediaTAXII {
		t.Errorf("Content-Type %q", ct)
	}
	d := r.json(t)
	if d["default"] != f.url+"/taxii2/hub/" {
		t.Errorf("default = %v, want %s/taxii2/hub/", d["default"], f.url)
	}
	if roots, _ := d["api_roots"].([]any); len(roots) != 1 || roots[0] != d["default"] {
		t.Errorf("api_roots = %v", d["api_roots"])
	}
	if d["title"] == "" {
		t.Error("no title")
	}

	r = f.get("alice", "/taxii2/hub/")
	wantStatus(t, r, 200)
	root := r.json(t)
	if v, _ := root["versions"].([]any); len(v) != 1 || v[0] != taxii.MediaTAXII {
		t.Errorf("versions = %v", root["versions"])
	}
	if root["max_content_length"] != float64(1<<20) {
		t.Errorf("max_content_length = %v, want %d", root["max_content_length"], 1<<20)
	}
	// Without trailing slash too.
	wantStatus(t, f.get("alice", "/taxii2/hub"), 200)
	wantStatus(t, f.get("alice", "/taxii2/nope/"), 404)
	wantStatus(t, f.get("alice", "/taxii2/nope/collections/"), 404)
	wantStatus(t, f.get("alice", "/nothing/here"), 404)
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"none", "", 401},
		{"unknown bearer", "Bearer nope", 401},
		{"malformed", "Token abc", 401},
		{"empty basic password", "Basic " + basic("alice", ""), 401},
		{"bearer", "Bearer " + f.tokens["alice"], 200},
		{"basic with token as password", "Basic " + basic("anyone", f.tokens["alice"]), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(req{path: "/taxii2/hub/collections/", header: map[string]string{"Authorization": tt.auth}})
			wantStatus(t, r, tt.want)
			if tt.want == 401 {
				if got := r.header.Values("WWW-Authenticate"); len(got) == 0 || !strings.HasPrefix(got[0], `Basic realm="`) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
		})
	}
	// Every TAXII and API endpoint requires authentication.
	for _, p := range []string{"/taxii2/", "/taxii2/hub/", "/taxii2/hub/collections/" + defColl + "/objects/",
		"/taxii2/hub/collections/" + defColl + "/manifest/", "/taxii2/hub/status/x/", "/api/v1/whoami"} {
		wantStatus(t, f.get("", p), 401)
	}
	wantStatus(t, f.do(req{method: "POST", path: objectsPath(defColl), body: envelope(indicator(1, "2024-01-01T00:00:00.000Z", ""))}), 401)
}

func basic(user, pw string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pw)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

func TestCollectionsRights(t *testing.T) {
	f := newFixture(t)
	type rights struct{ read, write bool }
	list := func(user string) map[string]rights {
		r := f.get(user, "/taxii2/hub/collections/")
		wantStatus(t, r, 200)
		var body struct {
			Collections []struct {
				ID         string   `json:"id"`
				CanRead    bool     `json:"can_read"`
				CanWrite   bool     `json:"can_write"`
				MediaTypes []string `json:"media_types"`
			} `json:"collections"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		out := map[string]rights{}
		for _, c := range body.Collections {
			if len(c.MediaTypes) == 0 {
				t.Errorf("collection %s has no media_types", c.ID)
			}
			out[c.ID] = rights{c.CanRead, c.CanWrite}
		}
		return out
	}
	tests := []struct {
		user string
		want map[string]rights
	}{
		{"alice", map[string]rights{defColl: {true, true}, collAcme: {true, true}, collReadOnly: {true, false}}},
		{"bob", map[string]rights{defColl: {true, true}, collReadOnly: {true, false}}},
		{"analyst", map[string]rights{defColl: {true, true}, collAcme: {true, false}, collReadOnly: {true, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			got := list(tt.user)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("collections = %v, want %v", got, tt.want)
			}
			for id, rt := range tt.want {
				r := f.get(tt.user, "/taxii2/hub/collections/"+id+"/")
				wantStatus(t, r, 200)
				c := r.json(t)
				if c["id"] != id || c["can_read"] != rt.read || c["can_write"] != rt.write {
					t.Errorf("collection %s = %s", id, r.body)
				}
			}
		})
	}
	// bob cannot see acme's private collection at all, and may not write the
	// read-only one.
	wantStatus(t, f.get("bob", "/taxii2/hub/collections/"+collAcme+"/"), 404)
	wantStatus(t, f.get("bob", "/taxii2/hub/collections/"+collAcme+"/objects/"), 404)
	wantStatus(t, f.post("bob", collReadOnly, indicator(1, "2024-01-01T00:00:00.000Z", "")), 403)
	wantStatus(t, f.get("bob", "/taxii2/hub/collections/99999999-9999-4999-8999-999999999999/"), 404)
}

func TestAddObjectsPartiallyInvalid(t *testing.T) {
	f := newFixture(t)
	invalid := `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-999999999999","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z"}`
	r := f.post("alice", defColl,
		indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Green),
		invalid,
		`"not an object"`,
		malware(1, sharing.TLP2Green),
	)
	wantStatus(t, r, 202)
	st := r.json(t)
	if st["status"] != "complete" || st["total_count"] != 4.0 || st["success_count"] != 2.0 ||
		st["failure_count"] != 2.0 || st["pending_count"] != 0.0 {
		t.Fatalf("status = %s", r.body)
	}
	fails, _ := st["failures"].([]any)
	var failed []string
	for _, x := range fails {
		m := x.(map[string]any)
		if m["message"] == "" || m["message"] == nil {
			t.Errorf("failure without reason: %v", m)
		}
		failed = append(failed, fmt.Sprint(m["id"]))
	}
	if !slices.Contains(failed, "indicator--00000000-0000-4000-8000-999999999999") {
		t.Errorf("failures %v do not name the invalid indicator", failed)
	}
	sid := st["id"].(string)

	// The status is readable by the submitter's organisation and hub
	// analysts, and by nobody else.
	r = f.get("acmeadmin", "/taxii2/hub/status/"+sid+"/")
	wantStatus(t, r, 200)
	if got := r.json(t); got["success_count"] != 2.0 || got["id"] != sid {
		t.Errorf("status = %s", r.body)
	}
	wantStatus(t, f.get("analyst", "/taxii2/hub/status/"+sid+"/"), 200)
	wantStatus(t, f.get("bob", "/taxii2/hub/status/"+sid+"/"), 404)
	wantStatus(t, f.get("alice", "/taxii2/hub/status/00000000-0000-4000-8000-000000000000/"), 404)

	// The valid objects were stored, the invalid not.
	got := ids(t, f.get("bob", objectsPath(defColl)))
	want := []string{indicatorID(1), "malware--00000000-0000-4000-a000-000000000001"}
	if !slices.Equal(got, want) {
		t.Errorf("objects = %v, want %v", got, want)
	}
}

func TestPostErrors(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxContentLength = 2048 })
	obj := indicator(1, "2024-01-01T00:00:00.000Z", "")
	big := make([]string, 20)
	for i := range big {
		big[i] = indicator(i, "2024-01-01T00:00:00.000Z", "")
	}
	tests := []struct {
		name string
		r    req
		want int
	}{
		{"wrong content type", req{header: map[string]string{"Content-Type": "application/json"}, body: envelope(obj)}, 415},
		{"stix content type", req{header: map[string]string{"Content-Type": taxii.MediaSTIX}, body: envelope(obj)}, 415},
		{"taxii 2.0 content type", req{header: map[string]string{"Content-Type": "application/taxii+json;version=2.0"}, body: envelope(obj)}, 415},
		{"unacceptable accept", req{header: map[string]string{"Accept": "text/html"}, body: envelope(obj)}, 406},
		{"too large", req{body: envelope(big...)}, 413},
		{"not an envelope", req{body: []byte(obj)}, 422},
		{"objects not an array", req{body: []byte(`{"objects":{}}`)}, 422},
		{"malformed JSON", req{body: []byte(`{"objects":[`)}, 400},
		{"charset parameter accepted", req{header: map[string]string{"Content-Type": taxii.MediaTAXII + "; charset=utf-8"}, body: envelope(obj)}, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.method, tt.r.path, tt.r.user = "POST", objectsPath(defColl), "alice"
			wantStatus(t, f.do(tt.r), tt.want)
		})
	}
	t.Run("too large without Content-Length", func(t *testing.T) {
		// A chunked body is cut off by the reader limit.
		pr, pw := ioPipe()
		go func() {
			pw.Write(envelope(big...))
			pw.Close()
		}()
		hr, _ := http.NewRequest("POST", f.url+objectsPath(defColl), pr)
		hr.Header.Set("Content-Type", taxii.MediaTAXII)
		hr.Header.Set("Authorization", "Bearer "+f.tokens["alice"])
		resp, err := f.client.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ContentLength == 0 || resp.StatusCode != 413 {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})
}

func TestGetObjectsFiltersAndVersions(t *testing.T) {
	f := newFixture(t)
	// Three versions of indicator 1, one of indicator 2, a malware, all GREEN.
	for _, m := range []string{"2024-01-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"} {
		wantStatus(t, f.post("alice", defColl, indicator(1, m, sharing.TLP2Green)), 202)
	}
	wantStatus(t, f.post("alice", defColl, indicator(2, "2024-01-05T00:00:00.000Z", sharing.TLP2Green), malware(7, sharing.TLP2Green)), 202)
	mal := "malware--00000000-0000-4000-a000-000000000007"
	base := objectsPath(defColl)

	// The date_added of the second submission, for added_after.
	r := f.get("bob", base+"?match[version]=all")
	wantStatus(t, r, 200)
	if got := ids(t, r); len(got) != 5 {
		t.Fatalf("all versions: %v", got)
	}
	firstAdded := r.header.Get(taxii.HeaderDateAddedFirst)
	if firstAdded == "" || r.header.Get(taxii.HeaderDateAddedLast) == "" {
		t.Fatal("no X-TAXII-Date-Added headers")
	}

	versionsOf := func(r response) []string {
		var env struct {
			Objects []struct {
				ID, Modified string
			} `json:"objects"`
		}
		json.Unmarshal(r.body, &env)
		var out []string
		for _, o := range env.Objects {
			out = append(out, strings.TrimPrefix(o.ID, "indicator--00000000-0000-4000-8000-00000000000")+"@"+o.Modified[:7])
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{"1@2024-03", "2@2024-01", mal + "@2024-02"}},
		{"match[type]=indicator", []string{"1@2024-03", "2@2024-01"}},
		{"match[type]=malware,indicator", []string{"1@2024-03", "2@2024-01", mal + "@2024-02"}},
		{"match[id]=" + indicatorID(2), []string{"2@2024-01"}},
		{"match[id]=" + indicatorID(1) + "&match[version]=first", []string{"1@2024-01"}},
		{"match[id]=" + indicatorID(1) + "&match[version]=last", []string{"1@2024-03"}},
		{"match[id]=" + indicatorID(1) + "&match[version]=all", []string{"1@2024-01", "1@2024-02", "1@2024-03"}},
		{"match[id]=" + indicatorID(1) + "&match[version]=2024-02-01T00:00:00.000Z", []string{"1@2024-02"}},
		{"match[id]=" + indicatorID(1) + "&match[version]=2024-02-01T00:00:00.000Z,first", []string{"1@2024-01", "1@2024-02"}},
		{"match[spec_version]=2.1&match[type]=malware", []string{mal + "@2024-02"}},
		{"match[spec_version]=2.0", nil},
		{"match[type]=campaign", nil},
		{"added_after=" + url.QueryEscape(firstAdded) + "&match[version]=all&match[type]=indicator", []string{"1@2024-02", "1@2024-03", "2@2024-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := f.get("bob", base+"?"+tt.query)
			wantStatus(t, r, 200)
			if got := versionsOf(r); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			m := r.json(t)
			if m["more"] != false {
				t.Errorf("more = %v", m["more"])
			}
		})
	}

	// One object, its versions, its manifest.
	r = f.get("bob", base+indicatorID(1)+"/")
	wantStatus(t, r, 200)
	if got := versionsOf(r); !slices.Equal(got, []string{"1@2024-03"}) {
		t.Errorf("object: %v", got)
	}
	r = f.get("bob", base+indicatorID(1)+"/?match[version]=all&limit=2")
	if got := ids(t, r); len(got) != 2 || r.json(t)["more"] != true || r.json(t)["next"] == nil {
		t.Errorf("object page: %s", r.body)
	}
	r = f.get("bob", base+indicatorID(1)+"/?added_after=2999-01-01T00:00:00Z")
	wantStatus(t, r, 200)
	if len(ids(t, r)) != 0 {
		t.Errorf("added_after in the future: %s", r.body)
	}
	r = f.get("bob", base+indicatorID(1)+"/versions/")
	wantStatus(t, r, 200)
	var vs struct {
		More     bool     `json:"more"`
		Versions []string `json:"versions"`
	}
	json.Unmarshal(r.body, &vs)
	want := []string{"2024-01-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z"}
	if !slices.Equal(vs.Versions, want) {
		t.Errorf("versions = %v, want (in date_added order) %v", vs.Versions, want)
	}
	if r.header.Get(taxii.HeaderDateAddedFirst) == "" {
		t.Error("versions without date headers")
	}
	r = f.get("bob", base+indicatorID(1)+"/versions/?limit=1")
	json.Unmarshal(r.body, &vs)
	if len(vs.Versions) != 1 || !vs.More {
		t.Errorf("versions limit=1: %s", r.body)
	}

	r = f.get("bob", "/taxii2/hub/collections/"+defColl+"/manifest/?match[type]=indicator&match[version]=all")
	wantStatus(t, r, 200)
	var man struct {
		Objects []struct {
			ID, Version, DateAdded, MediaType string
		} `json:"objects"`
	}
	if err := json.Unmarshal(r.body, &man); err != nil {
		t.Fatal(err)
	}
	var rawMan struct {
		Objects []map[string]any `json:"objects"`
	}
	json.Unmarshal(r.body, &rawMan)
	if len(rawMan.Objects) != 4 {
		t.Fatalf("manifest: %s", r.body)
	}
	for _, m := range rawMan.Objects {
		if m["date_added"] == nil || m["version"] == nil || m["media_type"] != taxii.MediaSTIX || m["id"] == nil {
			t.Errorf("manifest record %v", m)
		}
	}

	// Unknown objects.
	missing := "indicator--00000000-0000-4000-8000-000000000404"
	wantStatus(t, f.get("bob", base+missing+"/"), 404)
	wantStatus(t, f.get("bob", base+missing+"/versions/"), 404)
	wantStatus(t, f.get("bob", base+"not-an-id/"), 404)
}

func TestBadQueryParameters(t *testing.T) {
	f := newFixture(t)
	base := objectsPath(defColl)
	tests := []struct{ query, mention string }{
		{"limit=-20", "limit"},
		{"limit=0", "limit"},
		{"limit=abc", "limit"},
		{"added_after=yesterday", "added_after"},
		{"match[version]=newest", "match[version]"},
		{"match[id]=indicator", "match[id]"},
		{"match[type]=Indicator!", "match[type]"},
		{"match[spec_version]=two", "match[spec_version]"},
		{"match[type]=indicator&match[type]=malware", "match[type]"},
		{"match[type]=" + strings.Repeat("a,", 200) + "a", "match[type]"},
		{"next=%00bad", "next"},
		{"x=" + strings.Repeat("y", 5000), "query string"},
		{"a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1", "parameters"},
		{"%zz", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 40)], func(t *testing.T) {
			r := f.get("alice", base+"?"+tt.query)
			wantStatus(t, r, 400)
			if d, _ := r.json(t)["description"].(string); !strings.Contains(d, tt.mention) {
				t.Errorf("description %q does not mention %q", d, tt.mention)
			}
		})
	}
	// A limit over the maximum is lowered, not refused.
	wantStatus(t, f.get("alice", base+"?limit=1000000"), 200)
}

func TestAcceptNegotiation(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.post("alice", defColl, indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Green)), 202)
	base := objectsPath(defColl)
	tests := []struct {
		path, accept string
		want         int
		wantType     string
	}{
		{base, taxii.MediaTAXII, 200, taxii.MediaTAXII},
		{base, taxii.MediaSTIX, 200, taxii.MediaSTIX},
		{base, "application/taxii+json; version=2.1", 200, taxii.MediaTAXII},
		{base, "application/taxii+json;version=2.1; charset=utf-8", 200, taxii.MediaTAXII},
		{base, "application/taxii+json", 200, taxii.MediaTAXII},
		{base, "*/*", 200, taxii.MediaTAXII},
		{base, "", 200, taxii.MediaTAXII},
		{base, "application/json", 406, ""},
		{base, "application/taxii+json;version=2.0", 406, ""},
		{base, "application/vnd.oasis.taxii+json; version=2.0", 406, ""},
		{base, "text/html, application/stix+json;version=2.1;q=0.5", 200, taxii.MediaSTIX},
		{"/taxii2/", taxii.MediaSTIX, 406, ""},
		{"/taxii2/hub/collections/", "application/xml", 406, ""},
		{base + indicatorID(1) + "/", "text/plain", 406, ""},
		{"/taxii2/hub/collections/" + defColl + "/manifest/", "image/png", 406, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.accept, func(t *testing.T) {
			r := f.do(req{path: tt.path, user: "alice", header: map[string]string{"Accept": tt.accept}})
			wantStatus(t, r, tt.want)
			if tt.wantType != "" && r.header.Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type %q, want %q", r.header.Get("Content-Type"), tt.wantType)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"2024-01-01T00:00:00.000Z", "2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"} {
		wantStatus(t, f.post("alice", defColl, indicator(1, m, sharing.TLP2Green)), 202)
	}
	obj := objectsPath(defColl) + indicatorID(1) + "/"
	versions := func() []string {
		r := f.get("alice", obj+"versions/")
		if r.status == 404 {
			return nil
		}
		var vs struct{ Versions []string }
		json.Unmarshal(r.body, &vs)
		return vs.Versions
	}
	// A member, or another organisation's admin, may not delete.
	wantStatus(t, f.do(req{method: "DELETE", path: obj, user: "alice"}), 403)
	wantStatus(t, f.do(req{method: "DELETE", path: obj, user: "bob"}), 403)
	if len(versions()) != 3 {
		t.Fatal("a refused delete removed versions")
	}
	// The producing organisation's admin deletes one version, then the rest.
	r := f.do(req{method: "DELETE", path: obj + "?match[version]=first", user: "acmeadmin"})
	wantStatus(t, r, 200)
	if got := versions(); !slices.Equal(got, []string{"2024-02-01T00:00:00.000Z", "2024-03-01T00:00:00.000Z"}) {
		t.Errorf("after deleting first: %v", got)
	}
	wantStatus(t, f.do(req{method: "DELETE", path: obj + "?match[version]=1999-01-01T00:00:00.000Z", user: "acmeadmin"}), 404)
	wantStatus(t, f.do(req{method: "DELETE", path: obj, user: "acmeadmin"}), 200)
	if got := versions(); got != nil {
		t.Errorf("after deleting all: %v", got)
	}
	wantStatus(t, f.get("alice", obj), 404)
	wantStatus(t, f.do(req{method: "DELETE", path: obj, user: "admin"}), 404)
	wantStatus(t, f.do(req{method: "DELETE", path: obj + "?match[version]=bogus", user: "admin"}), 400)
}

func TestTLPEnforcedOnEveryReadPath(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.post("alice", defColl,
		indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Amber),
		indicator(2, "2024-01-01T00:00:00.000Z", sharing.TLP2Green),
		indicator(3, "2024-01-01T00:00:00.000Z", sharing.TLP2Clear),
		indicator(4, "2024-01-01T00:00:00.000Z", sharing.TLP2Red),
		indicator(5, "2024-01-01T00:00:00.000Z", sharing.TLP2AmberStrict),
	), 202)
	base := objectsPath(defColl)
	manifest := "/taxii2/hub/collections/" + defColl + "/manifest/"
	visible := map[string][]int{
		"alice":     {1, 2, 3, 4, 5},
		"acmeadmin": {1, 2, 3, 5},
		"bob":       {2, 3},
		"analyst":   {1, 2, 3},
	}
	for user, want := range visible {
		t.Run(user, func(t *testing.T) {
			var wantIDs []string
			for _, n := range want {
				wantIDs = append(wantIDs, indicatorID(n))
			}
			got := ids(t, f.get(user, base))
			slices.Sort(got)
			if !slices.Equal(got, wantIDs) {
				t.Errorf("objects: %v, want %v", got, wantIDs)
			}
			r := f.get(user, manifest)
			got = ids(t, r)
			slices.Sort(got)
			if !slices.Equal(got, wantIDs) {
				t.Errorf("manifest: %v, want %v", got, wantIDs)
			}
			// Paging only ever sees visible rows: limit=1 pages count them.
			n, next := 0, ""
			for {
				q := "?limit=1"
				if next != "" {
					q += "&next=" + url.QueryEscape(next)
				}
				m := f.get(user, base+q).json(t)
				if objs, _ := m["objects"].([]any); len(objs) == 1 {
					n++
				}
				if m["more"] != true {
					break
				}
				next = m["next"].(string)
			}
			if n != len(want) {
				t.Errorf("paged %d objects, want %d", n, len(want))
			}
			for i := 1; i <= 5; i++ {
				code := 404
				if slices.Contains(want, i) {
					code = 200
				}
				wantStatus(t, f.get(user, base+indicatorID(i)+"/"), code)
				wantStatus(t, f.get(user, base+indicatorID(i)+"/versions/"), code)
			}
		})
	}
	// The public feed shows TLP:CLEAR only, without authentication.
	r := f.get("", "/public/clear")
	wantStatus(t, r, 200)
	if got := ids(t, r); !slices.Equal(got, []string{indicatorID(3)}) {
		t.Errorf("public feed: %v", got)
	}
	var b map[string]any
	json.Unmarshal(r.body, &b)
	if b["type"] != "bundle" || !strings.HasPrefix(fmt.Sprint(b["id"]), "bundle--") {
		t.Errorf("public feed is not a bundle: %s", r.body)
	}
}

func TestAddSameVersionTwice(t *testing.T) {
	f := newFixture(t)
	obj := indicator(1, "2024-01-01T00:00:00.000Z", sharing.TLP2Green)
	wantStatus(t, f.post("alice", defColl, obj), 202)
	// Identical re-submission: success; different content under the same
	// id and version: failure naming the object.
	r := f.post("alice", defColl, obj)
	if st := r.json(t); st["success_count"] != 1.0 || st["failure_count"] != 0.0 {
		t.Errorf("identical re-submission: %s", r.body)
	}
	changed := strings.Replace(obj, `"name":"indicator 1"`, `"name":"changed"`, 1)
	r = f.post("alice", defColl, changed)
	st := r.json(t)
	if st["success_count"] != 0.0 || st["failure_count"] != 1.0 || !strings.Contains(string(r.body), indicatorID(1)) {
		t.Errorf("conflicting re-submission: %s", r.body)
	}
	got := f.get("bob", objectsPath(defColl)+indicatorID(1)+"/")
	if !strings.Contains(string(got.body), `"name":"indicator 1"`) {
		t.Errorf("stored object changed: %s", got.body)
	}
}
