package federation

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii/client"
)

const (
	v2 = "2024-02-01T00:00:00.000Z"
	v3 = "2024-03-01T00:00:00.000Z"
)

// revoked is indicator with "revoked": true.
func revoked(id, modified, extra string) string {
	return indicator(id, modified, `,"revoked":true`+extra)
}

// link is a feed from one hub (running it) to another.
type link struct {
	from *testHub
	name string
}

// round runs every link once, in order, and returns the versions moved
// (pulled plus pushed, echoes included).
func round(t *testing.T, links []link) int64 {
	t.Helper()
	var moved int64
	for _, l := range links {
		r, err := l.from.syncer().Run(context.Background(), l.name)
		if err != nil {
			t.Fatalf("%s feed %s: %v", l.from.name, l.name, err)
		}
		moved += r.Pulled + r.Pushed
	}
	return moved
}

// settle runs rounds until one moves nothing (at most max rounds).
func settle(t *testing.T, links []link, max int) {
	t.Helper()
	for i := 0; i < max; i++ {
		if round(t, links) == 0 {
			return
		}
	}
	t.Fatalf("still moving versions after %d rounds", max)
}

// keys returns the sorted "id@version" keys of a hub.
func keys(h *testHub) []string {
	return slices.Sorted(maps.Keys(h.versions()))
}

// latestRevoked reports whether the latest version of id at h is revoked.
func latestRevoked(t *testing.T, h *testHub, id string) bool {
	t.Helper()
	p, err := h.st.Query(context.Background(), storeFilter(id))
	if err != nil || len(p.Entries) != 1 {
		t.Fatalf("%s: latest version of %s: %v %d entries", h.name, id, err, len(p.Entries))
	}
	return strings.Contains(string(p.Entries[0].Raw), `"revoked":true`)
}

// TestCycleBothWays federates two hubs in a cycle A→B→A, by pull, by push
// and both at once, with objects produced on both sides that then get new
// versions and revocations on their own side. Both hubs must end up with
// the same versions, each stored once (testHub.versions fails on a
// duplicate), the revocations must be the latest versions on both sides,
// and once settled a round must move nothing.
func TestCycleBothWays(t *testing.T) {
	for _, dir := range []Direction{Pull, Push, Both} {
		t.Run(string(dir), func(t *testing.T) {
			a, b := newTestHub(t, "a"), newTestHub(t, "b")
			a.feedTo(b, "b", dir, "")
			b.feedTo(a, "a", dir, "")
			links := []link{{a, "b"}, {b, "a"}}
			green := marking(sharing.TLP2Green)
			a1, a2, b1, b2 := objID(), objID(), objID(), objID()
			a.submit(indicator(a1, v1, green), indicator(a2, v1, green))
			b.submit(indicator(b1, v1, green), indicator(b2, v1, green))
			settle(t, links, 3)

			// New versions and revocations on both sides, twice.
			a.submit(indicator(a1, v2, green), revoked(a2, v2, green))
			b.submit(revoked(b1, v2, green), indicator(b2, v2, green))
			settle(t, links, 3)
			b.submit(revoked(b2, v3, green))
			a.submit(revoked(a1, v3, green))
			settle(t, links, 3)

			want := []string{a1 + "@" + v1, a1 + "@" + v2, a1 + "@" + v3, a2 + "@" + v1, a2 + "@" + v2,
				b1 + "@" + v1, b1 + "@" + v2, b2 + "@" + v1, b2 + "@" + v2, b2 + "@" + v3}
			slices.Sort(want)
			for _, h := range []*testHub{a, b} {
				if got := keys(h); !slices.Equal(got, want) {
					t.Fatalf("%s holds %v, want %v", h.name, got, want)
				}
				for _, id := range []string{a1, a2, b1, b2} {
					if !latestRevoked(t, h, id) {
						t.Errorf("%s: latest version of %s is not its revocation", h.name, id)
					}
				}
			}
			if n := round(t, links); n != 0 {
				t.Fatalf("a settled cycle moved %d versions", n)
			}
		})
	}
}

// TestRingOfThree pulls around a ring A←B←C←A (each hub pulls from the
// next): every version, revocations included, reaches every hub once.
func TestRingOfThree(t *testing.T) {
	a, b, c := newTestHub(t, "a"), newTestHub(t, "b"), newTestHub(t, "c")
	a.feedTo(b, "b", Pull, "")
	b.feedTo(c, "c", Pull, "")
	c.feedTo(a, "a", Pull, "")
	links := []link{{a, "b"}, {b, "c"}, {c, "a"}}
	green := marking(sharing.TLP2Green)
	ids := map[*testHub]string{a: objID(), b: objID(), c: objID()}
	for h, id := range ids {
		h.submit(indicator(id, v1, green))
	}
	settle(t, links, 5)
	for h, id := range ids {
		h.submit(revoked(id, v2, green))
	}
	settle(t, links, 5)
	var want []string
	for _, id := range ids {
		want = append(want, id+"@"+v1, id+"@"+v2)
	}
	slices.Sort(want)
	for _, h := range []*testHub{a, b, c} {
		if got := keys(h); !slices.Equal(got, want) {
			t.Fatalf("%s holds %v, want %v", h.name, got, want)
		}
		for _, id := range ids {
			if !latestRevoked(t, h, id) {
				t.Errorf("%s: latest version of %s is not its revocation", h.name, id)
			}
		}
	}
}

// taxiiDelete deletes every version of id at h over TAXII (DELETE
// .../objects/{id}/) as h's hub-admin.
func taxiiDelete(t *testing.T, h *testHub, id string) {
	t.Helper()
	u := h.apiRoot() + "collections/" + store.DefaultCollectionID + "/objects/" + id + "/"
	req, err := http.NewRequest(http.MethodDelete, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Accept", client.MediaTAXII)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s at %s: HTTP %d", id, h.name, res.StatusCode)
	}
}

// TestDeleteIsLocal checks the documented semantics of a TAXII DELETE in
// federation (docs/federation.md, "Deletes"): it removes versions from
// this hub only; the partner keeps its copy, settled federation in both
// directions does not bring the deleted versions back, and a later
// version from the producer (typically the revocation) still arrives.
func TestDeleteIsLocal(t *testing.T) {
	a, b := newTestHub(t, "a"), newTestHub(t, "b")
	a.feedTo(b, "b", Both, "")
	b.feedTo(a, "a", Both, "")
	links := []link{{a, "b"}, {b, "a"}}
	green := marking(sharing.TLP2Green)
	fromA, fromB := objID(), objID()
	a.submit(indicator(fromA, v1, green))
	b.submit(indicator(fromB, v1, green))
	settle(t, links, 3)

	// A deletes a copy it received from B, and an object it produced.
	taxiiDelete(t, a, fromB)
	taxiiDelete(t, a, fromA)
	for _, id := range []string{fromA, fromB} {
		if _, ok := b.versions()[id+"@"+v1]; !ok {
			t.Fatalf("the delete at a reached b: %s is gone there", id)
		}
	}
	for range 2 {
		round(t, links)
		if got := keys(a); len(got) != 0 {
			t.Fatalf("federation brought deleted versions back to a: %v", got)
		}
	}
	// B's producer revokes its object: the revocation (only) reaches a.
	b.submit(revoked(fromB, v2, green))
	settle(t, links, 3)
	if got, want := keys(a), []string{fromB + "@" + v2}; !slices.Equal(got, want) {
		t.Fatalf("a holds %v after the revocation, want %v", got, want)
	}
}
