package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newAlertCmd is `kizuna alert`: alert rules, deliveries, acknowledgement
// and dead letters of a data directory (DIR/alerts.db). It administers the
// outbox only; `kizuna serve` delivers.
func newAlertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alert",
		Short: "Alert rules, deliveries, acknowledgements and dead letters (delivered by kizuna serve)",
	}
	rule := &cobra.Command{Use: "rule", Short: "Add, list and remove alert rules"}
	rule.AddCommand(newAlertRuleAddCmd(), newAlertRuleListCmd(), newAlertRuleRemoveCmd())
	cmd.AddCommand(rule, newAlertListCmd(), newAlertAckCmd(), newAlertDeadLettersCmd(), newAlertRedriveCmd())
	return cmd
}

// alertEnv is an open data directory with its outbox (passive).
type alertEnv struct {
	st *sqlite.Store
	d  *alert.Dispatcher
}

func (e *alertEnv) close() {
	e.d.Close(context.Background())
	e.st.Close()
}

// runAlert opens the outbox of dataDir, resolves --org NAME ("" when not
// given) and runs fn.
func runAlert(cmd *cobra.Command, dataDir, orgName string, fn func(ctx context.Context, e *alertEnv, org string) error) error {
	ctx := cmd.Context()
	e, err := openAlertEnv(ctx, cmd, dataDir)
	if err != nil {
		return err
	}
	defer e.close()
	org, err := e.orgIDFlag(ctx, orgName)
	if err != nil {
		return err
	}
	return fn(ctx, e, org)
}

