package collection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/response/alert/collection"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

const (
	orgA = "identity--00000000-0000-4000-8000-00000000000a"
	orgB = "identity--00000000-0000-4000-8000-00000000000b"
	orgC = "identity--00000000-0000-4000-8000-00000000000c"
)

func indicator(n int, marking string) []byte {
	return fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":[%q]}`, n, n, marking)
}

// add stores raw in the default collection with label and returns the
// stored JSON.
func add(t *testing.T, st store.Store, raw []byte, l sharing.Label) json.RawMessage {
	t.Helper()
	o, err := stix.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := st.Add(context.Background(), store.DefaultCollectionID, []store.Record{{Object: o, Label: l}}, "")
	if err != nil || res[0].Err != nil {
		t.Fatalf("add: %v %v", err, res)
	}
	return o.Raw
}

// TestAdd: only what the organisation may see is copied, with the
// original label; the collection is created once, readable by the
// organisation only, writable by nobody; payloads that are not STIX are
// skipped; adding again is idempotent.
func TestAdd(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, o := range []store.Org{{ID: orgA, Name: "Acme", Type: "sme"}, {ID: orgB, Name: "Beta", Type: "sme"}, {ID: orgC, Name: "Gamma", Type: "sme"}} {
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	policy := sharing.NewPolicy(sharing.TLPNone)
	green := add(t, st, indicator(1, sharing.TLP2Green), sharing.Label{TLP: sharing.TLPGreen, ProducerOrg: orgB})
	amberForA := add(t, st, indicator(2, sharing.TLP2Amber), sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: orgB, Orgs: []string{orgA}})
	amberForC := add(t, st, indicator(3, sharing.TLP2Amber), sharing.Label{TLP: sharing.TLPAmber, ProducerOrg: orgB, Orgs: []string{orgC}})
	payload := json.RawMessage(`{"type":"case","id":"case-1","title":"x"}`)
	missing := json.RawMessage(indicator(9, sharing.TLP2Green))

	c := &collection.Collections{Store: st, Policy: policy}
	if err := c.Add(ctx, orgA, []json.RawMessage{green, amberForA, amberForC, payload, missing}); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(ctx, orgA, []json.RawMessage{green}); err != nil { // redelivery
		t.Fatal(err)
	}
	coll, err := st.Collection(ctx, store.DefaultAPIRoot, collection.ID(orgA))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(coll.ReadOrgs, []string{orgA}) || len(coll.WriteOrgs) != 0 || coll.Alias != "alerts-00000000-0000-4000-8000-00000000000a" || coll.Title != "Alerts for Acme" {
		t.Errorf("collection %+v", coll)
	}
	if policy.CanWrite(sharing.Principal{OrgID: orgA, Role: sharing.RoleOrgAdmin}, coll.WriteOrgs) ||
		policy.CanRead(sharing.Principal{OrgID: orgB, Role: sharing.RoleOrgAdmin}, coll.ReadOrgs) ||
		!policy.CanRead(sharing.Principal{OrgID: orgA, Role: sharing.RoleMember}, coll.ReadOrgs) {
		t.Error("rights on the alert collection")
	}
	all := sharing.Access{Clauses: []sharing.Clause{{}}}
	pg, err := st.Query(ctx, store.Filter{Collection: coll.ID, Access: all, Versions: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]store.Entry{}
	for _, e := range pg.Entries {
		got[e.ID] = e
	}
	if len(pg.Entries) != 2 || len(got) != 2 {
		t.Fatalf("alert collection holds %d versions: %+v", len(pg.Entries), pg.Entries)
	}
	if e := got["indicator--00000000-0000-4000-8000-000000000001"]; e.Label.TLP != sharing.TLPGreen || e.Label.ProducerOrg != orgB || string(e.Raw) != string(green) {
		t.Errorf("GREEN copy: %+v", e)
	}
	if e := got["indicator--00000000-0000-4000-8000-000000000002"]; e.Label.TLP != sharing.TLPAmber || !slices.Equal(e.Label.Orgs, []string{orgA}) {
		t.Errorf("AMBER copy: %+v", e.Label)
	}
	if _, ok := got["indicator--00000000-0000-4000-8000-000000000003"]; ok {
		t.Error("the AMBER object distributed to Gamma only was copied to Acme's alert collection")
	}
	if _, err := st.Collection(ctx, store.DefaultAPIRoot, collection.ID(orgC)); err == nil {
		t.Error("Gamma's alert collection exists without alerts")
	}
	if collection.ID(orgA) == collection.ID(orgB) || collection.ID(orgA) != "4df1f781-0e1a-5dfc-bbd5-1ef36461096b" {
		// Python: uuid.uuid5(uuid.UUID(bytes=b"kizuna-alerts-v1"), orgA)
		t.Errorf("collection id of %s: %s (ids must be per organisation and stable)", orgA, collection.ID(orgA))
	}
}
