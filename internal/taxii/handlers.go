package taxii

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Response header names for the date_added range of a page (section 3.3.2).
const (
	HeaderDateAddedFirst = "X-TAXII-Date-Added-First"
	HeaderDateAddedLast  = "X-TAXII-Date-Added-Last"
)

// writeJSON writes v as the response body with the given media type.
func writeJSON(w http.ResponseWriter, status int, mediaType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	return writeBody(w, status, mediaType, b)
}

func writeBody(w http.ResponseWriter, status int, mediaType string, b []byte) error {
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

// baseURL is the scheme and host the client used.
func baseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

type discoveryResource struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// discovery serves GET /taxii2/ (section 4.1).
func (h *Handler) discovery(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	roots, err := h.cfg.Store.APIRoots(r.Context())
	if err != nil {
		return fmt.Errorf("listing API roots: %w", err)
	}
	d := discoveryResource{Title: h.cfg.Title, Description: h.cfg.Description, Contact: h.cfg.Contact}
	base := baseURL(r)
	for _, root := range roots {
		u := base + "/taxii2/" + root.Name + "/"
		d.APIRoots = append(d.APIRoots, u)
		if root.Name == store.DefaultAPIRoot {
			d.Default = u
		}
	}
	return writeJSON(w, http.StatusOK, mt, d)
}

// findRoot returns the named API root (errkind.NotFound if absent).
func (h *Handler) findRoot(r *http.Request) (store.APIRoot, error) {
	name := r.PathValue("root")
	roots, err := h.cfg.Store.APIRoots(r.Context())
	if err != nil {
		return store.APIRoot{}, fmt.Errorf("listing API roots: %w", err)
	}
	for _, root := range roots {
		if root.Name == name {
			return root, nil
		}
	}
	return store.APIRoot{}, fmt.Errorf("%w: API root %q", errkind.NotFound, truncate(name, 64))
}

// maxContent is the body limit in force for an API root.
func (h *Handler) maxContent(root store.APIRoot) int64 {
	if root.MaxContentLength > 0 && root.MaxContentLength < h.cfg.MaxContentLength {
		return root.MaxContentLength
	}
	return h.cfg.MaxContentLength
}

type apiRootResource struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

// apiRoot serves GET /taxii2/{root}/ (section 4.2).
func (h *Handler) apiRoot(w http.ResponseWriter, r *http.Request, _ sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	root, err := h.findRoot(r)
	if err != nil {
		return err
	}
	title := root.Title
	if title == "" {
		title = root.Name
	}
	return writeJSON(w, http.StatusOK, mt, apiRootResource{
		Title: title, Description: root.Description,
		Versions: []string{MediaTAXII}, MaxContentLength: h.maxContent(root),
	})
}

type collectionResource struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types"`
}

func (h *Handler) collectionResource(p sharing.Principal, c store.Collection) collectionResource {
	return collectionResource{
		ID: c.ID, Title: c.Title, Description: c.Description, Alias: c.Alias,
		CanRead: h.rights.CanRead(p, c), CanWrite: h.rights.CanWrite(p, c),
		MediaTypes: []string{MediaSTIX},
	}
}

// collections serves GET /taxii2/{root}/collections/ (section 5.1). Only
// collections the principal may read or write are listed.
func (h *Handler) collections(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	root, err := h.findRoot(r)
	if err != nil {
		return err
	}
	cs, err := h.cfg.Store.Collections(r.Context(), root.Name)
	if err != nil {
		return fmt.Errorf("listing collections of %s: %w", root.Name, err)
	}
	var out struct {
		Collections []collectionResource `json:"collections,omitempty"`
	}
	for _, c := range cs {
		if cr := h.collectionResource(p, c); cr.CanRead || cr.CanWrite {
			out.Collections = append(out.Collections, cr)
		}
	}
	return writeJSON(w, http.StatusOK, mt, out)
}

// access says what the principal may do with a collection.
type access int

const (
	needRead access = iota + 1
	needWrite
)

