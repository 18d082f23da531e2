package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// openExisting opens the store of a data directory that must exist.
func openExisting(cmd *cobra.Command, dir string) (*sqlite.Store, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, failure("data directory: %v", err)
	}
	return openData(cmd.Context(), dir)
}

// newAuditCmd is `kizuna audit`: checks of the data directory against the
// transparency log.
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "The audit trail (who read or wrote what) and checks against the transparency logs",
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditListCmd(), newAuditExportCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var dataDir, checkpoint, auditCheckpoint string
	cmd := &cobra.Command{
		Use:   "verify --data DIR [--checkpoint FILE] [--audit-checkpoint FILE]",
		Short: "Recompute the hash of every stored object version and check it against the log",
		Long: `Audit verify recomputes the canonical (RFC 8785) SHA-256 of every stored
object version and checks the transparency log: objects edited, removed or
added behind the hub's back, versions deleted but present again, and a log
whose own records no longer give its tree hashes. With --checkpoint (a signed
tree head saved earlier from /api/v1/log/checkpoint) the log must also still
extend that tree.

It then checks the audit trail (DIR/audit.db) against its own log the same
way: every record edited, removed or inserted behind the hub's back is named
("audit-record-N"). --audit-checkpoint is a tree head of the audit log saved
earlier (GET /api/v1/audit/checkpoint).

The audit reads the log as it is: it does not first log versions the store
holds beyond it (the server does that when it starts). Exit status: 0 clean,
1 findings (each named on stderr), 2 other errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if dataDir == "" {
				return usage("audit verify: --data is required (or set KIZUNA_DATA)")
			}
			st, err := openExisting(cmd, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			policy, err := policyFor(cmd)
			if err != nil {
				return err
			}
			l, err := ledger.Open(ctx, dataDir, st, policy, nil, ledger.Options{NoSync: true})
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			defer l.Close()
			var trusted tlog.Tree
			if checkpoint != "" {
				b, err := os.ReadFile(checkpoint)
				if err != nil {
					return usage("audit verify: --checkpoint: %v", err)
				}
				v, err := translog.NewHeadVerifier(l.VerifierKey())
				if err != nil {
					return fmt.Errorf("audit verify: %w", err)
				}
				if trusted, err = translog.OpenTreeHead(b, v); err != nil {
					return failure("audit verify: --checkpoint %s: %v", checkpoint, err)
				}
			}
			rep, err := l.Audit(ctx, trusted)
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			for _, f := range rep.Findings {
				fmt.Fprintf(stderr, "kizuna: audit: %s\n", f)
			}
			arep, err := verifyTrail(ctx, dataDir, auditCheckpoint)
			if err != nil {
				return err
			}
			if arep != nil {
				for _, f := range arep.Findings {
					fmt.Fprintf(stderr, "kizuna: audit: audit trail: %s\n", f)
				}
			}
			if err := errors.Join(rep.Err(), arep.Err()); err != nil {
				if errors.Is(err, provenance.ErrVerification) {
					return failure("audit verify: %d finding(s), first: %v", len(rep.Findings)+len(arep.Findings), firstFinding(rep, arep))
				}
				return fmt.Errorf("audit verify: %w", err)
			}
			fmt.Fprintf(out, "ok: %d stored versions match the log of %d records\n", rep.Objects, rep.Tree.N)
			if arep.Tree.N > 0 || arep.Objects > 0 {
				fmt.Fprintf(out, "ok: %d audit records match the audit log of %d records\n", arep.Objects, arep.Tree.N)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	cmd.Flags().StringVar(&checkpoint, "checkpoint", "", "a signed tree head saved earlier that the log must still extend")
	cmd.Flags().StringVar(&auditCheckpoint, "audit-checkpoint", "", "a signed tree head of the audit log saved earlier that it must still extend")
	return cmd
}

// verifyTrail checks DIR/audit.db against its log (an empty report when
// the data directory has no audit trail).
func verifyTrail(ctx context.Context, dir, checkpoint string) (*translog.Report, error) {
	if _, err := os.Stat(filepath.Join(dir, audit.File)); errors.Is(err, os.ErrNotExist) {
		if checkpoint != "" {
			return nil, failure("audit verify: --audit-checkpoint given but %s does not exist", filepath.Join(dir, audit.File))
		}
		return &translog.Report{}, nil
	}
	tr, err := audit.Open(ctx, dir, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("audit verify: %w", err)
	}
	defer tr.Close()
	var trusted tlog.Tree
	if checkpoint != "" {
		b, err := os.ReadFile(checkpoint)
		if err != nil {
			return nil, usage("audit verify: --audit-checkpoint: %v", err)
		}
		v, err := translog.NewHeadVerifier(tr.VerifierKey())
		if err != nil {
			return nil, fmt.Errorf("audit verify: %w", err)
		}
		if trusted, err = translog.OpenTreeHead(b, v); err != nil {
			return nil, failure("audit verify: --audit-checkpoint %s: %v", checkpoint, err)
		}
	}
	rep, err := tr.Verify(ctx, trusted)
	if err != nil {
		return nil, fmt.Errorf("audit verify: audit trail: %w", err)
	}
	return rep, nil
}

// firstFinding names the first finding of the object log, else of the
// audit trail.
func firstFinding(objects, trail *translog.Report) string {
	if len(objects.Findings) > 0 {
		return objects.Findings[0].String()
	}
	return "audit trail: " + trail.Findings[0].String()
}

// auditFlags are the filters shared by audit list and audit export.
type auditFlags struct {
	dataDir, org, user, action, iface, object, since, until string
}

func (a *auditFlags) register(cmd *cobra.Command, all bool) {
	f := cmd.Flags()
	f.StringVar(&a.dataDir, "data", os.Getenv("KIZUNA_DATA"), "data directory (env KIZUNA_DATA)")
	f.StringVar(&a.since, "since", "", "records at or after this time (RFC 3339 or YYYY-MM-DD)")
	if !all {
		return
	}
	f.StringVar(&a.org, "org", "", "organisation name or id")
	f.StringVar(&a.user, "user", "", "user name or id (for the CLI: the operating-system user)")
	f.StringVar(&a.action, "action", "", "read, write, delete, admin or auth-failure")
	f.StringVar(&a.iface, "interface", "", "taxii, api, misp-feed, csaf, public or cli")
	f.StringVar(&a.object, "object", "", "records naming this object id")
	f.StringVar(&a.until, "until", "", "records before this time (RFC 3339 or YYYY-MM-DD)")
}

// open parses the filters and opens the trail read-only.
func (a *auditFlags) open(cmd *cobra.Command, name string) (*audit.Trail, audit.Filter, error) {
	var f audit.Filter
	if a.dataDir == "" {
		return nil, f, usage("audit %s: --data is required (or set KIZUNA_DATA)", name)
	}
	if _, err := os.Stat(filepath.Join(a.dataDir, audit.File)); err != nil {
		return nil, f, failure("audit %s: no audit trail in %s: %v", name, a.dataDir, err)
	}
	f.Org, f.User, f.Object = a.org, a.user, a.object
	var err error
	if a.action != "" {
		if f.Action, err = audit.ParseAction(a.action); err != nil {
			return nil, f, usage("audit %s: --action: %v", name, err)
		}
	}
	if a.iface != "" {
		if f.Interface, err = audit.ParseInterface(a.iface); err != nil {
			return nil, f, usage("audit %s: --interface: %v", name, err)
		}
	}
	for flag, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		v := a.since
		if flag == "until" {
			v = a.until
		}
		if v == "" {
			continue
		}
		if *dst, err = audit.ParseTime(v); err != nil {
			return nil, f, usage("audit %s: --%s: %v", name, flag, err)
		}
	}
	tr, err := audit.Open(cmd.Context(), a.dataDir, audit.Options{ReadOnly: true})
	if err != nil {
		return nil, f, failure("audit %s: %v", name, err)
	}
	return tr, f, nil
}

func newAuditListCmd() *cobra.Command {
	var af auditFlags
	var limit int
	var format string
	cmd := &cobra.Command{
		Use:   "list --data DIR [--org NAME] [--user NAME] [--action A] [--interface I] [--object ID] [--since TS] [--until TS] [--limit N] [--format table|json]",
		Short: "List audit records: who read or wrote what, when, over which interface",
		Long: `List the audit trail's records in time order, filtered. Each record names
the organisation, user and token id, role, interface (taxii, api, misp-feed,
csaf, public, cli), action (read, write, delete, admin, auth-failure), method
and path, collection, object ids (at most 100 per record, with the total),
HTTP status and client address. --format json prints a JSON array.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usage("audit list: --format %q: want table or json", format)
			}
			if limit < 1 {
				return usage("audit list: --limit %d: want at least 1", limit)
			}
			tr, f, err := af.open(cmd, "list")
			if err != nil {
				return err
			}
			defer tr.Close()
			var entries []audit.Entry
			for e, err := range tr.All(cmd.Context(), f) {
				if err != nil {
					return failure("audit list: %v", err)
				}
				if entries = append(entries, e); len(entries) == limit {
					break
				}
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				if entries == nil {
					entries = []audit.Entry{}
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(entries)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tTIME\tORG\tUSER\tTOKEN\tINTERFACE\tACTION\tSTATUS\tREQUEST\tOBJECTS")
			for _, e := range entries {
				objs := strings.Join(e.Objects, ",")
				if e.Count > len(e.Objects) {
					objs += fmt.Sprintf(" (+%d)", e.Count-len(e.Objects))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Index, e.Time.Format(time.RFC3339),
					dash(e.Org), dash(e.User), dash(e.TokenID), e.Interface, e.Action, e.Status,
					strings.TrimSpace(e.Method+" "+e.Path), dash(objs))
			}
			return tw.Flush()
		},
	}
	af.register(cmd, true)
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many records")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAuditExportCmd() *cobra.Command {
	var af auditFlags
	cmd := &cobra.Command{
		Use:   "export --data DIR [--since TS] > audit.jsonl",
		Short: "Export audit records as JSON lines, each with its index in the audit log",
		Long: `Export writes one JSON object per line: the record, its "index" (its
record number in the audit transparency log) and its "hash" (the log entry's
object hash, SHA-256 of the record's RFC 8785 canonical form), so that each
line can be proven against a signed tree head of the audit log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tr, f, err := af.open(cmd, "export")
			if err != nil {
				return err
			}
			defer tr.Close()
			w := bufio.NewWriter(cmd.OutOrStdout())
			enc := json.NewEncoder(w)
			for e, err := range tr.All(cmd.Context(), f) {
				if err != nil {
					return failure("audit export: %v", err)
				}
				if err := enc.Encode(e); err != nil {
					return failure("audit export: %v", err)
				}
			}
			if err := w.Flush(); err != nil {
				return failure("audit export: %v", err)
			}
			return nil
		},
	}
	af.register(cmd, false)
	return cmd
}

// cliActions lists the commands the audit trail records, with their action.
var cliActions = map[string]audit.Action{
	"import":       audit.Write,
	"export":       audit.Read,
	"org create":   audit.Admin,
	"org list":     audit.Read,
	"user create":  audit.Admin,
	"user list":    audit.Read,
	"token create": audit.Admin,
	"token revoke": audit.Admin,
	"misp import":  audit.Write,
	"misp export":  audit.Read,
	"vuln import":  audit.Write,
	"feed add":     audit.Admin,
	"feed run":     audit.Write,
	"feed remove":  audit.Admin,
	"key add":      audit.Admin,
}

// secretFlag reports whether a flag's value must not be recorded.
func secretFlag(name string) bool {
	for _, s := range []string{"token", "password", "secret"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// recordCLI records a command that read or wrote the store in the data
// directory's audit trail (interface cli, the operating-system user, the
// command with its arguments and flags, secret flag values redacted, and
// the exit status). Commands not in cliActions, and runs without an
// existing data directory, are not recorded. A failure to record is
// reported on stderr.
func recordCLI(ctx context.Context, root *cobra.Command, args []string, code int, stderr io.Writer) {
	c, _, err := root.Find(args)
	if err != nil || c == root {
		return
	}
	name := strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
	action, ok := cliActions[name]
	if !ok {
		return
	}
	dir := os.Getenv("KIZUNA_DATA")
	if f := c.Flags().Lookup("data"); f != nil && f.Value.String() != "" {
		dir = f.Value.String()
	}
	if dir == "" {
		return
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return
	}
	parts := []string{c.CommandPath()}
	c.Flags().Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "data":
		case secretFlag(f.Name):
			parts = append(parts, "--"+f.Name+"=REDACTED")
		default:
			parts = append(parts, "--"+f.Name+"="+f.Value.String())
		}
	})
	parts = append(parts, c.Flags().Args()...)
	rec := audit.Record{
		Time: time.Now(), Interface: audit.CLI, Action: action, Path: strings.Join(parts, " "), Status: code,
	}
	if u, err := user.Current(); err == nil {
		rec.User, rec.UserID = u.Username, u.Uid
	}
	rec.Client, _ = os.Hostname()
	tr, err := audit.Open(ctx, dir, audit.Options{})
	if err == nil {
		err = errors.Join(tr.Write(context.WithoutCancel(ctx), rec), tr.Close())
	}
	if err != nil {
		fmt.Fprintf(stderr, "kizuna: audit trail: %s not recorded: %v\n", name, err)
	}
}
