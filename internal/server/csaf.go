package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/csaf"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// csafHandler serves the hub's CSAF 2.0 trusted provider (package csaf)
// from DataDir/csaf.
type csafHandler struct {
	s *Server
	p *csaf.Provider
}

// csafRoutes registers the CSAF provider (when the server has a data
// directory):
//
//	GET  /.well-known/csaf/provider-metadata.json    public
//	GET  /.well-known/csaf/service.json              the ROLIE service document, public
//	GET  /.well-known/csaf/openpgp/FINGERPRINT.asc   the public signing key, public
//	GET  /.well-known/security.txt                   RFC 9116 with the CSAF field, public
//	GET  /.well-known/csaf/TLP/[YYYY/][FILE]         directory listings, index.txt, changes.csv,
//	                                                 csaf-feed-tlp-TLP.json, category-TLP.json,
//	                                                 advisories, .asc, .sha256, .sha512
//	POST /api/v1/csaf/advisories                     publish a draft (hub analysts)
//
// provider-metadata.json and service.json are public, and list the
// distributions of the TLP labels the caller may read (WHITE for
// unauthenticated callers; callers that send credentials are
// authenticated). TLP "white" is public; "green" needs any authenticated principal;
// "amber" and "red" show each principal only the advisories the sharing
// policy lets it see (lists and feeds are filtered, other documents answer
// 404 as if absent).
func (s *Server) csafRoutes(mux *http.ServeMux) {
	if s.cfg.DataDir == "" {
		return
	}
	h := &csafHandler{s: s, p: csaf.NewProvider(s.cfg.DataDir, s.cfg.Now)}
	mux.Handle("GET /.well-known/csaf/provider-metadata.json", h.optionalAuth(h.metadata))
	mux.Handle("GET /.well-known/csaf/service.json", h.optionalAuth(h.service))
	mux.Handle("GET /.well-known/csaf/openpgp/{file}", s.public(h.key))
	mux.Handle("GET /.well-known/security.txt", s.public(h.securityTxt))
	mux.HandleFunc("GET /.well-known/csaf/{tlp}/{rest...}", h.tree)
	mux.Handle("POST /api/v1/csaf/advisories", s.authed(h.publish))
}

// baseURL is the scheme and host the request reached the server at.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func writeBody(w http.ResponseWriter, contentType string, body []byte) error {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// optionalAuth runs h as the public principal, or authenticated when the
// request carries credentials.
func (h *csafHandler) optionalAuth(f apiFunc) http.Handler {
	pub, authed := h.s.public(f), h.s.authed(f)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authed.ServeHTTP(w, r)
			return
		}
		pub.ServeHTTP(w, r)
	})
}

// visibleTo returns the filter of the advisories a principal may read,
// decided by the sharing policy.
func (h *csafHandler) visibleTo(p sharing.Principal) func(csaf.Entry) bool {
	return func(e csaf.Entry) bool {
		return h.s.cfg.Policy.CanSee(p, sharing.Label{
			TLP: csafTLP(e.TLP), ProducerOrg: e.ProducerOrg, ProducerUser: e.ProducerUser, Orgs: e.Orgs, Users: e.Users,
		})
	}
}

func (h *csafHandler) metadata(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	b, err := h.p.Metadata(baseURL(r), h.visibleTo(p))
	if err != nil {
		return fmt.Errorf("provider metadata: %w", err)
	}
	return writeBody(w, "application/json", b)
}

func (h *csafHandler) service(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	b, err := h.p.ServiceDocument(baseURL(r), h.visibleTo(p))
	if err != nil {
		return fmt.Errorf("ROLIE service document: %w", err)
	}
	return writeBody(w, "application/json", b)
}

func (h *csafHandler) securityTxt(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	return writeBody(w, "text/plain; charset=utf-8", h.p.SecurityTxt(baseURL(r), "", h.s.cfg.Now()))
}

func (h *csafHandler) key(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	sg, err := h.p.Signer()
	if err != nil {
		return fmt.Errorf("CSAF signing key: %w", err)
	}
	if !strings.EqualFold(r.PathValue("file"), sg.Fingerprint()+".asc") {
		return fmt.Errorf("%w: no OpenPGP key %q", errkind.NotFound, truncate(r.PathValue("file"), 100))
	}
	return writeBody(w, "application/pgp-keys", sg.PublicKey())
}

// csafTLP maps a CSAF TLP label to the sharing level.
func csafTLP(label string) sharing.TLP {
	switch label {
	case "WHITE":
		return sharing.TLPClear
	case "GREEN":
		return sharing.TLPGreen
	case "AMBER":
		return sharing.TLPAmber
	case "RED":
		return sharing.TLPRed
	}
	return sharing.TLPUnknown
}

