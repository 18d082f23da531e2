package ledger

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

const org = "identity--00000000-0000-4000-8000-000000000002"

func indicator(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '10.0.0.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`, n, n%256))
}

type hub struct {
	dir    string
	st     *sqlite.Store
	policy *sharing.Policy
	l      *Ledger
}

func openHub(t *testing.T, dir string) *hub {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	policy := sharing.NewPolicy(sharing.TLPAmber)
	l, err := Open(ctx, dir, st, policy, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &hub{dir: dir, st: st, policy: policy, l: l}
}

func (h *hub) pipeline(withRecorder bool) *ingest.Pipeline {
	p := &ingest.Pipeline{Store: h.st, Policy: h.policy}
	if withRecorder {
		p.Recorder = h.l
	}
	return p
}

func submit(t *testing.T, p *ingest.Pipeline, sub ingest.Submission, raws ...json.RawMessage) {
	t.Helper()
	if sub.Collection == "" {
		sub.Collection = store.DefaultCollectionID
	}
	sub.Principal = sharing.Principal{OrgID: org, UserID: "user--1", Role: sharing.RoleMember}
	res, err := p.Submit(context.Background(), sub, raws)
	if err != nil || len(res.Failures) > 0 {
		t.Fatalf("submit: %v %+v", err, res.Failures)
	}
}

func entries(t *testing.T, l *Ledger) []translog.Entry {
	t.Helper()
	ctx := context.Background()
	head, err := l.Log().Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := l.Log().Store().ReadEntries(ctx, 0, int(head.N))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestCommitLogsVersionsWithSigner(t *testing.T) {
	h := openHub(t, t.TempDir())
	p := h.pipeline(true)
	submit(t, p, ingest.Submission{Signer: org, KeyID: "kid1"}, indicator(1), indicator(2))
	submit(t, p, ingest.Submission{}, indicator(3))
	submit(t, p, ingest.Submission{}, indicator(1)) // identical re-submission: not logged again
	es := entries(t, h.l)
	if len(es) != 3 {
		t.Fatalf("log has %d entries, want 3: %+v", len(es), es)
	}
	for i, want := range []struct {
		n      int
		signer string
	}{{1, org}, {2, org}, {3, ""}} {
		o, err := stix.Parse(indicator(want.n))
		if err != nil {
			t.Fatal(err)
		}
		e := es[i]
		if e.Op != translog.Add || e.ObjectID != o.ID || e.ObjectHash != stix.Hash(o) || e.Signer != want.signer ||
			e.Collection != store.DefaultCollectionID || e.Version != "2024-01-01T00:00:00.000Z" {
			t.Errorf("entry %d = %+v, want %s signed by %q", i, e, o.ID, want.signer)
		}
	}
	if es[0].KeyID != "kid1" || es[2].KeyID != "" {
		t.Errorf("key ids %q %q", es[0].KeyID, es[2].KeyID)
	}
	rep, err := h.l.Audit(context.Background(), translogZero)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("audit: %v %v", err, rep.Findings)
	}
}

// TestCatchUp: versions committed without a log append (a crash between
// the store commit and the append) are logged when the ledger reopens.
func TestCatchUp(t *testing.T) {
	dir := t.TempDir()
	h := openHub(t, dir)
	submit(t, h.pipeline(true), ingest.Submission{}, indicator(1))
	submit(t, h.pipeline(false), ingest.Submission{}, indicator(2), indicator(3)) // store only
	if n := len(entries(t, h.l)); n != 1 {
		t.Fatalf("before reopening: %d entries, want 1", n)
	}
	rep, err := h.l.Audit(context.Background(), translogZero)
	if err != nil || len(rep.Findings) != 2 || rep.Findings[0].Kind != translog.Unlogged {
		t.Fatalf("audit before catch-up: %v %v, want 2 unlogged", err, rep.Findings)
	}
	h.l.Close()
	h.st.Close()

	h2 := openHub(t, dir)
	es := entries(t, h2.l)
	if len(es) != 3 {
		t.Fatalf("after reopening: %d entries, want 3", len(es))
	}
	for i, e := range es {
		if want := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i+1); e.ObjectID != want {
			t.Errorf("entry %d is %s, want %s", i, e.ObjectID, want)
		}
	}
	if n, err := h2.l.Sync(context.Background()); err != nil || n != 0 {
		t.Errorf("second Sync appended %d (%v), want 0", n, err)
	}
	rep, err = h2.l.Audit(context.Background(), translogZero)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("audit after catch-up: %v %v", err, rep.Findings)
	}
}

