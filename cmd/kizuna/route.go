package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/response/feed"
	"github.com/kizuna-cti/kizuna/internal/response/route"
)

// routeOptions are the flags of `kizuna route`.
type routeOptions struct {
	dataDir, asnTable, asnFormat string
	allCovering                  bool
}

// newRouteCmd is `kizuna route`: who owns each observation of a file.
func newRouteCmd() *cobra.Command {
	var o routeOptions
	cmd := &cobra.Command{
		Use:   "route --data DIR [--asn-table FILE] [--all-covering] FILE",
		Short: "Print the constituency owner(s) of each observation of a file",
		Long: `Route reads observations from FILE (- reads stdin): one value a line (an
address, CIDR block, domain, URL, e-mail address or host:port), or JSON
lines with a "value" member; blank lines and lines starting with # are
skipped. It prints one JSON line per observation on stdout:

  {"value":"192.0.2.70","owner":"Acme Power","matched":"192.0.2.0/24","line":3,"owners":["Acme Power"]}

owner is the organisation the observation is routed to and matched the
registration that decided it (the most specific covering one; for an AS
registration, the AS); both are null when no registration covers the
value. owners names every organisation routed to, sorted (several when
organisations registered the same resource, or with --all-covering). By default only the owners of the most specific matching
registration are named; --all-covering names every covering owner.
--asn-table loads a prefix-to-ASN table (CSV "prefix,asn" or a pyasn
"prefix<TAB>asn" dump, detected from the content or set by --asn-format) so
that organisations that registered an AS receive its addresses.

Malformed lines are reported on stderr with their line numbers and
skipped; a summary follows. Exit status 0 (1 when FILE cannot be read).`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage("route: give exactly one FILE (- for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRoute(cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data", "", "data directory (default $KIZUNA_DATA)")
	f.StringVar(&o.asnTable, "asn-table", "", "prefix-to-ASN table: CSV prefix,asn or pyasn ipasn dump")
	f.StringVar(&o.asnFormat, "asn-format", "auto", "format of --asn-table: auto, csv or dump")
	f.BoolVar(&o.allCovering, "all-covering", false, "name every covering owner, not only the most specific")
	return cmd
}

// routeLine is one observation as printed on stdout.
type routeLine struct {
	Value   string   `json:"value"`
	Owner   *string  `json:"owner"`
	Matched *string  `json:"matched"`
	Line    int      `json:"line"`
	Owners  []string `json:"owners"`
}

// decidingHit is the hit that decides an observation's owner: the most
// specific registration (longest prefix, the announced prefix for an AS,
// most labels for a domain), ties broken by owner name.
func decidingHit(hits []route.Hit, names map[string]string) (route.Hit, bool) {
	spec := route.Hit.Specificity
	var best route.Hit
	found := false
	for _, h := range hits {
		if !found || spec(h) > spec(best) || spec(h) == spec(best) && nameOf(names, string(h.Owner)) < nameOf(names, string(best.Owner)) {
			best, found = h, true
		}
	}
	return best, found
}

func runRoute(cmd *cobra.Command, o routeOptions, file string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	if o.asnFormat != "auto" && o.asnFormat != "csv" && o.asnFormat != "dump" {
		return usage("route: --asn-format %q: want auto, csv or dump", o.asnFormat)
	}
	opts := route.Options{Mode: route.MostSpecific}
	if o.allCovering {
		opts.Mode = route.AllCovering
	}
	if o.asnTable != "" {
		asn, err := loadASNTable(ctx, "route", o.asnTable, o.asnFormat, stderr)
		if err != nil {
			return err
		}
		opts.ASN = asn
	}

	in := cmd.InOrStdin()
	name := "stdin"
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return failure("route: %v", err)
		}
		defer fh.Close()
		in, name = fh, file
	}

	st, reg, err := openConstituency(ctx, o.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	defer reg.Close()
	names, err := orgNames(ctx, st)
	if err != nil {
		return err
	}
	table, err := reg.Table(ctx, opts)
	if err != nil {
		return failure("route: %v", err)
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var routed int
	var parseErrs []route.LineError
	var owners []route.Owner
	stats, err := feed.Records(ctx, in, feed.Mapping{Format: feed.Lines}, func(rec feed.Record) error {
		v := rec.Values[0].Value
		obs, err := route.ParseObservation(v)
		if err != nil {
			parseErrs = append(parseErrs, route.LineError{Line: rec.Line, Err: err})
			return nil
		}
		owners = table.AppendOwners(owners[:0], obs)
		l := routeLine{Value: v, Line: rec.Line, Owners: make([]string, 0, len(owners))}
		for _, id := range owners {
			l.Owners = append(l.Owners, nameOf(names, string(id)))
		}
		slices.Sort(l.Owners)
		if len(l.Owners) > 0 {
			routed++
			if h, ok := decidingHit(table.Hits(obs), names); ok {
				owner, matched := nameOf(names, string(h.Owner)), h.Resource.String()
				l.Owner, l.Matched = &owner, &matched
			}
		}
		if err := enc.Encode(l); err != nil {
			return failure("route: writing output: %v", err)
		}
		return nil
	})
	if err != nil {
		return failure("route: %s: %v", name, err)
	}
	if err := out.Flush(); err != nil {
		return failure("route: writing output: %v", err)
	}
	malformed := stats.Malformed + len(parseErrs)
	reportLineErrors(stderr, "route", name, malformed, append(stats.Errors, parseErrs...))
	fmt.Fprintf(stderr, "kizuna: route: %d observations, %d owned, %d malformed lines (%s)\n",
		stats.Records-len(parseErrs), routed, malformed, table.Mode())
	return nil
}

// reportLineErrors prints the first route.MaxLineErrors of errs, sorted
// by line, on stderr, and how many malformed lines were not shown.
func reportLineErrors(stderr io.Writer, cmd, name string, malformed int, errs []route.LineError) {
	slices.SortStableFunc(errs, func(a, b route.LineError) int { return a.Line - b.Line })
	shown := min(len(errs), route.MaxLineErrors)
	for _, e := range errs[:shown] {
		fmt.Fprintf(stderr, "kizuna: %s: %s:%d: %v\n", cmd, name, e.Line, e.Err)
	}
	if malformed > shown {
		fmt.Fprintf(stderr, "kizuna: %s: %s: %d more malformed lines\n", cmd, name, malformed-shown)
	}
}

// loadASNTable reads a prefix-to-ASN table, reporting its malformed lines
// on stderr.
func loadASNTable(ctx context.Context, cmd, path, format string, stderr io.Writer) (*route.ASNTable, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, failure("%s: --asn-table: %v", cmd, err)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(fh, 64<<10)
	if format == "auto" {
		format = sniffASNFormat(br)
	}
	parse := route.ParseASNDump
	if format == "csv" {
		parse = route.ParseASNCSV
	}
	asn, res, err := parse(ctx, br)
	if err != nil {
		return nil, failure("%s: --asn-table %s: %v", cmd, path, err)
	}
	reportLineErrors(stderr, cmd, path, res.Malformed, res.Errors)
	if res.Malformed > 0 {
		fmt.Fprintf(stderr, "kizuna: %s: --asn-table %s: %d prefixes, %d malformed lines skipped\n", cmd, path, res.Entries, res.Malformed)
	}
	return asn, nil
}

// sniffASNFormat returns "csv" when the first line that is not blank or a
// comment has a comma, else "dump".
func sniffASNFormat(br *bufio.Reader) string {
	head, _ := br.Peek(64 << 10)
	for line := range bytes.Lines(head) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		if bytes.IndexByte(line, ',') >= 0 {
			return "csv"
		}
		return "dump"
	}
	return "dump"
}
