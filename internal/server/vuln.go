package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// vulnRoutes registers the SBOM and findings API (issue #5):
//
//	POST /api/v1/sboms            upload an SBOM as the caller's organisation
//	GET  /api/v1/sboms            the caller's organisation's SBOM versions
//	GET  /api/v1/findings         the caller's organisation's findings
//
// Hub analysts may pass ?org=ID|NAME to the GET routes.
func (s *Server) vulnRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/sboms", s.authed(s.uploadSBOM))
	mux.Handle("GET /api/v1/sboms", s.authed(s.listSBOMs))
	mux.Handle("GET /api/v1/findings", s.authed(s.listFindings))
}

// vulnDB returns the vulnerability database, or an error when none is
// configured.
func (s *Server) vulnDB() (*vulndb.DB, error) {
	if s.cfg.Vuln == nil {
		return nil, fmt.Errorf("%w: vulnerability management is not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.Vuln, nil
}

// memberOrg refuses callers without an organisation.
func memberOrg(p sharing.Principal, what string) error {
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: %s: only members of an organisation", errkind.Forbidden, what)
	}
	return nil
}

// uploadSBOM serves POST /api/v1/sboms: the body is an SBOM (CycloneDX
// JSON/XML, SPDX JSON/tag-value, purl/CPE list or CSV), stored as the next
// version of the asset ?name= (default: the document's name) of the
// caller's organisation; its findings are computed. Answers 201 with the
// stored version, its findings count and how many are new.
func (s *Server) uploadSBOM(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	db, err := s.vulnDB()
	if err != nil {
		return err
	}
	if err := memberOrg(p, "uploading SBOMs"); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readBodyError(err)
	}
	file := r.URL.Query().Get("filename")
	if file == "" {
		file = "request body"
	}
	info, err := db.UploadSBOM(r.Context(), p.OrgID, p.OrgName, r.URL.Query().Get("name"), file, body)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusCreated, info)
}

// findingsOrg returns the organisation whose data a GET reads: the
// caller's, or ?org= (an id or a name) for hub analysts.
func (s *Server) findingsOrg(r *http.Request, p sharing.Principal) (string, error) {
	q := r.URL.Query().Get("org")
	if q == "" || q == p.OrgID {
		if err := memberOrg(p, "reading findings"); err != nil {
			return "", err
		}
		return p.OrgID, nil
	}
	if !p.HubAnalyst() {
		return "", fmt.Errorf("%w: parameter org: only hub analysts may read another organisation's findings", errkind.Forbidden)
	}
	if o, err := s.cfg.Store.OrgByName(r.Context(), q); err == nil {
		return o.ID, nil
	} else if !errors.Is(err, errkind.NotFound) {
		return "", err
	}
	if _, err := s.cfg.Store.Org(r.Context(), q); err != nil {
		if errors.Is(err, errkind.NotFound) {
			return "", fmt.Errorf("%w: parameter org: no organisation %q", errkind.NotFound, q)
		}
		return "", err
	}
	return q, nil
}

// findingsResponse is the answer of GET /api/v1/findings.
type findingsResponse struct {
	Org      string           `json:"org"`
	Findings []vulndb.Finding `json:"findings"`
}

// listFindings serves GET /api/v1/findings.
func (s *Server) listFindings(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	db, err := s.vulnDB()
	if err != nil {
		return err
	}
	org, err := s.findingsOrg(r, p)
	if err != nil {
		return err
	}
	fs, err := db.Findings(r.Context(), org)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, findingsResponse{Org: org, Findings: fs})
}

// sbomsResponse is the answer of GET /api/v1/sboms.
type sbomsResponse struct {
	Org   string        `json:"org"`
	SBOMs []vulndb.SBOM `json:"sboms"`
}

// listSBOMs serves GET /api/v1/sboms.
func (s *Server) listSBOMs(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	db, err := s.vulnDB()
	if err != nil {
		return err
	}
	org, err := s.findingsOrg(r, p)
	if err != nil {
		return err
	}
	list, err := db.SBOMs(r.Context(), org)
	if err != nil {
		return err
	}
	if list == nil {
		list = []vulndb.SBOM{}
	}
	return writeAPIJSON(w, http.StatusOK, sbomsResponse{Org: org, SBOMs: list})
}
