package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// newNotifyCmd is `kizuna notify`: third-party reports (scan feeds) as
// notifications for the organisations that own what they name.
func newNotifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Import third-party reports as notifications for their owners; list and acknowledge them",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newNotifyImportCmd(), newNotifyListCmd(), newNotifyAckCmd())
	return cmd
}

// openNotify opens the store (for organisations) and the notifications
// kept beside it in the data directory.
func openNotify(ctx context.Context, dataDir string) (*sqlite.Store, *notify.Store, error) {
	st, err := openData(ctx, dataDir)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(st.Path())
	ns, err := notify.Open(ctx, dir)
	if err != nil {
		st.Close()
		return nil, nil, failure("opening notifications in %s: %v", dir, err)
	}
	return st, ns, nil
}

// openNotifyFor opens the notifications for the organisation named org
// and returns what a member of it may see under policy.
func openNotifyFor(ctx context.Context, policy *sharing.Policy, dataDir, org string) (*notify.Store, store.Org, sharing.Access, func(), error) {
	st, ns, err := openNotify(ctx, dataDir)
	if err != nil {
		return nil, store.Org{}, sharing.Access{}, nil, err
	}
	closeAll := func() { ns.Close(); st.Close() }
	o, err := orgNamed(ctx, st, org)
	if err != nil {
		closeAll()
		return nil, store.Org{}, sharing.Access{}, nil, err
	}
	member := sharing.Principal{OrgID: o.ID, OrgName: o.Name, User: "cli", Role: sharing.RoleMember}
	return ns, o, policy.Access(member), closeAll, nil
}

type notifyImportOptions struct {
	dataDir, source, format, asnTable, asnFormat, window string
	maps, key                                            []string
}

