package deliver_test

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
)

// mailbox is a real SMTP server (go-smtp) that keeps what it received.
type mailbox struct {
	mu    sync.Mutex
	msgs  []received
	auths []string
}

type received struct {
	from string
	to   []string
	tls  bool
	user string
	data []byte
}

type session struct {
	mb   *mailbox
	conn *smtp.Conn
	user string
	cur  received
}

func (mb *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{mb: mb, conn: c}, nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.mb.mu.Lock()
		s.mb.auths = append(s.mb.auths, username)
		s.mb.mu.Unlock()
		if username != "alerts" || password != "pw" {
			return errors.New("bad credentials")
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur = received{from: from, user: s.user}
	_, s.cur.tls = s.conn.TLSConnectionState()
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.cur)
	s.mb.mu.Unlock()
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

func (mb *mailbox) received() ([]received, []string) {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]received(nil), mb.msgs...), append([]string(nil), mb.auths...)
}

// startSMTP starts a server on loopback, with STARTTLS when cert is given.
func startSMTP(t *testing.T, cert *tls.Certificate) (*mailbox, string) {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(mb)
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	} else {
		srv.AllowInsecureAuth = true // would accept credentials in clear: the client must not send them
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return mb, l.Addr().String()
}

// TestSMTPStartTLS delivers an alert through a real SMTP server with
// STARTTLS (self-signed certificate) and PLAIN authentication, and reads
// the message back.
func TestSMTPStartTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	mb, addr := startSMTP(t, &cert)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ch := &deliver.SMTP{Addr: addr, From: "alerts@hub.example", Username: "alerts", Password: "pw",
		TLS: &tls.Config{RootCAs: pool}, Now: func() time.Time { return now }}
	d := open(t, t.TempDir(), alert.Options{Channels: map[string]alert.Channel{"email": ch}})
	ctx := t.Context()
	to := []string{"soc@org-a.example", "cert@org-a.example"}
	if err := d.PutRule(ctx, alert.Rule{ID: "mail", Org: "org-a", Target: alert.Target{Channel: "email", To: to}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(ctx, event(t, "e1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "e-mail", func() bool { m, _ := mb.received(); return len(m) == 1 })
	waitFor(t, "delivered", func() bool { s, _ := d.Deliveries(ctx, "org-a", alert.Delivered, 0); return len(s) == 1 })
	msgs, auths := mb.received()
	got := msgs[0]
	if !got.tls || got.user != "alerts" || got.from != "alerts@hub.example" || strings.Join(got.to, ",") != strings.Join(to, ",") {
		t.Fatalf("envelope: tls %v user %q from %q to %v", got.tls, got.user, got.from, got.to)
	}
	if len(auths) != 1 {
		t.Fatalf("auths %v", auths)
	}
	st, _ := d.Deliveries(ctx, "org-a", "", 0)
	m, err := mail.ReadMessage(bytes.NewReader(got.data))
	if err != nil {
		t.Fatal(err)
	}
	h := m.Header
	if h.Get("From") != "alerts@hub.example" || h.Get("To") != "soc@org-a.example, cert@org-a.example" ||
		h.Get("Subject") != "Kizuna alert: object-added indicator [TLP:GREEN]" ||
		h.Get("Date") != "Wed, 25 Nov 2026 12:00:00 +0000" ||
		h.Get("Message-Id") != "<"+st[0].Key+"@hub.example>" || h.Get("X-Kizuna-Idempotency-Key") != st[0].Key {
		t.Fatalf("headers %v (key %s)", h, st[0].Key)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", h.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	p1, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(p1)
	if !strings.Contains(string(text), "TLP:GREEN object-added indicator event e1") {
		t.Fatalf("summary %q", text)
	}
	p2, err := mr.NextRawPart()
	if err != nil {
		t.Fatal(err)
	}
	if p2.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Fatalf("attachment header %v", p2.Header)
	}
	raw, _ := io.ReadAll(p2)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\r\n") {
		if len(line) > 76 {
			t.Fatalf("attachment line of %d characters", len(line))
		}
	}
	dec, err := base64Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	var msg alert.Message
	if err := json.Unmarshal(dec, &msg); err != nil || msg.Key != st[0].Key || len(msg.Alerts) != 1 || msg.Alerts[0].Event != "e1" {
		t.Fatalf("attachment %s: %v", dec, err)
	}
}

// TestSMTPRefusesCleartext: a server without STARTTLS gets neither the
// credentials nor the message, and the delivery is dead-lettered.
func TestSMTPRefusesCleartext(t *testing.T) {
	mb, addr := startSMTP(t, nil)
	ch := &deliver.SMTP{Addr: addr, From: "alerts@hub.example", Username: "alerts", Password: "pw", AllowPlaintext: true}
	d := open(t, t.TempDir(), alert.Options{Channels: map[string]alert.Channel{"email": ch}})
	ctx := t.Context()
	if err := d.PutRule(ctx, alert.Rule{ID: "mail", Org: "org-a", Target: alert.Target{Channel: "email", To: []string{"soc@org-a.example"}}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(ctx, event(t, "e1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dead letter", func() bool { dl, _ := d.DeadLetters(ctx); return len(dl) == 1 })
	dl, _ := d.DeadLetters(ctx)
	if !strings.Contains(dl[0].LastError, "STARTTLS") || dl[0].Attempts != 1 {
		t.Fatalf("dead letter %+v", dl[0])
	}
	msgs, auths := mb.received()
	if len(msgs) != 0 || len(auths) != 0 {
		t.Fatalf("server got %d messages and credentials %v", len(msgs), auths)
	}
	// Without credentials and with AllowPlaintext, it sends.
	ch.Username, ch.Password = "", ""
	if err := d.Redrive(ctx, dl[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "plaintext e-mail", func() bool { m, _ := mb.received(); return len(m) == 1 })
	if msgs, _ := mb.received(); msgs[0].tls {
		t.Fatal("TLS on a server without it")
	}
}

func base64Decode(raw []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(raw)))
}
