package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/detect"
	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// matchOptions are the flags of `kizuna match`.
type matchOptions struct {
	indicators, server, token, collection, format, mapping string
	insecure                                               bool
	timeout                                                time.Duration
}

// newMatchCmd is `kizuna match`: offline matching of telemetry logs against
// indicators from a file or pulled from a hub over TAXII 2.1.
func newMatchCmd() *cobra.Command {
	var o matchOptions
	var bo blindedOptions
	cmd := &cobra.Command{
		Use:   "match (--indicators FILE | --server URL --token T) [--format F] LOG...",
		Short: "Match telemetry logs against STIX indicators (exit 0 hit, 1 no hit, 2 error)",
		Long: `Match reads telemetry logs (Zeek TSV or JSON, Suricata EVE, CEF, or JSON
lines and CSV through --mapping; gzip detected from content; - reads stdin)
and matches every event against STIX 2.1 indicators taken from a file
(--indicators, gzip allowed: a STIX bundle or TAXII envelope, or a plain
list with one value per line, type inferred: IPv4/IPv6 address or CIDR
block, address:port, domain name, URL, e-mail address, MD5/SHA-1/SHA-256/
SHA-512 hash; "#" comments and blank lines skipped; a file with as many
unrecognised values as recognised ones is rejected; each value gets the id
indicator--UUIDv5(URL namespace, "kizuna:plain:" + its pattern)) or pulled
over TAXII 2.1 from a
Kizuna hub (--server URL --token T: discovery, the default API root, the
default collection or --collection, match[type]=indicator, paging through
next). --insecure-skip-verify accepts the self-signed certificate of a demo
hub.

Each hit is printed on stdout as one JSON object per line: indicator_id,
value, field, file, line (the physical 1-based line number, headers
counted, as grep -n counts), source (file:line), time, type and pattern. Malformed lines
are skipped and reported on stderr with their line numbers, followed by a
summary. Exit status: 0 at least one hit, 1 no hit, 2 error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if bo.file != "" {
				return runMatchBlinded(cmd, o, bo, args)
			}
			return runMatch(cmd, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.indicators, "indicators", "", "STIX bundle or TAXII envelope of indicators (JSON, gzip allowed)")
	f.StringVar(&o.server, "server", "", "hub base URL to pull indicators from over TAXII 2.1, e.g. https://127.0.0.1:8443")
	f.StringVar(&o.token, "token", os.Getenv("KIZUNA_TOKEN"), "API token for --server (env KIZUNA_TOKEN)")
	f.StringVar(&o.collection, "collection", "", "collection id to pull from (default: the hub's default collection)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify the hub's TLS certificate (self-signed demo hubs)")
	f.StringVar(&o.format, "format", "", "telemetry format: zeek (or zeek-tsv), zeek-json, eve, jsonl (or json), csv, cef (default: detected)")
	f.StringVar(&o.mapping, "mapping", "", `field mapping for json and csv logs, e.g. "src_ip=ip:src,qname=domain,time=ts"`)
	f.DurationVar(&o.timeout, "timeout", time.Minute, "timeout of each request to --server")
	addBlindedFlags(cmd, &bo)
	return cmd
}

// hitLine is one hit as printed on stdout.
type hitLine struct {
	IndicatorID string `json:"indicator_id"`
	Value       string `json:"value"`
	Field       string `json:"field"`
	File        string `json:"file"`
	Line        int    `json:"line"`
	Source      string `json:"source"`
	Time        string `json:"time,omitempty"`
	Type        string `json:"type,omitempty"`
	Pattern     string `json:"pattern"`
}

func runMatch(cmd *cobra.Command, o matchOptions, logs []string) error {
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	if (o.indicators == "") == (o.server == "") {
		return usage("match: give either --indicators FILE or --server URL")
	}
	if o.server != "" && o.token == "" {
		return usage("match: --server needs --token (or KIZUNA_TOKEN)")
	}
	var topts telemetry.Options
	switch o.format {
	case "zeek":
		topts.Format = telemetry.FormatZeekTSV
	case "jsonl":
		topts.Format = telemetry.FormatJSONLines
	case "", "zeek-tsv", "zeek-json", "eve", "json", "csv", "cef":
		topts.Format = telemetry.Format(o.format)
	default:
		return usage("match: --format %q: want zeek, zeek-json, eve, jsonl, csv or cef", o.format)
	}
	if o.mapping != "" {
		m, err := telemetry.ParseMapping(o.mapping)
		if err != nil {
			return usage("match: --mapping: %v", err)
		}
		topts.Mapping = m
	}
	var (
		inds    []detect.Indicator
		skipped []error
		err     error
	)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	idx := detect.New(detect.Options{Logger: log})
	if o.indicators != "" {
		inds, skipped, err = readIndicatorFile(o.indicators, idx)
	} else {
		inds, skipped, err = pullIndicators(ctx, o)
	}
	if err != nil {
		return fmt.Errorf("match: %w", err)
	}
	skipped = append(skipped, idx.AddBatch(inds)...)
	inds = nil
	for i, err := range skipped {
		if i == 5 {
			fmt.Fprintf(stderr, "kizuna: match: %d more indicators skipped\n", len(skipped)-i)
			break
		}
		fmt.Fprintf(stderr, "kizuna: match: indicator skipped: %v\n", err)
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var events, malformed, hits int
	matched := map[string]bool{}
	for _, name := range logs {
		st, err := matchLog(cmd, name, topts, idx, func(ev *telemetry.Event, h detect.Hit) error {
			hits++
			matched[h.IndicatorID] = true
			l := hitLine{Source: fmt.Sprintf("%s:%d", ev.Source, ev.Line), File: ev.Source, Line: ev.Line,
				Type: ev.Type, Field: h.Field, Value: h.Value, IndicatorID: h.IndicatorID, Pattern: h.Pattern}
			if !ev.Time.IsZero() {
				l.Time = ev.Time.UTC().Format(time.RFC3339Nano)
			}
			return enc.Encode(l)
		})
		events += st.Events
		malformed += st.Malformed
		for _, e := range st.Errors {
			fmt.Fprintf(stderr, "kizuna: match: %s:%d: malformed: %s\n", name, e.Line, e.Err)
		}
		if n := st.Malformed - len(st.Errors); n > 0 {
			fmt.Fprintf(stderr, "kizuna: match: %s: %d more malformed lines\n", name, n)
		}
		if err != nil {
			return fmt.Errorf("match: %w", err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("match: writing hits: %w", err)
	}
	fmt.Fprintf(stderr, "kizuna: match: %d indicators, %d events in %d logs, %d malformed lines, %d hits on %d indicators\n",
		idx.Len(), events, len(logs), malformed, hits, len(matched))
	if hits == 0 {
		return &exitError{code: 1}
	}
	return nil
}

// matchLog reads one log ("-" is stdin) and calls fn for every hit.
func matchLog(cmd *cobra.Command, name string, opts telemetry.Options, idx *detect.Index, fn func(*telemetry.Event, detect.Hit) error) (telemetry.Stats, error) {
	var r io.Reader = cmd.InOrStdin()
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return telemetry.Stats{}, err
		}
		defer f.Close()
		r = f
	}
	rd, err := telemetry.Open(r, name, opts)
	if err != nil {
		return telemetry.Stats{}, err
	}
	err = idx.MatchReader(cmd.Context(), rd, func(ev *telemetry.Event, hits []detect.Hit) error {
		for _, h := range hits {
			if err := fn(ev, h); err != nil {
				return err
			}
		}
		return nil
	})
	return rd.Stats(), err
}

// readIndicatorFile reads the indicators of a STIX bundle, TAXII envelope,
// JSON array or single object (gzip detected from content); other object
// types are ignored and invalid indicators are returned as skipped. A file
// whose first non-blank byte is neither "{" nor "[" is a plain list: its
// values go straight into idx (detect.ReadPlainList).
func readIndicatorFile(name string, idx *detect.Index) (inds []detect.Indicator, skipped []error, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w: gzip: %v", name, errkind.Invalid, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 256<<10)
		r = br
	}
	if !looksJSON(br) {
		st, err := detect.ReadPlainList(r, idx)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if st.Skipped > 0 && st.Skipped >= st.Values+st.Duplicates {
			return nil, nil, fmt.Errorf("%s: %w: neither STIX JSON nor a plain list (%d of %d values of no recognised type, e.g. %s)",
				name, errkind.Invalid, st.Skipped, st.Skipped+st.Values+st.Duplicates, st.Examples[0])
		}
		if st.Skipped > 0 {
			skipped = append(skipped, fmt.Errorf("%s: %d values of no recognised type, e.g. %s", name, st.Skipped, strings.Join(st.Examples, ", ")))
		}
		return nil, skipped, nil
	}
	err = stix.ReadObjects(r, func(i int, raw json.RawMessage) error {
		if ind, ok, err := indicatorOf(raw); err != nil {
			skipped = append(skipped, fmt.Errorf("%s: object %d: %w", name, i, err))
		} else if ok {
			inds = append(inds, ind)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, stix.ErrInvalidInput) {
			return nil, nil, fmt.Errorf("%s: %w: %w", name, errkind.Invalid, err)
		}
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return inds, skipped, nil
}

// looksJSON reports whether the first non-blank byte is "{" or "[".
func looksJSON(br *bufio.Reader) bool {
	for n := 1; n <= 4096; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return err == nil
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xef, 0xbb, 0xbf: // a UTF-8 byte order mark
			continue
		default:
			return c == '{' || c == '['
		}
	}
	return false
}

// indicatorOf extracts an indicator from a raw object; ok is false for
// other object types.
func indicatorOf(raw json.RawMessage) (detect.Indicator, bool, error) {
	var head struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &head) != nil || head.Type != "indicator" {
		return detect.Indicator{}, false, nil
	}
	o, err := stix.Parse(raw)
	if err != nil {
		return detect.Indicator{}, false, fmt.Errorf("%w: %v", errkind.Invalid, err)
	}
	ind, err := detect.IndicatorFromObject(o)
	if err != nil {
		return detect.Indicator{}, false, err
	}
	return ind, true, nil
}

// taxiiMedia is the TAXII 2.1 media type.
const taxiiMedia = "application/taxii+json;version=2.1"

// taxiiClient is the little of a TAXII 2.1 client `kizuna match` needs.
type taxiiClient struct {
	http    *http.Client
	token   string
	timeout time.Duration
}

// get fetches u as TAXII JSON into v.
func (c *taxiiClient) get(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errkind.Invalid, err)
	}
	req.Header.Set("Accept", taxiiMedia)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		_ = json.Unmarshal(body, &e)
		msg := strings.TrimSpace(e.Title + ": " + e.Description)
		if e.Title == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return fmt.Errorf("GET %s: %s (%d)", u, msg, resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w: response is not TAXII JSON: %v", u, errkind.Invalid, err)
	}
	return nil
}

// pullIndicators pulls the latest versions of the indicators of the hub's
// default collection (or --collection) over TAXII 2.1; invalid indicators
// are returned as skipped.
func pullIndicators(ctx context.Context, o matchOptions) (inds []detect.Indicator, skipped []error, err error) {
	base, err := url.Parse(strings.TrimRight(o.server, "/") + "/")
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, nil, usage("match: --server %q: want a URL such as https://127.0.0.1:8443", o.server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by --insecure-skip-verify
	}
	c := &taxiiClient{http: &http.Client{Transport: tr}, token: o.token, timeout: o.timeout}
	var disc struct {
		Default  string   `json:"default"`
		APIRoots []string `json:"api_roots"`
	}
	if err := c.get(ctx, base.ResolveReference(&url.URL{Path: "taxii2/"}).String(), &disc); err != nil {
		return nil, nil, fmt.Errorf("discovery: %w", err)
	}
	rootURL := disc.Default
	if rootURL == "" && len(disc.APIRoots) > 0 {
		rootURL = disc.APIRoots[0]
	}
	if rootURL == "" {
		return nil, nil, fmt.Errorf("discovery: %w: the server announces no API root", errkind.NotFound)
	}
	root, err := base.Parse(rootURL)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: %w: API root %q: %v", errkind.Invalid, rootURL, err)
	}
	if !strings.HasSuffix(root.Path, "/") {
		root.Path += "/"
	}
	collID := o.collection
	if collID == "" {
		var cols struct {
			Collections []struct {
				ID      string `json:"id"`
				CanRead bool   `json:"can_read"`
			} `json:"collections"`
		}
		if err := c.get(ctx, root.JoinPath("collections/").String(), &cols); err != nil {
			return nil, nil, fmt.Errorf("collections: %w", err)
		}
		for _, col := range cols.Collections {
			if col.CanRead && (collID == "" || col.ID == store.DefaultCollectionID) {
				collID = col.ID
			}
		}
		if collID == "" {
			return nil, nil, fmt.Errorf("collections: %w: no collection the token may read", errkind.NotFound)
		}
	}
	objects := root.JoinPath("collections", collID, "objects/")
	next := ""
	for page := 0; ; page++ {
		q := url.Values{"match[type]": {"indicator"}}
		if next != "" {
			q.Set("next", next)
		}
		objects.RawQuery = q.Encode()
		var env struct {
			More    bool              `json:"more"`
			Next    string            `json:"next"`
			Objects []json.RawMessage `json:"objects"`
		}
		if err := c.get(ctx, objects.String(), &env); err != nil {
			return nil, nil, fmt.Errorf("objects: %w", err)
		}
		for i, raw := range env.Objects {
			if ind, ok, err := indicatorOf(raw); err != nil {
				skipped = append(skipped, fmt.Errorf("objects page %d, object %d: %w", page, i, err))
			} else if ok {
				inds = append(inds, ind)
			}
		}
		if !env.More || env.Next == "" || env.Next == next {
			return inds, skipped, nil
		}
		next = env.Next
	}
}
