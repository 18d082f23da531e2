// Package deliver holds the alert channels: webhooks signed with
// HMAC-SHA256 (package webhook), e-mail over SMTP with STARTTLS, syslog
// records in the RFC 5424 format over UDP or TCP (RFC 6587 octet
// counting), and a hook that adds the alerts' objects to a TAXII
// collection. Each is an alert.Channel; errors that retrying cannot fix
// wrap alert.ErrPermanent.
package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
)

// DeliveryHeader carries the delivery id, which the recipient acknowledges.
const DeliveryHeader = "Kizuna-Delivery-Id"

// Webhook POSTs the message as JSON to Target.URL, signed with
// Target.Secret in the Kizuna-Webhook-Signature header and carrying the
// Idempotency-Key header. A 2xx answer is success; 408, 425, 429 and 5xx
// are retried, other statuses are permanent failures.
//
// Unless AllowPrivate is set, the default client refuses to connect to
// loopback, private, link-local (cloud metadata), unspecified, multicast
// and other reserved addresses (webhook.Refusal), checked on the address
// actually dialled, so names resolving or rebinding to such an address
// are refused too; such a delivery fails permanently, naming the address.
// The guarded client ignores proxy settings of the environment (a proxy
// would dial the target where the hub cannot check it).
type Webhook struct {
	// Client sends the requests (default: a client that follows no
	// redirects, keeps up to 64 idle connections per host and, unless
	// AllowPrivate, refuses private addresses). A Client given here is
	// used as it is.
	Client *http.Client
	// AllowPrivate lets the default client reach private addresses (serve
	// --allow-private-webhooks; tests with receivers on loopback).
	AllowPrivate bool
	// Now is the clock for signature timestamps (default time.Now).
	Now func() time.Time
}

// newClient returns a client that follows no redirects, keeps up to 64
// idle connections per host and, when guarded, dials through
// webhook.Control without any proxy.
func newClient(guarded bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if guarded {
		tr.Proxy = nil
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: webhook.Control}).DialContext
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// The default clients: immutable once made, shared by every Webhook.
var (
	guardedClient = newClient(true)
	privateClient = newClient(false)
)

// Deliver implements alert.Channel.
func (w *Webhook) Deliver(ctx context.Context, d *alert.Delivery) error {
	if d.Target.URL == "" {
		return fmt.Errorf("webhook: delivery %d: no URL: %w", d.ID, alert.ErrPermanent)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("webhook: delivery %d: %w: %w", d.ID, alert.ErrPermanent, err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kizuna-alerts/1")
	req.Header.Set(webhook.Header, webhook.Sign(d.Target.Secret, now(), d.Body))
	req.Header.Set(webhook.IdempotencyHeader, d.Key)
	req.Header.Set(DeliveryHeader, strconv.FormatInt(d.ID, 10))
	c := w.Client
	switch {
	case c != nil:
	case w.AllowPrivate:
		c = privateClient
	default:
		c = guardedClient
	}
	resp, err := c.Do(req)
	if r, refused := webhook.IsRefused(err); refused {
		return fmt.Errorf("webhook: delivery %d: %s: %w: %w", d.ID, req.URL.Redacted(), r, alert.ErrPermanent)
	}
	if err != nil {
		return fmt.Errorf("webhook: delivery %d: %w", d.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return nil
	case s == http.StatusRequestTimeout, s == http.StatusTooEarly, s == http.StatusTooManyRequests, s >= 500:
		return fmt.Errorf("webhook: delivery %d: %s answered %s", d.ID, req.URL.Redacted(), resp.Status)
	default:
		return fmt.Errorf("webhook: delivery %d: %s answered %s: %w", d.ID, req.URL.Redacted(), resp.Status, alert.ErrPermanent)
	}
}

// TAXII hands the alerts' objects to Add, which the hub wires to its
// ingest pipeline for the recipient's alert collection.
type TAXII struct {
	// Add adds objs to org's alert collection.
	Add func(ctx context.Context, org string, objs []json.RawMessage) error
}

// Deliver implements alert.Channel.
func (t *TAXII) Deliver(ctx context.Context, d *alert.Delivery) error {
	if t.Add == nil {
		return fmt.Errorf("taxii: delivery %d: no collection hook: %w", d.ID, alert.ErrPermanent)
	}
	if err := t.Add(ctx, d.Org, d.Message.Objects()); err != nil {
		return fmt.Errorf("taxii: delivery %d: %w", d.ID, err)
	}
	return nil
}
