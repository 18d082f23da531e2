package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// writeAPIJSON writes a JSON API response.
func writeAPIJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

type whoamiResponse struct {
	OrgID      string `json:"org_id"`
	OrgName    string `json:"org_name,omitempty"`
	UserID     string `json:"user_id,omitempty"`
	User       string `json:"user,omitempty"`
	Role       string `json:"role,omitempty"`
	HubAnalyst bool   `json:"hub_analyst"`
	// Visible lists the TLP levels the caller may see regardless of who
	// produced the object.
	Visible []string `json:"tlp_levels"`
}

// whoami serves GET /api/v1/whoami: who the token belongs to.
func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, p sharing.Principal) error {
	res := whoamiResponse{
		OrgID: p.OrgID, OrgName: p.OrgName, UserID: p.UserID, User: p.User,
		Role: string(p.Role), HubAnalyst: p.HubAnalyst(),
	}
	acc := s.cfg.Policy.Access(p)
	for _, t := range []sharing.TLP{sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed} {
		if acc.Allows(sharing.Label{TLP: t, ProducerOrg: "\x00other", ProducerUser: "\x00other"}) {
			res.Visible = append(res.Visible, t.String())
		}
	}
	return writeAPIJSON(w, http.StatusOK, res)
}

type orgRecipient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type userRecipient struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	OrgID string `json:"org_id"`
}

// previewEntry is the audience of one previewed object.
type previewEntry struct {
	ID    string `json:"id,omitempty"`
	Type  string `json:"type,omitempty"`
	Error string `json:"error,omitempty"`
	// TLP is the level the object behaves as (the default for unmarked).
	TLP string `json:"tlp,omitempty"`
	// Public is true when unauthenticated callers (the public feed) see it.
	Public      bool `json:"public"`
	HubAnalysts bool `json:"hub_analysts"`
	// Organizations receive it for every member.
	Organizations []orgRecipient `json:"organizations"`
	// Users receive it individually, beyond Organizations.
	Users []userRecipient `json:"users"`
	// Unresolved are named recipients that match nobody.
	Unresolved []string `json:"unresolved,omitempty"`
	Anonymous  bool     `json:"anonymous"`
}

// sharePreview serves POST /api/v1/share/preview: for each object of a
// STIX object, bundle or array in the body, the organisations and users
// that would receive it if the caller submitted it now. It evaluates the
// same Access predicates that the read paths push into store queries.
func (s *Server) sharePreview(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/stix+json") &&
		!strings.HasPrefix(ct, "application/taxii+json") {
		return fmt.Errorf("%w: Content-Type %q: send application/json or application/stix+json", errkind.UnsupportedMediaType, truncate(ct, 100))
	}
	var raws []json.RawMessage
	err := stix.ReadObjects(r.Body, func(i int, raw json.RawMessage) error {
		if i >= 10000 {
			return fmt.Errorf("%w: at most 10000 objects per preview", errkind.TooLarge)
		}
		raws = append(raws, bytes.Clone(raw))
		return nil
	})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: request body exceeds %d bytes", errkind.TooLarge, mbe.Limit)
		}
		if errors.Is(err, stix.ErrInvalidInput) {
			return fmt.Errorf("%w: request body: %v", errkind.Invalid, err)
		}
		return err
	}
	ctx := r.Context()
	// Objects in the same body resolve marking references.
	objs := make([]*stix.Object, len(raws))
	inBody := map[string]bool{}
	for i, raw := range raws {
		o, err := stix.Parse(raw)
		if err == nil {
			objs[i] = o
			if o.Type == "marking-definition" {
				inBody[o.ID] = true
			}
		}
	}
	resolve := func(id string) sharing.MarkingKind {
		if inBody[id] {
			return sharing.MarkingStatement
		}
		if ok, err := s.cfg.Store.MarkingKnown(ctx, id); err == nil && ok {
			return sharing.MarkingStatement
		}
		return sharing.MarkingUnknown
	}
	orgs, users, err := s.directory(r)
	if err != nil {
		return err
	}
	anonymous := false
	if org, err := s.cfg.Store.Org(ctx, p.OrgID); err == nil {
		anonymous = org.Anonymous
	}
	out := struct {
		Objects []previewEntry `json:"objects"`
	}{Objects: make([]previewEntry, 0, len(raws))}
	for i, raw := range raws {
		o := objs[i]
		if o == nil {
			_, perr := stix.Parse(raw)
			out.Objects = append(out.Objects, previewEntry{Error: perr.Error(), Organizations: []orgRecipient{}, Users: []userRecipient{}})
			continue
		}
		label := s.cfg.Policy.Classify(o, p, resolve, anonymous)
		out.Objects = append(out.Objects, s.recipients(o, label, orgs, users))
	}
	return writeAPIJSON(w, http.StatusOK, out)
}

