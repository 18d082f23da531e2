package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// incidentRoutes registers the incident reporting and case API (issue #6):
//
//	POST /api/v1/incidents                 report an incident (JSON or YAML)
//	GET  /api/v1/cases[?state=S]           the cases the caller may see
//	GET  /api/v1/cases/{id}                one case
//	POST /api/v1/cases/{id}/{action}       transition, assign, comment, link,
//	                                       merge, ack, export
//	GET  /api/v1/metrics/cycle             cycle metrics (dashboard JSON)
func (s *Server) incidentRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/incidents", s.authed(s.reportIncident))
	mux.Handle("GET /api/v1/cases", s.authed(s.listCases))
	mux.Handle("GET /api/v1/cases/{id}", s.authed(s.getCase))
	mux.Handle("POST /api/v1/cases/{id}/{action}", s.authed(s.caseAction))
	mux.Handle("GET /api/v1/metrics/cycle", s.authed(s.cycleMetrics))
}

// cases returns the case store, or an error when none is configured.
func (s *Server) cases() (*incident.Cases, error) {
	if s.cfg.Cases == nil {
		return nil, fmt.Errorf("%w: incident reporting is not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.Cases, nil
}

// reportIncident serves POST /api/v1/incidents: the body is an
// incident.Report in JSON or YAML. Attached STIX objects go through the
// ingest pipeline as the caller into the default collection (anonymously
// when the report or the organisation asks for it, unmarked ones at the
// report's TLP); the case links them. Answers 201 with the case.
func (s *Server) reportIncident(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	cs, err := s.cases()
	if err != nil {
		return err
	}
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: only members of an organisation report incidents", errkind.Forbidden)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readBodyError(err)
	}
	rep, err := incident.ParseReport(body)
	if err != nil {
		return err
	}
	if org, err := s.cfg.Store.Org(ctx, p.OrgID); err == nil && org.Anonymous {
		rep.Anonymous = true
	}
	var attached []string
	if len(rep.Objects) > 0 {
		coll, err := s.cfg.Store.Collection(ctx, store.DefaultAPIRoot, store.DefaultCollectionID)
		if err != nil {
			return fmt.Errorf("reading the default collection: %w", err)
		}
		if !s.cfg.Policy.CanWrite(p, coll.WriteOrgs) {
			return fmt.Errorf("%w: report field \"objects\": the caller may not write collection %s", errkind.Forbidden, coll.ID)
		}
		res, err := s.telemetryPipeline().Submit(ctx, ingest.Submission{
			Collection: coll.ID, Principal: p, Anonymous: rep.Anonymous, DefaultTLP: rep.Level(),
		}, rep.Objects)
		if err != nil {
			return fmt.Errorf("storing the report's objects: %w", err)
		}
		if len(res.Failures) > 0 {
			f := res.Failures[0]
			return fmt.Errorf("%w: report field \"objects\": %s refused: %s", errkind.Conflict, f.ID, f.Message)
		}
		for _, d := range res.Successes {
			attached = append(attached, d.ID)
		}
	}
	c, err := cs.Create(ctx, p, rep, attached)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusCreated, c.View(p))
}

// readBodyError classifies an error reading a request body.
func readBodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: request body exceeds %d bytes", errkind.TooLarge, mbe.Limit)
	}
	return fmt.Errorf("%w: reading the request body: %v", errkind.Invalid, err)
}

// listCases serves GET /api/v1/cases.
func (s *Server) listCases(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	cs, err := s.cases()
	if err != nil {
		return err
	}
	var state incident.State
	if v := r.URL.Query().Get("state"); v != "" {
		if state, err = incident.ParseState(v); err != nil {
			return fmt.Errorf("parameter state: %w", err)
		}
	}
	list, err := cs.List(r.Context(), p, state)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"cases": list})
}

// getCase serves GET /api/v1/cases/{id}.
func (s *Server) getCase(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	cs, err := s.cases()
	if err != nil {
		return err
	}
	c, err := cs.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, c)
}

// caseRequest is the body of POST /api/v1/cases/{id}/{action}; each action
// reads its own fields.
type caseRequest struct {
	State        string `json:"state"`        // transition
	Assignee     string `json:"assignee"`     // assign
	Text         string `json:"text"`         // comment
	Internal     bool   `json:"internal"`     // comment
	ObjectID     string `json:"object_id"`    // link
	Kind         string `json:"kind"`         // link
	Organization string `json:"organization"` // link: an affected organisation
	Into         string `json:"into"`         // merge
}

// caseAction serves POST /api/v1/cases/{id}/{action}.
func (s *Server) caseAction(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	cs, err := s.cases()
	if err != nil {
		return err
	}
	id, action := r.PathValue("id"), r.PathValue("action")
	var req caseRequest
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readBodyError(err)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return fmt.Errorf("%w: %s request body: %v", errkind.Invalid, truncate(action, 20), err)
		}
	}
	var c incident.Case
	switch action {
	case "transition":
		c, err = cs.Transition(ctx, p, id, incident.State(strings.TrimSpace(req.State)))
	case "assign":
		c, err = cs.Assign(ctx, p, id, req.Assignee)
	case "comment":
		c, err = cs.AddComment(ctx, p, id, req.Text, req.Internal)
	case "link":
		switch {
		case req.Organization != "" && req.ObjectID != "":
			return fmt.Errorf("%w: link: give object_id or organization, not both", errkind.Invalid)
		case req.Organization != "":
			c, err = cs.AddAffected(ctx, p, id, req.Organization)
		default:
			c, err = cs.Link(ctx, p, id, req.ObjectID, req.Kind)
		}
	case "merge":
		c, err = cs.Merge(ctx, p, id, req.Into)
	case "ack":
		c, err = cs.Acknowledge(ctx, p, id)
		if err == nil {
			return writeAPIJSON(w, http.StatusOK, map[string]any{"case": id, "acknowledged": true})
		}
	case "export":
		res, err := cs.Export(ctx, p, id, s.telemetryPipeline(), incident.ExportOptions{HubOrgID: s.cfg.HubOrgID, Collection: store.DefaultCollectionID})
		if err != nil {
			return err
		}
		return writeAPIJSON(w, http.StatusOK, res)
	default:
		return fmt.Errorf("%w: no case action %q (transition, assign, comment, link, merge, ack, export)", errkind.NotFound, truncate(action, 40))
	}
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, c)
}

// cycleMetrics serves GET /api/v1/metrics/cycle: per-case cycle times of
// the cases the caller may see, and anonymised aggregates per month and
// sector over all cases (buckets under incident.K suppressed).
func (s *Server) cycleMetrics(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	cs, err := s.cases()
	if err != nil {
		return err
	}
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: cycle metrics are for members of an organisation", errkind.Forbidden)
	}
	d, err := cs.Metrics(r.Context(), p)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, d)
}
