package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/detect/blind"
	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

// blindedOptions are the flags of `kizuna match --blinded`.
type blindedOptions struct {
	file   string // the blinded index (GET /api/v1/blinded-index)
	report string // hub base URL to POST the hits to
}

// addBlindedFlags registers --blinded and --report on `kizuna match`.
func addBlindedFlags(cmd *cobra.Command, b *blindedOptions) {
	f := cmd.Flags()
	f.StringVar(&b.file, "blinded", "", "match against a blinded index (from GET /api/v1/blinded-index) instead of indicators: hits are printed as tokens")
	f.StringVar(&b.report, "report", "", "with --blinded: hub base URL to report the hits to (POST /api/v1/blinded-hits, with --token)")
}

// blindedHitLine is one hit of --blinded as printed on stdout: the token
// stands for indicators the constituent does not learn; the field, file
// and line say where in its own log the value was.
type blindedHitLine struct {
	Token string `json:"token"`
	Field string `json:"field"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	Time  string `json:"time,omitempty"`
}

// runMatchBlinded is `kizuna match --blinded FILE LOG...`: the logs'
// observables are hashed with the index's key and looked up; each hit is a
// JSON line; with --report the hits (token, count, time) go to the hub,
// which turns them into sightings. Exit status as for match.
func runMatchBlinded(cmd *cobra.Command, o matchOptions, b blindedOptions, logs []string) error {
	stderr := cmd.ErrOrStderr()
	if o.indicators != "" || o.server != "" {
		return usage("match: --blinded replaces --indicators and --server")
	}
	if b.report != "" && o.token == "" {
		return usage("match: --report needs --token (or KIZUNA_TOKEN)")
	}
	topts, err := blindedTelemetryOptions(o)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(b.file)
	if err != nil {
		return fmt.Errorf("match: reading the blinded index: %w", err)
	}
	x, err := blind.Parse(data)
	if err != nil {
		return fmt.Errorf("match: %s: %w", b.file, err)
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	type reportKey struct {
		token blind.Token
		time  string
	}
	counts := map[reportKey]int{}
	var events, malformed, hits int
	for _, name := range logs {
		st, err := scanBlinded(cmd, name, topts, x, func(ev *telemetry.Event, o telemetry.Observable, tok blind.Token) error {
			hits++
			l := blindedHitLine{Token: tok.String(), Field: o.Field, File: ev.Source, Line: ev.Line}
			if !ev.Time.IsZero() {
				l.Time = ev.Time.UTC().Format(time.RFC3339Nano)
			}
			counts[reportKey{tok, l.Time}]++
			return enc.Encode(l)
		})
		events += st.Events
		malformed += st.Malformed
		for _, e := range st.Errors {
			fmt.Fprintf(stderr, "kizuna: match: %s:%d: malformed: %s\n", name, e.Line, e.Err)
		}
		if err != nil {
			return fmt.Errorf("match: %w", err)
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("match: writing hits: %w", err)
	}
	fmt.Fprintf(stderr, "kizuna: match: blinded index of %d values (key %s), %d events in %d logs, %d malformed lines, %d hits\n",
		len(x.Entries), x.KeyID, events, len(logs), malformed, hits)
	if b.report != "" && hits > 0 {
		req := blindedReport{KeyID: x.KeyID, Hits: []blindedReportHit{}}
		for k, n := range counts {
			req.Hits = append(req.Hits, blindedReportHit{Token: k.token.String(), Count: n, Time: k.time})
		}
		sort.Slice(req.Hits, func(i, j int) bool {
			a, c := req.Hits[i], req.Hits[j]
			return a.Token < c.Token || a.Token == c.Token && a.Time < c.Time
		})
		res, err := postBlindedHits(cmd.Context(), o, b.report, req)
		if err != nil {
			return fmt.Errorf("match: reporting hits: %w", err)
		}
		fmt.Fprintf(stderr, "kizuna: match: reported %d hits: %d resolved, %d unresolved, %d sightings stored\n",
			res.Hits, res.Resolved, res.Unresolved, len(res.Sightings))
	}
	if hits == 0 {
		return &exitError{code: 1}
	}
	return nil
}

// blindedTelemetryOptions reads --format and --mapping.
func blindedTelemetryOptions(o matchOptions) (telemetry.Options, error) {
	var topts telemetry.Options
	switch o.format {
	case "zeek":
		topts.Format = telemetry.FormatZeekTSV
	case "jsonl":
		topts.Format = telemetry.FormatJSONLines
	case "", "zeek-tsv", "zeek-json", "eve", "json", "csv", "cef":
		topts.Format = telemetry.Format(o.format)
	default:
		return topts, usage("match: --format %q: want zeek, zeek-json, eve, jsonl, csv or cef", o.format)
	}
	if o.mapping != "" {
		m, err := telemetry.ParseMapping(o.mapping)
		if err != nil {
			return topts, usage("match: --mapping: %v", err)
		}
		topts.Mapping = m
	}
	return topts, nil
}

// scanBlinded reads one log ("-" is stdin) and calls fn for every
// observable the index holds.
func scanBlinded(cmd *cobra.Command, name string, opts telemetry.Options, x *blind.Index, fn func(*telemetry.Event, telemetry.Observable, blind.Token) error) (telemetry.Stats, error) {
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
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd.Stats(), nil
		}
		if err != nil {
			return rd.Stats(), err
		}
		for _, o := range ev.Observables {
			for _, tok := range x.Lookup(o.Kind, o.Value) {
				if err := fn(ev, o, tok); err != nil {
					return rd.Stats(), err
				}
			}
		}
	}
}

// blindedReport is the body of POST /api/v1/blinded-hits.
type blindedReport struct {
	KeyID string             `json:"key_id"`
	Hits  []blindedReportHit `json:"hits"`
}

type blindedReportHit struct {
	Token string `json:"token"`
	Count int    `json:"count"`
	Time  string `json:"time,omitempty"`
}

type blindedReportResult struct {
	Hits       int      `json:"hits"`
	Resolved   int      `json:"resolved"`
	Unresolved int      `json:"unresolved"`
	Sightings  []string `json:"sightings"`
}

// postBlindedHits sends the hits to the hub at base.
func postBlindedHits(ctx context.Context, o matchOptions, base string, body blindedReport) (blindedReportResult, error) {
	var res blindedReportResult
	b, err := json.Marshal(body)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/api/v1/blinded-hits", bytes.NewReader(b))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+o.token)
	client := &http.Client{}
	if o.insecure {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // opt-in for demo hubs
	}
	resp, err := client.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("hub answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("hub response: %w", err)
	}
	return res, nil
}
