package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/misp"
	"github.com/kizuna-cti/kizuna/internal/misp/hub"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newMISPCmd is `kizuna misp`: MISP event import and export.
func newMISPCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "misp",
		Short: "Import MISP events and feeds as STIX 2.1, export MISP events",
	}
	cmd.AddCommand(newMISPImportCmd(), newMISPExportCmd())
	return cmd
}

// mispFiles expands the arguments of `kizuna misp import`: a MISP feed
// directory (with manifest.json) contributes the event files its manifest
// names; another directory every *.json file below it; a file itself.
func mispFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errkind.NotFound, err)
		}
		switch {
		case !fi.IsDir():
			out = append(out, a)
		case misp.IsFeed(a):
			files, err := misp.FeedFiles(a)
			if err != nil {
				return nil, err
			}
			out = append(out, files...)
		default:
			err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() && p != a && misp.IsFeed(p) {
					files, err := misp.FeedFiles(p)
					if err != nil {
						return err
					}
					out = append(out, files...)
					return filepath.SkipDir
				}
				if !d.IsDir() && strings.HasSuffix(p, ".json") {
					out = append(out, p)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("reading directory %s: %w", a, err)
			}
		}
	}
	return out, nil
}

func newMISPImportCmd() *cobra.Command {
	var (
		dataDir, collection, orgName, userName string
		batch                                  int
	)
	cmd := &cobra.Command{
		Use:   "import --data DIR [--collection ID] [--org NAME [--user NAME]] FILE|DIR...",
		Short: "Import MISP events (files, API responses, feed directories) as STIX 2.1",
		Long: `Import converts MISP events to STIX 2.1 (see docs/misp.md for the mapping)
and stores them through the ingest pipeline, like kizuna import. Arguments are
MISP event files ({"Event": ...}, {"response": [...]}, lists), MISP feed
directories (manifest.json and one UUID.json per event) or directories searched
for both. STIX ids derive from the MISP uuids, so importing again changes
nothing. Events tagged tlp:* (or with distribution 0 or 4) are marked with the
TLP 2.0 marking; others are left unmarked so the hub's default applies.

What STIX cannot express is summarised on stderr after the import. Exit
status: 0 all stored, 1 some files or objects refused, 2 other errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			if dataDir == "" {
				return &exitError{code: 2, msg: "misp import: --data is required (or set KIZUNA_DATA)"}
			}
			files, err := mispFiles(args)
			if err != nil {
				return fmt.Errorf("misp import: %w", err)
			}
			// Cancelled on return: stops conversions the importer will
			// not open after a store error.
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stats := &hub.Stats{}
			inputs := make([]hub.File, len(files))
			for i, f := range files {
				inputs[i] = hub.OSFile(f)
			}
			srcs := hub.Sources(ctx, inputs, stats)
			st, err := sqlite.Open(ctx, dataDir)
			if err != nil {
				return fmt.Errorf("misp import: %w", err)
			}
			defer st.Close()
			pr, anon, err := bulkPrincipal(ctx, st, orgName, userName)
			if err != nil {
				return fmt.Errorf("misp import: %w", err)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			led, err := ledger.Open(ctx, dataDir, st, policy, log, ledger.Options{HubIdentity: hubOrgID(ctx, st)})
			if err != nil {
				return fmt.Errorf("misp import: transparency log: %w", err)
			}
			defer led.Close()
			est, closeBus, err := withEvents(ctx, dataDir, st, log) // committed versions become hub events (alerting)
			if err != nil {
				return err
			}
			defer closeBus()
			p := &ingest.Pipeline{Store: est, Policy: policy, Log: log, HubOrgID: hubOrgID(ctx, st), Recorder: led}
			sub := ingest.Submission{Collection: collection, Principal: pr, Anonymous: anon}
			rep := newProgressReporter(stderr, totalSize(srcs))
			prog, err := p.Import(ctx, sub, srcs, ingest.ImportOptions{BatchSize: batch, OnCommit: rep.commit, OnFailure: rep.failure})
			rep.done(prog)
			fmt.Fprintf(stderr, "converted %d MISP events (%d attributes, %d objects) from %d files\n",
				stats.Events, stats.Attributes, stats.Objects, len(files))
			if stats.Loss.Total() > 0 {
				fmt.Fprintf(stderr, "not expressible in STIX (%d):\n%s", stats.Loss.Total(), indent(stats.Loss.String()))
			}
			if err != nil {
				return fmt.Errorf("misp import: %w", err)
			}
			if prog.Failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("misp import: %d objects or files not imported", prog.Failed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	f.StringVar(&collection, "collection", store.DefaultCollectionID, "collection id")
	f.StringVar(&orgName, "org", "", "submit as this organisation (default: the hub organisation)")
	f.StringVar(&userName, "user", "", "submit as this user of the organisation")
	f.IntVar(&batch, "batch", ingest.DefaultBatchSize, "objects per transaction")
	return cmd
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func newMISPExportCmd() *cobra.Command {
	var (
		dataDir, collection, orgName, userName string
		types                                  []string
	)
	cmd := &cobra.Command{
		Use:   "export --data DIR [--type T]... [--collection ID] [--org NAME [--user NAME]] > events.json",
		Short: "Export what a principal may see as MISP events ({\"response\": [...]}) on stdout",
		Long: `Export writes the reports of a collection as MISP events, in the format of
MISP's own event export ({"response": [{"Event": ...}, ...]}), which MISP and
kizuna misp import read. Events converted from MISP come back with their uuids,
attributes, objects, tags, galaxies and sightings; other reports become events
whose attributes are their single-value indicators; indicators in no report are
collected into one extra event. --type keeps only attributes of these MISP
types (ip-dst, domain, sha256, ...).

What is exported goes through the sharing policy exactly like kizuna export:
--org/--user select whose view it is (default: the local operator).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dataDir == "" {
				return &exitError{code: 2, msg: "misp export: --data is required (or set KIZUNA_DATA)"}
			}
			if _, err := os.Stat(dataDir); err != nil {
				return fmt.Errorf("misp export: data directory: %w: %v", errkind.NotFound, err)
			}
			st, err := sqlite.Open(ctx, dataDir)
			if err != nil {
				return fmt.Errorf("misp export: %w", err)
			}
			defer st.Close()
			pr, _, err := bulkPrincipal(ctx, st, orgName, userName)
			if err != nil {
				return fmt.Errorf("misp export: %w", err)
			}
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			coll, err := st.Collection(ctx, store.DefaultAPIRoot, collection)
			if err != nil {
				return fmt.Errorf("misp export: collection %q: %w", collection, err)
			}
			if !policy.CanRead(pr, coll.ReadOrgs) {
				return fmt.Errorf("misp export: collection %q: %w", collection, errkind.NotFound)
			}
			var loss misp.Loss
			events, err := hub.Events(ctx, st, store.Filter{Collection: coll.ID, Access: policy.Access(pr)}, true, &loss)
			if err != nil {
				return fmt.Errorf("misp export: %w", err)
			}
			hub.KeepTypes(events, types)
			if err := misp.WriteEvents(cmd.OutOrStdout(), events); err != nil {
				return fmt.Errorf("misp export: writing events: %w", err)
			}
			if loss.Total() > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "not expressible in MISP (%d):\n%s", loss.Total(), indent(loss.String()))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	fl.StringVar(&collection, "collection", store.DefaultCollectionID, "collection id")
	fl.StringArrayVar(&types, "type", nil, "export only attributes of this MISP type (repeatable)")
	fl.StringVar(&orgName, "org", "", "export what this organisation may see")
	fl.StringVar(&userName, "user", "", "export what this user of the organisation may see")
	return cmd
}
