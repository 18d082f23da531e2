package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newConstituencyCmd is `kizuna constituency`: the resources each
// organisation owns, which `kizuna route` routes observations by.
func newConstituencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "constituency",
		Short: "Manage constituency registrations (add, remove, list the blocks, ASes and domains organisations own)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newConstituencyAddCmd(), newConstituencyRemoveCmd(), newConstituencyListCmd())
	return cmd
}

// openConstituency opens the store (for organisation names) and the
// registrations kept beside it in the data directory.
func openConstituency(ctx context.Context, dataDir string) (*sqlite.Store, *constituency.Registry, error) {
	st, err := openData(ctx, dataDir)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(st.Path())
	reg, err := constituency.Open(ctx, dir)
	if err != nil {
		st.Close()
		return nil, nil, failure("opening constituency registrations in %s: %v", dir, err)
	}
	return st, reg, nil
}

// resourceArgs requires at least one RESOURCE argument (usage error).
func resourceArgs(verb string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usage("constituency %s: give at least one RESOURCE (CIDR block, AS<number> or domain)", verb)
		}
		return nil
	}
}

func newConstituencyAddCmd() *cobra.Command {
	var dataDir, org string
	cmd := &cobra.Command{
		Use:   "add --data DIR --org NAME RESOURCE...",
		Short: "Register resources to an organisation",
		Long: `Register resources to an organisation (created with kizuna org create).
RESOURCE is an IPv4 or IPv6 CIDR block (a bare address is a /32 or /128;
host bits are masked), AS<number>, or a domain name, which covers all its
subdomains (IDN names are stored in punycode). Adding what is already
registered does nothing. If any RESOURCE is invalid, nothing is stored and
the command exits 1 naming it.`,
		Args: resourceArgs("add"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// Parse before opening anything: a bad resource is reported
			// even without a data directory.
			if _, err := constituency.ParseResources(args); err != nil {
				return failure("constituency add: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			st, reg, err := openConstituency(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			defer reg.Close()
			o, err := orgNamed(ctx, st, org)
			if err != nil {
				return err
			}
			n, err := reg.Add(ctx, o.ID, args...)
			if err != nil {
				return failure("constituency add: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d added, %d already registered\n", o.Name, n, len(args)-n)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name")
	return cmd
}

func newConstituencyRemoveCmd() *cobra.Command {
	var dataDir, org string
	cmd := &cobra.Command{
		Use:   "remove --data DIR --org NAME RESOURCE...",
		Short: "Remove registrations of an organisation",
		Long: `Remove registrations of an organisation. A RESOURCE may be written in any
spelling add accepts. If any RESOURCE is invalid or not registered to the
organisation, nothing is removed and the command exits 1 naming it.`,
		Args: resourceArgs("remove"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, reg, err := openConstituency(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			defer reg.Close()
			o, err := orgNamed(ctx, st, org)
			if err != nil {
				return err
			}
			n, err := reg.Remove(ctx, o.ID, args...)
			if nr := (*constituency.NotRegisteredError)(nil); errors.As(err, &nr) {
				return failure("constituency remove: %s not registered to %q; nothing removed", strings.Join(nr.Resources, ", "), o.Name)
			}
			if err != nil {
				return failure("constituency remove: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d removed\n", o.Name, n)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name")
	return cmd
}

// registrationJSON is a registration in `constituency list --json`.
type registrationJSON struct {
	Org      string    `json:"org"`
	OrgID    string    `json:"org_id"`
	Resource string    `json:"resource"`
	Kind     string    `json:"kind"`
	Created  time.Time `json:"created"`
}

func newConstituencyListCmd() *cobra.Command {
	var dataDir, org string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME] [--json]",
		Short: "List registrations (of one organisation with --org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, reg, err := openConstituency(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			defer reg.Close()
			orgID := ""
			if org != "" {
				o, err := orgNamed(ctx, st, org)
				if err != nil {
					return err
				}
				orgID = o.ID
			}
			names, err := orgNames(ctx, st)
			if err != nil {
				return err
			}
			regs, err := reg.List(ctx, orgID)
			if err != nil {
				return failure("constituency list: %v", err)
			}
			list := make([]registrationJSON, 0, len(regs))
			for _, r := range regs {
				list = append(list, registrationJSON{Org: nameOf(names, r.OrgID), OrgID: r.OrgID,
					Resource: r.Resource.String(), Kind: r.Resource.Kind.String(), Created: r.Created})
			}
			slices.SortStableFunc(list, func(a, b registrationJSON) int { return strings.Compare(a.Org, b.Org) })
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ORG\tRESOURCE\tKIND\tADDED")
			for _, r := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Org, r.Resource, r.Kind, r.Created.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "only this organisation's registrations")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// orgNames maps organisation ids to names.
func orgNames(ctx context.Context, st *sqlite.Store) (map[string]string, error) {
	orgs, err := st.Orgs(ctx)
	if err != nil {
		return nil, failure("listing organisations: %v", err)
	}
	m := make(map[string]string, len(orgs))
	for _, o := range orgs {
		m[o.ID] = o.Name
	}
	return m, nil
}

// nameOf returns the organisation's name, or its id when it is unknown.
func nameOf(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}
