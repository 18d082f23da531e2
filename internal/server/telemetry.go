package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect"
	"github.com/kizuna-cti/kizuna/internal/detect/sighting"
	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// telemetryResponse is the answer of POST /api/v1/telemetry.
type telemetryResponse struct {
	Format string `json:"format"`
	// Lines, Events, Malformed and BadTime are the reader's counts.
	Lines          int              `json:"lines"`
	Events         int              `json:"events"`
	Malformed      int              `json:"malformed"`
	MalformedLines []malformedLine  `json:"malformed_lines"`
	BadTime        int              `json:"bad_time"`
	Indicators     int              `json:"indicators"`
	Hits           int              `json:"hits"`
	Window         string           `json:"window"`
	TLP            string           `json:"tlp"`
	Sightings      []string         `json:"sightings"`
	Failures       []sightingFailed `json:"failures,omitempty"`
}

type malformedLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

type sightingFailed struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

// telemetry serves POST /api/v1/telemetry: the body is a telemetry log in
// any format package telemetry reads (gzip allowed), matched against the
// indicators the caller may see; hits become STIX sightings per indicator,
// the caller's organisation and window, submitted through the ingest
// pipeline as the caller into the default collection. Parameters: format
// (a telemetry.Format, detected by default), mapping (for json and csv),
// tlp (of the sightings, TLP:AMBER by default) and window (a Go duration,
// 1h by default).
func (s *Server) telemetry(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: telemetry: only members of an organisation can submit telemetry", errkind.Forbidden)
	}
	q := r.URL.Query()
	var opts telemetry.Options
	if v := q.Get("format"); v != "" {
		opts.Format = telemetry.Format(v)
	}
	if v := q.Get("mapping"); v != "" {
		m, err := telemetry.ParseMapping(v)
		if err != nil {
			return fmt.Errorf("%w: parameter mapping: %v", errkind.Invalid, err)
		}
		opts.Mapping = m
	}
	level := sharing.TLPAmber
	if v := q.Get("tlp"); v != "" {
		l, err := sharing.ParseTLP(v)
		if err != nil || sharing.MarkingID(l) == "" {
			return fmt.Errorf("%w: parameter tlp: want clear, green, amber, amber+strict or red", errkind.Invalid)
		}
		level = l
	}
	window := sighting.DefaultWindow
	if v := q.Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return fmt.Errorf("%w: parameter window: want a duration from 1m to 720h, such as 1h", errkind.Invalid)
		}
		window = d
	}
	coll, err := s.cfg.Store.Collection(ctx, store.DefaultAPIRoot, store.DefaultCollectionID)
	if err != nil {
		return fmt.Errorf("reading the default collection: %w", err)
	}
	if !s.cfg.Policy.CanWrite(p, coll.WriteOrgs) {
		return fmt.Errorf("%w: telemetry: sightings go to collection %s, which the caller may not write", errkind.Forbidden, coll.ID)
	}
	idx, n, err := s.visibleIndicators(ctx, p)
	if err != nil {
		return err
	}
	rd, err := telemetry.Open(r.Body, "telemetry", opts)
	if err != nil {
		return bodyError(err)
	}
	agg := sighting.New(window)
	now := s.cfg.Now().UTC()
	hits := 0
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bodyError(err)
		}
		t := ev.Time
		if t.IsZero() {
			t = now
		}
		for _, h := range idx.Match(ev) {
			agg.Add(h.IndicatorID, p.OrgID, t)
			hits++
		}
	}
	anonymous := false
	if org, err := s.cfg.Store.Org(ctx, p.OrgID); err == nil {
		anonymous = org.Anonymous
	}
	raws := make([]json.RawMessage, 0, agg.Len())
	for _, g := range agg.Aggregates() {
		raw, err := g.Object(sighting.ObjectOptions{Now: now, MarkingRefs: []string{sharing.MarkingID(level)}, HideOrg: anonymous})
		if err != nil {
			return err
		}
		raws = append(raws, raw)
	}
	st := rd.Stats()
	res := telemetryResponse{
		Format: string(rd.Format()), Lines: st.Lines, Events: st.Events, Malformed: st.Malformed,
		MalformedLines: []malformedLine{}, BadTime: st.BadTime, Indicators: n, Hits: hits,
		Window: window.String(), TLP: level.String(), Sightings: []string{},
	}
	for _, e := range st.Errors {
		res.MalformedLines = append(res.MalformedLines, malformedLine{Line: e.Line, Error: e.Err})
	}
	out, err := s.telemetryPipeline().Submit(ctx, ingest.Submission{Collection: coll.ID, Principal: p, Anonymous: anonymous}, raws)
	if err != nil {
		return fmt.Errorf("storing sightings: %w", err)
	}
	for _, d := range out.Successes {
		res.Sightings = append(res.Sightings, d.ID)
	}
	for _, d := range out.Failures {
		res.Failures = append(res.Failures, sightingFailed{ID: d.ID, Message: d.Message})
	}
	s.log.InfoContext(ctx, "telemetry matched", "org", p.OrgID, "events", st.Events, "malformed", st.Malformed,
		"indicators", n, "hits", hits, "sightings", len(res.Sightings))
	return writeAPIJSON(w, http.StatusOK, res)
}

