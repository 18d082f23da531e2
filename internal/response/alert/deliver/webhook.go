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
type Webhook struct {
	// Client sends the requests (default: a client that follows no
	// redirects and keeps up to 64 idle connections per host).
	Client *http.Client
	// Now is the clock for signature timestamps (default time.Now).
	Now func() time.Time
}

var noRedirects = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}()

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
	if c == nil {
		c = noRedirects
	}
	resp, err := c.Do(req)
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
