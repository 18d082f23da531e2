package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/federation"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newFeedCmd is `kizuna feed`: partner TAXII feeds and hub-to-hub
// federation (docs/federation.md).
func newFeedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feed",
		Short: "Manage partner TAXII feeds (add, list, run, remove)",
		Long: `Partner feeds pull from and push to other TAXII 2.1 servers, including other
Kizuna hubs. Each feed acts as a local organisation standing for the partner
(type partner-cert): pulled objects are submitted as that organisation, and
pushing sends exactly what it may see under the sharing policy, never
TLP:AMBER+STRICT or TLP:RED, and never objects that came from that partner.
Feeds with --every are run by kizuna serve. See docs/federation.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newFeedAddCmd(), newFeedListCmd(), newFeedRunCmd(), newFeedRemoveCmd())
	return cmd
}

func newFeedAddCmd() *cobra.Command {
	var dataDir, name, rawURL, collection, token, direction, orgName, localColl string
	var every time.Duration
	var insecure bool
	cmd := &cobra.Command{
		Use:   "add --data DIR --name NAME --url TAXII_API_ROOT_URL --collection ID --token TOKEN [--direction pull|push|both] [--every DURATION] [--insecure-skip-verify]",
		Short: "Configure a partner feed",
		Long: `Configure a partner feed. --url is the partner's TAXII API root (for a Kizuna
hub: https://HOST:PORT/taxii2/hub/), --collection the partner's collection id
and --token the API token the partner issued to this hub.

