package leaktest

// Regression tests: bugs TestLeak found, reduced to small deterministic
// tests that assert the documented behaviour. The bugs are fixed; these
// tests keep them fixed, whatever seed TestLeak happens to draw.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
)

// TestRegressExportCollectionRights guards `kizuna export --org --user`
// against ignoring the collection's read list: its help says "With --org
// (and --user) it is exactly what that organisation (user) may read over
// TAXII", so a user whose organisation may not read a collection (TAXII:
// 404, or 403 when it may write it) must export nothing from it, not even
// its CLEAR and GREEN objects or its own. (cmd/kizuna/export.go once built
// the store filter from the TLP Access predicate alone.)
func TestRegressExportCollectionRights(t *testing.T) {
	e := newEnv(t, params{seed: 1, scale: 0.1})
	x := startExportBuild(t)
	e.submitStatements(t)
	ops, dropbox := e.colls[1], e.colls[2]
	opsMember := e.orgs[1].users[0]
	outsider := e.orgs[2].users[0] // neither reads ops nor dropbox
	for _, tc := range []struct {
		coll *collection
		by   *user
	}{{ops, opsMember}, {dropbox, outsider}} {
		o := e.newObject(tc.coll, tc.by)
		for o.sco {
			o = e.newObject(tc.coll, tc.by)
		}
		v := e.newVersion(o, tc.by)
		for v.rejected || v.eff != lvGreen {
			v = e.newVersion(o, tc.by)
		}
		e.submit(t, &submission{by: tc.by, coll: tc.coll, versions: []*version{v}})
	}
	<-x.done
	if x.err != nil {
		t.Skipf("cannot build cmd/kizuna: %v: %s", x.err, x.out)
	}
	for _, coll := range []*collection{ops, dropbox} {
		if coll.canRead(outsider) {
			t.Fatalf("%s can read %s", outsider, coll.title)
		}
		r, err := e.do(http.MethodGet, objectsPath(coll), outsider, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("TAXII GET objects/ of %s as %s: %d", coll.title, outsider, r.status)
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(x.bin, "export", "--data", e.dir, "--collection", coll.id, "--org", outsider.org.name, "--user", outsider.name)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			continue // refusing is fine
		}
		var b struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &b); err != nil {
			t.Fatalf("export: %v: %s", err, stdout.Bytes())
		}
		if len(b.Objects) > 0 {
			t.Errorf("LEAK: kizuna export --collection %s --org %s --user %s wrote %d objects of a collection the organisation may not read over TAXII (status %d), e.g. %.200s",
				coll.title, outsider.org.name, outsider.name, len(b.Objects), r.status, b.Objects[0])
		}
	}
}

// TestRegressIdenticalObservableOwnLabel guards the store's handling of
// an observable (an SCO: no created/modified, deterministic id) submitted
// with byte-identical JSON by several producers, here marked TLP:RED.
// Each producer's copy must be a version of its own (its version is its
// date_added) with its own label, so that every submitter can read what it
// submitted (TLP:RED is visible to "the submitting user", docs/sharing.md)
// and nobody learns from its status or its reads that someone else holds
// the same observable. (internal/store/sqlite Store.Add once answered the
// second producer with the first producer's stored copy and label.) An
// identical re-submission by the same user stays idempotent: the same
// version.
func TestRegressIdenticalObservableOwnLabel(t *testing.T) {
	e := newEnv(t, params{seed: 2, scale: 0.1})
	coll := e.colls[0]
	// Two organisations, and a colleague of the first submitter (same
	// organisation, another user: another label too).
	first, second, colleague := e.orgs[1].users[0], e.orgs[2].users[0], e.orgs[1].users[1]
	outsider := e.orgs[5].users[0]
	id := e.scoID("ipv4-addr", "203.0.113.99")
	raw := fmt.Sprintf(`{"type":"ipv4-addr","spec_version":"2.1","id":%q,"value":"203.0.113.99","object_marking_refs":[%q]}`, id, tlp2[lvRed])
	body := []byte(`{"objects":[` + raw + `]}`)
	post := func(u *user) string {
		t.Helper()
		r, err := e.do(http.MethodPost, objectsPath(coll), u, body)
		if err != nil {
			t.Fatal(err)
		}
		var st statusResource
		if err := json.Unmarshal(r.body, &st); err != nil || st.SuccessCount != 1 || len(st.Successes) != 1 {
			t.Fatalf("POST by %s: %d %s", u, r.status, r.body)
		}
		return st.Successes[0].Version
	}
	version := map[*user]string{}
	submitters := []*user{first, second, colleague}
	for _, u := range submitters {
		version[u] = post(u)
	}
	for i, u := range submitters {
		for _, o := range submitters[:i] {
			if version[u] == version[o] {
				t.Errorf("%s's status names version %s, the copy %s submitted: it learns that someone already holds this TLP:RED observable", u, version[u], o)
			}
		}
	}
	// Idempotent for the same user, in any order.
	for _, u := range []*user{second, first, colleague} {
		if v := post(u); v != version[u] {
			t.Errorf("identical re-submission by %s: version %s, want its earlier %s", u, v, version[u])
		}
	}
	get := func(u *user, path string) response {
		t.Helper()
		r, err := e.do(http.MethodGet, path, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// Every submitter reads its own copy, and only that.
	for _, u := range submitters {
		r := get(u, objectsPath(coll)+id+"/?match[version]=all")
		var env envelope
		if r.status != http.StatusOK || json.Unmarshal(r.body, &env) != nil {
			t.Errorf("GET its own TLP:RED submission %s as %s: status %d, want 200: %s", id, u, r.status, r.body)
			continue
		}
		if len(env.Objects) != 1 || string(env.Objects[0]) != raw {
			t.Errorf("GET objects/%s/?match[version]=all as %s: %d objects, want its own copy only: %s", id, u, len(env.Objects), r.body)
		}
		r = get(u, objectsPath(coll)+id+"/versions/")
		var vs struct {
			Versions []string `json:"versions"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &vs) != nil || len(vs.Versions) != 1 || vs.Versions[0] != version[u] {
			t.Errorf("GET objects/%s/versions/ as %s: status %d %s, want exactly its own version %s", id, u, r.status, r.body, version[u])
		}
		r = get(u, manifestPath(coll)+"?match[id]="+id+"&match[version]=all")
		var m manifestPage
		if r.status != http.StatusOK || json.Unmarshal(r.body, &m) != nil || len(m.Objects) != 1 || m.Objects[0].Version != version[u] {
			t.Errorf("GET manifest/?match[id]=%s as %s: status %d %s, want exactly its own version %s", id, u, r.status, r.body, version[u])
		}
		for _, o := range submitters {
			if o == u {
				continue
			}
			// Its own copy is visible, so the id answers; an exact
			// version match of another's copy selects nothing.
			r := get(u, objectsPath(coll)+id+"/?match[version]="+version[o])
			var env envelope
			if r.status != http.StatusOK || json.Unmarshal(r.body, &env) != nil || len(env.Objects) != 0 {
				t.Errorf("GET %s's copy of %s (version %s) as %s: status %d %s, want 200 without objects", o, id, version[o], u, r.status, r.body)
			}
		}
	}
	// Nobody else sees any copy.
	if r := get(outsider, objectsPath(coll)+id+"/"); r.status != http.StatusNotFound {
		t.Errorf("GET %s as %s (no copy is addressed to it): status %d, want 404: %s", id, outsider, r.status, r.body)
	}
}
