package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// newSBOMCmd is `kizuna sbom`: the SBOMs of each organisation.
func newSBOMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sbom",
		Short: "Manage the SBOMs of organisations (upload, list); findings are kept up to date",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSBOMUploadCmd(), newSBOMListCmd())
	return cmd
}

func newSBOMUploadCmd() *cobra.Command {
	var dataDir, org, asset string
	cmd := &cobra.Command{
		Use:   "upload --data DIR --org NAME [--name ASSET] FILE",
		Short: "Store an SBOM for an organisation's asset and compute its findings",
		Long: `Upload stores an SBOM (CycloneDX JSON/XML, SPDX JSON/tag-value, a purl/CPE
list or CSV; - reads stdin) as the next version of the organisation's asset
(--name; default the document's name, else the file name). The previous version
is kept, older ones are deleted. The asset's findings are computed against the
vulnerability database and re-evaluated whenever kizuna vuln import brings a
new or changed record. Prints the asset, version, components and findings.
Exit status: 0 stored, 1 unreadable SBOM or unknown organisation, 2 usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			raw, err := readInput(cmd, args[0])
			if err != nil {
				return failure("sbom upload: %v", err)
			}
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			o, err := orgNamed(ctx, st, org)
			if err != nil {
				return err
			}
			vdb, err := openVulnDB(ctx, filepath.Dir(st.Path()), nil)
			if err != nil {
				return err
			}
			defer vdb.Close()
			closeFindings, err := publishFindings(ctx, filepath.Dir(st.Path()), st, vdb, nil) // new findings raise alerts
			if err != nil {
				return err
			}
			defer closeFindings()
			info, err := vdb.UploadSBOM(ctx, o.ID, o.Name, asset, args[0], raw)
			if err != nil {
				return failure("sbom upload: %s", strings.TrimPrefix(err.Error(), "vulndb: "))
			}
			for _, n := range info.Notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "kizuna: note: %s: %s\n", args[0], n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s version %d (%s, %d components): %d findings, %d new\n",
				o.Name, info.Asset, info.Version, info.Format, info.Components, info.Findings, info.NewFindings)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name")
	cmd.Flags().StringVar(&asset, "name", "", "asset name (default: the SBOM's name, else the file name)")
	return cmd
}

func newSBOMListCmd() *cobra.Command {
	var dataDir, org string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME] [--json]",
		Short: "List the stored SBOM versions (of one organisation with --org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			orgID := ""
			if org != "" {
				o, err := orgNamed(ctx, st, org)
				if err != nil {
					return err
				}
				orgID = o.ID
			}
			vdb, err := openVulnDB(ctx, filepath.Dir(st.Path()), nil)
			if err != nil {
				return err
			}
			defer vdb.Close()
			list, err := vdb.SBOMs(ctx, orgID)
			if err != nil {
				return failure("sbom list: %v", err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ORGANISATION\tASSET\tVERSION\tFORMAT\tCOMPONENTS\tFINDINGS\tUPLOADED\tFILE")
			seen := map[string]bool{}
			for _, s := range list {
				// Versions come newest first: only the latest has findings.
				findings := "-"
				if k := s.Org + "\x1f" + s.Asset; !seen[k] {
					seen[k] = true
					findings = fmt.Sprint(s.Findings)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\n", s.OrgName, s.Asset, s.Version, s.Format, s.Components,
					findings, s.Uploaded.Format("2006-01-02T15:04:05Z"), s.File)
			}
			if err := tw.Flush(); err != nil {
				return failure("sbom list: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name (default: every organisation)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
