package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// newCSAFCmd is `kizuna csaf`: the hub's CSAF 2.0 trusted provider.
func newCSAFCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "csaf",
		Short: "CSAF 2.0 trusted provider: validate, publish and list advisories",
		Long: `The hub's CSAF 2.0 trusted provider. Advisories are stored in DIR/csaf/ in the
standard's layout (<tlp>/<yyyy>/<id>.json with .asc, .sha256, .sha512,
index.txt, changes.csv) and served by kizuna serve under /.well-known/csaf/
with provider-metadata.json and ROLIE feeds. The OpenPGP signing key is
generated on first use in DIR/keys/csaf.asc. See docs/csaf.md.`,
	}
	cmd.AddCommand(newCSAFValidateCmd(), newCSAFPublishCmd(), newCSAFListCmd())
	return cmd
}

// readCSAFInput reads a file, or standard input for "-".
func readCSAFInput(cmd *cobra.Command, name string) ([]byte, error) {
	var r io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usage("%v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, csaf.MaxDocumentSize+1))
	if err != nil {
		return nil, failure("reading %s: %v", name, err)
	}
	if len(b) > csaf.MaxDocumentSize {
		return nil, failure("%s: larger than %d bytes", name, csaf.MaxDocumentSize)
	}
	return b, nil
}

func newCSAFValidateCmd() *cobra.Command {
	var draft bool
	cmd := &cobra.Command{
		Use:   "validate [--draft] FILE...",
		Short: "Check CSAF 2.0 documents: JSON schema and the standard's mandatory tests (6.1)",
		Long: `Check CSAF 2.0 documents against the CSAF JSON schema and the mandatory tests of
section 6.1 that Kizuna implements. Each problem is printed on stdout as
"FILE: TEST /json/pointer: message". --draft first completes the file as
publish would (YAML accepted). Exit status: 0 all valid, 1 problems found,
2 bad usage or unreadable input.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage("csaf validate: at least one FILE (or - for stdin) is required")
			}
			bad := 0
			for _, name := range args {
				b, err := readCSAFInput(cmd, name)
				if err != nil {
					return err
				}
				if draft {
					if b, err = csaf.Complete(name, b, csaf.DraftOptions{}); err != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: %v\n", name, err)
						bad++
						continue
					}
				}
				ps, err := csaf.Check(b)
				if err != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %v\n", name, err)
					bad++
					continue
				}
				for _, p := range ps {
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", name, p)
				}
				if len(ps) > 0 {
					bad++
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "kizuna: %d documents, %d invalid\n", len(args), bad)
			if bad > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&draft, "draft", false, "complete the file as a draft first (as csaf publish does)")
	return cmd
}

func newCSAFPublishCmd() *cobra.Command {
	var (
		dataDir, tlp string
		asIs, noSTIX bool
		orgs         []string
	)
	cmd := &cobra.Command{
		Use:   "publish --data DIR [--tlp LABEL] [--org ID]... [--as-is] FILE...",
		Short: "Complete, validate, sign and store CSAF advisories (JSON or YAML drafts)",
		Long: `Publish advisories from analysts' drafts (JSON, or YAML for .yaml/.yml files):
the hub sets the tracking dates, version, revision history entry and
generator, validates the result (schema and mandatory tests), signs it
with the hub's OpenPGP key and stores it with its hashes in DIR/csaf/.
--as-is publishes complete documents unchanged. --tlp sets the TLP label
of drafts without one; --org names recipient organisations (identity ids)
of TLP:AMBER advisories. Prints one line per advisory: TLP, path, id and
version.

Each advisory is then imported like kizuna vuln import does: each
vulnerability becomes a record of DIR/vuln.db (the findings of the
organisations' SBOMs are re-evaluated, so affected organisations see them
in their findings) and a STIX vulnerability object submitted through the
ingest pipeline as the hub, marked with the advisory's TLP. The records of
TLP:AMBER and RED advisories are restricted to the advisory's audience:
only the hub and the --org recipients of an AMBER advisory get findings
(RED: no organisation; the STIX object reaches the named people only), and
the STIX objects carry the recipients. --no-stix skips the import. Exit status: 0 all published, 1 a document was refused
or not imported, 2 bad usage.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage("csaf publish: at least one FILE (or - for stdin) is required")
			}
			if dataDir == "" {
				dataDir = os.Getenv("KIZUNA_DATA")
			}
			if dataDir == "" {
				return usage("csaf publish: --data DIR is required (or set KIZUNA_DATA)")
			}
			p := csaf.NewProvider(dataDir, nil)
			for _, name := range args {
				b, err := readCSAFInput(cmd, name)
				if err != nil {
					return err
				}
				if !asIs {
					if b, err = csaf.Complete(name, b, csaf.DraftOptions{Now: time.Now(), TLP: tlp}); err != nil {
						return failure("%v", err)
					}
				}
				e, err := p.Publish(cmd.Context(), b, csaf.PublishOptions{Orgs: orgs})
				if err != nil {
					if errors.Is(err, errkind.Invalid) {
						for _, pr := range csaf.ProblemsOf(err) {
							fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", name, pr)
						}
						return failure("%s: not published: %v", name, err)
					}
					return failure("%s: %v", name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s/%s\t%s\t%s\n", e.TLP, e.Dir(), e.Path, e.ID, e.Version)
				if noSTIX {
					continue
				}
				if err := importCSAF(cmd, dataDir, e); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (env KIZUNA_DATA)")
	cmd.Flags().StringVar(&tlp, "tlp", "", "TLP label for drafts without one: WHITE, GREEN, AMBER or RED")
	cmd.Flags().StringSliceVar(&orgs, "org", nil, "recipient organisation (identity id) of TLP:AMBER advisories; repeatable")
	cmd.Flags().BoolVar(&asIs, "as-is", false, "publish complete documents unchanged (no draft completion)")
	cmd.Flags().BoolVar(&noSTIX, "no-stix", false, "do not import the advisories into the vulnerability database and as STIX objects")
	return cmd
}

// importCSAF imports a published advisory into DIR/vuln.db and as STIX
// vulnerability objects marked with its TLP (restricted to its audience
// for AMBER and RED), and reports the records and new findings on stderr.
func importCSAF(cmd *cobra.Command, dataDir string, e csaf.Entry) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openData(ctx, dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	vw, err := openVulnWriter(ctx, cmd, st, dataDir, store.DefaultCollectionID, log) // new findings raise alerts
	if err != nil {
		return err
	}
	defer vw.Close()
	tlp, err := sharing.ParseTLP(e.TLP)
	if err != nil {
		return failure("csaf publish: %s: %v", e.ID, err)
	}
	var failed error
	im := &vulndb.Importer{
		DB: vw.DB, Emit: vw.Emit, CreatedBy: vw.CreatedBy, Markings: []string{sharing.MarkingID(tlp)},
		Distribution: vulndb.Restriction(tlp, sharing.Label{ProducerOrg: vw.CreatedBy, Orgs: e.Orgs, Users: e.Users}),
		OnFailure:    func(_ string, err error) { failed = err },
	}
	published, modified := e.Released()
	sum, err := im.ImportAdvisory(ctx, filepath.Join(dataDir, "csaf", e.Dir(), filepath.FromSlash(e.Path)), vulndb.Advisory{
		TrackingID: e.ID, Title: e.Title, Published: published, Modified: modified,
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return failure("csaf publish: %s is published but not imported: %v", e.ID, err)
	}
	fmt.Fprintf(stderr, "kizuna: %s: %d vulnerability records added, %d updated, %d STIX objects, %d new findings\n",
		e.ID, sum.Added, sum.Updated, sum.STIX, sum.NewFindings)
	return nil
}

func newCSAFListCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "list --data DIR",
		Short: "List the published CSAF advisories, newest change first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				dataDir = os.Getenv("KIZUNA_DATA")
			}
			if dataDir == "" {
				return usage("csaf list: --data DIR is required (or set KIZUNA_DATA)")
			}
			es, err := csaf.NewProvider(dataDir, nil).Entries()
			if err != nil {
				return failure("%v", err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TLP\tPATH\tID\tVERSION\tCURRENT RELEASE\tTITLE")
			for _, e := range es {
				fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", e.TLP, e.Dir(), e.Path, e.ID, e.Version, e.CurrentReleaseDate, e.Title)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (env KIZUNA_DATA)")
	return cmd
}
