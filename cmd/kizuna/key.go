package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/provenance/evidence"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// newKeyCmd is `kizuna key`: organisations' signing keys.
func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage organisations' signing keys (generate, add, list, sign)",
		Long: `Organisations sign what they submit with their own keys; the hub verifies
the Kizuna-Signature header of a TAXII POST against the public keys registered
for the submitting organisation (DIR/keys/orgs/, picked up by a running server
without a restart). Unsigned submissions stay allowed.`,
	}
	cmd.AddCommand(newKeyGenerateCmd(), newKeyAddCmd(), newKeyListCmd(), newKeySignCmd(), newKeyHubCmd())
	return cmd
}

// orgIdentity resolves --org to an identity id: an identity id as given,
// else an organisation name looked up in the data directory.
func orgIdentity(cmd *cobra.Command, dataDir, org string) (string, error) {
	if strings.HasPrefix(org, "identity--") {
		return org, nil
	}
	if dataDir == "" {
		return "", usage("key: --org %q is not an identity id; give --data DIR to look the name up", org)
	}
	st, err := openExisting(cmd, dataDir)
	if err != nil {
		return "", err
	}
	defer st.Close()
	o, err := orgNamed(cmd.Context(), st, org)
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

func newKeyGenerateCmd() *cobra.Command {
	var dataDir, org, out, alg string
	cmd := &cobra.Command{
		Use:   "generate --org NAME|IDENTITY --out FILE [--alg ed25519|ed25519+ml-dsa-65] [--data DIR]",
		Short: "Generate a key pair: FILE (private, mode 0600) and FILE.pub (public key file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if org == "" || out == "" {
				return usage("key generate: --org and --out are required")
			}
			a := sign.Alg(alg)
			if a.SignatureSize() == 0 {
				return usage("key generate: --alg %q: want ed25519 or ed25519+ml-dsa-65", alg)
			}
			id, err := orgIdentity(cmd, dataDir, org)
			if err != nil {
				return err
			}
			key, err := sign.GenerateKey(rand.Reader, a)
			if err != nil {
				return failure("key generate: %v", err)
			}
			priv, err := sign.MarshalPrivateKeyFile(id, key)
			if err != nil {
				return failure("key generate: %v", err)
			}
			pub, err := sign.MarshalPublicKeyFile(id, key.Public())
			if err != nil {
				return failure("key generate: %v", err)
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return failure("key generate: %v", err)
			}
			if _, err := f.Write(priv); err != nil {
				f.Close()
				return failure("key generate: %v", err)
			}
			if err := f.Close(); err != nil {
				return failure("key generate: %v", err)
			}
			if err := os.WriteFile(out+".pub", pub, 0o644); err != nil {
				return failure("key generate: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s.pub\n", key.Public().ID(), id, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory, to look an organisation name up (env KIZUNA_DATA)")
	f.StringVar(&org, "org", "", "owning organisation: a name (with --data) or an identity id")
	f.StringVar(&out, "out", "", "private key file to create (the public key goes to FILE.pub)")
	f.StringVar(&alg, "alg", string(sign.Ed25519), "algorithm: ed25519 or ed25519+ml-dsa-65 (hybrid, post-quantum)")
	return cmd
}

func newKeyAddCmd() *cobra.Command {
	var dataDir, org, file string
	cmd := &cobra.Command{
		Use:   "add --data DIR --org NAME --file PUBKEY",
		Short: "Register an organisation's public key (a public key file from key generate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" || org == "" || file == "" {
				return usage("key add: --data, --org and --file are required")
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return failure("key add: %v", err)
			}
			owner, pub, err := sign.ParsePublicKeyFile(data)
			if err != nil {
				return failure("key add: %s: %v", file, err)
			}
			id, err := orgIdentity(cmd, dataDir, org)
			if err != nil {
				return err
			}
			if owner != id {
				return failure("key add: %s is a key of %s, not of %s (%s)", file, owner, org, id)
			}
			if err := ledger.NewOrgKeys(dataDir).Add(id, pub); err != nil {
				return failure("key add: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", pub.ID(), id)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	f.StringVar(&org, "org", "", "organisation name or identity id")
	f.StringVar(&file, "file", "", "public key file")
	return cmd
}

func newKeyListCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "list --data DIR",
		Short: "List the registered public keys: key id, algorithm, organisation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return usage("key list: --data is required (or set KIZUNA_DATA)")
			}
			keys, err := ledger.NewOrgKeys(dataDir).List()
			if err != nil {
				return failure("key list: %v", err)
			}
			names := map[string]string{}
			if st, err := openExisting(cmd, dataDir); err == nil {
				if orgs, err := st.Orgs(cmd.Context()); err == nil {
					for _, o := range orgs {
						names[o.ID] = o.Name
					}
				}
				st.Close()
			}
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\n", k.Key.ID(), k.Key.Alg(), k.Identity, names[k.Identity])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	return cmd
}

func newKeySignCmd() *cobra.Command {
	var keyFile string
	var header bool
	cmd := &cobra.Command{
		Use:   "sign --key PRIVKEY [--header] FILE",
		Short: "Sign a JSON document (object, bundle or TAXII envelope): the signature JSON, or the Kizuna-Signature header value",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usage("key sign: --key is required")
			}
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return failure("key sign: %v", err)
			}
			id, key, err := sign.ParsePrivateKeyFile(kb)
			if err != nil {
				return failure("key sign: %s: %v", keyFile, err)
			}
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return failure("key sign: %v", err)
			}
			sig, err := sign.Sign(key, id, doc)
			if err != nil {
				return failure("key sign: %s: %v", args[0], err)
			}
			if header {
				fmt.Fprintln(cmd.OutOrStdout(), sign.FormatHeader(sig))
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), string(sig.Marshal()))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file")
	cmd.Flags().BoolVar(&header, "header", false, "print the Kizuna-Signature header value instead of the signature JSON")
	return cmd
}

