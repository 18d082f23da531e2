// Package storetest is the conformance suite every store.Store backend must
// pass. Backends call Run from their own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// The suite pins down the semantics the TAXII server and the importer rely
// on, in particular:
//   - every version of every object is kept; a version is the object's
//     modified timestamp, else created; objects with neither take their
//     date_added as version (TAXII 2.1 manifest rule), so re-submitting one
//     with identical JSON and an identical label is idempotent, while
//     different JSON, or the same JSON under another label (another
//     producer, anonymity or sharing terms), is a new version with its own
//     label;
//   - date_added is unique and strictly increasing per collection, across
//     batches and concurrent Add calls;
//   - re-submitting an identical id+version succeeds and keeps date_added;
//     different content under the same id+version is an errkind.Conflict
//     for that object only;
//   - "first" and "last" are chosen among the versions visible under
//     Filter.Access (and of the requested spec versions; without
//     SpecVersions, of the latest visible spec version of each object),
//     independently of AddedAfter, IDs, Types and paging, which then filter;
//   - pages follow date_added, never skip or repeat, and only ever see
//     visible versions.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/store"
)

// Run runs the conformance suite. open must return a fresh, empty-enough
// store for each call (it may hold the backend's default API root and
// collection); the suite closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"APIRootsAndCollections", testAPIRootsAndCollections},
		{"VersionsKept", testVersionsKept},
		{"DateAdded", testDateAdded},
		{"Idempotent", testIdempotent},
		{"Unversioned", testUnversioned},
		{"UnversionedProducers", testUnversionedProducers},
		{"Filters", testFilters},
		{"SpecVersions", testSpecVersions},
		{"Paging", testPaging},
		{"PagingWithWrites", testPagingWithWrites},
		{"AllCollections", testAllCollections},
		{"AccessProperty", testAccessProperty},
		{"LastAmongVisible", testLastAmongVisible},
		{"Delete", testDelete},
		{"Statuses", testStatuses},
		{"FailPending", testFailPending},
		{"Directory", testDirectory},
		{"MarkingKnown", testMarkingKnown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// uniq returns a random suffix so tests never collide with what a backend
// creates by default.
func uniq() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// newCollection creates a fresh API root and collection and returns the
// collection id.
func newCollection(t *testing.T, s store.Store) string {
	t.Helper()
	ctx := context.Background()
	root := "root-" + uniq()
	if err := s.CreateAPIRoot(ctx, store.APIRoot{Name: root, Title: "test root", MaxContentLength: 1 << 20}); err != nil {
		t.Fatalf("CreateAPIRoot(%s): %v", root, err)
	}
	id := fmt.Sprintf("%s-%s-4%s-8%s-%s", uniq()[:8], uniq()[:4], uniq()[:3], uniq()[:3], uniq()[:12])
	if err := s.CreateCollection(ctx, store.Collection{ID: id, APIRoot: root, Title: "test", ReadOrgs: []string{"*"}, WriteOrgs: []string{"*"}}); err != nil {
		t.Fatalf("CreateCollection(%s): %v", id, err)
	}
	return id
}
