package source

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/csaf/fetch"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// Result is the outcome of one run.
type Result struct {
	// Fetched counts documents downloaded (and, for CSAF, verified);
	// Unchanged CSAF advisories skipped because the provider lists them
	// with the time already handled; Failed documents and lists that
	// failed; Withheld CSAF advisories not imported because of their TLP
	// label (RED, or none known; AMBER ones are imported hub-only).
	Fetched, Unchanged, Failed, Withheld int
	// NotModified is set when the server answered 304 to a single-URL
	// source.
	NotModified bool
	// Added, Updated, STIX and NewFindings are the vulnerability
	// database's counts (records added and updated in place, STIX objects
	// submitted, findings that did not exist before).
	Added, Updated, STIX, NewFindings int
	// Skipped names the CSAF feeds and directories not read, with the
	// reason (no token for their TLP label, not modified).
	Skipped []string
	// Failures gives each failed document or list by URL, with the
	// reason.
	Failures []fetch.Failure
	// KeyProblems lists provider keys that could not be used.
	KeyProblems []string
}

// Runner runs sources into a vulnerability database.
type Runner struct {
	// Registry keeps the sources; only Run and RunDue need it.
	Registry *Registry
	DB       *vulndb.DB
	// Emit, when set, receives the STIX vulnerability objects of what
	// changed (the ingest pipeline, as the hub).
	Emit func(ctx context.Context, objs []json.RawMessage) error
	// CreatedBy goes into the STIX objects (the hub's identity).
	CreatedBy string
	Log       *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// NVDAPIKey is the NVD API key for nvd sources without a token of
	// their own (kizuna takes it from $KIZUNA_NVD_API_KEY).
	NVDAPIKey string
	// NVDDelay is the pause between two NVD requests; nil: NVD's guidance
	// (NVDDelayNoKey without an API key, NVDDelayKey with one).
	NVDDelay *time.Duration
	// NVDPageSize is the resultsPerPage asked of the NVD (default and
	// maximum NVDMaxPage).
	NVDPageSize int

	// running serialises Run: the scheduler and the HTTP API share a
	// Runner and run one source at a time.
	running sync.Mutex
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Run runs the named source now, with its stored state, and records the
// outcome in its health. A run with failed documents is a failed run
// (LastError names the first); the documents that passed are imported.
func (r *Runner) Run(ctx context.Context, name string) (Result, error) {
	r.running.Lock()
	defer r.running.Unlock()
	s, err := r.Registry.Get(ctx, name)
	if err != nil {
		return Result{}, err
	}
	if err := r.Registry.begin(ctx, name, r.now()); err != nil {
		return Result{}, err
	}
	st, err := r.Registry.loadState(ctx, name)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var runErr error
	if s.Kind == NVD {
		var nst nvdState
		if nst, runErr = r.Registry.loadNVD(ctx, name); runErr == nil {
			res, runErr = r.fetchNVD(ctx, s.Source, &nst, func(st nvdState) error { return r.Registry.saveNVD(ctx, name, st) })
		}
	} else {
		res, runErr = r.Fetch(ctx, s.Source, st)
		if runErr == nil {
			runErr = r.Registry.saveState(ctx, name, st)
		}
	}
	if runErr == nil && len(res.Failures) > 0 {
		f := res.Failures[0]
		runErr = fmt.Errorf("%d failed, first %w", len(res.Failures), f)
	}
	if err := r.Registry.finish(context.WithoutCancel(ctx), name, r.now(), res, runErr); err != nil && runErr == nil {
		runErr = err
	}
	return res, runErr
}

// Fetch runs a source with the state st (updated in place; nil: fetch
// everything) without the registry: kizuna vuln import URL uses it. An nvd
// source is downloaded completely (its progress is kept only by Run).
func (r *Runner) Fetch(ctx context.Context, s Source, st *fetch.State) (Result, error) {
	if st == nil {
		st = &fetch.State{}
	}
	if st.Lists == nil {
		st.Lists = map[string]fetch.Validators{}
	}
	if s.Kind == NVD {
		return r.fetchNVD(ctx, s, &nvdState{}, nil)
	}
	c := fetch.New(fetch.Options{Token: s.Token, InsecureSkipVerify: s.InsecureSkipVerify, Log: r.Log})
	if s.Kind == CSAFProvider {
		return r.fetchCSAF(ctx, c, s, st)
	}
	return r.fetchFile(ctx, c, s, st)
}

// fetchCSAF syncs a CSAF provider and imports WHITE advisories marked
// TLP:CLEAR and GREEN ones marked TLP:GREEN. AMBER advisories (and CSAF
// 2.1's AMBER+STRICT) are imported hub-only: their records carry the
// restriction of HubOnly, so no constituent gets findings or notifications
// for them, and their STIX objects are marked AMBER as produced by the hub.
// RED advisories are imported only for a source with RedRecipients, for
// those users alone (RedOnly); otherwise, like any label not known, they
// are verified but withheld: TLP:RED is for named people, and a provider's
// token names none.
func (r *Runner) fetchCSAF(ctx context.Context, c *fetch.Client, s Source, st *fetch.State) (Result, error) {
	var res Result
	sink := func(ctx context.Context, docs []fetch.Document) (map[string]error, error) {
		failed := map[string]error{}
		groups := map[sharing.TLP][]vulndb.Doc{}
		for _, d := range docs {
			tlp, ok := csafLabels[d.TLP]
			if d.TLP == "RED" && len(s.RedRecipients) > 0 {
				tlp, ok = sharing.TLPRed, true
			}
			if !ok {
				res.Withheld++
				r.log().InfoContext(ctx, "CSAF advisory not imported: TLP", "source", s.Name, "url", d.URL, "tlp", d.TLP)
				continue
			}
			groups[tlp] = append(groups[tlp], vulndb.Doc{Name: d.URL, Data: d.Data, Explicit: true})
		}
		for _, tlp := range []sharing.TLP{sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed} {
			if len(groups[tlp]) == 0 {
				continue
			}
			dist := HubOnly(tlp, r.CreatedBy)
			if tlp == sharing.TLPRed {
				dist = RedOnly(r.CreatedBy, s.RedRecipients)
			}
			if err := r.importDocs(ctx, &res, groups[tlp], tlp, dist, failed); err != nil {
				return nil, err
			}
		}
		return failed, nil
	}
	rep, err := c.Sync(ctx, s.URL, st, sink)
	res.Fetched, res.Unchanged, res.Failed = rep.Fetched, rep.Unchanged, rep.Failed
	res.Skipped, res.Failures, res.KeyProblems = rep.Skipped, rep.Failures, rep.KeyProblems
	return res, err
}

// csafLabels maps the TLP labels of remote CSAF advisories (as
// fetch.Document.TLP gives them) to the levels they are imported at;
// labels not listed (RED, none) are withheld.
var csafLabels = map[string]sharing.TLP{
	"WHITE": sharing.TLPClear, "CLEAR": sharing.TLPClear, "GREEN": sharing.TLPGreen,
	"AMBER": sharing.TLPAmber, "AMBER+STRICT": sharing.TLPAmberStrict,
}

// HubOnly returns the restriction of records from another provider's
// advisory with level t: nil for CLEAR and GREEN (public to the hub's
// organisations); for AMBER and AMBER+STRICT the hub organisation hub as
// producer and no named recipients, so that the sharing policy shows them
// to the hub (its organisation and, for AMBER, its analysts) and to no
// constituent (a CSAF 2.0 distribution names no recipients).
func HubOnly(t sharing.TLP, hub string) *vuln.Distribution {
	return vulndb.Restriction(t, sharing.Label{ProducerOrg: hub})
}

// RedOnly returns the restriction of records from another provider's
// TLP:RED advisory: the hub organisation hub as producer and the named
// users as the only recipients. The sharing policy then shows the STIX
// objects to those users alone and gives no organisation findings (TLP:RED
// is for people, findings are read by organisations).
func RedOnly(hub string, users []string) *vuln.Distribution {
	return vulndb.Restriction(sharing.TLPRed, sharing.Label{ProducerOrg: hub, Users: users})
}

// importDocs imports documents with the markings of tlp and the
// restriction dist (nil: none), adding to res and recording failed
// documents in failed.
func (r *Runner) importDocs(ctx context.Context, res *Result, docs []vulndb.Doc, tlp sharing.TLP, dist *vuln.Distribution, failed map[string]error) error {
	im := &vulndb.Importer{
		DB: r.DB, Emit: r.Emit, CreatedBy: r.CreatedBy, Markings: []string{sharing.MarkingID(tlp)}, Distribution: dist,
		OnFailure: func(name string, err error) { failed[name] = err },
	}
	sum, err := im.ImportDocs(ctx, docs)
	res.add(sum)
	return err
}

// importPaths imports files (archives) marked TLP:CLEAR.
func (r *Runner) importPaths(ctx context.Context, res *Result, paths []string, failed map[string]error) error {
	im := &vulndb.Importer{
		DB: r.DB, Emit: r.Emit, CreatedBy: r.CreatedBy, Markings: []string{sharing.TLP2Clear},
		OnFailure: func(name string, err error) { failed[name] = err },
	}
	sum, err := im.Import(ctx, paths)
	res.add(sum)
	return err
}

func (res *Result) add(sum vulndb.Summary) {
	res.Added += sum.Added
	res.Updated += sum.Updated
	res.STIX += sum.STIX
	res.NewFindings += sum.NewFindings
}

// kindFormats are the formats a single-URL source of each kind may serve.
var kindFormats = map[Kind][]vulndb.Format{
	KEV:  {vulndb.FormatKEV},
	OSV:  {vulndb.FormatOSV},
	CVE5: {vulndb.FormatCVE5},
}

// fetchFile downloads a single-URL source (conditionally on the last
// run's validators) and imports it: a JSON document in the kind's format,
// or a zip or gzip'd tar archive.
func (r *Runner) fetchFile(ctx context.Context, c *fetch.Client, s Source, st *fetch.State) (Result, error) {
	var res Result
	var cond *fetch.Validators
	if v, ok := st.Lists[s.URL]; ok {
		cond = &v
	}
	body, v, notModified, err := c.Get(ctx, s.URL, vulndb.MaxFileSize, cond)
	if err != nil {
		return res, err
	}
	if notModified {
		res.NotModified = true
		return res, nil
	}
	res.Fetched = 1
	failed := map[string]error{}
	switch {
	case bytes.HasPrefix(body, []byte("PK\x03\x04")), bytes.HasPrefix(body, []byte{0x1f, 0x8b}):
		ext := ".zip"
		if body[0] == 0x1f {
			ext = ".tar.gz"
		}
		dir, err := os.MkdirTemp("", "kizuna-source-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, s.Name+ext)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			return res, err
		}
		if err := r.importPaths(ctx, &res, []string{p}, failed); err != nil {
			return res, err
		}
	default:
		if f := vulndb.Detect(s.URL, body); !containsFormat(kindFormats[s.Kind], f) {
			err := fmt.Errorf("%s: a %s source, but the document is %s: %w", s.URL, s.Kind, describe(f), errkind.Invalid)
			res.Failed++
			res.Failures = append(res.Failures, fetch.Failure{URL: s.URL, Err: err})
			return res, nil
		}
		if err := r.importDocs(ctx, &res, []vulndb.Doc{{Name: s.URL, Data: body, Explicit: true}}, sharing.TLPClear, nil, failed); err != nil {
			return res, err
		}
	}
	for name, err := range failed {
		res.Failed++
		res.Failures = append(res.Failures, fetch.Failure{URL: name, Err: err})
	}
	if len(failed) == 0 && (v.ETag != "" || v.LastModified != "") {
		st.Lists[s.URL] = v
	} else {
		delete(st.Lists, s.URL)
	}
	return res, nil
}

func containsFormat(fs []vulndb.Format, f vulndb.Format) bool {
	for _, x := range fs {
		if x == f || (x == vulndb.FormatOSV && f == vulndb.FormatOSVYAML) {
			return true
		}
	}
	return false
}

func describe(f vulndb.Format) string {
	if f == vulndb.FormatUnknown {
		return "in no vulnerability format"
	}
	return string(f)
}
