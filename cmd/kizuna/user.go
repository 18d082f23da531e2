package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// newUserCmd is `kizuna user`: create and list users.
func newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage users of organisations (create, list)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newUserCreateCmd(), newUserListCmd())
	return cmd
}

func newUserCreateCmd() *cobra.Command {
	var dataDir, orgName, name, role string
	cmd := &cobra.Command{
		Use:   "create --data DIR --org NAME --name USER --role ROLE",
		Short: "Create a user of an organisation and print the user's id",
		Long: `Create a user of an organisation and print the user's id on stdout (name
users in a TLP:RED distribution by this id). ROLE is one of hub-admin,
analyst, org-admin or member; hub-admin and analyst are the hub's own staff
and only allowed in an organisation of type hub.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sharing.ParseRole(role)
			if err != nil {
				return usage("user create: --role: %v", err)
			}
			name = strings.TrimSpace(name)
			if name == "" {
				return usage("user create: --name USER is required")
			}
			if strings.TrimSpace(orgName) == "" {
				return usage("user create: --org NAME is required")
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
			if (r == sharing.RoleHubAdmin || r == sharing.RoleAnalyst) && org.Type != "hub" {
				return failure("user create: role %s is only for the hub's staff, but organisation %q is of type %s (create the user in the organisation of type hub)", r, org.Name, org.Type)
			}
			uuid, err := auth.NewUUID()
			if err != nil {
				return failure("user create: %v", err)
			}
			u := store.User{ID: "user--" + uuid, OrgID: org.ID, Name: name, Role: r, Created: time.Now().UTC()}
			if err := st.CreateUser(ctx, u); err != nil {
				if errors.Is(err, errkind.Conflict) {
					return failure("user create: organisation %q already has a user named %q", org.Name, name)
				}
				return failure("user create: %v", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), u.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "organisation name")
	f.StringVar(&name, "name", "", "user name (unique within the organisation)")
	f.StringVar(&role, "role", "", "role: hub-admin, analyst, org-admin or member")
	return cmd
}

// userJSON is a user in `user list --json`.
type userJSON struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Org     string    `json:"organization"`
	OrgID   string    `json:"organization_id"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
}

func newUserListCmd() *cobra.Command {
	var dataDir, orgName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME] [--json]",
		Short: "List users, of every organisation or of one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			orgID := ""
			if cmd.Flags().Changed("org") {
				org, err := orgNamed(ctx, st, orgName)
				if err != nil {
					return err
				}
				orgID = org.ID
			}
			users, err := st.Users(ctx, orgID)
			if err != nil {
				return failure("user list: %v", err)
			}
			orgs, err := st.Orgs(ctx)
			if err != nil {
				return failure("user list: %v", err)
			}
			names := map[string]string{}
			for _, o := range orgs {
				names[o.ID] = o.Name
			}
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]userJSON, 0, len(users))
				for _, u := range users {
					list = append(list, userJSON{u.ID, u.Name, names[u.OrgID], u.OrgID, string(u.Role), u.Created})
				}
				return writeJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ORGANISATION\tNAME\tROLE\tID")
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", names[u.OrgID], u.Name, u.Role, u.ID)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "only this organisation's users")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
