package deliver

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
)

// SMTP sends the message by e-mail to Target.To: a text/plain summary and
// the JSON message as the body's second part. It always upgrades the
// connection with STARTTLS unless AllowPlaintext is set, and never sends
// credentials over a connection without TLS.
type SMTP struct {
	// Addr is the server's host:port (submission, usually port 587).
	Addr string
	// From is the envelope and header sender.
	From string
	// Username and Password authenticate (PLAIN) when Username is set.
	Username, Password string
	// TLS configures STARTTLS (ServerName defaults to Addr's host).
	TLS *tls.Config
	// AllowPlaintext permits servers without STARTTLS (never with
	// credentials). For test set-ups only.
	AllowPlaintext bool
	// Hello is the name sent in EHLO (default "localhost").
	Hello string
	// Now is the clock for the Date header (default time.Now).
	Now func() time.Time
}

// Deliver implements alert.Channel.
func (s *SMTP) Deliver(ctx context.Context, d *alert.Delivery) (err error) {
	if len(d.Target.To) == 0 {
		return fmt.Errorf("smtp: delivery %d: no recipients: %w", d.ID, alert.ErrPermanent)
	}
	for _, to := range append([]string{s.From}, d.Target.To...) {
		if _, perr := mail.ParseAddress(to); perr != nil || strings.ContainsAny(to, "\r\n") {
			return fmt.Errorf("smtp: delivery %d: address %q: %w", d.ID, to, alert.ErrPermanent)
		}
	}
	msg, err := s.compose(d)
	if err != nil {
		return err
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: delivery %d: %w", d.ID, err)
	}
	// net/smtp has no contexts: the deadline and a watcher bound the session.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: delivery %d: %w", d.ID, err)
	}
	defer c.Close()
	hello := s.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return fmt.Errorf("smtp: delivery %d: EHLO: %w", d.ID, err)
	}
	tlsOn := false
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		if s.TLS != nil {
			cfg = s.TLS.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp: delivery %d: STARTTLS: %w", d.ID, err)
		}
		tlsOn = true
	} else if !s.AllowPlaintext || s.Username != "" {
		return fmt.Errorf("smtp: delivery %d: server %s offers no STARTTLS, refusing to send in clear: %w", d.ID, s.Addr, alert.ErrPermanent)
	}
	if s.Username != "" {
		if !tlsOn {
			return fmt.Errorf("smtp: delivery %d: refusing credentials without TLS: %w", d.ID, alert.ErrPermanent)
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("smtp: delivery %d: AUTH: %w", d.ID, classify(err))
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("smtp: delivery %d: MAIL FROM: %w", d.ID, classify(err))
	}
	for _, to := range d.Target.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("smtp: delivery %d: RCPT TO %s: %w", d.ID, to, classify(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: delivery %d: DATA: %w", d.ID, classify(err))
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: delivery %d: DATA: %w", d.ID, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: delivery %d: DATA: %w", d.ID, classify(err))
	}
	if err := c.Quit(); err != nil {
		// The message was accepted; a failed QUIT changes nothing.
		return nil
	}
	return nil
}

// classify marks 5xx replies as permanent.
func classify(err error) error {
	if te, ok := err.(*textproto.Error); ok && te.Code >= 500 {
		return fmt.Errorf("%w: %w", alert.ErrPermanent, err)
	}
	return err
}

// compose builds the RFC 5322 message: a multipart/mixed with a summary and
// the JSON alert message. The idempotency key is the Message-ID's local part
// and an X-Kizuna-Idempotency-Key header, so a mailbox can drop retries.
func (s *SMTP) compose(d *alert.Delivery) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("smtp: delivery %d: %w", d.ID, err)
	}
	boundary := "kizuna-" + hex.EncodeToString(rnd[:])
	domain := "kizuna.invalid"
	if at := strings.LastIndexByte(s.From, '@'); at >= 0 {
		domain = strings.Trim(s.From[at+1:], "<> ")
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", s.From)
	h("To", strings.Join(d.Target.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", d.Message.Subject()))
	h("Date", now().UTC().Format(time.RFC1123Z))
	h("Message-ID", "<"+d.Key+"@"+domain+">")
	h("X-Kizuna-Idempotency-Key", d.Key)
	h("X-Kizuna-Delivery-Id", fmt.Sprint(d.ID))
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(summary(d))
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: application/json\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"alert.json\"\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(d.Body)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

func summary(d *alert.Delivery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\r\n\r\nDelivery %d for rule %s (acknowledge this delivery id).\r\n", d.Message.Subject(), d.ID, d.Rule)
	for _, a := range d.Message.Alerts {
		fmt.Fprintf(&b, "- %s %s %s event %s at %s\r\n", a.TLP, a.Kind, a.Type, a.Event, a.Time)
	}
	return b.String()
}
