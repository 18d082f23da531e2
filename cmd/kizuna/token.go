package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// newTokenCmd is `kizuna token`: create and revoke API tokens.
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens (create, revoke)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var dataDir, orgName, userName string
	cmd := &cobra.Command{
		Use:   "create --data DIR --org NAME --user USER",
		Short: "Create an API token for a user and print it (shown once)",
		Long: `Create an API token for a user. Only the token is printed on stdout, and only
this once: Kizuna stores its SHA-256 hash, never the token. The token's id,
which token revoke takes, is printed on stderr. Send the token as
"Authorization: Bearer TOKEN" (or as the password of HTTP Basic).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(orgName) == "" {
				return usage("token create: --org NAME is required")
			}
			if strings.TrimSpace(userName) == "" {
				return usage("token create: --user USER is required")
			}
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			org, err := orgNamed(ctx, st, orgName)
			if err != nil {
				return err
			}
			u, err := userNamed(ctx, st, org, userName)
			if err != nil {
				return err
			}
			plain, hash, err := auth.NewToken()
			if err != nil {
				return failure("token create: %v", err)
			}
			id, err := auth.NewUUID()
			if err != nil {
				return failure("token create: %v", err)
			}
			t := store.Token{ID: id, UserID: u.ID, Hash: hash, Created: time.Now().UTC()}
			if err := st.CreateToken(ctx, t); err != nil {
				return failure("token create: %v", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), plain)
			fmt.Fprintf(cmd.ErrOrStderr(), "kizuna: created token %s for user %q of %q; it is shown only once\n", id, u.Name, org.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "organisation name")
	f.StringVar(&userName, "user", "", "user name")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var dataDir, id string
	cmd := &cobra.Command{
		Use:   "revoke --data DIR --id ID",
		Short: "Revoke an API token (effective within seconds on a running server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id = strings.TrimSpace(id)
			if id == "" {
				return usage("token revoke: --id ID is required")
			}
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeToken(ctx, id); err != nil {
				if errors.Is(err, errkind.NotFound) {
					return failure("token revoke: unknown token id %q", id)
				}
				return failure("token revoke: %v", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "kizuna: revoked token %s\n", id)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&id, "id", "", "token id (printed by token create on stderr)")
	return cmd
}
