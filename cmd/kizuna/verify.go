package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/kizuna-cti/kizuna/internal/provenance/evidence"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// newVerifyCmd is `kizuna verify`: offline checks of a document's
// signature and of log receipts.
func newVerifyCmd() *cobra.Command {
	var sigFile, dataDir string
	var receipts, keyFiles []string
	var printHash bool
	cmd := &cobra.Command{
		Use:   "verify FILE | OBJECT|BUNDLE [--sig FILE] [--receipt FILE]... --key FILE...",
		Short: "Check a document's detached signature and transparency-log receipts, offline",
		Long: `Verify checks, without contacting the hub, either an evidence file or a
document with separate signature and receipt files.

An evidence file (kizuna export --signed) is self-contained: verify FILE
checks the hub's signature over the file, the signed tree head, and for every
object its canonical hash against its log entry, its inclusion proof and the
hub's signature over it. It prints the fingerprints (key ids) of the keys
used. Keys carried in the file prove integrity, not identity: pin the keys
you trust with --key FILE (the hub's public key file from kizuna key hub,
organisations' public key files, or the log verifier key) or --data DIR (the
hub's own keys); then a file using any other key fails.

Otherwise:

  - the detached signature over the document's RFC 8785 canonical JSON
    (--sig FILE, default OBJECT.sig when it exists), against the public key
    files given with --key (kizuna key generate writes them as FILE.pub);
  - each receipt (--receipt FILE, from GET /api/v1/log/inclusion): the hub's
    signed tree head, the inclusion proof, and that the logged hash is the
    canonical hash of the document or of one object in the bundle. The hub's
    verifier key (GET /api/v1/log/key) is given with --key too.

A --key file holding JSON is an organisation's public key file; any other is
the hub's note verifier key. --hash only prints the canonical SHA-256 of every
object in the document (what GET /api/v1/log/inclusion?hash= takes). Exit status: 0 everything verifies, 1 a check
failed (the reason on stderr), 2 usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return usage("verify: %v", err)
			}
			if printHash {
				return printHashes(cmd, doc, args[0])
			}
			if evidence.IsEvidence(doc) || (sigFile == "" && len(receipts) == 0 && !exists(args[0]+".sig")) {
				if sigFile != "" || len(receipts) > 0 {
					return usage("verify: %s is an evidence file: it carries its signatures and receipts; drop --sig and --receipt", args[0])
				}
				return verifyEvidence(cmd, args[0], doc, keyFiles, dataDir)
			}
			var ring sign.Keyring
			var verifiers []note.Verifier
			for _, kf := range keyFiles {
				k, _, v, err := readKeyFile(kf)
				if err != nil {
					return err
				}
				if v != nil {
					verifiers = append(verifiers, v)
					continue
				}
				if err := ring.Add(k.Identity, k.Key); err != nil {
					return usage("verify: --key %s: %v", kf, err)
				}
			}
			if sigFile == "" {
				if _, err := os.Stat(args[0] + ".sig"); err == nil {
					sigFile = args[0] + ".sig"
				}
			}
			if sigFile == "" && len(receipts) == 0 {
				return usage("verify: nothing to check: give --sig FILE (or put it at %s.sig) or --receipt FILE", args[0])
			}
			if sigFile != "" {
				b, err := os.ReadFile(sigFile)
				if err != nil {
					return usage("verify: --sig: %v", err)
				}
				sig, err := sign.ParseSignature(bytes.TrimSpace(b))
				if err != nil {
					return failure("verify: %s: %v", sigFile, err)
				}
				if err := ring.Verify(sig, doc); err != nil {
					return failure("verify: signature %s: %v", sigFile, err)
				}
				fmt.Fprintf(out, "signature: good (signer %s, %s key %s)\n", sig.Signer, sig.Alg, sig.KeyID)
			}
			if len(receipts) == 0 {
				return nil
			}
			if len(verifiers) != 1 {
				return usage("verify: a receipt needs the hub's verifier key: give exactly one --key FILE holding it (from /api/v1/log/key)")
			}
			hashes, err := objectHashes(doc)
			if err != nil {
				return failure("verify: %s: %v", args[0], err)
			}
			for _, rf := range receipts {
				b, err := os.ReadFile(rf)
				if err != nil {
					return usage("verify: --receipt: %v", err)
				}
				rc, err := translog.ParseReceipt(b)
				if err != nil {
					return failure("verify: receipt %s: %v", rf, err)
				}
				e, err := translog.ParseEntry([]byte(rc.Entry))
				if err != nil {
					return failure("verify: receipt %s: %v", rf, err)
				}
				if !hashes[e.ObjectHash] {
					return failure("verify: receipt %s: it logs %s with hash %s, which %s does not contain", rf, e.ObjectID, hex.EncodeToString(e.ObjectHash[:]), args[0])
				}
				e, tree, err := translog.VerifyReceipt(rc, verifiers[0], e.ObjectHash)
				if err != nil {
					return failure("verify: receipt %s: %v", rf, err)
				}
				fmt.Fprintf(out, "receipt: %s version %q (collection %s) is record %d of the log of %d records", e.ObjectID, e.Version, e.Collection, rc.Index, tree.N)
				if e.Signer != "" {
					fmt.Fprintf(out, ", submitted signed by %s (key %s)", e.Signer, e.KeyID)
				}
				fmt.Fprintln(out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sigFile, "sig", "", "detached signature file (default OBJECT.sig when present)")
	f.StringArrayVar(&receipts, "receipt", nil, "receipt file (repeatable)")
	f.StringArrayVar(&keyFiles, "key", nil, "public key file of the signer, or the hub's verifier key (repeatable)")
	f.StringVar(&dataDir, "data", "", "trust only the keys of this hub's data directory (evidence files)")
	f.BoolVar(&printHash, "hash", false, "print the canonical SHA-256 and id of every object, and check nothing")
	return cmd
}

// exists reports whether a file exists.
func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// readKeyFile reads a --key file: a public key file (returned as key) or
// a note verifier key (its text as logKey, parsed as v; v is nil for a
// public key file).
func readKeyFile(kf string) (key evidence.Key, logKey string, v note.Verifier, err error) {
	b, err := os.ReadFile(kf)
	if err != nil {
		return key, "", nil, usage("verify: --key: %v", err)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		id, pub, err := sign.ParsePublicKeyFile(t)
		if err != nil {
			return key, "", nil, usage("verify: --key %s: %v", kf, err)
		}
		return evidence.Key{Identity: id, Key: pub}, "", nil, nil
	}
	logKey = strings.TrimSpace(string(b))
	if v, err = translog.NewHeadVerifier(logKey); err != nil {
		return key, "", nil, usage("verify: --key %s: neither a public key file nor a note verifier key: %v", kf, err)
	}
	return key, logKey, v, nil
}

// trustFrom reads the keys to pin: --key files (public key files or a log
// verifier key) and the hub's and organisations' keys of --data DIR.
func trustFrom(keyFiles []string, dataDir string) (evidence.Trust, error) {
	var t evidence.Trust
	for _, kf := range keyFiles {
		k, logKey, v, err := readKeyFile(kf)
		if err != nil {
			return t, err
		}
		if v != nil {
			t.LogKeys = append(t.LogKeys, logKey)
			continue
		}
		t.Keys = append(t.Keys, k)
	}
	if dataDir == "" {
		return t, nil
	}
	b, err := os.ReadFile(filepath.Join(dataDir, ledger.KeyDir, ledger.HubKeyFile))
	if err != nil {
		return t, usage("verify: --data: the hub's key: %v", err)
	}
	id, key, err := sign.ParsePrivateKeyFile(b)
	if err != nil {
		return t, usage("verify: --data: the hub's key: %v", err)
	}
	t.Keys = append(t.Keys, evidence.Key{Identity: id, Key: key.Public()})
	orgs, err := ledger.NewOrgKeys(dataDir).List()
	if err != nil {
		return t, usage("verify: --data: organisation keys: %v", err)
	}
	for _, k := range orgs {
		t.Keys = append(t.Keys, evidence.Key{Identity: k.Identity, Key: k.Key})
	}
	return t, nil
}

// verifyEvidence checks an evidence file and reports every object.
func verifyEvidence(cmd *cobra.Command, name string, doc []byte, keyFiles []string, dataDir string) error {
	trust, err := trustFrom(keyFiles, dataDir)
	if err != nil {
		return err
	}
	res, err := evidence.Verify(doc, trust)
	if err != nil {
		if !evidence.IsEvidence(doc) {
			return usage("verify: nothing to check in %s: not an evidence file (kizuna export --signed); give --sig FILE (or put it at %s.sig) or --receipt FILE", name, name)
		}
		return failure("verify: %s: %v", name, err)
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	source := "carried in the file"
	if res.Pinned {
		source = "pinned"
	}
	for _, k := range res.Keys {
		role := "signer key"
		if k.Key.ID() == res.HubKey {
			role = "hub key"
		}
		fmt.Fprintf(out, "%s: %s %s (%s, %s)\n", role, k.Key.ID(), k.Key.Alg(), k.Identity, source)
	}
	fmt.Fprintf(out, "log key: %s\n", res.LogKey)
	for _, o := range res.Objects {
		if o.Err != nil {
			fmt.Fprintf(stderr, "kizuna: verify: %v\n", o.Err)
			continue
		}
		fmt.Fprintf(out, "ok: %s version %q (collection %s) is record %d of the log of %d records, signed by the hub", o.ID, o.Version, o.Collection, o.Index, res.Tree.N)
		if o.Signer != "" {
			fmt.Fprintf(out, ", submitted signed by %s (key %s)", o.Signer, o.KeyID)
		}
		fmt.Fprintln(out)
	}
	for _, e := range res.Errs {
		fmt.Fprintf(stderr, "kizuna: verify: %v\n", e)
	}
	if err := res.Err(); err != nil {
		return failure("verify: %s: %d check(s) failed, first: %v", name, res.Failures(), err)
	}
	fmt.Fprintf(out, "evidence: good: %d objects, the file's signature and the tree head of %d records verify\n", len(res.Objects), res.Tree.N)
	if !res.Pinned {
		fmt.Fprintf(stderr, "kizuna: hint: the keys came from the file: they prove integrity, not identity; compare the fingerprints above or pin them with --key hub.pub (kizuna key hub) or --data DIR\n")
	}
	return nil
}

// objectHashes returns the canonical hashes of the document and of every
// object it contains (a bundle, envelope, array or single object).
func objectHashes(doc []byte) (map[[32]byte]bool, error) {
	out := map[[32]byte]bool{}
	if h, err := sign.Digest(doc); err == nil {
		out[h] = true
	}
	err := stix.ReadObjects(bytes.NewReader(doc), func(_ int, raw json.RawMessage) error {
		h, err := sign.Digest(raw)
		if err != nil {
			return err
		}
		out[h] = true
		return nil
	})
	if err != nil && len(out) == 0 {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no objects")
	}
	return out, nil
}

// printHashes prints "HASH<TAB>ID" for every object of the document.
func printHashes(cmd *cobra.Command, doc []byte, name string) error {
	out := cmd.OutOrStdout()
	err := stix.ReadObjects(bytes.NewReader(doc), func(_ int, raw json.RawMessage) error {
		h, err := sign.Digest(raw)
		if err != nil {
			return err
		}
		var head struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &head)
		fmt.Fprintf(out, "%s\t%s\n", hex.EncodeToString(h[:]), head.ID)
		return nil
	})
	if err != nil {
		return failure("verify: %s: %v", name, err)
	}
	return nil
}
