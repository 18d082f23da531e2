package source

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// NVD API 2.0 limits and guidance (https://nvd.nist.gov/developers).
const (
	// NVDMaxPage is the largest resultsPerPage the CVE API accepts.
	NVDMaxPage = 2000
	// NVDMaxWindow is the longest lastModStartDate..lastModEndDate range
	// the API accepts (120 consecutive days).
	NVDMaxWindow = 120 * 24 * time.Hour
	// NVDDelayNoKey is the pause between requests without an API key
	// (NVD's best practices: 6 seconds); NVDDelayKey with one (50
	// requests in a rolling 30 seconds).
	NVDDelayNoKey = 6 * time.Second
	NVDDelayKey   = 600 * time.Millisecond
)

// nvdDateLayout is the extended ISO-8601 form the API wants (sent in UTC,
// with an explicit offset).
const nvdDateLayout = "2006-01-02T15:04:05.000+00:00"

// nvdState is the progress of an nvd source, saved after every page so
// that an interrupted run resumes where it stopped.
type nvdState struct {
	// Done is the lastModEndDate up to which every record was imported
	// (zero: no complete download yet).
	Done time.Time
	// WinStart and WinEnd are the window in progress (WinEnd zero: none;
	// WinStart zero with WinEnd set: the first, full download, without
	// date parameters). Next is the startIndex of its next page.
	WinStart, WinEnd time.Time
	Next             int
}

// nvdPage is the paging part of an NVD API 2.0 answer.
type nvdPage struct {
	ResultsPerPage  int               `json:"resultsPerPage"`
	StartIndex      int               `json:"startIndex"`
	TotalResults    int               `json:"totalResults"`
	Vulnerabilities []json.RawMessage `json:"vulnerabilities"`
}

// nvdDelay is the pause between two NVD requests.
func (r *Runner) nvdDelay(withKey bool) time.Duration {
	switch {
	case r.NVDDelay != nil:
		return *r.NVDDelay
	case withKey:
		return NVDDelayKey
	}
	return NVDDelayNoKey
}

// fetchNVD pages through the NVD CVE API at s.URL (its own query
// parameters, such as cpeName or keywordSearch, are kept): the first run
// downloads everything with startIndex/resultsPerPage paging, later runs
// only what was modified since the last complete one, in lastModStartDate
// .. lastModEndDate windows of at most 120 days. Records are imported page
// by page and the progress saved after each (save may be nil), so a failed
// or interrupted run resumes at the page that did not complete.
func (r *Runner) fetchNVD(ctx context.Context, s Source, st *nvdState, save func(nvdState) error) (Result, error) {
	var res Result
	key := s.Token
	if key == "" {
		key = r.NVDAPIKey
	}
	c := fetch.New(fetch.Options{Token: key, TokenHeader: "apiKey", InsecureSkipVerify: s.InsecureSkipVerify, Log: r.Log})
	base, err := url.Parse(s.URL)
	if err != nil {
		return res, fmt.Errorf("%w: source %s: url %q: %v", errkind.Invalid, s.Name, s.URL, err)
	}
	size := r.NVDPageSize
	if size <= 0 || size > NVDMaxPage {
		size = NVDMaxPage
	}
	delay, requests := r.nvdDelay(key != ""), 0
	now := r.now().UTC().Truncate(time.Millisecond)
	for {
		if st.WinEnd.IsZero() {
			if !st.Done.IsZero() && !st.Done.Before(now) {
				return res, nil
			}
			st.WinStart, st.WinEnd, st.Next = st.Done, now, 0
			if !st.Done.IsZero() && st.WinEnd.Sub(st.WinStart) > NVDMaxWindow {
				st.WinEnd = st.WinStart.Add(NVDMaxWindow)
			}
		}
		if requests > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, ctx.Err()
			case <-t.C:
			}
		}
		requests++
		q := url.Values{}
		q.Set("startIndex", strconv.Itoa(st.Next))
		q.Set("resultsPerPage", strconv.Itoa(size))
		if !st.WinStart.IsZero() {
			q.Set("lastModStartDate", st.WinStart.UTC().Format(nvdDateLayout))
			q.Set("lastModEndDate", st.WinEnd.UTC().Format(nvdDateLayout))
		}
		u := *base
		u.RawQuery = nvdQuery(base.RawQuery, q)
		body, _, _, err := c.Get(ctx, u.String(), vulndb.MaxFileSize, nil)
		if err != nil {
			return res, err
		}
		res.Fetched++
		var page nvdPage
		if err := json.Unmarshal(body, &page); err != nil || page.StartIndex != st.Next || page.TotalResults < 0 {
			if err == nil {
				err = fmt.Errorf("answered startIndex %d, totalResults %d to a request for startIndex %d", page.StartIndex, page.TotalResults, st.Next)
			}
			return res, nvdFailure(&res, u.String(), err)
		}
		failed := map[string]error{}
		if err := r.importDocs(ctx, &res, []vulndb.Doc{{Name: u.String(), Data: body, Explicit: true}}, sharing.TLPClear, nil, failed); err != nil {
			return res, err
		}
		for _, err := range failed {
			return res, nvdFailure(&res, u.String(), err)
		}
		st.Next += len(page.Vulnerabilities)
		if len(page.Vulnerabilities) == 0 || st.Next >= page.TotalResults {
			st.Done, st.WinStart, st.WinEnd, st.Next = st.WinEnd, time.Time{}, time.Time{}, 0
		}
		if save != nil {
			if err := save(*st); err != nil {
				return res, err
			}
		}
	}
}

// nvdQuery returns the source URL's query with the paging and date
// parameters of q in place of any it had. The URL's other parameters are
// kept as written: NVD flags such as noRejected take no value.
func nvdQuery(raw string, q url.Values) string {
	out := ""
	for _, part := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(k); part == "" || err == nil && q.Has(k) {
			continue
		}
		out += part + "&"
	}
	return out + q.Encode()
}

// nvdFailure records a page that failed; the run stops there (nil error:
// the failure is in res, and the run is failed by it).
func nvdFailure(res *Result, u string, err error) error {
	res.Failed++
	res.Failures = append(res.Failures, fetch.Failure{URL: u, Err: fmt.Errorf("NVD page: %w", err)})
	return nil
}

// loadNVD reads an nvd source's progress (zero when it never ran).
func (r *Registry) loadNVD(ctx context.Context, name string) (nvdState, error) {
	var st nvdState
	var done, start, end int64
	err := r.db.QueryRowContext(ctx, `SELECT done_ns, win_start_ns, win_end_ns, next_index FROM vuln_source_nvd WHERE source = ?`, name).
		Scan(&done, &start, &end, &st.Next)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the NVD progress of source %s: %w", name, err)
	}
	st.Done, st.WinStart, st.WinEnd = fromNS(done), fromNS(start), fromNS(end)
	return st, nil
}

// saveNVD stores an nvd source's progress.
func (r *Registry) saveNVD(ctx context.Context, name string, st nvdState) error {
	if _, err := r.db.ExecContext(ctx, `INSERT INTO vuln_source_nvd (source, done_ns, win_start_ns, win_end_ns, next_index)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET done_ns = excluded.done_ns,
		win_start_ns = excluded.win_start_ns, win_end_ns = excluded.win_end_ns, next_index = excluded.next_index`,
		name, ns(st.Done), ns(st.WinStart), ns(st.WinEnd), st.Next); err != nil {
		return fmt.Errorf("saving the NVD progress of source %s: %w", name, err)
	}
	return nil
}
