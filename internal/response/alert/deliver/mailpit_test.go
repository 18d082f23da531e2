package deliver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
)

// mailpitBinary finds mailpit (github.com/axllent/mailpit, installed by
// `make tools`): $KIZUNA_MAILPIT, then PATH, then $(go env GOPATH)/bin. It
// skips the test when there is none, except under CI=1, where it fails.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KIZUNA_MAILPIT"); p != "" {
		return p
	}
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "mailpit not found ($KIZUNA_MAILPIT, PATH, $(go env GOPATH)/bin); install it with `make tools` (go install github.com/axllent/mailpit@v1.33.1)"
	if os.Getenv("CI") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a loopback address with a port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// mailpit is a running mailpit: SMTP at smtp (STARTTLS required), its HTTP
// API at api.
type mailpit struct {
	smtp, api string
}

// startMailpit starts the real mailpit binary on free loopback ports with a
// certificate made for the test and STARTTLS required, and waits until its
// API answers.
func startMailpit(t *testing.T, cert tls.Certificate) *mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	var m *mailpit
	for try := 0; ; try++ { // a port taken between freePort and mailpit's bind: try again
		m = &mailpit{smtp: freePort(t), api: freePort(t)}
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin,
			"--smtp", m.smtp, "--listen", m.api,
			"--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile, "--smtp-require-starttls",
			"--smtp-auth-accept-any", "--smtp-disable-rdns",
			"--database", filepath.Join(dir, fmt.Sprintf("mailpit%d.db", try)), "--quiet")
		var logBuf strings.Builder
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cancel()
			<-exited
		}
		err := m.waitReady(exited)
		if err == nil {
			t.Cleanup(stop)
			break
		}
		stop()
		if try == 2 {
			t.Fatalf("mailpit did not start: %v\n%s", err, logBuf.String())
		}
	}
	return m
}

func (m *mailpit) waitReady(exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second) // the machine may be busy
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("mailpit exited: %v", err)
		default:
		}
		if resp, err := http.Get("http://" + m.api + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("API not ready after 60 s")
}

// get decodes a JSON answer of mailpit's API.
func (m *mailpit) get(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := http.Get("http://" + m.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// mpAddress and mpMessage are the parts of mailpit's API answers the test
// reads (/api/v1/messages, /api/v1/message/{ID}).
type mpAddress struct {
	Address string `json:"Address"`
}

type mpSummary struct {
	ID      string      `json:"ID"`
	To      []mpAddress `json:"To"`
	Subject string      `json:"Subject"`
}

type mpMessage struct {
	ID          string      `json:"ID"`
	From        mpAddress   `json:"From"`
	To          []mpAddress `json:"To"`
	Subject     string      `json:"Subject"`
	MessageID   string      `json:"MessageID"`
	Text        string      `json:"Text"`
	Attachments []struct {
		PartID      string `json:"PartID"`
		FileName    string `json:"FileName"`
		ContentType string `json:"ContentType"`
	} `json:"Attachments"`
}

func addresses(as []mpAddress) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	slices.Sort(out)
	return out
}

// TestMailpitStartTLS delivers an alert e-mail through the dispatcher and
// deliver.SMTP to a real mailpit that requires STARTTLS, and reads it back
// through mailpit's HTTP API: envelope recipients, subject, summary text
// and the JSON alert attached.
func TestMailpitStartTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	mp := startMailpit(t, cert)

	// STARTTLS is really required: a client staying in clear is refused.
	c, err := smtp.Dial(mp.smtp)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alerts@hub.example"); err == nil {
		t.Fatal("mailpit accepted MAIL FROM without STARTTLS")
	}
	c.Close()

	ch := &deliver.SMTP{Addr: mp.smtp, From: "alerts@hub.example", Username: "alerts", Password: "pw",
		TLS: &tls.Config{RootCAs: pool}}
	d := open(t, t.TempDir(), alert.Options{Channels: map[string]alert.Channel{"email": ch}})
	ctx := t.Context()
	to := []string{"soc@org-a.example", "cert@org-a.example"}
	if err := d.PutRule(ctx, alert.Rule{ID: "mail", Org: "org-a", Target: alert.Target{Channel: "email", To: to}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(ctx, event(t, "e-mailpit")); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Total    int         `json:"total"`
		Messages []mpSummary `json:"messages"`
	}
	deadline := time.Now().Add(60 * time.Second)
	for list.Total == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		mp.get(t, "/api/v1/messages", &list)
	}
	if list.Total != 1 || len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", list.Total)
	}
	waitFor(t, "delivered", func() bool { s, _ := d.Deliveries(ctx, "org-a", alert.Delivered, 0); return len(s) == 1 })
	st, _ := d.Deliveries(ctx, "org-a", "", 0)
	key := st[0].Key

	var msg mpMessage
	mp.get(t, "/api/v1/message/"+list.Messages[0].ID, &msg)
	wantTo := slices.Clone(to)
	slices.Sort(wantTo)
	if got := addresses(msg.To); !slices.Equal(got, wantTo) || msg.From.Address != "alerts@hub.example" {
		t.Errorf("from %q to %q, want alerts@hub.example to %q", msg.From.Address, got, wantTo)
	}
	if msg.Subject != "Kizuna alert: object-added indicator [TLP:GREEN]" {
		t.Errorf("subject %q", msg.Subject)
	}
	if msg.MessageID != key+"@hub.example" {
		t.Errorf("Message-ID %q, want %s@hub.example", msg.MessageID, key)
	}
	if !strings.Contains(msg.Text, "TLP:GREEN object-added indicator event e-mailpit") {
		t.Errorf("text %q", msg.Text)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].FileName != "alert.json" {
		t.Fatalf("attachments %+v", msg.Attachments)
	}
	resp, err := http.Get("http://" + mp.api + "/api/v1/message/" + msg.ID + "/part/" + msg.Attachments[0].PartID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body alert.Message
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Key != key || len(body.Alerts) != 1 || body.Alerts[0].Event != "e-mailpit" {
		t.Errorf("attached alert %+v: %v", body, err)
	}
}
