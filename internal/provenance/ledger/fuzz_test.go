package ledger

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
)

// FuzzVerifySubmission: a submission verifies only when its body has the
// canonical form that was signed, by the registered key of the submitter.
func FuzzVerifySubmission(f *testing.F) {
	ks := NewOrgKeys(f.TempDir())
	key, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	if err := ks.Add(org, key.Public()); err != nil {
		f.Fatal(err)
	}
	body := []byte(`{"objects":[` + string(indicator(1)) + `]}`)
	sig, err := sign.Sign(key, org, body)
	if err != nil {
		f.Fatal(err)
	}
	want, err := sign.Digest(body)
	if err != nil {
		f.Fatal(err)
	}
	hdr := sign.FormatHeader(sig)
	f.Add(hdr, body)
	f.Add(hdr, []byte(`{"objects":[]}`))
	f.Add(hdr[:len(hdr)-4], body)
	f.Add("", body)
	f.Add("e30", []byte(`{}`))
	f.Fuzz(func(t *testing.T, h string, b []byte) {
		signer, kid, err := ks.VerifySubmission(context.Background(), org, h, b)
		if err != nil {
			return
		}
		if signer != org || kid != key.Public().ID() {
			t.Fatalf("verified as %s/%s", signer, kid)
		}
		if d, err := sign.Digest(b); err != nil || d != want {
			t.Fatalf("a body with another canonical form verified: %q", b)
		}
	})
}