// directory lists the organisations and users a preview considers.
func (s *Server) directory(r *http.Request) ([]sharing.OrgInfo, []sharing.UserInfo, error) {
	orgs, err := s.cfg.Store.Orgs(r.Context())
	if err != nil {
		return nil, nil, fmt.Errorf("listing organisations: %w", err)
	}
	var oi []sharing.OrgInfo
	var ui []sharing.UserInfo
	for _, o := range orgs {
		oi = append(oi, sharing.OrgInfo{ID: o.ID, Name: o.Name})
		us, err := s.cfg.Store.Users(r.Context(), o.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("listing users of %s: %w", o.ID, err)
		}
		for _, u := range us {
			ui = append(ui, sharing.UserInfo{ID: u.ID, Name: u.Name, OrgID: o.ID, Role: u.Role})
		}
	}
	return oi, ui, nil
}

// recipients renders the policy's Recipients for one object.
func (s *Server) recipients(o *stix.Object, l sharing.Label, orgs []sharing.OrgInfo, users []sharing.UserInfo) previewEntry {
	a := s.cfg.Policy.Recipients(l, orgs, users)
	e := previewEntry{
		ID: o.ID, Type: o.Type, TLP: a.TLP.String(), Public: a.Public, HubAnalysts: a.HubAnalysts,
		Organizations: []orgRecipient{}, Users: []userRecipient{}, Unresolved: a.Unresolved, Anonymous: a.Anonymous,
	}
	for _, org := range a.Orgs {
		e.Organizations = append(e.Organizations, orgRecipient{ID: org.ID, Name: org.Name})
	}
	for _, u := range a.Users {
		e.Users = append(e.Users, userRecipient{ID: u.ID, Name: u.Name, OrgID: u.OrgID})
	}
	return e
}

// publicClear serves GET /public/clear: the TLP:CLEAR objects of one
// collection of the default API root as a STIX bundle, oldest first, paged
// with added_after, limit and next. The collection is the hub's default
// collection, or ?collection=ID for another one the public may read
// (Policy.CanRead for the public principal) or every organisation may read:
// CLEAR objects in collections restricted to some organisations are never
// published. The paging state is returned in headers:
// X-TAXII-Date-Added-First/Last, X-Kizuna-More and X-Kizuna-Next, and a
// Link header with rel="next".
func (s *Server) publicClear(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	q, err := taxii.ParseQuery(r.URL.RawQuery, taxii.EndpointFeed, s.taxii.Limits())
	if err != nil {
		return err
	}
	collID := store.DefaultCollectionID
	if v := r.URL.Query()["collection"]; len(v) > 0 {
		if len(v) > 1 || len(v[0]) > 128 || v[0] == "" {
			return fmt.Errorf("%w: parameter collection: give one collection id", errkind.Invalid)
		}
		collID = v[0]
	}
	c, err := s.cfg.Store.Collection(r.Context(), store.DefaultAPIRoot, collID)
	if errors.Is(err, errkind.NotFound) || err == nil && !s.cfg.Policy.CanRead(p, c.ReadOrgs) && !slices.Contains(c.ReadOrgs, sharing.AllOrgs) {
		return fmt.Errorf("%w: no public collection %q", errkind.NotFound, truncate(collID, 128))
	}
	if err != nil {
		return fmt.Errorf("reading collection %s: %w", collID, err)
	}
	page, err := s.cfg.Store.Query(r.Context(), store.Filter{
		Collection: c.ID,
		Access:     s.cfg.Policy.Access(p),
		AddedAfter: q.AddedAfter, Limit: q.Limit, Next: q.Next, Types: q.Types,
	})
	if err != nil {
		return fmt.Errorf("querying public objects: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`{"type":"bundle","id":"bundle--`)
	b.WriteString(taxii.NewUUID())
	b.WriteString(`","objects":[`)
	for i, e := range page.Entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(e.Raw)
	}
	b.WriteString("]}")
	h := w.Header()
	if n := len(page.Entries); n > 0 {
		h.Set(taxii.HeaderDateAddedFirst, taxii.FormatTimestamp(page.Entries[0].DateAdded))
		h.Set(taxii.HeaderDateAddedLast, taxii.FormatTimestamp(page.Entries[n-1].DateAdded))
	}
	h.Set("X-Kizuna-More", strconv.FormatBool(page.More))
	if page.More && page.Next != "" {
		h.Set("X-Kizuna-Next", page.Next)
		link := "/public/clear?next=" + url.QueryEscape(page.Next) + "&limit=" + strconv.Itoa(q.Limit)
		if c.ID != store.DefaultCollectionID {
			link += "&collection=" + url.QueryEscape(c.ID)
		}
		if len(q.Types) > 0 {
			link += "&match[type]=" + url.QueryEscape(strings.Join(q.Types, ","))
		}
		h.Set("Link", "<"+link+`>; rel="next"`)
	}
	s.metrics.objectsOut.Add(int64(len(page.Entries)))
	h.Set("Content-Type", taxii.MediaSTIX)
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b.Bytes())
	return err
}
