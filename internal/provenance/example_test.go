package provenance_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Example walks through signed provenance and the transparency log: an
// organisation signs an object, the hub verifies and logs it, a client
// checks the receipt offline, and an audit catches an edit made behind
// the hub's back.
func Example() {
	ctx := context.Background()
	const org = "identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	obj := []byte(`{"type":"indicator","spec_version":"2.1",
		"id":"indicator--a1f4c2f5-7a8b-4c3d-9e0f-1a2b3c4d5e6f",
		"created":"2026-01-02T03:04:05.000Z","modified":"2026-01-02T03:04:05.000Z",
		"pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.7']",
		"valid_from":"2026-01-02T03:04:05Z"}`)

	// The organisation signs the submission with its hybrid key and sends
	// the signature in the Kizuna-Signature header.
	orgKey, err := sign.GenerateKey(rand.Reader, sign.Ed25519MLDSA65)
	if err != nil {
		log.Fatal(err)
	}
	sig, err := sign.Sign(orgKey, org, obj)
	if err != nil {
		log.Fatal(err)
	}
	header := sign.FormatHeader(sig)

	// The hub knows the organisation's public key and verifies.
	var ring sign.Keyring
	if err := ring.Add(org, orgKey.Public()); err != nil {
		log.Fatal(err)
	}
	got, err := sign.ParseHeader(header)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signature:", ring.Verify(got, obj))
	tampered := []byte(strings.Replace(string(obj), "198.51.100.7", "198.51.100.8", 1))
	fmt.Println("tampered rejected:", errors.Is(ring.Verify(got, tampered), provenance.ErrVerification))

	// The hub logs the accepted version by its canonical hash.
	o, err := stix.Parse(obj)
	if err != nil {
		log.Fatal(err)
	}
	tl := translog.New(&translog.MemStore{})
	idx, err := tl.Append(ctx, translog.Entry{
		Op: translog.Add, Collection: "collection-a", ObjectID: o.ID, Version: o.Version(),
		DateAdded: "2026-01-02T03:04:06.000000Z", ObjectHash: stix.Hash(o),
		Signer: got.Signer, KeyID: got.KeyID,
	})
	if err != nil {
		log.Fatal(err)
	}

	// The hub signs tree heads with its own key and hands out receipts.
	hubKey, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		log.Fatal(err)
	}
	heads, err := translog.NewHeadSigner("hub.example.org/kizuna/log", hubKey.Ed25519())
	if err != nil {
		log.Fatal(err)
	}
	receipt, err := tl.Receipt(ctx, idx, heads)
	if err != nil {
		log.Fatal(err)
	}

	// A client holding the object, the receipt and the hub's verifier key
	// checks inclusion offline.
	v, err := translog.NewHeadVerifier(heads.VerifierKey())
	if err != nil {
		log.Fatal(err)
	}
	entry, head, err := translog.VerifyReceipt(receipt, v, stix.Hash(o))
	fmt.Println("receipt:", err, "record", idx, "of", head.N, "signed by", entry.Signer == org)

	// The audit compares the log with what the store holds now.
	trusted, err := translog.OpenTreeHead([]byte(receipt.TreeHead), v)
	if err != nil {
		log.Fatal(err)
	}
	edited := [32]byte{1}
	stored := func(yield func(translog.Current, error) bool) {
		yield(translog.Current{Key: entry.Key(), Hash: edited}, nil)
	}
	rep, err := translog.Audit(ctx, tl, trusted, stored)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("audit findings:", len(rep.Findings), rep.Findings[0].Kind)
	// Output:
	// signature: <nil>
	// tampered rejected: true
	// receipt: <nil> record 0 of 1 signed by true
	// audit findings: 1 edited
}
