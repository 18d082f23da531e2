package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// newVulnCmd is `kizuna vuln`: the local vulnerability database.
func newVulnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vuln",
		Short: "Vulnerability database: import feeds (CVE 5, NVD, OSV, CSAF, KEV), scan SBOMs, list findings",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newVulnImportCmd(), newVulnScanCmd(), newVulnFindingsCmd(), newVulnSourceCmd())
	return cmd
}

// openVulnDB opens the vulnerability database of a data directory.
func openVulnDB(ctx context.Context, dataDir string, log *slog.Logger) (*vulndb.DB, error) {
	if dataDir == "" {
		dataDir = os.Getenv("KIZUNA_DATA")
	}
	if dataDir == "" {
		return nil, usage("--data DIR is required (or set KIZUNA_DATA)")
	}
	db, err := vulndb.Open(ctx, dataDir, log)
	if err != nil {
		return nil, failure("opening vulnerability database in %s: %v", dataDir, err)
	}
	return db, nil
}

func newVulnImportCmd() *cobra.Command {
	var (
		dataDir, collection, token string
		batch                      int
		insecure                   bool
	)
	cmd := &cobra.Command{
		Use:   "import --data DIR FILE|DIR|URL...",
		Short: "Import vulnerability records into the local database and as STIX vulnerability objects",
		Long: `Import reads vulnerability files: CVE JSON 5 records, NVD API 2.0 pages,
OSV records (JSON, or YAML by extension), CSAF 2.0 advisories and the CISA KEV
catalogue, detected from their content. Directories are read recursively
(*.json, *.yaml, *.yml, *.zip, *.tar.gz, *.tgz); zip and gzip'd tar archives
member by member. Files in directories and archives that are in none of these
formats (README.json, indexes) are skipped and counted.

Each record goes into the vulnerability database (DIR/vuln.db), replacing a
stored record with the same id only when it is newer (its modified time), and
becomes a STIX 2.1 vulnerability object (id derived from the record id,
external_references with source "cve", label known-exploited and property
x_kizuna_kev for KEV entries) submitted through the ingest pipeline as the hub,
marked TLP:CLEAR. A newer record gives a new version of the object; importing
the same files again changes nothing. Findings of the stored SBOMs are
re-evaluated for every new or changed record.

An https:// argument is a CSAF 2.0 provider: a domain (its
/.well-known/csaf/provider-metadata.json, else the CSAF field of its
security.txt) or the URL of its provider-metadata.json. Its ROLIE feeds (or
directory distributions) are read and every advisory is downloaded, its
SHA-256/SHA-512 hash and OpenPGP signature checked against the provider's
keys and the document validated before import; advisories that fail are
reported with their URL and skipped. TLP:GREEN, AMBER and RED distributions
are read only with --token; AMBER and RED advisories are verified but not
imported. kizuna vuln source add keeps a provider for incremental runs.

A summary per format goes to stderr. Files that cannot be read or parsed are
reported with the reason; the others are imported. Exit status: 0 all files
imported, 1 some files failed, 2 other errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			// A bulk import allocates much short-lived memory (parsed
			// records, JSON); collecting less often saves a quarter of
			// the CPU time for a larger heap.
			defer debug.SetGCPercent(debug.SetGCPercent(400))
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			dir := filepath.Dir(st.Path())
			vw, err := openVulnWriter(ctx, cmd, st, dir, collection, log) // new findings raise alerts
			if err != nil {
				return err
			}
			defer vw.Close()
			vdb, emit, createdBy := vw.DB, vw.Emit, vw.CreatedBy
			im := &vulndb.Importer{
				DB: vdb, Emit: emit, CreatedBy: createdBy, Markings: []string{sharing.TLP2Clear}, BatchSize: batch,
				OnFailure: func(name string, err error) {
					fmt.Fprintf(stderr, "kizuna: vuln import: %s\n", strings.TrimPrefix(err.Error(), "vulndb: "))
				},
			}
			urls, paths := splitURLs(args)
			failed := 0
			for _, u := range urls {
				r := &source.Runner{DB: vdb, Emit: emit, CreatedBy: createdBy, Log: log}
				res, err := r.Fetch(ctx, source.Source{Name: "import", Kind: source.CSAFProvider, URL: u, Token: token, InsecureSkipVerify: insecure}, nil)
				if err != nil {
					return failure("vuln import: %s: %v", u, err)
				}
				printSourceResult(stderr, u, res)
				for _, f := range res.Failures {
					fmt.Fprintf(stderr, "kizuna: vuln import: %v\n", f)
				}
				failed += res.Failed
			}
			if len(paths) > 0 {
				sum, err := im.Import(ctx, paths)
				printImportSummary(stderr, sum)
				if err != nil {
					return failure("vuln import: %v", err)
				}
				failed += sum.Failed
			}
			if failed > 0 {
				return failure("vuln import: %d files not imported", failed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&collection, "collection", store.DefaultCollectionID, "collection the STIX vulnerability objects go into")
	f.IntVar(&batch, "batch", 2000, "records per transaction")
	f.StringVar(&token, "token", "", "CSAF provider URLs: Bearer token for TLP:GREEN/AMBER/RED distributions")
	f.BoolVar(&insecure, "insecure-skip-verify", false, "CSAF provider URLs: do not verify the TLS certificate (test set-ups only)")
	return cmd
}

// hubEmitter returns a function that submits STIX objects through the
// ingest pipeline as the hub (the hub organisation when there is one, else
// the local operator), with the transparency log, and the hub's identity
// for created_by_ref.
func hubEmitter(ctx context.Context, cmd *cobra.Command, st *sqlite.Store, dir, collection string, log *slog.Logger) (
	emit func(context.Context, []json.RawMessage) error, closeFn func(), createdBy string, err error) {
	policy, err := policyFor(cmd)
	if err != nil {
		return nil, nil, "", err
	}
	pr, _, err := bulkPrincipal(ctx, st, "", "")
	if err != nil {
		return nil, nil, "", failure("vuln import: %v", err)
	}
	hub := hubOrgID(ctx, st)
	led, err := ledger.Open(ctx, dir, st, policy, log, ledger.Options{HubIdentity: hub})
	if err != nil {
		return nil, nil, "", failure("vuln import: transparency log: %v", err)
	}
	est, closeBus, err := withEvents(ctx, dir, st, log) // committed versions become hub events (alerting)
	if err != nil {
		led.Close()
		return nil, nil, "", err
	}
	p := &ingest.Pipeline{Store: est, Policy: policy, Log: log, HubOrgID: hub, Recorder: led}
	sub := ingest.Submission{Collection: collection, Principal: pr, DefaultTLP: sharing.TLPClear}
	return pipelineEmitter(p, sub), func() { led.Close(); closeBus() }, hub, nil
}

// vulnWriter holds what the command-line writers of vulnerability data
// (vuln import, vuln source run, csaf publish) need open: the
// vulnerability database, its new findings published on the hub's bus so
// they raise alerts, and the emitter of STIX objects as the hub.
type vulnWriter struct {
	DB        *vulndb.DB
	Emit      func(context.Context, []json.RawMessage) error
	CreatedBy string
	closeFn   func()
}

// Close closes the emitter, the findings publisher and the database.
func (w *vulnWriter) Close() { w.closeFn() }

// openVulnWriter opens the vulnerability database of dir with
// publishFindings and hubEmitter (into collection) over st.
func openVulnWriter(ctx context.Context, cmd *cobra.Command, st *sqlite.Store, dir, collection string, log *slog.Logger) (*vulnWriter, error) {
	vdb, err := openVulnDB(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	closeFindings, err := publishFindings(ctx, dir, st, vdb, log)
	if err != nil {
		vdb.Close()
		return nil, err
	}
	emit, closeEmit, createdBy, err := hubEmitter(ctx, cmd, st, dir, collection, log)
	if err != nil {
		closeFindings()
		vdb.Close()
		return nil, err
	}
	return &vulnWriter{DB: vdb, Emit: emit, CreatedBy: createdBy, closeFn: func() {
		closeEmit()
		closeFindings()
		vdb.Close()
	}}, nil
}

// pipelineEmitter returns a function that submits STIX objects through p
// as sub says, failing on the first object refused.
func pipelineEmitter(p *ingest.Pipeline, sub ingest.Submission) func(context.Context, []json.RawMessage) error {
	return func(ctx context.Context, objs []json.RawMessage) error {
		res, err := p.Submit(ctx, sub, objs)
		if err != nil {
			return err
		}
		for _, f := range res.Failures {
			return fmt.Errorf("STIX object %s refused: %s", f.ID, f.Message)
		}
		return nil
	}
}

// printImportSummary writes one line per format and the totals.
func printImportSummary(w io.Writer, sum vulndb.Summary) {
	var formats []string
	for f := range sum.Formats {
		formats = append(formats, string(f))
	}
	slices.Sort(formats)
	for _, f := range formats {
		c := sum.Formats[vulndb.Format(f)]
		fmt.Fprintf(w, "%s: %d files, %d records, %d failed\n", f, c.Files, c.Records, c.Failed)
	}
	fmt.Fprintf(w, "records: %d added, %d updated, %d unchanged, %d older than stored; %d STIX objects submitted; %d new findings; %d files skipped, %d failed\n",
		sum.Added, sum.Updated, sum.Unchanged, sum.Stale, sum.STIX, sum.NewFindings, sum.Skipped, sum.Failed)
}

func newVulnScanCmd() *cobra.Command {
	var dataDir, sbomFile, format string
	cmd := &cobra.Command{
		Use:   "scan --data DIR --sbom FILE [--format json|table]",
		Short: "Scan an SBOM against the local vulnerability database (nothing is stored)",
		Long: `Scan matches an SBOM (CycloneDX JSON/XML, SPDX JSON/tag-value, a purl/CPE list
or CSV; - reads stdin) against the records imported with kizuna vuln import.
Nothing is stored. --format json prints a JSON array of findings with
vulnerability, aliases, component, purl or cpe, installed_version,
fixed_versions, kev and severity; --format table a table. Exit status: 0 (with
or without findings), 1 the SBOM cannot be read or parsed, 2 usage errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if sbomFile == "" {
				return usage("vuln scan: --sbom FILE is required")
			}
			if format != "json" && format != "table" {
				return usage("vuln scan: --format %q: want json or table", format)
			}
			raw, err := readInput(cmd, sbomFile)
			if err != nil {
				return failure("vuln scan: %v", err)
			}
			vdb, err := openVulnDB(ctx, dataDir, nil)
			if err != nil {
				return err
			}
			defer vdb.Close()
			fs, doc, err := vdb.Scan(ctx, sbomFile, raw)
			if err != nil {
				return failure("vuln scan: %s", strings.TrimPrefix(err.Error(), "vulndb: "))
			}
			for _, n := range doc.Notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "kizuna: note: %s: %s\n", sbomFile, n)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), fs)
			}
			return writeFindingsTable(cmd.OutOrStdout(), fs, false)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&sbomFile, "sbom", "", "SBOM file (- for stdin)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: json or table")
	return cmd
}