// telemetryPipeline is the ingest pipeline sightings are submitted through,
// configured like the TAXII one (through the transparency ledger when the
// server has one).
func (s *Server) telemetryPipeline() *ingest.Pipeline {
	p := &ingest.Pipeline{Store: s.cfg.Store, Policy: s.cfg.Policy, Log: s.log, HubOrgID: s.cfg.HubOrgID}
	if s.cfg.Ledger != nil {
		p.Store, p.Recorder = s.cfg.Ledger.Wrap(s.cfg.Store), s.cfg.Ledger
	}
	return p
}

// bodyError classifies an error reading the request body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: request body exceeds %d bytes", errkind.TooLarge, mbe.Limit)
	case errors.Is(err, errkind.Invalid):
		return fmt.Errorf("telemetry: %w", err)
	default:
		return fmt.Errorf("%w: telemetry: reading the body: %v", errkind.Invalid, err)
	}
}

// visibleIndicators builds an index of the latest versions of the
// indicators the principal may see: the collections it may read, queried
// with its Access predicate so that visibility is decided by the store
// query. It returns the index and the number of indicators in it.
func (s *Server) visibleIndicators(ctx context.Context, p sharing.Principal) (*detect.Index, int, error) {
	idx := detect.New(detect.Options{Logger: s.log, Now: s.cfg.Now})
	acc := s.cfg.Policy.Access(p)
	roots, err := s.cfg.Store.APIRoots(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("listing API roots: %w", err)
	}
	var inds []detect.Indicator
	for _, root := range roots {
		colls, err := s.cfg.Store.Collections(ctx, root.Name)
		if err != nil {
			return nil, 0, fmt.Errorf("listing collections of %s: %w", root.Name, err)
		}
		for _, c := range colls {
			if !s.cfg.Policy.CanRead(p, c.ReadOrgs) {
				continue
			}
			next := ""
			for {
				page, err := s.cfg.Store.Query(ctx, store.Filter{Collection: c.ID, Access: acc, Types: []string{"indicator"}, Next: next})
				if err != nil {
					return nil, 0, fmt.Errorf("querying indicators of collection %s: %w", c.ID, err)
				}
				for _, e := range page.Entries {
					o, err := stix.Parse(e.Raw)
					if err != nil {
						continue
					}
					ind, err := detect.IndicatorFromObject(o)
					if err != nil {
						continue
					}
					inds = append(inds, ind)
				}
				if !page.More || page.Next == "" {
					break
				}
				next = page.Next
			}
		}
	}
	if errs := idx.AddBatch(inds); len(errs) > 0 {
		s.log.DebugContext(ctx, "telemetry: indicators skipped", "count", len(errs), "first", errs[0])
	}
	return idx, idx.Len(), nil
}
