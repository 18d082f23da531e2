package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// notifyRoutes registers third-party report notifications and the
// organisations' own constituency (issue #6 item 4):
//
//	POST   /api/v1/notifications/import     route a scan feed (hub staff)
//	GET    /api/v1/notifications            the caller's organisation's
//	POST   /api/v1/notifications/{id}/ack   the owner acknowledges
//	GET    /api/v1/constituency             an organisation's registrations
//	POST   /api/v1/constituency             register resources
//	DELETE /api/v1/constituency             remove registrations
func (s *Server) notifyRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/notifications/import", s.authed(s.importNotifications))
	mux.Handle("GET /api/v1/notifications", s.authed(s.listNotifications))
	mux.Handle("POST /api/v1/notifications/{id}/ack", s.authed(s.ackNotification))
	mux.Handle("GET /api/v1/constituency", s.authed(s.listConstituency))
	mux.Handle("POST /api/v1/constituency", s.authed(s.changeConstituency))
	mux.Handle("DELETE /api/v1/constituency", s.authed(s.changeConstituency))
}

func (s *Server) notifications() (*notify.Store, error) {
	if s.cfg.Notifications == nil {
		return nil, fmt.Errorf("%w: notifications are not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.Notifications, nil
}

func (s *Server) constituency() (*constituency.Registry, error) {
	if s.cfg.Constituency == nil {
		return nil, fmt.Errorf("%w: constituency registrations are not enabled on this hub", errkind.NotFound)
	}
	return s.cfg.Constituency, nil
}

// importResult is the answer of an import.
type importResult struct {
	Source        string      `json:"source"`
	Lines         int         `json:"lines"`
	Records       int         `json:"records"`
	Routed        int         `json:"routed"`
	Unrouted      int         `json:"unrouted"`
	Notifications int         `json:"notifications"`
	New           int         `json:"new"`
	Duplicates    int         `json:"duplicates"`
	Malformed     int         `json:"malformed"`
	Errors        []lineError `json:"errors"`
}

type lineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// importNotifications serves POST /api/v1/notifications/import: the body is
// the feed, the query its source, format and mapping (notify.ParseImportQuery).
func (s *Server) importNotifications(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	reg, err := s.constituency()
	if err != nil {
		return err
	}
	if !s.cfg.Policy.CanImportReports(p) {
		return fmt.Errorf("%w: only hub analysts and hub admins import third-party reports", errkind.Forbidden)
	}
	req, err := notify.ParseImportQuery(r.URL.Query())
	if err != nil {
		return err
	}
	table, err := reg.Table(ctx, s.cfg.RouteOptions)
	if err != nil {
		return err
	}
	res, err := ns.Import(ctx, r.Body, table, req, p)
	if err != nil {
		return err
	}
	if s.cfg.NotificationsAdded != nil && len(res.Added) > 0 {
		s.cfg.NotificationsAdded(ctx, res.Added)
	}
	out := importResult{Source: req.Source, Lines: res.Lines, Records: res.Records, Routed: res.Routed, Unrouted: res.Unrouted,
		Notifications: res.New + res.Duplicates, New: res.New, Duplicates: res.Duplicates, Malformed: res.Malformed, Errors: []lineError{}}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, lineError{Line: e.Line, Error: e.Err.Error()})
	}
	return writeAPIJSON(w, http.StatusOK, out)
}

// orgParam resolves an org query parameter (an identity id or a name) to
// an organisation id.
func (s *Server) orgParam(ctx context.Context, v string) (string, error) {
	if strings.HasPrefix(v, "identity--") {
		o, err := s.cfg.Store.Org(ctx, v)
		if err != nil {
			return "", fmt.Errorf("parameter org: %w", err)
		}
		return o.ID, nil
	}
	o, err := s.cfg.Store.OrgByName(ctx, v)
	if err != nil {
		return "", fmt.Errorf("parameter org %q: %w", truncate(v, 100), err)
	}
	return o.ID, nil
}