func newNotifyImportCmd() *cobra.Command {
	var o notifyImportOptions
	cmd := &cobra.Command{
		Use:   "import --data DIR --source NAME --format csv|jsonl|lines --map FIELD=COLUMN... [--asn-table FILE] FILE",
		Short: "Route a scan feed to its owners and store a notification for each",
		Long: `Import reads a third-party report (- reads stdin), routes each record's
value columns through the constituency registrations (kizuna constituency
add) and stores one notification per record and owner, for that owner
alone (TLP:AMBER+STRICT).

--map FIELD=COLUMN maps a feed column (a CSV header, a JSON member, dotted
for nested ones) to a notification field: value=COLUMN (repeatable) names
the columns routed, time=COLUMN the time of the observation; any other
FIELD (port, product, vulnerability, ...) is passed on to the owner under
that name. A lines feed has one value a line and needs no --map.

The same value with the same key fields (--key, default every extra field)
from the same source within --window (default 24h) is folded into the
earlier notification. --asn-table loads a prefix-to-ASN table so that
organisations that registered an AS receive its addresses.

Prints the counts (records routed and unrouted, notifications new and
folded, malformed lines); malformed lines are listed on stderr with their
numbers and never fatal. Exit status 0; 1 when FILE cannot be read or the
mapping does not fit it (nothing is stored); 2 for a bad flag.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage("notify import: give exactly one FILE (- for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runNotifyImport(cmd, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	f.StringVar(&o.source, "source", "", "name of the feed (shown to the owners)")
	f.StringVar(&o.format, "format", "", "feed format: csv, jsonl or lines")
	f.StringArrayVar(&o.maps, "map", nil, "FIELD=COLUMN: value=COLUMN (routed), time=COLUMN, or an extra field")
	f.StringSliceVar(&o.key, "key", nil, "extra fields that identify a report for de-duplication (default all)")
	f.StringVar(&o.window, "window", "24h", "de-duplication window")
	f.StringVar(&o.asnTable, "asn-table", "", "prefix-to-ASN table: CSV prefix,asn or pyasn ipasn dump")
	f.StringVar(&o.asnFormat, "asn-format", "auto", "format of --asn-table: auto, csv or dump")
	return cmd
}

func runNotifyImport(cmd *cobra.Command, o notifyImportOptions, file string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	if err := notify.CheckSource(o.source); err != nil {
		return usage("notify import: --source: %v", err)
	}
	if o.format == "" {
		return usage("notify import: --format csv|jsonl|lines is required")
	}
	m, err := notify.ParseMapping(o.format, o.maps)
	if err != nil {
		return usage("notify import: %v", err)
	}
	if err := m.SetKey(o.key); err != nil {
		return usage("notify import: --key: %v", err)
	}
	window, err := notify.ParseWindow(o.window)
	if err != nil {
		return usage("notify import: --window: %v", err)
	}
	if o.asnFormat != "auto" && o.asnFormat != "csv" && o.asnFormat != "dump" {
		return usage("notify import: --asn-format %q: want auto, csv or dump", o.asnFormat)
	}
	var opts route.Options
	if o.asnTable != "" {
		if opts.ASN, err = loadASNTable(ctx, "notify import", o.asnTable, o.asnFormat, stderr); err != nil {
			return err
		}
	}
	in := cmd.InOrStdin()
	name := "stdin"
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return failure("notify import: %v", err)
		}
		defer fh.Close()
		in, name = fh, file
	}
	st, ns, err := openNotify(ctx, o.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	defer ns.Close()
	reg, err := constituency.Open(ctx, filepath.Dir(st.Path()))
	if err != nil {
		return failure("notify import: %v", err)
	}
	defer reg.Close()
	table, err := reg.Table(ctx, opts)
	if err != nil {
		return failure("notify import: %v", err)
	}
	producer := localOperator
	if hub, ok, err := hubOrg(ctx, st); err != nil {
		return failure("notify import: %v", err)
	} else if ok {
		producer = sharing.Principal{OrgID: hub.ID, OrgName: hub.Name, User: "cli", Role: sharing.RoleHubAdmin}
	}
	res, err := ns.Import(ctx, in, table, notify.ImportRequest{Source: o.source, Mapping: m, Window: window}, producer)
	if err != nil {
		return failure("notify import: %s: %v", name, err)
	}
	reportLineErrors(stderr, "notify import", name, res.Malformed, res.Errors)
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d records: %d routed, %d unrouted; %d notifications: %d new, %d duplicates; %d malformed lines\n",
		name, res.Records, res.Routed, res.Unrouted, res.New+res.Duplicates, res.New, res.Duplicates, res.Malformed)
	return nil
}

func newNotifyListCmd() *cobra.Command {
	var dataDir, org string
	var asJSON, unacked bool
	cmd := &cobra.Command{
		Use:   "list --data DIR --org NAME [--unacked] [--json]",
		Short: "List an organisation's notifications (what it alone may see)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			ns, o, acc, closeAll, err := openNotifyFor(ctx, policy, dataDir, org)
			if err != nil {
				return err
			}
			defer closeAll()
			list, err := ns.List(ctx, acc, notify.Filter{OrgID: o.ID, Unacked: unacked, Limit: notify.MaxLimit})
			if err != nil {
				return failure("notify list: %v", err)
			}
			for i := range list {
				list[i].Org = o.Name
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tRECEIVED\tSOURCE\tVALUE\tMATCHED\tSEEN\tACKED\tFIELDS")
			for _, n := range list {
				acked := "-"
				if n.Acked != nil {
					acked = n.Acked.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Received.Format(time.RFC3339), n.Source,
					n.Value, n.Matched, n.Seen, acked, fieldsText(n.Fields))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name")
	cmd.Flags().BoolVar(&unacked, "unacked", false, "only notifications not yet acknowledged")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// fieldsText renders extra fields as name=value pairs, sorted.
func fieldsText(fields map[string]string) string {
	parts := make([]string, 0, len(fields))
	for k, v := range fields {
		parts = append(parts, k+"="+strconv.Quote(v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func newNotifyAckCmd() *cobra.Command {
	var dataDir, org string
	cmd := &cobra.Command{
		Use:   "ack --data DIR --org NAME ID",
		Short: "Acknowledge a notification for the organisation that owns it",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage("notify ack: give exactly one notification ID")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usage("notify ack: ID %q: want a notification number (kizuna notify list shows them)", args[0])
			}
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			ns, o, acc, closeAll, err := openNotifyFor(ctx, policy, dataDir, org)
			if err != nil {
				return err
			}
			defer closeAll()
			n, err := ns.Ack(ctx, acc, o.ID, id, "cli")
			if err != nil {
				return failure("%v", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "notification %d acknowledged by %s at %s\n", n.ID, o.Name, n.Acked.Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	cmd.Flags().StringVar(&org, "org", "", "organisation name (the owner)")
	return cmd
}