// tree authenticates (except for TLP:WHITE) and serves the TLP directory.
func (h *csafHandler) tree(w http.ResponseWriter, r *http.Request) {
	dir := r.PathValue("tlp")
	label := strings.ToUpper(dir)
	if dir != strings.ToLower(dir) || csafTLP(label) == sharing.TLPUnknown {
		writeError(w, r, h.s.log, fmt.Errorf("%w: no CSAF directory %q", errkind.NotFound, truncate(dir, 100)))
		return
	}
	if label == "WHITE" {
		h.s.public(h.serveTree).ServeHTTP(w, r)
		return
	}
	h.s.authed(h.serveTree).ServeHTTP(w, r)
}

func (h *csafHandler) serveTree(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	dir, rest := r.PathValue("tlp"), r.PathValue("rest")
	label := strings.ToUpper(dir)
	visible := h.visibleTo(p)
	if !visible(csaf.Entry{TLP: label}) && label != "AMBER" && label != "RED" {
		return fmt.Errorf("%w: TLP:%s advisories are not shared with you", errkind.Forbidden, label)
	}
	switch {
	case rest == "":
		return h.listing(w, dir, "", h.p.Listing(dir, ""), visible)
	case rest == csaf.FeedName(label):
		b, err := h.p.Feed(baseURL(r), label, visible)
		if err != nil {
			return err
		}
		return writeBody(w, "application/json", b)
	case rest == csaf.CategoryName(label):
		b, err := csaf.CategoryDocument(label)
		if err != nil {
			return err
		}
		return writeBody(w, "application/json", b)
	case rest == "index.txt" || rest == "changes.csv":
		index, changes, err := h.p.Lists(label, visible)
		if err != nil {
			return err
		}
		if rest == "index.txt" {
			return writeBody(w, "text/plain; charset=utf-8", index)
		}
		return writeBody(w, "text/csv; charset=utf-8", changes)
	case len(rest) == 5 && strings.HasSuffix(rest, "/"):
		year := strings.TrimSuffix(rest, "/")
		files := h.p.Listing(dir, year)
		if len(files) == 0 {
			return fmt.Errorf("%w: no CSAF directory %s/%s", errkind.NotFound, dir, truncate(rest, 100))
		}
		return h.listing(w, dir, year, files, visible)
	}
	e, ok := h.p.Lookup(dir, rest)
	if !ok || !visible(e) {
		return fmt.Errorf("%w: no CSAF file %s/%s", errkind.NotFound, dir, truncate(rest, 200))
	}
	b, err := h.p.Open(dir, rest)
	if err != nil {
		return err
	}
	ct := "text/plain; charset=utf-8"
	if filepath.Ext(rest) == ".json" {
		ct = "application/json"
	}
	return writeBody(w, ct, b)
}

// listing renders a directory listing (requirement 14) with the entries
// the principal may see.
func (h *csafHandler) listing(w http.ResponseWriter, dir, year string, names []string, visible func(csaf.Entry) bool) error {
	var b bytes.Buffer
	title := "/.well-known/csaf/" + dir + "/"
	if year != "" {
		title += year + "/"
	}
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head><body><h1>%s</h1><ul>\n", html.EscapeString(title), html.EscapeString(title))
	if year == "" {
		names = append([]string{"index.txt", "changes.csv", csaf.FeedName(dir), csaf.CategoryName(dir)}, names...)
	}
	for _, n := range names {
		if year != "" {
			if e, ok := h.p.Lookup(dir, year+"/"+n); !ok || !visible(e) {
				continue
			}
		} else if strings.HasSuffix(n, "/") && !h.yearVisible(dir, strings.TrimSuffix(n, "/"), visible) {
			continue
		}
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", html.EscapeString(n), html.EscapeString(n))
	}
	b.WriteString("</ul></body></html>\n")
	return writeBody(w, "text/html; charset=utf-8", b.Bytes())
}

// yearVisible reports whether a year directory holds an advisory the
// principal may see.
func (h *csafHandler) yearVisible(dir, year string, visible func(csaf.Entry) bool) bool {
	for _, f := range h.p.Listing(dir, year) {
		if e, ok := h.p.Lookup(dir, year+"/"+f); ok && visible(e) {
			return true
		}
	}
	return false
}

// publishResponse is the answer of POST /api/v1/csaf/advisories.
type publishResponse struct {
	csaf.Entry
	URL string `json:"url"`
	// Imported is set when the advisory went into the vulnerability
	// database and the STIX collection.
	Imported *importSummary `json:"imported,omitempty"`
}

// importSummary counts what importing an advisory changed.
type importSummary struct {
	Added       int `json:"records_added"`
	Updated     int `json:"records_updated"`
	STIX        int `json:"stix_objects"`
	NewFindings int `json:"new_findings"`
}

