package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Discovery is the server's discovery resource (section 4.1).
type Discovery struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Contact     string   `json:"contact,omitempty"`
	Default     string   `json:"default,omitempty"`
	APIRoots    []string `json:"api_roots,omitempty"`
}

// Discover GETs the discovery resource at discoveryURL (for instance
// https://hub.example/taxii2/) with the client's credentials and options.
func (c *Client) Discover(ctx context.Context, discoveryURL string) (Discovery, error) {
	var d Discovery
	u, err := url.Parse(discoveryURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return d, fmt.Errorf("%w: discovery URL %q", errkind.Invalid, discoveryURL)
	}
	_, err = c.getJSON(ctx, request{abs: u.String()}, &d)
	return d, err
}

// APIRoot is an API root resource (section 4.2).
type APIRoot struct {
	Title            string   `json:"title"`
	Description      string   `json:"description,omitempty"`
	Versions         []string `json:"versions"`
	MaxContentLength int64    `json:"max_content_length"`
}

// APIRoot GETs the API root resource.
func (c *Client) APIRoot(ctx context.Context) (APIRoot, error) {
	var r APIRoot
	_, err := c.getJSON(ctx, request{}, &r)
	return r, err
}

// Collection is a collection resource (section 5.2).
type Collection struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Alias       string   `json:"alias,omitempty"`
	CanRead     bool     `json:"can_read"`
	CanWrite    bool     `json:"can_write"`
	MediaTypes  []string `json:"media_types,omitempty"`
}

// Collections lists the collections the caller may see (section 5.1).
func (c *Client) Collections(ctx context.Context) ([]Collection, error) {
	var out struct {
		Collections []Collection `json:"collections"`
	}
	_, err := c.getJSON(ctx, request{path: "collections/"}, &out)
	return out.Collections, err
}

// Collection GETs one collection.
func (c *Client) Collection(ctx context.Context, id string) (Collection, error) {
	var col Collection
	_, err := c.getJSON(ctx, request{path: "collections/" + url.PathEscape(id) + "/"}, &col)
	return col, err
}

// Query holds the URL parameters of objects, manifest and versions
// requests (section 3.4). Zero fields are not sent.
type Query struct {
	AddedAfter   time.Time
	Limit        int
	Next         string
	IDs          []string
	Types        []string
	Versions     []string
	SpecVersions []string
}

// values encodes the query.
func (q Query) values() url.Values {
	v := url.Values{}
	if !q.AddedAfter.IsZero() {
		v.Set("added_after", FormatTimestamp(q.AddedAfter))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Next != "" {
		v.Set("next", q.Next)
	}
	set := func(name string, list []string) {
		if len(list) > 0 {
			v.Set(name, strings.Join(list, ","))
		}
	}
	set("match[id]", q.IDs)
	set("match[type]", q.Types)
	set("match[version]", q.Versions)
	set("match[spec_version]", q.SpecVersions)
	return v
}

// FormatTimestamp formats a time as TAXII does: UTC, at least microsecond
// precision (nanoseconds when present), so a received X-TAXII-Date-Added-Last
// round-trips exactly.
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

// Page is one page of an objects or manifest request.
type Page struct {
	// More and Next come from the envelope: when More is set, pass Next
	// in the following request's Query.Next.
	More bool
	Next string
	// Objects are the objects as received (objects requests).
	Objects []json.RawMessage
	// Manifest are the records of a manifest request.
	Manifest []ManifestRecord
	// DateAddedFirst and DateAddedLast come from the response headers
	// (zero when absent or malformed).
	DateAddedFirst, DateAddedLast time.Time
}

// ManifestRecord is one entry of a manifest (section 5.3.1).
type ManifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type,omitempty"`
}

func parseHeaderTime(h http.Header, name string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, h.Get(name))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// GetObjects GETs one page of a collection's objects (section 5.3).
func (c *Client) GetObjects(ctx context.Context, collection string, q Query) (Page, error) {
	return c.getObjects(ctx, request{path: "collections/" + url.PathEscape(collection) + "/objects/", query: q.values()})
}

// GetObject GETs the versions of one object selected by q (section 5.5).
func (c *Client) GetObject(ctx context.Context, collection, id string, q Query) (Page, error) {
	return c.getObjects(ctx, request{path: "collections/" + url.PathEscape(collection) + "/objects/" + url.PathEscape(id) + "/", query: q.values()})
}

