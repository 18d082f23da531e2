// Package client is a TAXII 2.1 client (OASIS Standard, 10 June 2021):
// server discovery, API root information, collections, objects with the
// added_after / limit / next / match[...] filters of section 3.4, the
// manifest, adding objects and polling their status resource.
//
// Every request sends the TAXII 2.1 media types (section 1.6.8), Bearer or
// Basic credentials, and is retried with exponential back-off (with jitter)
// on 429, 5xx and network errors; Retry-After is honoured. Response bodies
// are read through a size limit. Errors wrap errkind sentinels chosen from
// the HTTP status (401 errkind.Unauthorized, 403 errkind.Forbidden, 404
// errkind.NotFound, 413 errkind.TooLarge, ...) and carry an *HTTPError
// with the server's TAXII error message.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// The media types of TAXII 2.1.
const (
	MediaTAXII = "application/taxii+json;version=2.1"
	MediaSTIX  = "application/stix+json;version=2.1"
)

// Response header names for the date_added range of a page (section 3.3.2).
const (
	HeaderDateAddedFirst = "X-TAXII-Date-Added-First"
	HeaderDateAddedLast  = "X-TAXII-Date-Added-Last"
)

// DefaultMaxResponse is the response body limit when Options.MaxResponse is
// zero (64 MiB).
const DefaultMaxResponse = 64 << 20

// Options configures a Client.
type Options struct {
	// APIRoot is the URL of the TAXII API root, e.g.
	// https://hub.example/taxii2/hub/ (a missing trailing slash is added).
	APIRoot string
	// Token is sent as "Authorization: Bearer TOKEN" unless User is set.
	Token string
	// User and Password select HTTP Basic authentication.
	User, Password string
	// InsecureSkipVerify disables TLS certificate verification (for test
	// set-ups with self-signed certificates only).
	InsecureSkipVerify bool
	// HTTP is the HTTP client (default: one with a 2 minute timeout).
	// InsecureSkipVerify is ignored when HTTP is set.
	HTTP *http.Client
	// MaxResponse caps response bodies in bytes (0: DefaultMaxResponse).
	MaxResponse int64
	// Retries is how many times a failed request is retried (0: 4;
	// negative: never).
	Retries int
	// Backoff is the first retry delay, doubled on each retry up to
	// MaxBackoff (0: 500 ms and 30 s).
	Backoff, MaxBackoff time.Duration
	// Sleep waits between retries (default: a timer honouring ctx); tests
	// replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives retry warnings (never credentials); nil discards.
	Log *slog.Logger
	// UserAgent is sent in User-Agent (default "kizuna-taxii-client").
	UserAgent string
}

// Client talks to one TAXII 2.1 API root. It is safe for concurrent use.
type Client struct {
	opt  Options
	root *url.URL
	http *http.Client
	log  *slog.Logger
}

// New returns a client for the API root in opt.
func New(opt Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(opt.APIRoot))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: API root URL %q: want http(s)://HOST/PATH/", errkind.Invalid, opt.APIRoot)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	if opt.MaxResponse <= 0 {
		opt.MaxResponse = DefaultMaxResponse
	}
	if opt.Retries == 0 {
		opt.Retries = 4
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	if opt.Sleep == nil {
		opt.Sleep = sleep
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "kizuna-taxii-client"
	}
	c := &Client{opt: opt, root: u, http: opt.HTTP, log: opt.Log}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opt.InsecureSkipVerify} //nolint:gosec // opt-in for test set-ups
		tr.MaxIdleConnsPerHost = 8
		c.http = &http.Client{Timeout: 2 * time.Minute, Transport: tr}
	}
	return c, nil
}

// APIRootURL returns the API root's URL (with a trailing slash).
func (c *Client) APIRootURL() string { return c.root.String() }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HTTPError is a non-2xx reply; it wraps the errkind sentinel of its status.
type HTTPError struct {
	Method, URL string
	Status      int
	// Title and Description come from the TAXII error message, if any.
	Title, Description string
	kind               error
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Title != "" {
		msg += ": " + e.Title
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Unwrap returns the errkind sentinel of the status (nil for others).
func (e *HTTPError) Unwrap() error { return e.kind }

// Retryable reports whether the status is worth retrying (429 and 5xx).
func (e *HTTPError) Retryable() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest:
		return errkind.Invalid
	case http.StatusUnauthorized:
		return errkind.Unauthorized
	case http.StatusForbidden:
		return errkind.Forbidden
	case http.StatusNotFound:
		return errkind.NotFound
	case http.StatusNotAcceptable:
		return errkind.Unacceptable
	case http.StatusConflict:
		return errkind.Conflict
	case http.StatusRequestEntityTooLarge:
		return errkind.TooLarge
	case http.StatusUnsupportedMediaType:
		return errkind.UnsupportedMediaType
	case http.StatusUnprocessableEntity:
		return errkind.Unprocessable
	}
	return nil
}