// publish serves POST /api/v1/csaf/advisories: a hub analyst's draft
// (JSON, or YAML with Content-Type application/yaml) is completed,
// validated, signed and stored. ?tlp= sets the label of a draft without
// one; ?org= (repeatable) names recipient organisations of TLP:AMBER.
func (h *csafHandler) publish(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	if !p.HubAnalyst() {
		return fmt.Errorf("%w: only hub analysts publish CSAF advisories", errkind.Forbidden)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%w: reading request body: %w", errkind.Invalid, err)
	}
	name := "draft.json"
	if ct := strings.ToLower(r.Header.Get("Content-Type")); strings.Contains(ct, "yaml") {
		name = "draft.yaml"
	} else if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/csaf+json") {
		return fmt.Errorf("%w: Content-Type %q: send application/json or application/yaml", errkind.UnsupportedMediaType, truncate(ct, 100))
	}
	tlp := r.URL.Query().Get("tlp")
	if tlp != "" && csafTLP(strings.ToUpper(tlp)) == sharing.TLPUnknown {
		return fmt.Errorf("%w: tlp: %q is not a CSAF TLP label (WHITE, GREEN, AMBER, RED)", errkind.Invalid, truncate(tlp, 50))
	}
	doc, err := csaf.Complete(name, body, csaf.DraftOptions{Now: h.s.cfg.Now(), TLP: tlp})
	if err != nil {
		return err
	}
	e, err := h.p.Publish(r.Context(), doc, csaf.PublishOptions{
		ProducerOrg: p.OrgID, ProducerUser: p.UserID, Orgs: r.URL.Query()["org"],
	})
	if err != nil {
		return err
	}
	h.s.log.InfoContext(r.Context(), "CSAF advisory published", "id", e.ID, "tlp", e.TLP, "path", e.Path, "user", p.UserID)
	res := publishResponse{Entry: e, URL: baseURL(r) + csaf.WellKnown + "/" + e.Dir() + "/" + e.Path}
	if err := h.importAdvisory(r.Context(), p, e, &res); err != nil {
		return fmt.Errorf("advisory %s is published but not imported: %w", e.ID, err)
	}
	return writeAPIJSON(w, http.StatusCreated, res)
}

// importAdvisory imports a published advisory into the vulnerability
// database (when the server has one): records, findings re-evaluated for
// the organisations' SBOMs, and STIX vulnerability objects marked with the
// advisory's TLP through the ingest pipeline, as the publishing analyst on
// behalf of the hub. The records of a TLP:AMBER or RED advisory carry its
// distribution: only organisations the sharing policy lets see the
// advisory get findings (and so notifications), and the STIX objects name
// its recipients.
func (h *csafHandler) importAdvisory(ctx context.Context, p sharing.Principal, e csaf.Entry, res *publishResponse) error {
	if h.s.cfg.Vuln == nil {
		return nil
	}
	tlp := csafTLP(e.TLP)
	st := h.s.cfg.Store
	var rec ingest.Recorder
	if h.s.cfg.Ledger != nil {
		st, rec = h.s.cfg.Ledger.Wrap(st), h.s.cfg.Ledger
	}
	pl := &ingest.Pipeline{Store: st, Policy: h.s.cfg.Policy, Log: h.s.log, HubOrgID: h.s.cfg.HubOrgID, Recorder: rec}
	sub := ingest.Submission{Collection: store.DefaultCollectionID, Principal: p, DefaultTLP: tlp}
	var failed error
	im := &vulndb.Importer{
		DB: h.s.cfg.Vuln, CreatedBy: h.s.cfg.HubOrgID, Markings: []string{sharing.MarkingID(tlp)},
		Distribution: vulndb.Restriction(tlp, sharing.Label{ProducerOrg: e.ProducerOrg, ProducerUser: e.ProducerUser, Orgs: e.Orgs, Users: e.Users}),
		Emit: func(ctx context.Context, objs []json.RawMessage) error {
			r, err := pl.Submit(ctx, sub, objs)
			if err != nil {
				return err
			}
			for _, f := range r.Failures {
				return fmt.Errorf("STIX object %s refused: %s", f.ID, f.Message)
			}
			return nil
		},
		OnFailure: func(_ string, err error) { failed = err },
	}
	published, modified := e.Released()
	sum, err := im.ImportAdvisory(ctx, filepath.Join(h.s.cfg.DataDir, "csaf", e.Dir(), filepath.FromSlash(e.Path)), vulndb.Advisory{
		TrackingID: e.ID, Title: e.Title, URL: res.URL, Published: published, Modified: modified,
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		return err
	}
	res.Imported = &importSummary{Added: sum.Added, Updated: sum.Updated, STIX: sum.STIX, NewFindings: sum.NewFindings}
	return nil
}
