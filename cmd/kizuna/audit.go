package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// openExisting opens the store of a data directory that must exist.
func openExisting(cmd *cobra.Command, dir string) (*sqlite.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, failure("data directory: %v", err)
	}
	return openData(cmd.Context(), dir)
}

// newAuditCmd is `kizuna audit`: checks of the data directory against the
// transparency log.
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Audit the data directory against the transparency log",
	}
	cmd.AddCommand(newAuditVerifyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var dataDir, checkpoint string
	cmd := &cobra.Command{
		Use:   "verify --data DIR [--checkpoint FILE]",
		Short: "Recompute the hash of every stored object version and check it against the log",
		Long: `Audit verify recomputes the canonical (RFC 8785) SHA-256 of every stored
object version and checks the transparency log: objects edited, removed or
added behind the hub's back, versions deleted but present again, and a log
whose own records no longer give its tree hashes. With --checkpoint (a signed
tree head saved earlier from /api/v1/log/checkpoint) the log must also still
extend that tree.

The audit reads the log as it is: it does not first log versions the store
holds beyond it (the server does that when it starts). Exit status: 0 clean,
1 findings (each named on stderr), 2 other errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dataDir == "" {
				return usage("audit verify: --data is required (or set KIZUNA_DATA)")
			}
			st, err := openExisting(cmd, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			l, err := ledger.Open(ctx, dataDir, st, policy, nil, ledger.Options{NoSync: true})
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			defer l.Close()
			var trusted tlog.Tree
			if checkpoint != "" {
				b, err := os.ReadFile(checkpoint)
				if err != nil {
					return usage("audit verify: --checkpoint: %v", err)
				}
				v, err := translog.NewHeadVerifier(l.VerifierKey())
				if err != nil {
					return fmt.Errorf("audit verify: %w", err)
				}
				if trusted, err = translog.OpenTreeHead(b, v); err != nil {
					return failure("audit verify: --checkpoint %s: %v", checkpoint, err)
				}
			}
			rep, err := l.Audit(ctx, trusted)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			for _, f := range rep.Findings {
				fmt.Fprintf(stderr, "kizuna: audit: %s\n", f)
			}
			if err := rep.Err(); err != nil {
				if errors.Is(err, provenance.ErrVerification) {
					return failure("audit verify: %v", err)
				}
				return fmt.Errorf("audit verify: %w", err)
			}
			fmt.Fprintf(out, "ok: %d stored versions match the log of %d records\n", rep.Objects, rep.Tree.N)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	cmd.Flags().StringVar(&checkpoint, "checkpoint", "", "a signed tree head saved earlier that the log must still extend")
	return cmd
}