// response is a successful reply.
type response struct {
	header http.Header
	body   []byte
}

// request is one request to make (retried as a whole).
type request struct {
	method, path string // path relative to the API root ("" is the root)
	abs          string // absolute URL instead of path
	query        url.Values
	accept       string
	ctype        string
	body         []byte
}

func (c *Client) url(r request) string {
	if r.abs != "" {
		return r.abs
	}
	u := *c.root
	u.Path += r.path
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// do runs a request with retries and returns a 2xx reply.
func (c *Client) do(ctx context.Context, r request) (response, error) {
	delay := c.opt.Backoff
	for attempt := 0; ; attempt++ {
		resp, wait, err := c.once(ctx, r)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return response{}, err
		}
		var he *HTTPError
		retry := !errors.As(err, &he) || he.Retryable()
		if !retry || c.opt.Retries < 0 || attempt >= c.opt.Retries {
			return response{}, err
		}
		d := delay/2 + rand.N(delay/2+1) // jitter in [delay/2, delay]
		if wait > d {
			d = min(wait, c.opt.MaxBackoff)
		}
		c.log.WarnContext(ctx, "taxii request failed, retrying", "method", r.method, "url", c.url(r), "attempt", attempt+1, "delay", d.String(), "err", err)
		if err := c.opt.Sleep(ctx, d); err != nil {
			return response{}, fmt.Errorf("waiting to retry %s %s: %w", r.method, c.url(r), err)
		}
		delay = min(2*delay, c.opt.MaxBackoff)
	}
}

// once makes one attempt; wait is the server's Retry-After, if any.
func (c *Client) once(ctx context.Context, r request) (response, time.Duration, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	u := c.url(r)
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return response{}, 0, fmt.Errorf("%w: %s %s: %v", errkind.Invalid, r.method, u, err)
	}
	req.Header.Set("Accept", r.accept)
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("User-Agent", c.opt.UserAgent)
	switch {
	case c.opt.User != "":
		req.SetBasicAuth(c.opt.User, c.opt.Password)
	case c.opt.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.opt.Token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, 0, fmt.Errorf("%s %s: %w", r.method, u, err)
	}
	defer res.Body.Close()
	b, err := readBody(res, c.opt.MaxResponse)
	if err != nil {
		return response{}, 0, fmt.Errorf("%s %s: reading response: %w", r.method, u, err)
	}
	if int64(len(b)) > c.opt.MaxResponse {
		return response{}, 0, fmt.Errorf("%w: %s %s: response larger than %d bytes", errkind.TooLarge, r.method, u, c.opt.MaxResponse)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		he := &HTTPError{Method: r.method, URL: u, Status: res.StatusCode, kind: kindOf(res.StatusCode)}
		var msg struct {
			Title       string `json:"title"`
			Description string `json:"description"`
		}
		if json.Unmarshal(b, &msg) == nil {
			he.Title, he.Description = clip(msg.Title, 200), clip(msg.Description, 500)
		}
		var wait time.Duration
		if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		return response{}, wait, he
	}
	if len(b) > 0 || r.method != http.MethodDelete {
		if err := checkMedia(res.Header.Get("Content-Type")); err != nil {
			return response{}, 0, fmt.Errorf("%s %s: %w", r.method, u, err)
		}
	}
	return response{header: res.Header, body: b}, 0, nil
}

// readBody reads up to limit+1 bytes of a response body, in one
// allocation of the announced size when the server sent Content-Length
// (a page of objects is held until its objects are stored: no slack).
func readBody(res *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(res.Body, limit+1)
	if n := res.ContentLength; n > 0 && n <= limit {
		var buf bytes.Buffer
		buf.Grow(int(n) + bytes.MinRead)
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	return io.ReadAll(r)
}

// checkMedia accepts the TAXII and STIX 2.1 media types (and, leniently,
// application/json, which some servers send).
func checkMedia(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case "application/taxii+json", "application/stix+json":
			if v := params["version"]; v == "" || v == "2.1" {
				return nil
			}
		case "application/json":
			return nil
		}
	}
	return fmt.Errorf("%w: response Content-Type %q is not %s", errkind.Unacceptable, clip(ct, 100), MediaTAXII)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// getJSON GETs and decodes a TAXII resource.
func (c *Client) getJSON(ctx context.Context, r request, v any) (http.Header, error) {
	r.method = http.MethodGet
	if r.accept == "" {
		r.accept = MediaTAXII
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return nil, fmt.Errorf("%w: %s: malformed TAXII resource: %v", errkind.Invalid, c.url(r), err)
	}
	return resp.header, nil
}