// findCollection resolves the API root and collection of the request and
// checks the principal's right. A collection the principal can neither read
// nor write is reported as not found; one it has only the other right on
// gives errkind.Forbidden.
func (h *Handler) findCollection(r *http.Request, p sharing.Principal, need access) (store.APIRoot, store.Collection, error) {
	root, err := h.findRoot(r)
	if err != nil {
		return root, store.Collection{}, err
	}
	id := r.PathValue("id")
	c, err := h.cfg.Store.Collection(r.Context(), root.Name, id)
	if err != nil {
		if errors.Is(err, errkind.NotFound) {
			return root, c, fmt.Errorf("%w: collection %q", errkind.NotFound, truncate(id, 64))
		}
		return root, c, fmt.Errorf("reading collection %q: %w", truncate(id, 64), err)
	}
	canRead, canWrite := h.rights.CanRead(p, c), h.rights.CanWrite(p, c)
	if !canRead && !canWrite {
		return root, c, fmt.Errorf("%w: collection %q", errkind.NotFound, id)
	}
	if need == needRead && !canRead {
		return root, c, fmt.Errorf("%w: no read access to collection %q", errkind.Forbidden, id)
	}
	if need == needWrite && !canWrite {
		return root, c, fmt.Errorf("%w: no write access to collection %q", errkind.Forbidden, id)
	}
	return root, c, nil
}

// collection serves GET /taxii2/{root}/collections/{id}/ (section 5.2).
func (h *Handler) collection(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, 0)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, mt, h.collectionResource(p, c))
}

// filter builds the store filter of a read: the principal's Access
// predicate always goes into the query.
func (h *Handler) filter(c store.Collection, p sharing.Principal, q Query) store.Filter {
	return store.Filter{
		Collection:   c.ID,
		Access:       h.cfg.Policy.Access(p),
		AddedAfter:   q.AddedAfter,
		Limit:        q.Limit,
		Next:         q.Next,
		IDs:          q.IDs,
		Types:        q.Types,
		Versions:     q.Versions,
		SpecVersions: storeSpecs(q.SpecVersions),
	}
}

// storeSpecs maps match[spec_version] values to stored spec versions: STIX
// 2.0 objects have no spec_version property, so "2.0" also selects the
// objects stored without one.
func storeSpecs(specs []string) []string {
	if slices.Contains(specs, "2.0") && !slices.Contains(specs, "") {
		return append(slices.Clone(specs), "")
	}
	return specs
}

// setDateHeaders sets the X-TAXII-Date-Added-First/Last headers of a page.
func setDateHeaders(w http.ResponseWriter, entries []store.Entry) {
	if len(entries) == 0 {
		return
	}
	w.Header().Set(HeaderDateAddedFirst, FormatTimestamp(entries[0].DateAdded))
	w.Header().Set(HeaderDateAddedLast, FormatTimestamp(entries[len(entries)-1].DateAdded))
}

