package fetch

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Size limits of what a provider sends (bytes).
const (
	// MaxMetadataSize bounds provider-metadata.json, security.txt and a
	// public key.
	MaxMetadataSize = 1 << 20
	// MaxListSize bounds a ROLIE feed, changes.csv and index.txt.
	MaxListSize = 64 << 20
	// MaxAdvisorySize bounds one advisory (csaf.MaxDocumentSize).
	MaxAdvisorySize = 16 << 20
	// maxSmallFile bounds a hash file or a signature.
	maxSmallFile = 64 << 10
)

// DefaultTimeout bounds one request, headers and body.
const DefaultTimeout = 2 * time.Minute

// maxRedirects bounds the redirects followed per request.
const maxRedirects = 5

// Options configure a Client.
type Options struct {
	// Token is sent as "Authorization: Bearer TOKEN" to the host of
	// provider-metadata.json (never to other hosts). Without a token the
	// feeds and directories of TLP:GREEN, AMBER and RED are not requested.
	Token string
	// TokenHeader, when set, carries the token as is instead of
	// "Authorization: Bearer" (e.g. "apiKey" for the NVD API).
	TokenHeader string
	// InsecureSkipVerify disables TLS certificate verification (test
	// set-ups with self-signed certificates only).
	InsecureSkipVerify bool
	// Timeout bounds one request (default DefaultTimeout).
	Timeout time.Duration
	// Workers download advisories in parallel (default 4).
	Workers int
	// Log receives progress and problems (default: discarded).
	Log *slog.Logger
}

// Client fetches CSAF providers. It is safe for concurrent use.
type Client struct {
	http    *http.Client
	token   string
	header  string
	workers int
	log     *slog.Logger
}

// New returns a Client.
func New(opt Options) *Client {
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: opt.InsecureSkipVerify, MinVersion: tls.VersionTLS12}, //nolint:gosec // opt-in for test servers
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	c := &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", errkind.Invalid, maxRedirects)
			}
			return checkURL(req.URL)
		},
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := opt.Workers
	if w <= 0 {
		w = 4
	}
	return &Client{http: c, token: opt.Token, header: opt.TokenHeader, workers: w, log: log}
}

// checkURL accepts https URLs, and http URLs of loopback hosts.
func checkURL(u *url.URL) error {
	switch {
	case u.Host == "":
		return fmt.Errorf("%w: URL %q has no host", errkind.Invalid, u.Redacted())
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%w: URL %q: CSAF is retrieved over https only", errkind.Invalid, u.Redacted())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validators are the HTTP cache validators of a response, for conditional
// requests.
type Validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// response is a fetched body.
type response struct {
	body        []byte
	validators  Validators
	notModified bool
}

// StatusError is an HTTP answer other than 200 (or 304 to a conditional
// request).
type StatusError struct {
	URL    string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// Is maps 404 and 410 to errkind.NotFound, 401 to errkind.Unauthorized
// and 403 to errkind.Forbidden.
func (e *StatusError) Is(target error) bool {
	switch e.Status {
	case http.StatusNotFound, http.StatusGone:
		return target == errkind.NotFound
	case http.StatusUnauthorized:
		return target == errkind.Unauthorized
	case http.StatusForbidden:
		return target == errkind.Forbidden
	}
	return false
}

// get fetches u with at most limit bytes. authHost is the host the token
// may be sent to ("" for none). With cond set, the request is conditional
// and a 304 answer gives notModified.
func (c *Client) get(ctx context.Context, u *url.URL, limit int64, authHost string, cond *Validators) (response, error) {
	if err := checkURL(u); err != nil {
		return response{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	req.Header.Set("User-Agent", "kizuna-csaf-fetch")
	if c.token != "" && authHost != "" && strings.EqualFold(u.Host, authHost) {
		if c.header != "" {
			req.Header.Set(c.header, c.token)
		} else {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
	}
	if cond != nil {
		if cond.ETag != "" {
			req.Header.Set("If-None-Match", cond.ETag)
		}
		if cond.LastModified != "" {
			req.Header.Set("If-Modified-Since", cond.LastModified)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && cond != nil {
		return response{notModified: true, validators: *cond}, nil
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return response{}, &StatusError{URL: u.Redacted(), Status: resp.StatusCode}
	}
	if resp.ContentLength > limit {
		return response{}, fmt.Errorf("GET %s: %d bytes exceed the limit of %d: %w", u.Redacted(), resp.ContentLength, limit, errkind.TooLarge)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return response{}, fmt.Errorf("GET %s: reading the body: %w", u.Redacted(), err)
	}
	if int64(len(body)) > limit {
		return response{}, fmt.Errorf("GET %s: more than %d bytes: %w", u.Redacted(), limit, errkind.TooLarge)
	}
	return response{body: body, validators: Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}}, nil
}

// Get fetches one URL (https, or http on loopback) of at most limit
// bytes, sending the token to that URL's host. With cond set the request
// is conditional, and notModified reports a 304 answer. Other answers than
// 200 are *StatusError.
func (c *Client) Get(ctx context.Context, raw string, limit int64, cond *Validators) (body []byte, v Validators, notModified bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, v, false, fmt.Errorf("%w: URL %q: %v", errkind.Invalid, raw, err)
	}
	r, err := c.get(ctx, u, limit, u.Host, cond)
	return r.body, r.validators, r.notModified, err
}