// listNotifications serves GET /api/v1/notifications[?org=&unacked=true&after=ID&limit=N]:
// members see their organisation's notifications; hub staff every one they
// imported, or one organisation's with org.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	if p.Public || p.OrgID == "" && !p.HubAnalyst() {
		return fmt.Errorf("%w: notifications are for members of an organisation", errkind.Forbidden)
	}
	q := r.URL.Query()
	f := notify.Filter{OrgID: p.OrgID}
	if v := q.Get("org"); v != "" {
		id, err := s.orgParam(ctx, v)
		if err != nil {
			return err
		}
		if id != p.OrgID && !p.HubAnalyst() {
			return fmt.Errorf("%w: parameter org: only hub staff read other organisations' notifications", errkind.Forbidden)
		}
		f.OrgID = id
	} else if p.HubAnalyst() {
		f.OrgID = ""
	}
	if v := q.Get("unacked"); v != "" {
		if f.Unacked, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%w: parameter unacked %q: want true or false", errkind.Invalid, truncate(v, 20))
		}
	}
	if v := q.Get("after"); v != "" {
		if f.After, err = strconv.ParseInt(v, 10, 64); err != nil || f.After < 0 {
			return fmt.Errorf("%w: parameter after %q: want a notification id", errkind.Invalid, truncate(v, 20))
		}
	}
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > notify.MaxLimit {
			return fmt.Errorf("%w: parameter limit %q: want 1 to %d", errkind.Invalid, truncate(v, 20), notify.MaxLimit)
		}
	}
	list, err := ns.List(ctx, s.cfg.Policy.Access(p), f)
	if err != nil {
		return err
	}
	body := map[string]any{"notifications": list}
	limit := f.Limit
	if limit == 0 {
		limit = notify.DefaultLimit
	}
	if len(list) == limit {
		body["next"] = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return writeAPIJSON(w, http.StatusOK, body)
}

// ackNotification serves POST /api/v1/notifications/{id}/ack.
func (s *Server) ackNotification(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ns, err := s.notifications()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: notification id %q: want a number", errkind.NotFound, truncate(r.PathValue("id"), 40))
	}
	by := p.UserID
	if by == "" {
		by = p.User
	}
	n, err := ns.Ack(r.Context(), s.cfg.Policy.Access(p), p.OrgID, id, by)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, n)
}

// constituencyOrg is the organisation a constituency request is about: org
// (a parameter or body member; default the caller's), which the caller
// must be allowed to manage.
func (s *Server) constituencyOrg(ctx context.Context, p sharing.Principal, org string) (string, error) {
	id := p.OrgID
	if org != "" {
		var err error
		if id, err = s.orgParam(ctx, org); err != nil {
			return "", err
		}
	}
	if !s.cfg.Policy.CanManageOrg(p, id) {
		return "", fmt.Errorf("%w: only an org-admin of the organisation or a hub admin manages its constituency", errkind.Forbidden)
	}
	return id, nil
}

// registrationView is a registration in the API.
type registrationView struct {
	OrgID    string `json:"org_id"`
	Resource string `json:"resource"`
	Kind     string `json:"kind"`
	Created  string `json:"created"`
}

// listConstituency serves GET /api/v1/constituency[?org=]; a hub admin
// with org=* lists every organisation's.
func (s *Server) listConstituency(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	reg, err := s.constituency()
	if err != nil {
		return err
	}
	org := r.URL.Query().Get("org")
	var id string
	if org == "*" && s.cfg.Policy.CanManageEveryOrg(p) {
		id = ""
	} else if id, err = s.constituencyOrg(ctx, p, org); err != nil {
		return err
	}
	regs, err := reg.List(ctx, id)
	if err != nil {
		return err
	}
	out := make([]registrationView, 0, len(regs))
	for _, x := range regs {
		out = append(out, registrationView{OrgID: x.OrgID, Resource: x.Resource.String(), Kind: x.Resource.Kind.String(),
			Created: x.Created.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"registrations": out})
}

// MaxResources bounds the resources of one constituency request.
const MaxResources = 1000

// constituencyRequest is the body of POST and DELETE /api/v1/constituency.
type constituencyRequest struct {
	Org       string   `json:"org"`
	Resources []string `json:"resources"`
}

// changeConstituency serves POST (register) and DELETE (remove)
// /api/v1/constituency; both are all-or-nothing.
func (s *Server) changeConstituency(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ctx := r.Context()
	reg, err := s.constituency()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readBodyError(err)
	}
	var req constituencyRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return fmt.Errorf("%w: constituency request body: %v", errkind.Invalid, err)
	}
	if len(req.Resources) == 0 || len(req.Resources) > MaxResources {
		return fmt.Errorf("%w: constituency request body: \"resources\": give 1 to %d resources", errkind.Invalid, MaxResources)
	}
	id, err := s.constituencyOrg(ctx, p, req.Org)
	if err != nil {
		return err
	}
	if r.Method == http.MethodDelete {
		n, err := reg.Remove(ctx, id, req.Resources...)
		if err != nil {
			return err
		}
		return writeAPIJSON(w, http.StatusOK, map[string]any{"org_id": id, "removed": n})
	}
	n, err := reg.Add(ctx, id, req.Resources...)
	if err != nil {
		return err
	}
	return writeAPIJSON(w, http.StatusOK, map[string]any{"org_id": id, "added": n, "already_registered": len(req.Resources) - n})
}
