package source_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln/source"
)

// nvdServer is an NVD CVE API 2.0 on loopback serving the 38 real NVD
// records of testdata/nvd-full-page.json with startIndex/resultsPerPage
// paging and lastModStartDate/lastModEndDate filtering. It checks the
// parameters as the NVD documents them and records every request.
type nvdServer struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	records  []map[string]any // the "vulnerabilities" items
	requests []url.Values
	failAt   int // startIndex answered 503 once (-1: none)
}

const nvdLayout = "2006-01-02T15:04:05.000Z07:00"

func startNVD(t *testing.T) *nvdServer {
	t.Helper()
	var page struct {
		Vulnerabilities []map[string]any `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(readFile(t, "testdata/nvd-full-page.json"), &page); err != nil {
		t.Fatal(err)
	}
	s := &nvdServer{t: t, records: page.Vulnerabilities, failAt: -1}
	srv := httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/rest/json/cves/2.0?noRejected"
	return s
}

func lastModified(rec map[string]any) time.Time {
	t, _ := time.Parse("2006-01-02T15:04:05.000", rec["cve"].(map[string]any)["lastModified"].(string))
	return t
}

func (s *nvdServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := r.URL.Query()
	s.requests = append(s.requests, q)
	bad := func(msg string) {
		s.t.Errorf("request %s: %s", r.URL, msg)
		http.Error(w, msg, http.StatusBadRequest)
	}
	if r.URL.Path != "/rest/json/cves/2.0" || !q.Has("noRejected") {
		bad("path or the source's own parameter lost")
		return
	}
	if r.Header.Get("apiKey") != "nvd-key" {
		bad("apiKey header " + r.Header.Get("apiKey"))
		return
	}
	start, err1 := strconv.Atoi(q.Get("startIndex"))
	per, err2 := strconv.Atoi(q.Get("resultsPerPage"))
	if err1 != nil || err2 != nil || start < 0 || per < 1 || per > 2000 {
		bad("startIndex/resultsPerPage")
		return
	}
	from, to := q.Get("lastModStartDate"), q.Get("lastModEndDate")
	var lo, hi time.Time
	if (from == "") != (to == "") {
		bad("lastModStartDate and lastModEndDate go together")
		return
	}
	if from != "" {
		var err error
		if lo, err = time.Parse(nvdLayout, from); err != nil {
			bad(err.Error())
			return
		}
		if hi, err = time.Parse(nvdLayout, to); err != nil {
			bad(err.Error())
			return
		}
		if !hi.After(lo) || hi.Sub(lo) > 120*24*time.Hour {
			bad("date range longer than 120 days or empty")
			return
		}
	}
	if start == s.failAt {
		s.failAt = -1
		http.Error(w, "rate limited", http.StatusServiceUnavailable)
		return
	}
	var match []map[string]any
	for _, rec := range s.records {
		if m := lastModified(rec); from == "" || !m.Before(lo) && !m.After(hi) {
			match = append(match, rec)
		}
	}
	page := []map[string]any{}
	if start < len(match) {
		page = match[start:min(start+per, len(match))]
	}
	json.NewEncoder(w).Encode(map[string]any{
		"resultsPerPage": len(page), "startIndex": start, "totalResults": len(match),
		"format": "NVD_CVE", "version": "2.0", "timestamp": "2023-10-18T18:04:18.493", "vulnerabilities": page,
	})
}

// take returns and forgets the requests so far.
func (s *nvdServer) take() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests
	s.requests = nil
	return r
}

func starts(reqs []url.Values) []string {
	var out []string
	for _, q := range reqs {
		out = append(out, q.Get("startIndex")+"/"+q.Get("resultsPerPage"))
	}
	return out
}

// TestNVDPaging: the first run pages through everything (a page failing
// with 503 fails the run, and the next run resumes at that page); a run
// 300 days later asks only for what was modified since, in three windows
// of at most 120 days, and updates the record changed meanwhile; a run
// with nothing new asks nothing.
func TestNVDPaging(t *testing.T) {
	ctx := context.Background()
	nvd := startNVD(t)
	r, vdb := consumer(t)
	zero := time.Duration(0)
	r.NVDDelay, r.NVDPageSize, r.NVDAPIKey = &zero, 10, "nvd-key"
	t1 := time.Date(2023, 10, 20, 0, 0, 0, 0, time.UTC)
	now := t1
	r.Now = func() time.Time { return now }
	if err := r.Registry.Add(ctx, source.Source{Name: "nvd", Kind: source.NVD, URL: nvd.url, InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}

	nvd.failAt = 20
	res, err := r.Run(ctx, "nvd") // the 503 fails the run
	if err == nil || res.Added != 20 || res.Fetched != 2 {
		t.Fatalf("first run: %v %+v", err, res)
	}
	if got := starts(nvd.take()); !slices.Equal(got, []string{"0/10", "10/10", "20/10"}) {
		t.Errorf("first run requests %v", got)
	}
	if h, _ := r.Registry.Get(ctx, "nvd"); h.LastError == "" || h.Failures != 1 {
		t.Errorf("health after the failed run: %+v", h.Health)
	}

	res, err = r.Run(ctx, "nvd")
	if err != nil || res.Added != 18 || res.Fetched != 2 {
		t.Fatalf("resumed run: %v %+v", err, res)
	}
	reqs := nvd.take()
	if got := starts(reqs); !slices.Equal(got, []string{"20/10", "30/10"}) {
		t.Errorf("resumed run requests %v", got)
	}
	for _, q := range reqs {
		if q.Has("lastModStartDate") {
			t.Errorf("the full download sent dates: %v", q)
		}
	}
	if st, err := vdb.Stats(ctx); err != nil || st.Vulns != 38 {
		t.Errorf("records after the full download: %v %+v", err, st)
	}

	// A record changes 200 days later; the next run is 300 days later.
	nvd.mu.Lock()
	for _, rec := range nvd.records {
		if cve := rec["cve"].(map[string]any); cve["id"] == "CVE-2023-45628" {
			cve["lastModified"] = t1.Add(200 * 24 * time.Hour).Format("2006-01-02T15:04:05.000")
			cve["vulnStatus"] = "Modified"
		}
	}
	nvd.mu.Unlock()
	now = t1.Add(300 * 24 * time.Hour)
	res, err = r.Run(ctx, "nvd")
	if err != nil || res.Updated != 1 || res.Added != 0 || res.Fetched != 3 {
		t.Fatalf("incremental run: %v %+v", err, res)
	}
	reqs = nvd.take()
	var windows [][2]string
	for _, q := range reqs {
		windows = append(windows, [2]string{q.Get("lastModStartDate"), q.Get("lastModEndDate")})
		if q.Get("startIndex") != "0" || q.Get("resultsPerPage") != "10" {
			t.Errorf("incremental request %v", q)
		}
	}
	d := func(days int) string {
		return t1.Add(time.Duration(days) * 24 * time.Hour).Format("2006-01-02T15:04:05.000+00:00")
	}
	want := [][2]string{{d(0), d(120)}, {d(120), d(240)}, {d(240), d(300)}}
	if !slices.Equal(windows, want) {
		t.Errorf("windows %v, want %v", windows, want)
	}

	res, err = r.Run(ctx, "nvd")
	if err != nil || res.Fetched != 0 || len(nvd.take()) != 0 {
		t.Errorf("run with nothing new: %v %+v", err, res)
	}
}

// TestNVDBadPage: an answer for another startIndex than asked (a server
// that ignores paging) fails the run instead of looping.
func TestNVDBadPage(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"resultsPerPage":1,"startIndex":0,"totalResults":5,"format":"NVD_CVE","version":"2.0","vulnerabilities":[]}`))
	}))
	t.Cleanup(srv.Close)
	r, _ := consumer(t)
	zero := time.Duration(0)
	r.NVDDelay = &zero
	if err := r.Registry.Add(ctx, source.Source{Name: "nvd", Kind: source.NVD, URL: srv.URL, InsecureSkipVerify: true}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(ctx, "nvd")
	if err != nil || res.Fetched != 1 {
		t.Fatalf("first run: %v %+v", err, res)
	}
	// The empty page ends the download: the run succeeded.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"resultsPerPage":1,"startIndex":0,"totalResults":5,"format":"NVD_CVE","version":"2.0","vulnerabilities":[{}]}`))
	})
	r.Now = func() time.Time { return time.Now().Add(time.Hour) }
	res, err = r.Run(ctx, "nvd")
	if err == nil || res.Failed != 1 {
		t.Errorf("bad page: %v %+v", err, res)
	}
}