func openAlertEnv(ctx context.Context, cmd *cobra.Command, dataDir string) (*alertEnv, error) {
	if dataDir == "" {
		dataDir = os.Getenv("KIZUNA_DATA")
	}
	st, err := openData(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	policy, err := policyFor(cmd)
	if err != nil {
		st.Close()
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := openAlerts(ctx, dataDir, policy, nil, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return &alertEnv{st: st, d: d}, nil
}

// orgIDFlag resolves --org NAME to its id ("" when name is empty).
func (e *alertEnv) orgIDFlag(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	o, err := orgNamed(ctx, e.st, name)
	if err != nil {
		return "", err
	}
	return o.ID, nil
}

// alertFailure maps an outbox error to an exit code.
func alertFailure(what string, err error) error {
	if errors.Is(err, errkind.Invalid) {
		return usage("%s: %v", what, err)
	}
	return failure("%s: %v", what, err)
}

func newAlertRuleAddCmd() *cobra.Command {
	var (
		dataDir, orgName string
		j                server.RuleJSON
		kinds            []string
		allowPrivate     bool
	)
	cmd := &cobra.Command{
		Use:   "add --data DIR --org NAME --channel webhook|email|syslog|taxii [--url URL --secret S] [--to ADDR]... [filters]",
		Short: "Add an alert rule for an organisation and print its id",
		Long: `Add an alert rule: which events (filters) go where (channel). Empty filters do
not constrain; an organisation is only ever alerted about what it may see.

  kizuna alert rule add --data DIR --org Acme --channel webhook \
      --url https://soc.acme.example/kizuna --secret "$SECRET" \
      --kind object-added --type indicator --max-tlp amber --min-confidence 50

Channels: webhook (--url, --secret of at least 16 characters: HMAC-SHA256
signature), email (--to, sent by serve --smtp), syslog (serve --syslog),
taxii.

A webhook URL on a loopback, private, link-local or other reserved address
is refused (exit 2) unless --allow-private-webhooks is given; serve refuses
to deliver to such addresses unless started with the same flag.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if orgName == "" {
				return usage("alert rule add: --org NAME is required")
			}
			return runAlert(cmd, dataDir, orgName, func(ctx context.Context, e *alertEnv, org string) error {
				j.Org = org
				for _, k := range kinds {
					j.Kinds = append(j.Kinds, alert.Kind(k))
				}
				j.ID = server.NewRuleID()
				r, err := j.Rule(server.RuleOptions{AllowPrivateWebhooks: allowPrivate})
				if err != nil {
					return usage("alert rule add: %v", err)
				}
				if err := e.d.PutRule(ctx, r); err != nil {
					return alertFailure("alert rule add", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), r.ID)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "organisation the rule belongs to (required)")
	f.StringVar(&j.Channel, "channel", "", "webhook, email, syslog or taxii (required)")
	f.StringVar(&j.URL, "url", "", "webhook URL")
	f.StringVar(&j.Secret, "secret", "", "webhook signing secret (at least 16 characters)")
	f.BoolVar(&allowPrivate, "allow-private-webhooks", false, "accept a webhook URL on a loopback, private or link-local address")
	f.StringSliceVar(&j.To, "to", nil, "e-mail recipients")
	f.StringSliceVar(&kinds, "kind", nil, "event kinds: object-added, sighting, finding, case")
	f.StringSliceVar(&j.Types, "type", nil, "STIX types")
	f.StringSliceVar(&j.Labels, "label", nil, "STIX labels (one must match)")
	f.StringSliceVar(&j.Sectors, "sector", nil, "sectors (one must match)")
	f.StringVar(&j.MinSeverity, "min-severity", "", "lowest severity: low, medium, high, critical")
	f.IntVar(&j.MinConfidence, "min-confidence", 0, "lowest STIX confidence (0-100)")
	f.IntVar(&j.MaxConfidence, "max-confidence", 0, "highest STIX confidence (0-100)")
	f.StringVar(&j.MaxTLP, "max-tlp", "", "highest TLP: clear, green, amber, amber+strict, red")
	f.StringSliceVar(&j.KillChainPhases, "kill-chain-phase", nil, "kill-chain phases as CHAIN:PHASE")
	f.BoolVar(&j.ConstituencyOnly, "constituency-only", false, "only events routed to the organisation (its addresses, domains, ASNs)")
	f.StringVar(&j.Digest, "digest", "", "batch alerts into one message per interval (1m to 168h)")
	return cmd
}

func newAlertRuleListCmd() *cobra.Command {
	var dataDir, orgName string
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME]",
		Short: "List alert rules as JSON (all organisations without --org)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAlert(cmd, dataDir, orgName, func(ctx context.Context, e *alertEnv, org string) error {
				rules := e.d.Rules(org)
				out := make([]server.RuleJSON, len(rules))
				for i, r := range rules {
					out[i] = server.RuleToJSON(r)
				}
				return writeJSON(cmd.OutOrStdout(), out)
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&orgName, "org", "", "only this organisation's rules")
	return cmd
}

func newAlertRuleRemoveCmd() *cobra.Command {
	var dataDir, orgName string
	cmd := &cobra.Command{
		Use:   "remove --data DIR --org NAME RULE-ID...",
		Short: "Remove alert rules (deliveries already queued stay)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if orgName == "" {
				return usage("alert rule remove: --org NAME is required")
			}
			return runAlert(cmd, dataDir, orgName, func(ctx context.Context, e *alertEnv, org string) error {
				for _, id := range args {
					if err := e.d.RemoveRule(ctx, org, id); err != nil {
						return alertFailure("alert rule remove", err)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&orgName, "org", "", "organisation the rules belong to (required)")
	return cmd
}

func newAlertListCmd() *cobra.Command {
	var (
		dataDir, orgName, state string
		limit                   int
	)
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME] [--state pending|delivered|dead] [--limit N]",
		Short: "List alert deliveries as JSON, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch alert.State(state) {
			case "", alert.Pending, alert.Delivered, alert.Dead:
			default:
				return usage("alert list: --state %q (want pending, delivered or dead)", state)
			}
			return runAlert(cmd, dataDir, orgName, func(ctx context.Context, e *alertEnv, org string) error {
				list, err := e.d.Deliveries(ctx, org, alert.State(state), limit)
				if err != nil {
					return failure("alert list: %v", err)
				}
				out := make([]server.AlertJSON, len(list))
				for i, s := range list {
					out[i] = server.AlertToJSON(s)
				}
				return writeJSON(cmd.OutOrStdout(), out)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	f.StringVar(&orgName, "org", "", "only this organisation's deliveries")
	f.StringVar(&state, "state", "", "pending, delivered or dead")
	f.IntVar(&limit, "limit", 0, "at most N deliveries (0: all)")
	return cmd
}

// parseIDs parses delivery ids.
func parseIDs(what string, args []string) ([]int64, error) {
	ids := make([]int64, len(args))
	for i, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id < 1 {
			return nil, usage("%s: %q is not a delivery id", what, a)
		}
		ids[i] = id
	}
	return ids, nil
}

func newAlertAckCmd() *cobra.Command {
	var dataDir, orgName string
	cmd := &cobra.Command{
		Use:   "ack --data DIR --org NAME DELIVERY-ID...",
		Short: "Acknowledge alert deliveries on behalf of the organisation",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if orgName == "" {
				return usage("alert ack: --org NAME is required")
			}
			ids, err := parseIDs("alert ack", args)
			if err != nil {
				return err
			}
			return runAlert(cmd, dataDir, orgName, func(ctx context.Context, e *alertEnv, org string) error {
				for _, id := range ids {
					if err := e.d.Ack(ctx, org, id); err != nil {
						return alertFailure("alert ack", err)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&orgName, "org", "", "the acknowledging organisation (required)")
	return cmd
}

func newAlertDeadLettersCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "dead-letters --data DIR",
		Short: "List dead-lettered deliveries as JSON (all organisations)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAlert(cmd, dataDir, "", func(ctx context.Context, e *alertEnv, _ string) error {
				list, err := e.d.DeadLetters(ctx)
				if err != nil {
					return failure("alert dead-letters: %v", err)
				}
				out := make([]server.AlertJSON, len(list))
				for i, x := range list {
					out[i] = server.AlertToJSON(x.Status)
					out[i].Died = &list[i].Died
				}
				return writeJSON(cmd.OutOrStdout(), out)
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	return cmd
}

func newAlertRedriveCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "redrive --data DIR DELIVERY-ID...",
		Short: "Send dead letters again (same idempotency key; a running serve picks them up)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIDs("alert redrive", args)
			if err != nil {
				return err
			}
			return runAlert(cmd, dataDir, "", func(ctx context.Context, e *alertEnv, _ string) error {
				for _, id := range ids {
					if err := e.d.Redrive(ctx, id); err != nil {
						return alertFailure("alert redrive", err)
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	return cmd
}
