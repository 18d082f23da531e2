package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// orgTypes are the organisation types, in the order help shows them.
var orgTypes = []string{"government", "critical-infrastructure", "local-government", "academia", "sme", "isac", "partner-cert", "hub"}

// newOrgCmd is `kizuna org`: create and list organisations.
func newOrgCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "org",
		Short: "Manage organisations (create, list)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newOrgCreateCmd(), newOrgListCmd())
	return cmd
}

func newOrgCreateCmd() *cobra.Command {
	var dataDir, name, sector, typ string
	var anonymous bool
	cmd := &cobra.Command{
		Use:   "create --data DIR --name NAME --sector SECTOR --type TYPE [--anonymous]",
		Short: "Create an organisation and print its STIX identity id",
		Long: `Create an organisation and print its STIX identity id (identity--<uuid>) on
stdout. TYPE is one of ` + strings.Join(orgTypes, ", ") + `; the hub's own
staff (hub-admin and analyst users) belong to an organisation of type hub.
With --anonymous the organisation publishes anonymously by default: other
recipients see the hub, not the organisation, as the source.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name = strings.TrimSpace(name)
			if name == "" {
				return usage("org create: --name NAME is required")
			}
			if strings.TrimSpace(sector) == "" {
				return usage("org create: --sector SECTOR is required")
			}
			if !slices.Contains(orgTypes, typ) {
				return usage("org create: --type %q is not one of %s", typ, strings.Join(orgTypes, ", "))
			}
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if typ == "hub" {
				// One hub organisation: it is the source of anonymous
				// publications and the home of hub staff.
				hub, ok, err := hubOrg(ctx, st)
				if err != nil {
					return failure("org create: %v", err)
				}
				if ok {
					return failure("org create: the hub organisation already exists (%q); there can be only one", hub.Name)
				}
			}
			uuid, err := auth.NewUUID()
			if err != nil {
				return failure("org create: %v", err)
			}
			o := store.Org{ID: "identity--" + uuid, Name: name, Sector: strings.TrimSpace(sector), Type: typ,
				Anonymous: anonymous, Created: time.Now().UTC()}
			if err := st.CreateOrg(ctx, o); err != nil {
				if errors.Is(err, errkind.Conflict) {
					return failure("org create: an organisation named %q already exists", name)
				}
				return failure("org create: %v", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), o.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&name, "name", "", "organisation name (unique)")
	f.StringVar(&sector, "sector", "", "sector (free text, e.g. energy)")
	f.StringVar(&typ, "type", "", "type: "+strings.Join(orgTypes, ", "))
	f.BoolVar(&anonymous, "anonymous", false, "publish anonymously by default")
	return cmd
}

// orgJSON is an organisation in `org list --json`.
type orgJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Sector    string    `json:"sector"`
	Type      string    `json:"type"`
	Anonymous bool      `json:"anonymous"`
	Created   time.Time `json:"created"`
}

func newOrgListCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--json]",
		Short: "List organisations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			orgs, err := st.Orgs(ctx)
			if err != nil {
				return failure("org list: %v", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]orgJSON, 0, len(orgs))
				for _, o := range orgs {
					list = append(list, orgJSON{o.ID, o.Name, o.Sector, o.Type, o.Anonymous, o.Created})
				}
				return writeJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tSECTOR\tANONYMOUS\tID")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Name, o.Type, o.Sector, yesNo(o.Anonymous), o.ID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