// exportSigned writes the bundle selected by f to stdout and the hub's
// detached signature over it (kizuna verify BUNDLE --sig FILE --key
// HUBPUB checks it; kizuna key hub prints HUBPUB). The bundle is held in
// memory, since the signature covers its canonical form.
func exportSigned(cmd *cobra.Command, st store.Objects, f store.Filter, dataDir, sigFile string) error {
	key, id, err := hubSigningKey(cmd, dataDir)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := writeBundle(cmd.Context(), st, f, &buf); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	sig, err := sign.Sign(key, id, buf.Bytes())
	if err != nil {
		return fmt.Errorf("export: signing: %w", err)
	}
	if err := os.WriteFile(sigFile, append(sig.Marshal(), '\n'), 0o644); err != nil {
		return failure("export: --sign: %v", err)
	}
	if _, err := cmd.OutOrStdout().Write(buf.Bytes()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// exportEvidence writes the evidence file of the versions f selects: the
// log is caught up first, so every stored version has a proof.
func exportEvidence(cmd *cobra.Command, st store.Store, f store.Filter, dataDir string, policy *sharing.Policy) error {
	ctx := cmd.Context()
	key, id, err := hubSigningKey(cmd, dataDir)
	if err != nil {
		return err
	}
	led, err := ledger.Open(ctx, dataDir, st, policy, nil, ledger.Options{HubIdentity: id})
	if err != nil {
		return failure("export: transparency log: %v", err)
	}
	defer led.Close()
	head, err := led.Checkpoint(ctx)
	if err != nil {
		return failure("export: %v", err)
	}
	orgs, err := ledger.NewOrgKeys(dataDir).Keyring()
	if err != nil {
		return failure("export: organisation keys: %v", err)
	}
	b, err := evidence.NewBuilder(led.Log(), head, led.VerifierKey(), id, key, orgs, time.Now())
	if err != nil {
		return failure("export: %v", err)
	}
	for {
		page, err := st.Query(ctx, f)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for _, e := range page.Entries {
			if err := b.Add(ctx, f.Collection, e.Raw); err != nil {
				return failure("export: %v", err)
			}
		}
		if !page.More || page.Next == "" {
			break
		}
		f.Next = page.Next
	}
	out, err := b.Finish()
	if err != nil {
		return failure("export: %v", err)
	}
	if _, err := cmd.OutOrStdout().Write(out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// hubSigningKey loads (creating on first use) the hub's key and the
// identity its key file names.
func hubSigningKey(cmd *cobra.Command, dataDir string) (*sign.PrivateKey, string, error) {
	st, err := openExisting(cmd, dataDir)
	if err != nil {
		return nil, "", err
	}
	hub := hubOrgID(cmd.Context(), st)
	st.Close()
	if _, err := ledger.LoadHubKey(dataDir, hub, true); err != nil {
		return nil, "", failure("hub key: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dataDir, ledger.KeyDir, ledger.HubKeyFile))
	if err != nil {
		return nil, "", failure("hub key: %v", err)
	}
	id, key, err := sign.ParsePrivateKeyFile(data)
	if err != nil {
		return nil, "", failure("hub key: %v", err)
	}
	return key, id, nil
}

func newKeyHubCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "hub --data DIR",
		Short: "Print the hub's public key file (checks export --sign signatures with kizuna verify --key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return usage("key hub: --data is required (or set KIZUNA_DATA)")
			}
			key, id, err := hubSigningKey(cmd, dataDir)
			if err != nil {
				return err
			}
			b, err := sign.MarshalPublicKeyFile(id, key.Public())
			if err != nil {
				return failure("key hub: %v", err)
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	return cmd
}