// getObjects GETs an envelope of objects; the objects are sub-slices of
// the response body, checked to be well-formed JSON but not decoded.
func (c *Client) getObjects(ctx context.Context, r request) (Page, error) {
	r.method, r.accept = http.MethodGet, MediaTAXII
	resp, err := c.do(ctx, r)
	if err != nil {
		return Page{}, err
	}
	env, err := decodeEnvelope(resp.body)
	if err != nil {
		return Page{}, fmt.Errorf("%w: %s: malformed TAXII envelope: %v", errkind.Invalid, c.url(r), err)
	}
	h := resp.header
	return Page{More: env.More, Next: env.Next, Objects: env.Objects,
		DateAddedFirst: parseHeaderTime(h, HeaderDateAddedFirst), DateAddedLast: parseHeaderTime(h, HeaderDateAddedLast)}, nil
}

// Manifest GETs one page of a collection's manifest (section 5.4).
func (c *Client) Manifest(ctx context.Context, collection string, q Query) (Page, error) {
	var env struct {
		More    bool             `json:"more"`
		Next    string           `json:"next"`
		Objects []ManifestRecord `json:"objects"`
	}
	h, err := c.getJSON(ctx, request{path: "collections/" + url.PathEscape(collection) + "/manifest/", query: q.values()}, &env)
	if err != nil {
		return Page{}, err
	}
	return Page{More: env.More, Next: env.Next, Manifest: env.Objects,
		DateAddedFirst: parseHeaderTime(h, HeaderDateAddedFirst), DateAddedLast: parseHeaderTime(h, HeaderDateAddedLast)}, nil
}

// Status is a status resource (section 4.3.1).
type Status struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp,omitempty"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []StatusDetail `json:"successes,omitempty"`
	FailureCount     int            `json:"failure_count"`
	Failures         []StatusDetail `json:"failures,omitempty"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []StatusDetail `json:"pendings,omitempty"`
}

// StatusDetail is one object's outcome in a status.
type StatusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message,omitempty"`
}

// Complete reports whether nothing is pending any more.
func (s Status) Complete() bool {
	return s.Status == "complete" || (s.PendingCount == 0 && s.TotalCount > 0)
}

// AddObjects POSTs objects in one envelope (section 5.4) and returns the
// status the server answered with (which may still be pending; see
// WaitStatus). A POST is retried like any request: the objects carry their
// ids and versions, so a repeated submission is idempotent on a Kizuna hub.
func (c *Client) AddObjects(ctx context.Context, collection string, objects []json.RawMessage) (Status, error) {
	body, err := json.Marshal(struct {
		Objects []json.RawMessage `json:"objects"`
	}{objects})
	if err != nil {
		return Status{}, fmt.Errorf("%w: encoding envelope: %v", errkind.Invalid, err)
	}
	r := request{method: http.MethodPost, path: "collections/" + url.PathEscape(collection) + "/objects/",
		accept: MediaTAXII, ctype: MediaTAXII, body: body}
	resp, err := c.do(ctx, r)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(resp.body, &st); err != nil {
		return Status{}, fmt.Errorf("%w: %s: malformed status resource: %v", errkind.Invalid, c.url(r), err)
	}
	return st, nil
}

// GetStatus GETs a status resource (section 4.3).
func (c *Client) GetStatus(ctx context.Context, id string) (Status, error) {
	var st Status
	_, err := c.getJSON(ctx, request{path: "status/" + url.PathEscape(id) + "/"}, &st)
	return st, err
}

// WaitStatus polls a status every interval (0: 1 s) until it is complete
// or ctx ends, and returns the last status read.
func (c *Client) WaitStatus(ctx context.Context, st Status, interval time.Duration) (Status, error) {
	if interval <= 0 {
		interval = time.Second
	}
	for !st.Complete() {
		if err := c.opt.Sleep(ctx, interval); err != nil {
			return st, fmt.Errorf("waiting for status %s: %w", st.ID, err)
		}
		next, err := c.GetStatus(ctx, st.ID)
		if err != nil {
			return st, err
		}
		st = next
	}
	return st, nil
}