// writeEnvelope writes a TAXII envelope; the objects' stored JSON is copied
// into it as is, without decoding.
func writeEnvelope(w http.ResponseWriter, mt string, page store.Page) error {
	size := 32 + len(page.Next)
	for _, e := range page.Entries {
		size += len(e.Raw) + 1
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"more":`)
	b.WriteString(strconv.FormatBool(page.More))
	if page.More && page.Next != "" {
		b.WriteString(`,"next":`)
		nb, _ := json.Marshal(page.Next)
		b.Write(nb)
	}
	if len(page.Entries) > 0 {
		b.WriteString(`,"objects":[`)
		for i, e := range page.Entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(e.Raw)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	setDateHeaders(w, page.Entries)
	return writeBody(w, http.StatusOK, mt, b.Bytes())
}

// parseQuery parses the request's URL parameters for an endpoint.
func (h *Handler) parseQuery(r *http.Request, ep Endpoint) (Query, error) {
	return ParseQuery(r.URL.RawQuery, ep, h.cfg.Limits)
}

// getObjects serves GET .../objects/ (section 5.3).
func (h *Handler) getObjects(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII, MediaSTIX)
	if err != nil {
		return err
	}
	q, err := h.parseQuery(r, EndpointObjects)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, needRead)
	if err != nil {
		return err
	}
	page, err := h.cfg.Store.Query(r.Context(), h.filter(c, p, q))
	if err != nil {
		return fmt.Errorf("querying collection %s: %w", c.ID, err)
	}
	annotate(r.Context(), c.ID, page.Entries)
	return writeEnvelope(w, mt, page)
}

// annotate tells the audit trail which objects a response served: the
// first audit.MaxObjectIDs ids and the total.
func annotate(ctx context.Context, collection string, entries []store.Entry) {
	n := min(len(entries), audit.MaxObjectIDs)
	ids := make([]string, n)
	for i := range n {
		ids[i] = entries[i].ID
	}
	audit.Annotate(ctx, collection, ids...)
	audit.AnnotateMore(ctx, len(entries)-n)
}

// objectID returns the {oid} path value, checked to be a STIX id.
func objectID(r *http.Request) (string, error) {
	oid := r.PathValue("oid")
	if !ValidID(oid) {
		return "", fmt.Errorf("%w: object %q: not a STIX identifier", errkind.NotFound, truncate(oid, 64))
	}
	return oid, nil
}

// exists reports whether any version of the object is visible to the
// principal in the collection (to tell "no such object" from "no version
// matches the filters").
func (h *Handler) exists(r *http.Request, c store.Collection, p sharing.Principal, oid string) (bool, error) {
	page, err := h.cfg.Store.Manifest(r.Context(), store.Filter{
		Collection: c.ID, Access: h.cfg.Policy.Access(p), IDs: []string{oid},
		Versions: []string{"all"}, Limit: 1,
	})
	if err != nil {
		return false, fmt.Errorf("looking up object %s: %w", oid, err)
	}
	return len(page.Entries) > 0, nil
}

// getObject serves GET .../objects/{object-id}/ (section 5.5).
func (h *Handler) getObject(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII, MediaSTIX)
	if err != nil {
		return err
	}
	q, err := h.parseQuery(r, EndpointObject)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, needRead)
	if err != nil {
		return err
	}
	oid, err := objectID(r)
	if err != nil {
		return err
	}
	q.IDs = []string{oid}
	page, err := h.cfg.Store.Query(r.Context(), h.filter(c, p, q))
	if err != nil {
		return fmt.Errorf("querying object %s: %w", oid, err)
	}
	if len(page.Entries) == 0 {
		ok, err := h.exists(r, c, p, oid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: object %q in collection %q", errkind.NotFound, oid, c.ID)
		}
	}
	annotate(r.Context(), c.ID, page.Entries)
	return writeEnvelope(w, mt, page)
}

// versions serves GET .../objects/{object-id}/versions/ (section 5.7).
func (h *Handler) versions(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	q, err := h.parseQuery(r, EndpointVersions)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, needRead)
	if err != nil {
		return err
	}
	oid, err := objectID(r)
	if err != nil {
		return err
	}
	q.IDs, q.Versions = []string{oid}, []string{"all"}
	page, err := h.cfg.Store.Manifest(r.Context(), h.filter(c, p, q))
	if err != nil {
		return fmt.Errorf("listing versions of %s: %w", oid, err)
	}
	if len(page.Entries) == 0 {
		ok, err := h.exists(r, c, p, oid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: object %q in collection %q", errkind.NotFound, oid, c.ID)
		}
	}
	audit.Annotate(r.Context(), c.ID, oid)
	var out struct {
		More     bool     `json:"more"`
		Next     string   `json:"next,omitempty"`
		Versions []string `json:"versions,omitempty"`
	}
	out.More = page.More
	if page.More {
		out.Next = page.Next
	}
	for _, e := range page.Entries {
		out.Versions = append(out.Versions, e.Version)
	}
	setDateHeaders(w, page.Entries)
	return writeJSON(w, http.StatusOK, mt, out)
}

type manifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

// manifest serves GET .../manifest/ (section 5.4).
func (h *Handler) manifest(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	q, err := h.parseQuery(r, EndpointObjects)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, needRead)
	if err != nil {
		return err
	}
	page, err := h.cfg.Store.Manifest(r.Context(), h.filter(c, p, q))
	if err != nil {
		return fmt.Errorf("reading manifest of %s: %w", c.ID, err)
	}
	annotate(r.Context(), c.ID, page.Entries)
	var out struct {
		More    bool             `json:"more"`
		Next    string           `json:"next,omitempty"`
		Objects []manifestRecord `json:"objects,omitempty"`
	}
	out.More = page.More
	if page.More {
		out.Next = page.Next
	}
	for _, e := range page.Entries {
		sv := e.SpecVersion
		if sv == "" {
			sv = "2.0"
		}
		out.Objects = append(out.Objects, manifestRecord{
			ID: e.ID, DateAdded: FormatTimestamp(e.DateAdded), Version: e.Version,
			MediaType: "application/stix+json;version=" + sv,
		})
	}
	setDateHeaders(w, page.Entries)
	return writeJSON(w, http.StatusOK, mt, out)
}

// deleteObject serves DELETE .../objects/{object-id}/ (section 5.6). Without
// match[version] every version is deleted. Only versions inside the
// policy's DeleteAccess predicate are touched.
func (h *Handler) deleteObject(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	q, err := h.parseQuery(r, EndpointDelete)
	if err != nil {
		return err
	}
	_, c, err := h.findCollection(r, p, needWrite)
	if err != nil {
		return err
	}
	if !h.rights.CanRead(p, c) {
		return fmt.Errorf("%w: deleting needs read and write access to collection %q", errkind.Forbidden, c.ID)
	}
	oid, err := objectID(r)
	if err != nil {
		return err
	}
	if len(q.Versions) == 0 {
		q.Versions = []string{"all"}
	}
	f := store.Filter{
		Collection: c.ID, Access: h.rights.DeleteAccess(p), IDs: []string{oid},
		Versions: q.Versions, SpecVersions: storeSpecs(q.SpecVersions),
	}
	n, err := h.cfg.Store.Delete(r.Context(), f)
	if err != nil {
		return fmt.Errorf("deleting object %s: %w", oid, err)
	}
	if n == 0 {
		// Visible but not deletable by this principal: forbidden; else absent.
		if ok, err := h.exists(r, c, p, oid); err != nil {
			return err
		} else if ok && len(q.SpecVersions) == 0 && q.Versions[0] == "all" {
			return fmt.Errorf("%w: object %q was produced by another organisation", errkind.Forbidden, oid)
		}
		return fmt.Errorf("%w: object %q (no matching version) in collection %q", errkind.NotFound, oid, c.ID)
	}
	audit.Annotate(r.Context(), c.ID, oid)
	h.log.InfoContext(r.Context(), "objects deleted", "collection", c.ID, "object", oid, "versions", n, "org", p.OrgID, "user", p.UserID)
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// statusResource is the TAXII status resource (section 4.3.1).
type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings,omitempty"`
}

type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

func details(ds []store.StatusDetail) []statusDetail {
	out := make([]statusDetail, 0, len(ds))
	for _, d := range ds {
		out = append(out, statusDetail(d))
	}
	return out
}

func toStatusResource(s store.Status) statusResource {
	st := "pending"
	if s.Complete || len(s.Pendings) == 0 {
		st = "complete"
	}
	res := statusResource{
		ID: s.ID, Status: st,
		SuccessCount: len(s.Successes), Successes: details(s.Successes),
		FailureCount: len(s.Failures), Failures: details(s.Failures),
		PendingCount: len(s.Pendings), Pendings: details(s.Pendings),
	}
	res.TotalCount = res.SuccessCount + res.FailureCount + res.PendingCount
	if !s.Requested.IsZero() {
		res.RequestTimestamp = FormatTimestamp(s.Requested)
	}
	return res
}

// status serves GET /taxii2/{root}/status/{status-id}/ (section 4.3). A
// status the principal may not see is reported as not found.
func (h *Handler) status(w http.ResponseWriter, r *http.Request, p sharing.Principal) error {
	mt, err := negotiate(r.Header.Get("Accept"), MediaTAXII)
	if err != nil {
		return err
	}
	root, err := h.findRoot(r)
	if err != nil {
		return err
	}
	sid := r.PathValue("sid")
	notFound := fmt.Errorf("%w: status %q", errkind.NotFound, truncate(sid, 64))
	s, err := h.cfg.Store.Status(r.Context(), sid)
	if errors.Is(err, errkind.NotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("reading status %q: %w", truncate(sid, 64), err)
	}
	if !h.rights.CanSeeStatus(p, s) {
		return notFound
	}
	if _, err := h.cfg.Store.Collection(r.Context(), root.Name, s.Collection); err != nil {
		if errors.Is(err, errkind.NotFound) {
			return notFound
		}
		return fmt.Errorf("reading collection of status %q: %w", sid, err)
	}
	return writeJSON(w, http.StatusOK, mt, toStatusResource(s))
}