func newVulnFindingsCmd() *cobra.Command {
	var dataDir, org, format string
	cmd := &cobra.Command{
		Use:   "findings --data DIR [--org NAME] [--format json|table]",
		Short: "List the stored findings of the uploaded SBOMs (of one organisation with --org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if format != "json" && format != "table" {
				return usage("vuln findings: --format %q: want json or table", format)
			}
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
			fs, err := vdb.Findings(ctx, orgID)
			if err != nil {
				return failure("vuln findings: %v", err)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), fs)
			}
			return writeFindingsTable(cmd.OutOrStdout(), fs, true)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name (default: every organisation)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: json or table")
	return cmd
}

// readInput reads a file, or stdin for "-".
func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = cmd.InOrStdin()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, vulndb.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > vulndb.MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, vulndb.MaxFileSize)
	}
	return data, nil
}

// writeFindingsTable prints findings for humans.
func writeFindingsTable(w io.Writer, fs []vulndb.Finding, withAsset bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withAsset {
		fmt.Fprint(tw, "ASSET\t")
	}
	fmt.Fprintln(tw, "VULNERABILITY\tALIASES\tCOMPONENT\tINSTALLED\tFIXED\tKEV\tSEVERITY")
	for _, f := range fs {
		if withAsset {
			fmt.Fprintf(tw, "%s\t", f.Asset)
		}
		kev := ""
		if f.KEV {
			kev = "KEV"
		}
		name := f.Component
		if f.PURL != "" {
			name = f.PURL
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Vulnerability, strings.Join(f.Aliases, ","), name,
			f.InstalledVersion, strings.Join(f.FixedVersions, ","), kev, f.Severity)
	}
	if err := tw.Flush(); err != nil {
		return failure("writing findings: %v", err)
	}
	return nil
}
