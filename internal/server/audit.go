package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// AuditTrail records requests and answers audit queries; *audit.Trail
// implements it.
type AuditTrail interface {
	// Record queues a record; it blocks while the trail's queue is full.
	Record(ctx context.Context, r audit.Record) error
	// List returns the records a filter selects.
	List(ctx context.Context, f audit.Filter) (*audit.Page, error)
	// Checkpoint returns the signed tree head of the audit log.
	Checkpoint(ctx context.Context) ([]byte, error)
}

// statusOf returns the status-recording writer *w already is (observe
// installs one around every request), else wraps *w in one.
func statusOf(w *http.ResponseWriter) *statusWriter {
	if sw, ok := (*w).(*statusWriter); ok {
		return sw
	}
	sw := &statusWriter{ResponseWriter: *w}
	*w = sw
	return sw
}

// auditInterface names the interface a request path belongs to.
func auditInterface(path string, p sharing.Principal) audit.Interface {
	switch {
	case strings.HasPrefix(path, "/taxii2/"):
		return audit.TAXII
	case strings.HasPrefix(path, "/misp/"):
		return audit.MISPFeed
	case strings.HasPrefix(path, "/.well-known/csaf/"), strings.HasPrefix(path, "/api/v1/csaf/"):
		return audit.CSAF
	case p.Public, strings.HasPrefix(path, "/public/"), strings.HasPrefix(path, "/.well-known/"):
		return audit.Public
	}
	return audit.API
}

// auditAction is the action a method implies.
func auditAction(method string) audit.Action {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return audit.Read
	case http.MethodDelete:
		return audit.Delete
	}
	return audit.Write
}

// auditRecord fills the request part of a record.
func (s *Server) auditRecord(r *http.Request, status int) audit.Record {
	path := r.URL.Path
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	return audit.Record{
		Time: s.cfg.Now(), Method: r.Method, Path: path, Status: status, Client: r.RemoteAddr,
	}
}

// auditRequest records an answered request: the caller, what the handler
// annotated, the status.
func (s *Server) auditRequest(r *http.Request, p sharing.Principal, note *audit.Note, sw *statusWriter) {
	rec := s.auditRecord(r, sw.status)
	rec.OrgID, rec.Org, rec.UserID, rec.User, rec.TokenID, rec.Role = p.OrgID, p.OrgName, p.UserID, p.User, p.TokenID, string(p.Role)
	rec.Interface, rec.Action = auditInterface(r.URL.Path, p), auditAction(r.Method)
	note.Apply(&rec)
	s.record(r.Context(), rec)
}

// auditAuthFailure records a request refused because its credentials are
// missing or wrong.
func (s *Server) auditAuthFailure(r *http.Request, status int) {
	if s.cfg.Audit == nil {
		return
	}
	rec := s.auditRecord(r, status)
	rec.Interface, rec.Action = auditInterface(r.URL.Path, sharing.Principal{}), audit.AuthFailure
	s.record(r.Context(), rec)
}

func (s *Server) record(ctx context.Context, rec audit.Record) {
	if err := s.cfg.Audit.Record(context.WithoutCancel(ctx), rec); err != nil {
		s.log.ErrorContext(ctx, "audit record not stored", "err", err, "method", rec.Method, "path", rec.Path,
			"org", rec.OrgID, "user", rec.UserID, "token", rec.TokenID, "status", rec.Status)
	}
}

// auditRoutes registers GET /api/v1/audit when the server has a trail.
func (s *Server) auditRoutes(mux *http.ServeMux) {
	if s.cfg.Audit == nil {
		return
	}
	mux.Handle("GET /api/v1/audit", s.authed(s.listAudit))
	mux.Handle("GET /api/v1/audit/checkpoint", s.authed(s.auditCheckpoint))
}

// auditReader refuses callers who may not read the audit trail.
func auditReader(p sharing.Principal) error {
	if p.HubAnalyst() || (!p.Public && p.Role == sharing.RoleOrgAdmin && p.OrgID != "") {
		return nil
	}
	return fmt.Errorf("%w: the audit log is for hub admins, analysts and organisation admins", errkind.Forbidden)
}

// auditCheckpoint serves the signed tree head of the audit log, to save
// for kizuna audit verify --audit-checkpoint.
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	audit.SetAction(r.Context(), audit.Admin)
	if err := auditReader(p); err != nil {
		return err
	}
	b, err := s.cfg.Audit.Checkpoint(r.Context())
	if err != nil {
		return fmt.Errorf("signing the audit tree head: %w", err)
	}
	return writeText(w, b)
}

// auditFilter parses the audit query parameters: org, user, action,
// interface, object, since, until, limit, next.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	for k, v := range q {
		switch k {
		case "org", "user", "action", "interface", "object", "since", "until", "limit", "next":
			if len(v) > 1 {
				return audit.Filter{}, fmt.Errorf("%w: parameter %s given %d times", errkind.Invalid, k, len(v))
			}
		default:
			return audit.Filter{}, fmt.Errorf("%w: unknown parameter %q (want org, user, action, interface, object, since, until, limit, next)", errkind.Invalid, truncate(k, 64))
		}
	}
	f := audit.Filter{Org: q.Get("org"), User: q.Get("user"), Object: q.Get("object")}
	var err error
	if v := q.Get("action"); v != "" {
		if f.Action, err = audit.ParseAction(v); err != nil {
			return f, fmt.Errorf("parameter action: %w", err)
		}
	}
	if v := q.Get("interface"); v != "" {
		if f.Interface, err = audit.ParseInterface(v); err != nil {
			return f, fmt.Errorf("parameter interface: %w", err)
		}
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			if *dst, err = audit.ParseTime(v); err != nil {
				return f, fmt.Errorf("parameter %s: %w", name, err)
			}
		}
	}
	if v := q.Get("next"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return f, fmt.Errorf("%w: parameter next %q: want a record index", errkind.Invalid, truncate(v, 32))
		}
		f.From = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return f, fmt.Errorf("%w: parameter limit %q: want 1 to %d", errkind.Invalid, truncate(v, 32), audit.MaxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// listAudit serves GET /api/v1/audit: hub admins and analysts read every
// record, organisation admins their organisation's, others nothing.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	audit.SetAction(r.Context(), audit.Admin)
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	switch {
	case p.HubAnalyst():
	case !p.Public && p.Role == sharing.RoleOrgAdmin && p.OrgID != "":
		if f.Org != "" && f.Org != p.OrgID && f.Org != p.OrgName {
			return fmt.Errorf("%w: parameter org: an organisation admin reads only their organisation's audit records", errkind.Forbidden)
		}
		f.Org = p.OrgID
	default:
		return fmt.Errorf("%w: the audit log is for hub admins, analysts and organisation admins", errkind.Forbidden)
	}
	pg, err := s.cfg.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	if pg.Records == nil {
		pg.Records = []audit.Entry{}
	}
	return writeAPIJSON(w, http.StatusOK, pg)
}
