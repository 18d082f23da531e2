package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// newVulnSourceCmd is `kizuna vuln source`: scheduled vulnerability
// sources (CSAF providers, KEV, OSV, NVD, CVE 5 URLs).
func newVulnSourceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "source",
		Short: "Manage scheduled vulnerability sources: CSAF providers and KEV/OSV/NVD/CVE 5 URLs (add, list, run, remove)",
		Long: `Vulnerability sources are fetched into the vulnerability database
(DIR/vuln.db) by kizuna vuln source run, and by kizuna serve at their --every
interval. A csaf-provider source is a CSAF 2.0 provider (a domain or its
provider-metadata.json URL): each run reads its ROLIE feeds or directory
distributions and downloads only new or changed advisories, each checked
(hash, OpenPGP signature, CSAF validation) before import. An nvd source is
the NVD CVE API 2.0: the first run pages through everything (startIndex,
resultsPerPage), later runs fetch what was modified since (lastModStartDate
windows of at most 120 days), resuming at the page an interrupted run stopped
at. kev, osv and cve5 sources are one URL (JSON, zip or gzip'd tar) fetched
conditionally (ETag, Last-Modified). See docs/vuln.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newVulnSourceAddCmd(), newVulnSourceListCmd(), newVulnSourceRunCmd(), newVulnSourceRemoveCmd())
	return cmd
}

// openSources opens the source registry of a data directory.
func openSources(ctx context.Context, dataDir, verb string) (*source.Registry, string, error) {
	st, err := openData(ctx, dataDir)
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(st.Path())
	st.Close()
	reg, err := source.OpenRegistry(ctx, dir)
	if err != nil {
		return nil, "", failure("vuln source %s: %v", verb, err)
	}
	return reg, dir, nil
}

func newVulnSourceAddCmd() *cobra.Command {
	var dataDir, name, rawURL, kind, token string
	var every time.Duration
	var insecure bool
	var red []string
	cmd := &cobra.Command{
		Use:   "add --data DIR --name NAME --url URL --kind csaf-provider|kev|osv|nvd|cve5 [--every DURATION] [--token T] [--red-recipient USER]... [--insecure-skip-verify]",
		Short: "Configure a vulnerability source",
		Long: `Configure a vulnerability source. --kind csaf-provider takes a domain
(https://vendor.example) or a provider-metadata.json URL; nvd the CVE API URL
(https://services.nvd.nist.gov/rest/json/cves/2.0, with any filters such as
?noRejected); kev, osv and cve5 take the URL of a document or archive in that
format.

--token is, for a CSAF provider, the Bearer token of its access-protected
distributions (TLP:GREEN, AMBER, RED are not requested without one), for nvd
the API key (apiKey header; default $KIZUNA_NVD_API_KEY), otherwise a Bearer token. It is kept in
DIR/vulnsources.db (mode 0600) and never printed. --every runs the source from
kizuna serve at that interval (default 0: only by kizuna vuln source run).

A provider's TLP:AMBER advisories are imported hub-only (the hub's analysts
see them, no constituent gets findings). Its TLP:RED advisories are withheld
unless --red-recipient names hub analysts or hub admins (user names of the hub
organisation, or user ids): they alone then see them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" || rawURL == "" || kind == "" {
				return usage("vuln source add: --name, --url and --kind are required")
			}
			k, err := source.ParseKind(kind)
			if err != nil {
				return usage("vuln source add: %v", err)
			}
			var recipients []string
			if len(red) > 0 {
				st, err := openData(ctx, dataDir)
				if err != nil {
					return err
				}
				recipients, err = source.ResolveRecipients(ctx, st, hubOrgID(ctx, st), red)
				st.Close()
				if err != nil {
					return usage("vuln source add: %v", err)
				}
			}
			reg, _, err := openSources(ctx, dataDir, "add")
			if err != nil {
				return err
			}
			defer reg.Close()
			s := source.Source{Name: name, Kind: k, URL: rawURL, Token: token, Every: every, InsecureSkipVerify: insecure,
				RedRecipients: recipients, Created: time.Now().UTC()}
			if err := reg.Add(ctx, s); err != nil {
				switch {
				case errors.Is(err, errkind.Conflict):
					return failure("vuln source add: a source named %q already exists (kizuna vuln source remove first)", name)
				case errors.Is(err, errkind.Invalid):
					return usage("vuln source add: %v", err)
				}
				return failure("vuln source add: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s added: %s %s every %s\n", name, k, rawURL, every)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	fl.StringVar(&name, "name", "", "source name (unique)")
	fl.StringVar(&rawURL, "url", "", "provider domain or provider-metadata.json URL (csaf-provider), else the document URL")
	fl.StringVar(&kind, "kind", "", "csaf-provider, kev, osv, nvd or cve5")
	fl.DurationVar(&every, "every", 0, "run from kizuna serve at this interval, e.g. 6h (0: manual only)")
	fl.StringVar(&token, "token", "", "credential: Bearer token (CSAF: for TLP:GREEN/AMBER/RED), NVD API key")
	fl.BoolVar(&insecure, "insecure-skip-verify", false, "do not verify the TLS certificate (test set-ups only)")
	fl.StringArrayVar(&red, "red-recipient", nil, "csaf-provider: import TLP:RED advisories for this hub analyst or hub admin (user name or id; repeatable)")
	return cmd
}

func newVulnSourceListCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--json]",
		Short: "List vulnerability sources with their health (last success, error, counts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			reg, _, err := openSources(ctx, dataDir, "list")
			if err != nil {
				return err
			}
			defer reg.Close()
			srcs, err := reg.List(ctx)
			if err != nil {
				return failure("vuln source list: %v", err)
			}
			out := make([]source.Status, 0, len(srcs))
			for _, s := range srcs {
				out = append(out, s.Status())
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tEVERY\tURL\tLAST SUCCESS\tFETCHED\tIMPORTED\tFAILED\tWITHHELD\tLAST ERROR")
			for _, s := range out {
				last := "never"
				if !s.LastSuccess.IsZero() {
					last = s.LastSuccess.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Kind, s.Every, s.URL, last,
					s.Fetched, s.Imported, s.Failed, s.Withheld, s.LastError)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newVulnSourceRunCmd() *cobra.Command {
	var dataDir, name, collection string
	var nvdDelay time.Duration
	cmd := &cobra.Command{
		Use:   "run --data DIR --name NAME",
		Short: "Fetch one vulnerability source now (exit 1 when anything failed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" {
				return usage("vuln source run: --name NAME is required")
			}
			stderr := cmd.ErrOrStderr()
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			dir := filepath.Dir(st.Path())
			reg, err := source.OpenRegistry(ctx, dir)
			if err != nil {
				return failure("vuln source run: %v", err)
			}
			defer reg.Close()
			if _, err := reg.Get(ctx, name); errors.Is(err, errkind.NotFound) {
				return failure("vuln source run: no source named %q (kizuna vuln source list shows them)", name)
			}
			vw, err := openVulnWriter(ctx, cmd, st, dir, collection, log) // new findings raise alerts
			if err != nil {
				return err
			}
			defer vw.Close()
			r := &source.Runner{Registry: reg, DB: vw.DB, Emit: vw.Emit, CreatedBy: vw.CreatedBy, Log: log}
			if err := configureNVD(r); err != nil {
				return usage("vuln source run: %v", err)
			}
			if cmd.Flags().Changed("nvd-delay") {
				r.NVDDelay = &nvdDelay
			}
			res, err := r.Run(ctx, name)
			printSourceResult(cmd.OutOrStdout(), name, res)
			for _, f := range res.Failures {
				fmt.Fprintf(stderr, "kizuna: vuln source run: %v\n", f)
			}
			switch {
			case err != nil && len(res.Failures) > 0:
				return failure("vuln source run: %s: %d failed (recorded as the source's last error)", name, len(res.Failures))
			case err != nil:
				return failure("vuln source run: %s: %v", name, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&name, "name", "", "source name")
	cmd.Flags().StringVar(&collection, "collection", store.DefaultCollectionID, "collection the STIX vulnerability objects go into")
	cmd.Flags().DurationVar(&nvdDelay, "nvd-delay", 0, "nvd sources: pause between two NVD requests (default $KIZUNA_NVD_DELAY, else 6s without an API key, 600ms with one)")
	return cmd
}

// configureNVD sets the NVD options of a runner from the environment:
// $KIZUNA_NVD_API_KEY, the API key of nvd sources added without --token,
// and $KIZUNA_NVD_DELAY, the pause between two NVD requests (a Go
// duration; unset: NVD's guidance).
func configureNVD(r *source.Runner) error {
	r.NVDAPIKey = os.Getenv("KIZUNA_NVD_API_KEY")
	if v := os.Getenv("KIZUNA_NVD_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("KIZUNA_NVD_DELAY=%q: want a duration such as 6s", v)
		}
		r.NVDDelay = &d
	}
	return nil
}

func newVulnSourceRemoveCmd() *cobra.Command {
	var dataDir, name string
	cmd := &cobra.Command{
		Use:   "remove --data DIR --name NAME",
		Short: "Remove a vulnerability source and its state (the imported records stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" {
				return usage("vuln source remove: --name NAME is required")
			}
			reg, _, err := openSources(ctx, dataDir, "remove")
			if err != nil {
				return err
			}
			defer reg.Close()
			if err := reg.Remove(ctx, name); err != nil {
				if errors.Is(err, errkind.NotFound) {
					return failure("vuln source remove: no source named %q", name)
				}
				return failure("vuln source remove: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "source %s removed\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&name, "name", "", "source name")
	return cmd
}

// splitURLs separates http(s) URLs from file paths.
func splitURLs(args []string) (urls, paths []string) {
	for _, a := range args {
		if strings.HasPrefix(a, "https://") || strings.HasPrefix(a, "http://") {
			urls = append(urls, a)
		} else {
			paths = append(paths, a)
		}
	}
	return urls, paths
}

// printSourceResult writes the summary of one source run.
func printSourceResult(w io.Writer, name string, res source.Result) {
	if res.NotModified {
		fmt.Fprintf(w, "%s: not modified since the last run\n", name)
		return
	}
	fmt.Fprintf(w, "%s: %d fetched, %d unchanged, %d failed, %d withheld (TLP); records: %d added, %d updated; %d STIX objects submitted; %d new findings\n",
		name, res.Fetched, res.Unchanged, res.Failed, res.Withheld, res.Added, res.Updated, res.STIX, res.NewFindings)
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "%s: skipped %s\n", name, s)
	}
	for _, k := range res.KeyProblems {
		fmt.Fprintf(w, "%s: key not used: %s\n", name, k)
	}
}

// vulnSourceRunner opens the data directory's vulnerability sources for
// kizuna serve: the runner imports into vdb and submits the STIX objects
// as the hub. The scheduler (startVulnSources) and the HTTP API
// (/api/v1/vuln/sources) share it. nil when the sources cannot be opened
// (logged); close closes the registry.
func vulnSourceRunner(ctx context.Context, dir string, st store.Store, policy *sharing.Policy, rec ingest.Recorder, hubID string, vdb *vulndb.DB, log *slog.Logger) (r *source.Runner, closeFn func()) {
	reg, err := source.OpenRegistry(ctx, dir)
	if err != nil {
		log.Error("vulnerability sources disabled: opening the source registry", "err", err)
		return nil, func() {}
	}
	pr, _, err := bulkPrincipal(ctx, st, "", "")
	if err != nil {
		reg.Close()
		log.Error("vulnerability sources disabled: the hub principal", "err", err)
		return nil, func() {}
	}
	p := &ingest.Pipeline{Store: st, Policy: policy, Log: log, HubOrgID: hubID, Recorder: rec}
	emit := pipelineEmitter(p, ingest.Submission{Collection: store.DefaultCollectionID, Principal: pr, DefaultTLP: sharing.TLPClear})
	r = &source.Runner{Registry: reg, DB: vdb, Emit: emit, CreatedBy: hubID, Log: log}
	if err := configureNVD(r); err != nil {
		log.Error("vulnerability sources: NVD settings ignored", "err", err)
	}
	return r, func() { reg.Close() }
}

// startVulnSources runs the sources that have an interval in the
// background (kizuna serve) with r (nil: none); the returned function
// waits for the scheduler to stop after ctx ends.
func startVulnSources(ctx context.Context, r *source.Runner) func() {
	if r == nil {
		return func() {}
	}
	s := &source.Scheduler{Runner: r}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	return wg.Wait
}
