package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// incidentEnv is what the incident and case commands work on: the hub's
// store, the case store (DIR/cases.db) and the acting principal.
type incidentEnv struct {
	dir   string
	st    *sqlite.Store
	cases *incident.Cases
	p     sharing.Principal
	log   *slog.Logger
	bus   bus.Bus
	// pub publishes case changes and attached objects durably
	// (DIR/outbox.db).
	pub *events.Publisher
}

func (e *incidentEnv) close() {
	e.pub.Close()
	e.bus.Close()
	e.cases.Close()
	e.st.Close()
}

// openIncidentEnv opens the data directory and resolves --org/--user
// (--org defaults to the hub's organisation).
func openIncidentEnv(ctx context.Context, cmd *cobra.Command, dataDir, orgName, userName string) (*incidentEnv, error) {
	if dataDir == "" {
		dataDir = os.Getenv("KIZUNA_DATA")
	}
	st, err := openData(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	env := &incidentEnv{dir: dataDir, st: st, log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	var org store.Org
	if orgName == "" {
		o, ok, err := hubOrg(ctx, st)
		if err != nil || !ok {
			st.Close()
			return nil, usage("--org NAME is required (the data directory has no hub organisation)")
		}
		org = o
	} else if org, err = orgNamed(ctx, st, orgName); err != nil {
		st.Close()
		return nil, err
	}
	u, err := userNamed(ctx, st, org, userName)
	if err != nil {
		st.Close()
		return nil, err
	}
	env.p = sharing.Principal{OrgID: org.ID, OrgName: org.Name, UserID: u.ID, User: u.Name, Role: u.Role}
	env.cases, err = incident.Open(ctx, dataDir)
	if err != nil {
		st.Close()
		return nil, failure("%v", err)
	}
	env.cases.Dir, env.cases.Log = st, env.log
	if env.bus, err = openBus(ctx, dataDir, "", env.log); err != nil { // new cases and state changes raise alerts
		env.cases.Close()
		st.Close()
		return nil, err
	}
	if env.pub, err = durablePublisher(ctx, dataDir, env.bus, st, env.log); err != nil {
		env.bus.Close()
		env.cases.Close()
		st.Close()
		return nil, err
	}
	env.cases.Changed = env.pub.Case
	return env, nil
}

// pipeline returns the ingest pipeline of the data directory, through the
// transparency log, and a function closing it.
func (e *incidentEnv) pipeline(ctx context.Context, cmd *cobra.Command) (*ingest.Pipeline, func(), error) {
	policy, err := policyFor(cmd)
	if err != nil {
		return nil, nil, err
	}
	hub := hubOrgID(ctx, e.st)
	led, err := ledger.Open(ctx, e.dir, e.st, policy, e.log, ledger.Options{HubIdentity: hub})
	if err != nil {
		return nil, nil, failure("transparency log: %v", err)
	}
	est := e.pub.Store(e.st) // attached objects become hub events
	return &ingest.Pipeline{Store: est, Policy: policy, Log: e.log, HubOrgID: hub, Recorder: led}, func() { led.Close() }, nil
}

// caseFailure turns a library error into an exit-1 error with its message.
func caseFailure(what string, err error) error {
	var ex *exitError
	if errors.As(err, &ex) {
		return err
	}
	return failure("%s: %v", what, err)
}

// newIncidentCmd is `kizuna incident report`.
func newIncidentCmd() *cobra.Command {
	root := &cobra.Command{Use: "incident", Short: "Report incidents to the hub (see docs/incidents.md)"}
	var dataDir, orgName, userName string
	var asJSON bool
	report := &cobra.Command{
		Use:   "report --data DIR --org NAME --user USER FILE",
		Short: "Report an incident from a JSON or YAML file (- for stdin); it becomes a case",
		Long: `Report an incident: FILE is a report in JSON or YAML (fields in
docs/incidents.md; classification and type from the Reference Security
Incident Taxonomy). Attached STIX objects are stored through the ingest
pipeline into the default collection (anonymously when the report or the
organisation asks for it). Prints the new case's id and state.
Exit status: 0 reported, 1 invalid report (every field at fault is named), 2 usage.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), incident.MaxReportBytes+1))
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return failure("incident report: reading %s: %v", args[0], err)
			}
			rep, err := incident.ParseReport(data)
			if err != nil {
				return failure("incident report: %s: %v", args[0], strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			if orgName == "" {
				return usage("incident report: --org NAME is required")
			}
			env, err := openIncidentEnv(ctx, cmd, dataDir, orgName, userName)
			if err != nil {
				return err
			}
			defer env.close()
			if org, err := env.st.Org(ctx, env.p.OrgID); err == nil && org.Anonymous {
				rep.Anonymous = true
			}
			var attached []string
			if len(rep.Objects) > 0 {
				pipe, done, err := env.pipeline(ctx, cmd)
				if err != nil {
					return err
				}
				defer done()
				res, err := pipe.Submit(ctx, ingest.Submission{Collection: store.DefaultCollectionID, Principal: env.p,
					Anonymous: rep.Anonymous, DefaultTLP: rep.Level()}, rep.Objects)
				if err != nil {
					return failure("incident report: storing the attached objects: %v", err)
				}
				if len(res.Failures) > 0 {
					return failure("incident report: attached object %s refused: %s", res.Failures[0].ID, res.Failures[0].Message)
				}
				for _, d := range res.Successes {
					attached = append(attached, d.ID)
				}
			}
			c, err := env.cases.Create(ctx, env.p, rep, attached)
			if err != nil {
				return caseFailure("incident report", err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), c)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", c.ID, c.State)
			return nil
		},
	}
	f := report.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "reporting organisation")
	f.StringVar(&userName, "user", "", "reporting user")
	f.BoolVar(&asJSON, "json", false, "print the case as JSON")
	root.AddCommand(report)
	return root
}

// newCaseCmd is `kizuna case list|show|transition|assign|comment|link|merge|ack|export|metrics`.
func newCaseCmd() *cobra.Command {
	root := &cobra.Command{Use: "case", Short: "Work on incident cases as a hub analyst (or see your own organisation's)"}
	var dataDir, orgName, userName string
	pf := root.PersistentFlags()
	pf.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	pf.StringVar(&orgName, "org", "", "acting organisation (default: the hub's)")
	pf.StringVar(&userName, "user", "", "acting user")
	// act wraps a subcommand body with the opened environment.
	act := func(use, short string, nargs int, body func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(cmd *cobra.Command, args []string) error {
				env, err := openIncidentEnv(cmd.Context(), cmd, dataDir, orgName, userName)
				if err != nil {
					return err
				}
				defer env.close()
				return body(cmd.Context(), cmd, env, args)
			}}
	}
	printCase := func(cmd *cobra.Command, c incident.Case, err error, what string) error {
		if err != nil {
			return caseFailure(what, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", c.ID, c.State)
		return nil
	}
	var state string
	var asJSON bool
	list := act("list [--state S] [--json]", "List the cases you may see, oldest first", 0,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, _ []string) error {
			var st incident.State
			if state != "" {
				s, err := incident.ParseState(state)
				if err != nil {
					return usage("case list: --state: %v", err)
				}
				st = s
			}
			cs, err := env.cases.List(ctx, env.p, st)
			if err != nil {
				return caseFailure("case list", err)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), cs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tREPORTED\tTYPE\tASSIGNEE\tTITLE")
			for _, c := range cs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\t%s\n", c.ID, c.State, c.Reported.Format("2006-01-02T15:04Z"),
					c.Report.Classification, c.Report.Type, orDash(c.Assignee), c.Report.Title)
			}
			return tw.Flush()
		})
	list.Flags().StringVar(&state, "state", "", "only cases in this state")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := act("show ID", "Print a case as JSON (report, links, comments, timeline)", 1,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.Get(ctx, env.p, args[0])
			if err != nil {
				return caseFailure("case show", err)
			}
			return writeJSON(cmd.OutOrStdout(), c)
		})
	transition := act("transition ID STATE", "Move a case to triage, analysis, containment, resolved or closed", 2,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.Transition(ctx, env.p, args[0], incident.State(args[1]))
			return printCase(cmd, c, err, "case transition")
		})
	assign := act("assign ID USER", "Assign a case to a hub analyst (a user name of the hub's organisation or a user id)", 2,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			id := args[1]
			if !strings.HasPrefix(id, "user--") {
				hub, ok, err := hubOrg(ctx, env.st)
				if err != nil || !ok {
					return failure("case assign: no hub organisation to look %q up in", id)
				}
				u, err := userNamed(ctx, env.st, hub, id)
				if err != nil {
					return err
				}
				id = u.ID
			}
			c, err := env.cases.Assign(ctx, env.p, args[0], id)
			return printCase(cmd, c, err, "case assign")
		})
	var internal bool
	comment := act("comment ID TEXT [--internal]", "Comment on a case (--internal: hub analysts only)", 2,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.AddComment(ctx, env.p, args[0], args[1], internal)
			return printCase(cmd, c, err, "case comment")
		})
	comment.Flags().BoolVar(&internal, "internal", false, "visible to hub analysts only")
	var kind string
	link := act("link ID STIX-ID [--kind related|advisory]", "Link a STIX object to a case", 2,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.Link(ctx, env.p, args[0], args[1], kind)
			return printCase(cmd, c, err, "case link")
		})
	link.Flags().StringVar(&kind, "kind", "", "related or advisory (default: advisory for a report, else related)")
	merge := act("merge DUPLICATE SURVIVOR", "Merge a duplicate case into the surviving one", 2,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.Merge(ctx, env.p, args[0], args[1])
			return printCase(cmd, c, err, "case merge")
		})
	ack := act("ack ID", "Acknowledge a case as a member of an affected organisation", 1,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			c, err := env.cases.Acknowledge(ctx, env.p, args[0])
			return printCase(cmd, c, err, "case ack")
		})
	export := act("export ID", "Publish a case as a STIX incident and report under its TLP; prints their ids", 1,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, args []string) error {
			pipe, done, err := env.pipeline(ctx, cmd)
			if err != nil {
				return err
			}
			defer done()
			res, err := env.cases.Export(ctx, env.p, args[0], pipe, incident.ExportOptions{HubOrgID: pipe.HubOrgID, Collection: store.DefaultCollectionID})
			if err != nil {
				return caseFailure("case export", err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.IncidentID)
			fmt.Fprintln(cmd.OutOrStdout(), res.ReportID)
			return nil
		})
	metrics := act("metrics", "Print the cycle metrics (the dashboard JSON)", 0,
		func(ctx context.Context, cmd *cobra.Command, env *incidentEnv, _ []string) error {
			d, err := env.cases.Metrics(ctx, env.p)
			if err != nil {
				return caseFailure("case metrics", err)
			}
			return writeJSON(cmd.OutOrStdout(), d)
		})
	root.AddCommand(list, show, transition, assign, comment, link, merge, ack, export, metrics)
	return root
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