// TestCatchUpPages crosses the sync page size over two collections.
func TestCatchUpPages(t *testing.T) {
	dir := t.TempDir()
	h := openHub(t, dir)
	ctx := context.Background()
	const other = "33333333-3333-4333-8333-333333333333"
	if err := h.st.CreateCollection(ctx, store.Collection{ID: other, APIRoot: store.DefaultAPIRoot, Title: "x", ReadOrgs: []string{"*"}, WriteOrgs: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	p := h.pipeline(false)
	var a, b []json.RawMessage
	for i := range syncPage + 300 {
		a = append(a, indicator(i))
		b = append(b, indicator(100000+i))
	}
	submit(t, p, ingest.Submission{}, a[:700]...)
	submit(t, p, ingest.Submission{Collection: other}, b...)
	submit(t, p, ingest.Submission{}, a[700:]...)
	n, err := h.l.Sync(ctx)
	if err != nil || n != 2*(syncPage+300) {
		t.Fatalf("Sync = %d, %v", n, err)
	}
	es := entries(t, h.l)
	for i := 1; i < len(es); i++ {
		if es[i].DateAdded <= es[i-1].DateAdded {
			t.Fatalf("entry %d date %s not after %s", i, es[i].DateAdded, es[i-1].DateAdded)
		}
	}
	if es[700].Collection != other || es[699].Collection != store.DefaultCollectionID {
		t.Errorf("collections out of order: %s %s", es[699].Collection, es[700].Collection)
	}
}

func TestDeleteLogged(t *testing.T) {
	h := openHub(t, t.TempDir())
	ctx := context.Background()
	submit(t, h.pipeline(true), ingest.Submission{}, indicator(1), indicator(2))
	st := h.l.Wrap(h.st)
	o, _ := stix.Parse(indicator(1))
	n, err := st.Delete(ctx, store.Filter{Collection: store.DefaultCollectionID, IDs: []string{o.ID},
		Access: h.policy.DeleteAccess(sharing.Principal{Role: sharing.RoleHubAdmin})})
	if err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	es := entries(t, h.l)
	if len(es) != 3 || es[2].Op != translog.Delete || es[2].ObjectID != o.ID || es[2].ObjectHash != stix.Hash(o) {
		t.Fatalf("entries %+v, want a delete of %s last", es, o.ID)
	}
	if rep, err := h.l.Audit(ctx, translogZero); err != nil || len(rep.Findings) != 0 {
		t.Fatalf("audit: %v %v", err, rep.Findings)
	}
	// Deleting behind the log's back is found.
	o2, _ := stix.Parse(indicator(2))
	if _, err := h.st.Delete(ctx, store.Filter{Collection: store.DefaultCollectionID, IDs: []string{o2.ID},
		Access: h.policy.DeleteAccess(sharing.Principal{Role: sharing.RoleHubAdmin})}); err != nil {
		t.Fatal(err)
	}
	rep, err := h.l.Audit(ctx, translogZero)
	if err != nil || len(rep.Findings) != 1 || rep.Findings[0].Kind != translog.Removed || rep.Findings[0].Key.ObjectID != o2.ID {
		t.Fatalf("audit after a hidden delete: %v %v", err, rep.Findings)
	}
	if !errors.Is(rep.Err(), provenance.ErrVerification) {
		t.Errorf("report error %v does not wrap ErrVerification", rep.Err())
	}
}

func TestHubKeyPersistent(t *testing.T) {
	dir := t.TempDir()
	h := openHub(t, dir)
	vk := h.l.VerifierKey()
	fi, err := os.Stat(filepath.Join(dir, KeyDir, HubKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("hub key mode %v, want 0600", fi.Mode().Perm())
	}
	h.l.Close()
	l2, err := Open(context.Background(), dir, h.st, h.policy, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.VerifierKey() != vk {
		t.Errorf("verifier key changed across opens: %s vs %s", l2.VerifierKey(), vk)
	}
	if !strings.HasPrefix(vk, DefaultOrigin+"+") {
		t.Errorf("verifier key %q does not name the origin", vk)
	}
}

func TestOrgKeys(t *testing.T) {
	dir := t.TempDir()
	ks := NewOrgKeys(dir)
	ctx := context.Background()
	priv, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	other, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	const orgB = "identity--00000000-0000-4000-8000-000000000003"
	if err := ks.Add(org, priv.Public()); err != nil {
		t.Fatal(err)
	}
	if err := ks.Add(orgB, other.Public()); err != nil {
		t.Fatal(err)
	}
	if err := ks.Add(orgB, priv.Public()); err == nil {
		t.Error("registering a key for a second organisation succeeded")
	}
	body := []byte(`{"objects":[` + string(indicator(1)) + `]}`)
	good, _ := sign.Sign(priv, org, body)
	byB, _ := sign.Sign(other, orgB, body)
	tampered := []byte(strings.Replace(string(body), "10.0.0.1", "10.0.0.9", 1))
	for _, tc := range []struct {
		name, orgID string
		sig         *sign.Signature
		body        []byte
		wantErr     bool
	}{
		{"good", org, good, body, false},
		{"reformatted", org, good, []byte(" " + string(body) + "\n"), false},
		{"tampered", org, good, tampered, true},
		{"other organisation's key", org, byB, body, true},
		{"signed for another submitter", orgB, good, body, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer, kid, err := ks.VerifySubmission(ctx, tc.orgID, sign.FormatHeader(tc.sig), tc.body)
			if tc.wantErr {
				if !errors.Is(err, provenance.ErrVerification) {
					t.Fatalf("err = %v, want ErrVerification", err)
				}
				return
			}
			if err != nil || signer != org || kid != priv.Public().ID() {
				t.Fatalf("= %q %q %v", signer, kid, err)
			}
		})
	}
	if _, _, err := ks.VerifySubmission(ctx, org, "not base64!", body); err == nil || errors.Is(err, provenance.ErrVerification) {
		t.Errorf("malformed header: err = %v, want an invalid-input error", err)
	}
	list, err := ks.List()
	if err != nil || len(list) != 2 || list[0].Identity != org || list[1].Identity != orgB {
		t.Fatalf("List = %v, %v", list, err)
	}
}

var translogZero = tlog.Tree{}

// TestDeferred: a Deferred ledger appends in the background; after Close
// every committed version is logged in date_added order, signed batches
// keep their signer, and the audit finds nothing.
func TestDeferred(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	policy := sharing.NewPolicy(sharing.TLPAmber)
	l, err := Open(ctx, dir, st, policy, nil, Options{Deferred: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &ingest.Pipeline{Store: st, Policy: policy, Recorder: l}
	const batches, per = 20, 25
	n := 0
	for b := range batches {
		raws := make([]json.RawMessage, per)
		for i := range raws {
			n++
			raws[i] = indicator(n)
		}
		sub := ingest.Submission{}
		if b == 7 {
			sub.Signer, sub.KeyID = org, "kid7"
		}
		submit(t, p, sub, raws...)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l2, err := Open(ctx, dir, st, policy, nil, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	es := entries(t, l2)
	if len(es) != batches*per {
		t.Fatalf("log has %d entries after Close, want %d", len(es), batches*per)
	}
	for i, e := range es {
		if want := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i+1); e.ObjectID != want {
			t.Fatalf("entry %d is %s, want %s", i, e.ObjectID, want)
		}
		if signed := i/per == 7; (e.Signer == org) != signed {
			t.Errorf("entry %d signer %q (batch %d)", i, e.Signer, i/per)
		}
	}
	rep, err := l2.Audit(ctx, translogZero)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("audit: %v %v", err, rep.Findings)
	}
}

// readCounting counts the reads of versions a ledger makes through the
// store (the methods it uses to read back what was committed).
type readCounting struct {
	*sqlite.Store
	reads int
}

func (r *readCounting) Manifest(ctx context.Context, f store.Filter) (store.Page, error) {
	r.reads++
	return r.Store.Manifest(ctx, f)
}

func (r *readCounting) Query(ctx context.Context, f store.Filter) (store.Page, error) {
	r.reads++
	return r.Store.Query(ctx, f)
}

// TestKnownVersionsNotReadBack: the versions a ledger's own commits stored
// (versioned, unversioned and idempotent re-submissions) are appended
// without reading the store back, exactly as a read-back would log them;
// when another writer added a version meanwhile, Sync reads the store and
// logs that version too, in date_added order.
func TestKnownVersionsNotReadBack(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &readCounting{Store: sq}
	policy := sharing.NewPolicy(sharing.TLPAmber)
	l, err := Open(ctx, dir, st, policy, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := &ingest.Pipeline{Store: st, Policy: policy, Recorder: l}
	ip := func(n int) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-5000-8000-%012d","value":"192.0.2.%d"}`, n, n))
	}
	st.reads = 0
	submit(t, p, ingest.Submission{}, indicator(1), indicator(2), ip(1))
	submit(t, p, ingest.Submission{}, indicator(2), ip(1), indicator(3)) // two re-submissions
	if st.reads != 0 {
		t.Errorf("the ledger read the store %d times for its own commits, want 0", st.reads)
	}
	if got := len(entries(t, l)); got != 4 {
		t.Fatalf("log has %d entries, want 4", got)
	}
	// Another writer (no ledger) stores a version; the next commit's
	// versions alone are then not everything added after the mark.
	pOther := &ingest.Pipeline{Store: sq, Policy: policy}
	submit(t, pOther, ingest.Submission{}, indicator(4))
	submit(t, p, ingest.Submission{}, indicator(5), ip(2))
	if st.reads == 0 {
		t.Error("the ledger did not read the store although another writer added a version")
	}
	es := entries(t, l)
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ObjectID[len(e.ObjectID)-2:])
	}
	if got, want := strings.Join(ids, " "), "01 02 01 03 04 05 02"; got != want {
		t.Errorf("logged ids (last two digits) %q, want %q", got, want)
	}
	// What was appended without reading back is what an audit of the
	// store expects, versions of unversioned objects included.
	rep, err := l.Audit(ctx, translogZero)
	if err != nil || len(rep.Findings) != 0 {
		t.Fatalf("audit: %v %v", err, rep.Findings)
	}
}
