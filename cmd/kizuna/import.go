package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newImportCmd is `kizuna import`: bulk import through the ingest pipeline,
// straight into the data directory (no server needed).
func newImportCmd() *cobra.Command {
	var (
		dataDir, collection, orgName, userName, tlp string
		batch                                       int
	)
	cmd := &cobra.Command{
		Use:   "import --data DIR [--collection ID] [--org NAME [--user NAME]] [--tlp LEVEL] FILE...",
		Short: "Import STIX bundles (JSON, gzip'd JSON, directories, - for stdin) into a data directory",
		Long: `Import streams STIX 2.1 objects from bundles, TAXII envelopes, JSON arrays or
single objects (gzip detected from content; directories are read recursively
for *.json and *.json.gz; - reads stdin) through the ingest pipeline, storing
them in transactions of --batch objects. It works on the data directory
directly and does not need a running server.

Objects are submitted as --org (and --user); without --org, as the hub
organisation when one exists, else as a local operator without an
organisation. --tlp gives objects that carry no TLP marking that level in the
hub's sharing label; their JSON is stored unchanged.

Progress goes to stderr: a bar on a terminal, otherwise one line per committed
transaction ("imported N objects (M failed)"), counting only committed
objects. Invalid objects are reported with file, index, id and reason; the
others are stored. Exit status: 0 all stored, 1 some objects invalid or
refused, 2 other errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			stderr := cmd.ErrOrStderr()
			if dataDir == "" {
				return &exitError{code: 2, msg: "import: --data is required (or set KIZUNA_DATA)"}
			}
			var level sharing.TLP
			if tlp != "" {
				l, err := sharing.ParseTLP(tlp)
				if err != nil {
					return &exitError{code: 2, msg: "import: --tlp: " + err.Error()}
				}
				level = l
			}
			srcs, err := ingest.Sources(args, cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			st, err := sqlite.Open(ctx, dataDir)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer st.Close()
			pr, anon, err := bulkPrincipal(ctx, st, orgName, userName)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			// Bulk import allocates briskly and briefly: a lazier garbage
			// collector buys about 10 % throughput for about 100 MB of heap
			// (docs/benchmarks.md), unless GOGC is set.
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(200)
			}
			// Deferred: the log append of one batch overlaps the store
			// transaction of the next; Close waits for it to catch up.
			led, err := ledger.Open(ctx, dataDir, st, policy, log, ledger.Options{HubIdentity: hubOrgID(ctx, st), Deferred: true})
			if err != nil {
				return fmt.Errorf("import: transparency log: %w", err)
			}
			defer func() {
				if err := led.Close(); err != nil {
					log.Warn("import: transparency log", "err", err)
				}
			}()
			est, closeBus, err := withEvents(ctx, dataDir, st, log) // committed versions become hub events (alerting)
			if err != nil {
				return err
			}
			defer closeBus()
			p := &ingest.Pipeline{Store: est, Policy: policy, Log: log, HubOrgID: hubOrgID(ctx, st), Recorder: led}
			sub := ingest.Submission{Collection: collection, Principal: pr, Anonymous: anon, DefaultTLP: level}
			rep := newProgressReporter(stderr, totalSize(srcs))
			prog, err := p.Import(ctx, sub, srcs, ingest.ImportOptions{
				BatchSize: batch,
				OnCommit:  rep.commit,
				OnFailure: rep.failure,
			})
			rep.done(prog)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			if prog.Failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("import: %d objects not imported", prog.Failed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	f.StringVar(&collection, "collection", store.DefaultCollectionID, "collection id")
	f.StringVar(&orgName, "org", "", "submit as this organisation (default: the hub organisation)")
	f.StringVar(&userName, "user", "", "submit as this user of the organisation")
	f.StringVar(&tlp, "tlp", "", "TLP level for objects without a TLP marking (clear, green, amber, amber+strict, red)")
	f.IntVar(&batch, "batch", ingest.DefaultBatchSize, "objects per transaction")
	return cmd
}

// localOperator is the principal of a command run on the data directory
// when the directory has no hub organisation: a hub administrator without
// an organisation or user id.
var localOperator = sharing.Principal{OrgName: "local operator", User: "local-operator", Role: sharing.RoleHubAdmin}

// hubOrg returns the data directory's hub organisation (type "hub").
func hubOrg(ctx context.Context, st store.Directory) (store.Org, bool, error) {
	orgs, err := st.Orgs(ctx)
	if err != nil {
		return store.Org{}, false, err
	}
	for _, o := range orgs {
		if o.Type == "hub" {
			return o, true, nil
		}
	}
	return store.Org{}, false, nil
}

func hubOrgID(ctx context.Context, st store.Directory) string {
	o, ok, _ := hubOrg(ctx, st)
	if !ok {
		return ""
	}
	return o.ID
}

// bulkPrincipal resolves the principal an import or export acts as: the
// named organisation (and user), else the hub organisation as a hub
// administrator, else the local operator. anonymous is the organisation's
// default for anonymous publication.
func bulkPrincipal(ctx context.Context, st store.Directory, orgName, userName string) (pr sharing.Principal, anonymous bool, err error) {
	var org store.Org
	switch {
	case orgName != "":
		org, err = st.OrgByName(ctx, orgName)
		if err != nil {
			return pr, false, fmt.Errorf("organisation %q: %w", orgName, err)
		}
	default:
		var ok bool
		org, ok, err = hubOrg(ctx, st)
		if err != nil {
			return pr, false, err
		}
		if !ok {
			if userName != "" {
				return pr, false, fmt.Errorf("%w: --user %q needs --org (there is no hub organisation)", errkind.Invalid, userName)
			}
			return localOperator, false, nil
		}
	}
	pr = sharing.Principal{OrgID: org.ID, OrgName: org.Name}
	if userName == "" {
		if org.Type == "hub" {
			pr.User, pr.Role = localOperator.User, sharing.RoleHubAdmin
		} else {
			pr.Role = sharing.RoleMember
		}
		return pr, org.Anonymous, nil
	}
	u, err := st.UserByName(ctx, org.ID, userName)
	if err != nil {
		return pr, false, fmt.Errorf("user %q of %q: %w", userName, org.Name, err)
	}
	pr.UserID, pr.User, pr.Role = u.ID, u.Name, u.Role
	return pr, org.Anonymous, nil
}

func totalSize(srcs []ingest.Source) int64 {
	var n int64
	for _, s := range srcs {
		if s.Size <= 0 {
			return 0
		}
		n += s.Size
	}
	return n
}

// progressReporter writes import progress to stderr: a redrawn bar on a
// terminal, plain lines otherwise.
type progressReporter struct {
	w     io.Writer
	tty   bool
	total int64
	start time.Time
	last  time.Time
	drawn bool
	// commits counts committed transactions.
	commits int
}

func newProgressReporter(w io.Writer, total int64) *progressReporter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progressReporter{w: w, tty: tty, total: total, start: time.Now()}
}

func (r *progressReporter) commit(p ingest.Progress) {
	r.commits++
	if !r.tty {
		fmt.Fprintf(r.w, "imported %d objects (%d failed)\n", p.Committed, p.Failed)
		return
	}
	if now := time.Now(); now.Sub(r.last) >= 100*time.Millisecond {
		r.last = now
		r.draw(p)
	}
}

func (r *progressReporter) draw(p ingest.Progress) {
	rate := float64(p.Committed) / max(time.Since(r.start).Seconds(), 1e-3)
	bar := ""
	if r.total > 0 {
		const width = 30
		frac := min(float64(p.Bytes)/float64(r.total), 1)
		n := int(frac * width)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100)
	}
	fmt.Fprintf(r.w, "\r\033[K%simported %d objects (%d failed) %.0f/s", bar, p.Committed, p.Failed, rate)
	r.drawn = true
}

func (r *progressReporter) clear() {
	if r.tty && r.drawn {
		fmt.Fprint(r.w, "\r\033[K")
		r.drawn = false
	}
}

func (r *progressReporter) failure(f ingest.Failure) {
	r.clear()
	fmt.Fprintf(r.w, "kizuna: %s\n", f.Error())
}

func (r *progressReporter) done(p ingest.Progress) {
	if !r.tty {
		if r.commits == 0 {
			fmt.Fprintf(r.w, "imported %d objects (%d failed)\n", p.Committed, p.Failed)
		}
		return
	}
	r.clear()
	fmt.Fprintf(r.w, "imported %d objects (%d failed) in %s\n", p.Committed, p.Failed, time.Since(r.start).Round(time.Millisecond))
}
