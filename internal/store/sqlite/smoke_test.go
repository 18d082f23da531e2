package sqlite

import (
	"context"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := stix.Parse([]byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Add(ctx, store.DefaultCollectionID, []store.Record{{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen}}}, "")
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	p, err := s.Query(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 1 || string(p.Entries[0].Raw) != string(o.Raw) {
		t.Fatalf("%+v", p)
	}
}
