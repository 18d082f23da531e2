package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
)

// maxSourceBody bounds the body of POST /api/v1/vuln/sources (a source's
// configuration is a few hundred bytes).
const maxSourceBody = 16 << 10

// vulnSourceRoutes registers the scheduled vulnerability sources API, the
// registry that kizuna vuln source manages, for hub analysts and hub
// admins only (hubStaff):
//
//	GET    /api/v1/vuln/sources             every source with its health
//	POST   /api/v1/vuln/sources             add a source (201)
//	GET    /api/v1/vuln/sources/{name}      one source with its health
//	POST   /api/v1/vuln/sources/{name}/run  run it now (200 with the run's counts)
//	DELETE /api/v1/vuln/sources/{name}      remove it and its state (204)
func (s *Server) vulnSourceRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/vuln/sources", s.authed(hubStaff("vulnerability sources", s.listVulnSources)))
	mux.Handle("POST /api/v1/vuln/sources", s.authed(hubStaff("vulnerability sources", s.addVulnSource)))
	mux.Handle("GET /api/v1/vuln/sources/{name}", s.authed(hubStaff("vulnerability sources", s.getVulnSource)))
	mux.Handle("POST /api/v1/vuln/sources/{name}/run", s.authed(hubStaff("vulnerability sources", s.runVulnSource)))
	mux.Handle("DELETE /api/v1/vuln/sources/{name}", s.authed(hubStaff("vulnerability sources", s.removeVulnSource)))
}

// hubStaff admits hub analysts and hub admins only; everyone else gets 403
// before h runs. It sits inside authed, after authentication and the
// request limits.
func hubStaff(what string, h apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
		if !p.HubAnalyst() {
			return fmt.Errorf("%w: %s are for hub analysts and hub admins", errkind.Forbidden, what)
		}
		return h(w, r, p)
	}
}

// vulnSources returns the source runner, or an error when the server has
// none.
func (s *Server) vulnSources() (*source.Runner, error) {
	if s.cfg.VulnSources == nil || s.cfg.VulnSources.Registry == nil {
		return nil, fmt.Errorf("%w: vulnerability sources are not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.VulnSources, nil
}

// listVulnSources serves GET /api/v1/vuln/sources.
func (s *Server) listVulnSources(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	run, err := s.vulnSources()
	if err != nil {
		return err
	}
	srcs, err := run.Registry.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]source.Status, 0, len(srcs))
	for _, st := range srcs {
		out = append(out, st.Status())
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"sources": out})
}

// getVulnSource serves GET /api/v1/vuln/sources/{name}.
func (s *Server) getVulnSource(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	run, err := s.vulnSources()
	if err != nil {
		return err
	}
	st, err := run.Registry.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, st.Status())
}

// sourceRequest is the body of POST /api/v1/vuln/sources.
type sourceRequest struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	URL   string `json:"url"`
	Every string `json:"every"`
	// Token is write-only: answers only say whether a source has one.
	Token              string `json:"token"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	// RedRecipients are hub analysts or hub admins (user names of the hub
	// organisation, or user ids) to import the provider's TLP:RED
	// advisories for.
	RedRecipients []string `json:"red_recipients"`
}

// addVulnSource serves POST /api/v1/vuln/sources: the body is a
// sourceRequest; answers 201 with the source (without its token), 400 for
// a bad configuration, 409 when the name is taken.
func (s *Server) addVulnSource(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	run, err := s.vulnSources()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSourceBody))
	if err != nil {
		return readBodyError(err)
	}
	var req sourceRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("%w: vulnerability source: %v", errkind.Invalid, err)
	}
	kind, err := source.ParseKind(req.Kind)
	if err != nil {
		return fmt.Errorf("field \"kind\": %w", err)
	}
	var every time.Duration
	if req.Every != "" {
		if every, err = time.ParseDuration(req.Every); err != nil {
			return fmt.Errorf("%w: field \"every\": %q is not a duration such as 6h", errkind.Invalid, truncate(req.Every, 100))
		}
	}
	red, err := source.ResolveRecipients(r.Context(), s.cfg.Store, s.cfg.HubOrgID, req.RedRecipients)
	if err != nil {
		return fmt.Errorf("field \"red_recipients\": %w", err)
	}
	src := source.Source{Name: req.Name, Kind: kind, URL: req.URL, Token: req.Token, Every: every,
		InsecureSkipVerify: req.InsecureSkipVerify, RedRecipients: red, Created: time.Now().UTC()}
	if err := run.Registry.Add(r.Context(), src); err != nil {
		return err
	}
	st, err := run.Registry.Get(r.Context(), src.Name)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusCreated, st.Status())
}

// runVulnSource serves POST /api/v1/vuln/sources/{name}/run: the source
// runs now (after any run in progress: one at a time, shared with the
// scheduler) and the answer gives the run's counts. A run with failures
// still answers 200: its summary names them, and the source's health
// records the error.
func (s *Server) runVulnSource(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	run, err := s.vulnSources()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if _, err := run.Registry.Get(r.Context(), name); err != nil {
		return err
	}
	res, runErr := run.Run(r.Context(), name)
	return writeAPIJSON(w, http.StatusOK, res.Summary(runErr))
}

// removeVulnSource serves DELETE /api/v1/vuln/sources/{name} (204).
func (s *Server) removeVulnSource(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	run, err := s.vulnSources()
	if err != nil {
		return err
	}
	if err := run.Registry.Remove(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