The feed acts as the local organisation --org (default: the feed's name),
created with type partner-cert when missing; an existing one must be of type
partner-cert. When the partner also pushes to this hub, give it a token of a
user of that same organisation, so that its objects are never pushed back.

--every runs the feed from kizuna serve at that interval (default 0: only by
kizuna feed run). The token is kept in DIR/federation.db (mode 0600) and
never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" || rawURL == "" || collection == "" || token == "" {
				return usage("feed add: --name, --url, --collection and --token are required")
			}
			dir, err := federation.ParseDirection(direction)
			if err != nil {
				return usage("feed add: --direction %q: want pull, push or both", direction)
			}
			if orgName == "" {
				orgName = name
			}
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			if _, err := st.Collection(ctx, store.DefaultAPIRoot, localColl); err != nil {
				return failure("feed add: local collection %q: %v", localColl, err)
			}
			org, err := feedOrg(ctx, st, orgName)
			if err != nil {
				return err
			}
			reg, err := federation.OpenRegistry(ctx, filepath.Dir(st.Path()))
			if err != nil {
				return failure("feed add: %v", err)
			}
			defer reg.Close()
			f := federation.Feed{
				Name: name, URL: rawURL, Collection: collection, Token: token, Direction: dir, Every: every,
				InsecureSkipVerify: insecure, OrgID: org.ID, LocalCollection: localColl, Created: time.Now().UTC(),
			}
			if err := reg.Add(ctx, f); err != nil {
				switch {
				case errors.Is(err, errkind.Conflict):
					return failure("feed add: a feed named %q already exists (kizuna feed remove first)", name)
				case errors.Is(err, errkind.Invalid):
					return usage("feed add: %v", err)
				}
				return failure("feed add: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "feed %s added: %s %s collection %s as organisation %s (%s)\n",
				name, dir, rawURL, collection, org.Name, org.ID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	fl.StringVar(&name, "name", "", "feed name (unique)")
	fl.StringVar(&rawURL, "url", "", "partner TAXII 2.1 API root URL")
	fl.StringVar(&collection, "collection", "", "partner collection id")
	fl.StringVar(&token, "token", "", "API token issued by the partner (sent as Bearer)")
	fl.StringVar(&direction, "direction", "pull", "pull, push or both")
	fl.DurationVar(&every, "every", 0, "run from kizuna serve at this interval, e.g. 15m (0: manual only)")
	fl.BoolVar(&insecure, "insecure-skip-verify", false, "do not verify the partner's TLS certificate (test set-ups only)")
	fl.StringVar(&orgName, "org", "", "local organisation standing for the partner (default: the feed name; created when missing)")
	fl.StringVar(&localColl, "local-collection", store.DefaultCollectionID, "local collection to pull into and push from")
	return cmd
}

// feedOrg finds or creates the organisation a feed acts as.
func feedOrg(ctx context.Context, st *sqlite.Store, name string) (store.Org, error) {
	o, err := st.OrgByName(ctx, name)
	if err == nil {
		if o.Type != "partner-cert" {
			return o, failure("feed add: organisation %q is of type %s; a feed acts as an organisation of type partner-cert (give --org another name)", name, o.Type)
		}
		return o, nil
	}
	if !errors.Is(err, errkind.NotFound) {
		return o, failure("feed add: looking up organisation %q: %v", name, err)
	}
	uuid, err := auth.NewUUID()
	if err != nil {
		return o, failure("feed add: %v", err)
	}
	o = store.Org{ID: "identity--" + uuid, Name: name, Sector: "federation", Type: "partner-cert", Created: time.Now().UTC()}
	if err := st.CreateOrg(ctx, o); err != nil {
		return o, failure("feed add: creating organisation %q: %v", name, err)
	}
	return o, nil
}

// feedJSON is a feed in `feed list --json` (never with its token).
type feedJSON struct {
	Name               string    `json:"name"`
	URL                string    `json:"url"`
	Collection         string    `json:"collection"`
	Direction          string    `json:"direction"`
	Every              string    `json:"every"`
	InsecureSkipVerify bool      `json:"insecure_skip_verify"`
	Org                string    `json:"org"`
	LocalCollection    string    `json:"local_collection"`
	PullMark           time.Time `json:"pull_mark,omitzero"`
	PushMark           time.Time `json:"push_mark,omitzero"`
	LastAttempt        time.Time `json:"last_attempt,omitzero"`
	LastSuccess        time.Time `json:"last_success,omitzero"`
	LastError          string    `json:"last_error,omitempty"`
	Failures           int       `json:"consecutive_failures"`
	Pulled             int64     `json:"pulled"`
	Pushed             int64     `json:"pushed"`
	Rejected           int64     `json:"rejected"`
	Withheld           int64     `json:"withheld"`
	LastPulled         int64     `json:"last_pulled"`
	LastPushed         int64     `json:"last_pushed"`
}

func newFeedListCmd() *cobra.Command {
	var dataDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --data DIR [--json]",
		Short: "List feeds with their health (last success, error, counts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			reg, err := federation.OpenRegistry(ctx, filepath.Dir(st.Path()))
			if err != nil {
				return failure("feed list: %v", err)
			}
			defer reg.Close()
			feeds, err := reg.List(ctx)
			if err != nil {
				return failure("feed list: %v", err)
			}
			out := make([]feedJSON, 0, len(feeds))
			for _, f := range feeds {
				org := f.OrgID
				if o, err := st.Org(ctx, f.OrgID); err == nil {
					org = o.Name
				}
				out = append(out, feedJSON{
					Name: f.Name, URL: f.URL, Collection: f.Collection, Direction: string(f.Direction), Every: f.Every.String(),
					InsecureSkipVerify: f.InsecureSkipVerify, Org: org, LocalCollection: f.LocalCollection,
					PullMark: f.PullMark, PushMark: f.PushMark, LastAttempt: f.LastAttempt, LastSuccess: f.LastSuccess,
					LastError: f.LastError, Failures: f.Failures, Pulled: f.Pulled, Pushed: f.Pushed,
					Rejected: f.Rejected, Withheld: f.Withheld, LastPulled: f.LastPulled, LastPushed: f.LastPushed,
				})
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDIRECTION\tEVERY\tURL\tCOLLECTION\tORG\tLAST SUCCESS\tPULLED\tPUSHED\tLAST ERROR")
			for _, f := range out {
				last := "never"
				if !f.LastSuccess.IsZero() {
					last = f.LastSuccess.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", f.Name, f.Direction, f.Every, f.URL, f.Collection,
					f.Org, last, f.Pulled, f.Pushed, f.LastError)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newFeedRunCmd() *cobra.Command {
	var dataDir, name string
	cmd := &cobra.Command{
		Use:   "run --data DIR --name NAME",
		Short: "Synchronise one feed now (exit 1 on failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" {
				return usage("feed run: --name NAME is required")
			}
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			// A pull is a bulk import from the network: the same lazier
			// garbage collector (unless GOGC is set), and the log append of
			// one batch overlapping the store transaction of the next
			// (Close waits for the log to catch up).
			if os.Getenv("GOGC") == "" {
				defer debug.SetGCPercent(debug.SetGCPercent(200))
			}
			led, err := ledger.Open(ctx, filepath.Dir(st.Path()), st, policy, log, ledger.Options{HubIdentity: hubOrgID(ctx, st), Deferred: true})
			if err != nil {
				return failure("feed run: transparency log: %v", err)
			}
			defer func() {
				if err := led.Close(); err != nil {
					log.Warn("feed run: transparency log", "err", err)
				}
			}()
			reg, err := federation.OpenRegistry(ctx, filepath.Dir(st.Path()))
			if err != nil {
				return failure("feed run: %v", err)
			}
			defer reg.Close()
			est, closeBus, err := withEvents(ctx, filepath.Dir(st.Path()), st, log) // committed versions become hub events (alerting)
			if err != nil {
				return err
			}
			defer closeBus()
			s := &federation.Syncer{Store: st, Policy: policy, Feeds: reg, Log: log,
				Pipeline: &ingest.Pipeline{Store: est, Policy: policy, Log: log, HubOrgID: hubOrgID(ctx, st), Recorder: led}}
			if _, err := reg.Get(ctx, name); errors.Is(err, errkind.NotFound) {
				return failure("feed run: no feed named %q (kizuna feed list shows them)", name)
			}
			rep, err := s.Run(ctx, name)
			fmt.Fprintf(cmd.OutOrStdout(), "feed %s: pulled %d, pushed %d, rejected %d, withheld %d, held back %d in %s\n",
				name, rep.Pulled, rep.Pushed, rep.Rejected, rep.Withheld, rep.Skipped, rep.Elapsed.Round(time.Millisecond))
			if err != nil {
				return failure("feed run: %v", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&name, "name", "", "feed name")
	return cmd
}

func newFeedRemoveCmd() *cobra.Command {
	var dataDir, name string
	cmd := &cobra.Command{
		Use:   "remove --data DIR --name NAME",
		Short: "Remove a feed (its organisation and the objects it pulled stay)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if strings.TrimSpace(name) == "" {
				return usage("feed remove: --name NAME is required")
			}
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			reg, err := federation.OpenRegistry(ctx, filepath.Dir(st.Path()))
			if err != nil {
				return failure("feed remove: %v", err)
			}
			defer reg.Close()
			if err := reg.Remove(ctx, name); err != nil {
				if errors.Is(err, errkind.NotFound) {
					return failure("feed remove: no feed named %q", name)
				}
				return failure("feed remove: %v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "feed %s removed\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&name, "name", "", "feed name")
	return cmd
}

// startFeedScheduler runs the data directory's feeds that have an interval
// in the background (kizuna serve); the returned function waits for the
// scheduler to stop after ctx ends.
func startFeedScheduler(ctx context.Context, dir string, st store.Store, policy *sharing.Policy, rec ingest.Recorder, hubID string, log *slog.Logger) func() {
	reg, err := federation.OpenRegistry(ctx, dir)
	if err != nil {
		log.Error("feeds disabled: opening the feed registry", "err", err)
		return func() {}
	}
	s := &federation.Scheduler{Syncer: &federation.Syncer{Store: st, Policy: policy, Feeds: reg, Log: log,
		Pipeline: &ingest.Pipeline{Store: st, Policy: policy, Log: log, HubOrgID: hubID, Recorder: rec}}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	return func() {
		wg.Wait()
		reg.Close()
	}
}
