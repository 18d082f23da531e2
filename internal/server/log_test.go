package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// withLedger gives the fixture a transparency log and an org key registry.
func withLedger(t *testing.T, out **ledger.Ledger, keys **ledger.OrgKeys) fixtureOpt {
	return func(c *Config) {
		l, err := ledger.Open(context.Background(), c.DataDir, c.Store, c.Policy, nil, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		k := ledger.NewOrgKeys(c.DataDir)
		c.Ledger, c.Signatures = l, k
		*out, *keys = l, k
	}
}

func TestSignedSubmissionAndReceipts(t *testing.T) {
	var l *ledger.Ledger
	var keys *ledger.OrgKeys
	f := newFixture(t, withLedger(t, &l, &keys))
	acmeKey, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	betaKey, err := sign.GenerateKey(rand.Reader, sign.Ed25519MLDSA65)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Add(orgAcme, acmeKey.Public()); err != nil {
		t.Fatal(err)
	}
	if err := keys.Add(orgBeta, betaKey.Public()); err != nil {
		t.Fatal(err)
	}
	obj := indicator(1, "2024-03-01T00:00:00.000Z", sharing.TLP2Amber)
	body := envelope(obj)
	signed := func(user string, key *sign.PrivateKey, signer string, signedBody, sentBody []byte) response {
		t.Helper()
		sig, err := sign.Sign(key, signer, signedBody)
		if err != nil {
			t.Fatal(err)
		}
		return f.do(req{method: http.MethodPost, path: objectsPath(store.DefaultCollectionID), user: user,
			header: map[string]string{sign.HeaderName: sign.FormatHeader(sig)}, body: sentBody})
	}

	tampered := []byte(strings.Replace(string(body), "10.0.0.1", "10.0.0.2", 1))
	for _, tc := range []struct {
		name       string
		user       string
		key        *sign.PrivateKey
		signer     string
		signedBody []byte
		wantMsg    string
	}{
		{"tampered body", "alice", acmeKey, orgAcme, body, "does not match"},
		{"key of another organisation", "alice", betaKey, orgAcme, body, "belongs to"},
		{"signed by another organisation", "alice", betaKey, orgBeta, body, "submitting organisation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := body
			if tc.name == "tampered body" {
				sent = tampered
			}
			r := signed(tc.user, tc.key, tc.signer, tc.signedBody, sent)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if d, _ := r.json(t)["description"].(string); !strings.Contains(d, tc.wantMsg) || !strings.Contains(d, sign.HeaderName) {
				t.Errorf("description %q, want one naming the header and %q", d, tc.wantMsg)
			}
		})
	}
	if n, _ := l.Log().Head(context.Background()); n.N != 0 {
		t.Fatalf("refused submissions were logged: size %d", n.N)
	}

	r := signed("alice", acmeKey, orgAcme, body, body)
	wantStatus(t, r, http.StatusAccepted)
	if st := r.json(t); st["status"] != "complete" || st["success_count"] != float64(1) {
		t.Fatalf("status %v", st)
	}
	wantStatus(t, f.post("alice", store.DefaultCollectionID, indicator(2, "2024-03-01T00:00:00.000Z", sharing.TLP2Green)), http.StatusAccepted)

	// Endpoints.
	vk := f.get("bob", "/api/v1/log/key")
	wantStatus(t, vk, http.StatusOK)
	verifier, err := translog.NewHeadVerifier(strings.TrimSpace(string(vk.body)))
	if err != nil {
		t.Fatal(err)
	}
	cp := f.get("bob", "/api/v1/log/checkpoint")
	wantStatus(t, cp, http.StatusOK)
	tree, err := translog.OpenTreeHead(cp.body, verifier)
	if err != nil || tree.N != 2 {
		t.Fatalf("checkpoint: %v, size %d", err, tree.N)
	}
	o, err := stix.Parse([]byte(obj))
	if err != nil {
		t.Fatal(err)
	}
	h := stix.Hash(o)
	path := "/api/v1/log/inclusion?hash=" + hex.EncodeToString(h[:])
	rr := f.get("alice", path)
	wantStatus(t, rr, http.StatusOK)
	rc, err := translog.ParseReceipt(rr.body)
	if err != nil {
		t.Fatal(err)
	}
	e, _, err := translog.VerifyReceipt(rc, verifier, h)
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	if e.Signer != orgAcme || e.KeyID != acmeKey.Public().ID() || e.ObjectID != o.ID {
		t.Errorf("logged entry %+v, want signed by acme's key", e)
	}
	// bob (beta) may not see acme's TLP:AMBER indicator: no receipt, and
	// the answer is the same as for an unknown hash.
	wantStatus(t, f.get("bob", path), http.StatusNotFound)
	wantStatus(t, f.get("bob", "/api/v1/log/inclusion?index=0"), http.StatusNotFound)
	wantStatus(t, f.get("bob", "/api/v1/log/inclusion?hash="+strings.Repeat("00", 32)), http.StatusNotFound)
	wantStatus(t, f.get("bob", "/api/v1/log/inclusion?index=1"), http.StatusOK)
	wantStatus(t, f.get("analyst", path), http.StatusOK)
	wantStatus(t, f.get("", path), http.StatusUnauthorized)
	wantStatus(t, f.get("bob", "/api/v1/log/inclusion?hash=zz"), http.StatusBadRequest)

	// Consistency between the first and the current tree.
	old, err := l.Log().TreeAt(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	cr := f.get("bob", "/api/v1/log/consistency?old=1&new=2")
	wantStatus(t, cr, http.StatusOK)
	pr, err := translog.ParseConsistencyProof(cr.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := translog.VerifyConsistency(pr, old, tree); err != nil {
		t.Errorf("consistency proof does not verify: %v", err)
	}
	wantStatus(t, f.get("bob", "/api/v1/log/consistency?old=3"), http.StatusBadRequest)

	// A TAXII delete is logged as a delete entry.
	del := f.do(req{method: http.MethodDelete, path: objectsPath(store.DefaultCollectionID) + o.ID + "/", user: "acmeadmin"})
	wantStatus(t, del, http.StatusOK)
	n, err := l.Log().Head(context.Background())
	if err != nil || n.N != 3 {
		t.Fatalf("after delete: size %d %v", n.N, err)
	}
	last, err := l.Log().Entry(context.Background(), 2)
	if err != nil || last.Op != translog.Delete || last.ObjectID != o.ID {
		t.Fatalf("last entry %+v %v, want a delete of %s", last, err, o.ID)
	}
	wantStatus(t, f.get("alice", path), http.StatusNotFound)
}

// TestSignedWithoutVerifier: a hub without signature support refuses a
// signed submission rather than storing it as unsigned.
func TestSignedWithoutVerifier(t *testing.T) {
	f := newFixture(t)
	key, _ := sign.GenerateKey(rand.Reader, sign.Ed25519)
	body := envelope(indicator(1, "2024-03-01T00:00:00.000Z", ""))
	sig, _ := sign.Sign(key, orgAcme, body)
	r := f.do(req{method: http.MethodPost, path: objectsPath(store.DefaultCollectionID), user: "alice",
		header: map[string]string{sign.HeaderName: sign.FormatHeader(sig)}, body: body})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	wantStatus(t, f.get("alice", "/api/v1/log/checkpoint"), http.StatusNotFound)
}
