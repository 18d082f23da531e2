package deliver_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

const indicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111",
"created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","confidence":80,
"pattern":"[ipv4-addr:value = '192.0.2.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`

func everyone(string, sharing.Label) bool { return true }

func event(t testing.TB, id string) alert.Event {
	t.Helper()
	e, err := alert.FromObject(alert.ObjectAdded, id, json.RawMessage(indicator), sharing.Label{TLP: sharing.TLPGreen})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func open(t testing.TB, dir string, opt alert.Options) *alert.Dispatcher {
	t.Helper()
	if opt.Visible == nil {
		opt.Visible = everyone
	}
	if opt.PollInterval == 0 {
		opt.PollInterval = 20 * time.Millisecond
	}
	d, err := alert.Open(context.Background(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver is a webhook endpoint that verifies signatures and processes
// each idempotency key once.
type receiver struct {
	secret    []byte
	behave    func(key string, attempt int, w http.ResponseWriter) bool // false: stop
	mu        sync.Mutex
	attempts  map[string]int
	processed map[string]int
	requests  int
	dups      int
	bad       []string
}

func newReceiver(secret []byte) *receiver {
	return &receiver{secret: secret, attempts: map[string]int{}, processed: map[string]int{}}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get(webhook.IdempotencyHeader)
	rc.mu.Lock()
	rc.requests++
	rc.attempts[key]++
	n := rc.attempts[key]
	if _, err := webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), 0, rc.secret); err != nil {
		rc.bad = append(rc.bad, "signature: "+err.Error())
	}
	var m alert.Message
	if err := json.Unmarshal(body, &m); err != nil || m.Key != key || r.Header.Get(deliver.DeliveryHeader) != strconv.FormatInt(m.Delivery, 10) {
		rc.bad = append(rc.bad, fmt.Sprintf("body %s for key %s", body, key))
	}
	rc.mu.Unlock()
	if rc.behave != nil && !rc.behave(key, n, w) {
		return
	}
	// Deduplicate by key: a real receiver stores the key with the alert's
	// effects in one transaction.
	rc.mu.Lock()
	if rc.processed[key] > 0 {
		rc.dups++
	} else {
		rc.processed[key]++
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) stats() (requests int, attempts, processed map[string]int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	a, p := map[string]int{}, map[string]int{}
	for k, v := range rc.attempts {
		a[k] = v
	}
	for k, v := range rc.processed {
		p[k] = v
	}
	return rc.requests, a, p, append([]string(nil), rc.bad...)
}

// TestWebhookFailTimeoutRecover: the receiver answers 500, then takes
// longer than the timeout (processing the alert all the same), then
// recovers; each alert is processed once and acknowledged as delivered.
func TestWebhookFailTimeoutRecover(t *testing.T) {
	secret := []byte("s3cret")
	rc := newReceiver(secret)
	rc.behave = func(key string, attempt int, w http.ResponseWriter) bool {
		switch attempt {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
			return false
		case 2:
			time.Sleep(400 * time.Millisecond) // the hub gave up after 150 ms; processed all the same
		}
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	d := open(t, t.TempDir(), alert.Options{
		Channels: map[string]alert.Channel{"webhook": &deliver.Webhook{AllowPrivate: true}},
		Timeout:  150 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	ctx := t.Context()
	const orgs = 10
	for i := range orgs {
		if err := d.PutRule(ctx, alert.Rule{ID: fmt.Sprint("r", i), Org: fmt.Sprint("org", i),
			Target: alert.Target{Channel: "webhook", URL: srv.URL + "/hook", Secret: secret}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Publish(ctx, event(t, "e1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all delivered", func() bool { s, _ := d.Deliveries(ctx, "", alert.Delivered, 0); return len(s) == orgs })
	waitFor(t, "timed-out requests to finish", func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.dups >= orgs })
	time.Sleep(100 * time.Millisecond)
	requests, attempts, processed, bad := rc.stats()
	if len(bad) > 0 {
		t.Fatalf("bad requests: %v", bad)
	}
	if len(processed) != orgs || requests != 3*orgs {
		t.Fatalf("%d keys processed in %d requests, want %d in %d", len(processed), requests, orgs, 3*orgs)
	}
	for k, n := range processed {
		if n != 1 || attempts[k] != 3 {
			t.Errorf("key %s processed %d times in %d attempts", k, n, attempts[k])
		}
	}
	rc.mu.Lock()
	dups := rc.dups
	rc.mu.Unlock()
	if dups != orgs {
		t.Errorf("%d duplicates dropped, want %d", dups, orgs)
	}
	s, _ := d.Deliveries(ctx, "", "", 0)
	for _, st := range s {
		if st.Attempts != 3 || processed[st.Key] != 1 {
			t.Errorf("delivery %+v", st)
		}
	}
}

// TestWebhookRestart: the hub is closed while four deliveries hang at the
// receiver; reopened on the same database it delivers everything, and the
// receiver processes each key exactly once.
func TestWebhookRestart(t *testing.T) {
	secret := []byte("k")
	rc := newReceiver(secret)
	release := make(chan struct{})
	var hung sync.WaitGroup
	hung.Add(4)
	var hmu sync.Mutex
	nhung := 0
	rc.behave = func(key string, attempt int, w http.ResponseWriter) bool {
		hmu.Lock()
		first := nhung < 4
		if first {
			nhung++
			hung.Done()
		}
		hmu.Unlock()
		if first {
			<-release // processed after the hub went away
		}
		return true
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	dir := t.TempDir()
	opt := alert.Options{Visible: everyone, Channels: map[string]alert.Channel{"webhook": &deliver.Webhook{AllowPrivate: true}},
		Workers: 4, Backoff: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond}
	d1, err := alert.Open(t.Context(), dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const orgs = 30
	for i := range orgs {
		if err := d1.PutRule(ctx, alert.Rule{ID: fmt.Sprint("r", i), Org: fmt.Sprint("org", i),
			Target: alert.Target{Channel: "webhook", URL: srv.URL, Secret: secret}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d1.Publish(ctx, event(t, "e1")); err != nil {
		t.Fatal(err)
	}
	hung.Wait()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := d1.Close(gone); err != nil {
		t.Fatal(err)
	}
	close(release)
	d2 := open(t, dir, opt)
	waitFor(t, "all delivered", func() bool { s, _ := d2.Deliveries(ctx, "", alert.Delivered, 0); return len(s) == orgs })
	waitFor(t, "interrupted requests to finish", func() bool { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.dups >= 4 })
	time.Sleep(100 * time.Millisecond)
	requests, _, processed, bad := rc.stats()
	if len(bad) > 0 {
		t.Fatalf("bad requests: %v", bad)
	}
	if len(processed) != orgs {
		t.Fatalf("%d keys processed, want %d", len(processed), orgs)
	}
	for k, n := range processed {
		if n != 1 {
			t.Errorf("key %s processed %d times", k, n)
		}
	}
	rc.mu.Lock()
	dups := rc.dups
	rc.mu.Unlock()
	if requests < orgs+4 || dups != 4 {
		t.Fatalf("%d requests, %d duplicates: the interrupted deliveries were not sent again", requests, dups)
	}
}

func TestWebhookPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer srv.Close()
	w := &deliver.Webhook{AllowPrivate: true}
	m := &alert.Message{Key: "k"}
	err := w.Deliver(t.Context(), &alert.Delivery{ID: 1, Key: "k", Target: alert.Target{URL: srv.URL}, Message: m, Body: []byte(`{}`)})
	if !errors.Is(err, alert.ErrPermanent) {
		t.Fatalf("410: %v", err)
	}
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }))
	defer srv2.Close()
	err = w.Deliver(t.Context(), &alert.Delivery{ID: 1, Key: "k", Target: alert.Target{URL: srv2.URL}, Message: m, Body: []byte(`{}`)})
	if err == nil || errors.Is(err, alert.ErrPermanent) {
		t.Fatalf("429: %v", err)
	}
}

func TestTAXIIHook(t *testing.T) {
	var got []json.RawMessage
	var org string
	d := open(t, t.TempDir(), alert.Options{Channels: map[string]alert.Channel{"taxii": &deliver.TAXII{
		Add: func(_ context.Context, o string, objs []json.RawMessage) error { org, got = o, objs; return nil }}}})
	if err := d.PutRule(t.Context(), alert.Rule{ID: "r", Org: "org-a", Target: alert.Target{Channel: "taxii"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(t.Context(), event(t, "e")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "taxii delivery", func() bool { s, _ := d.Deliveries(t.Context(), "", alert.Delivered, 0); return len(s) == 1 })
	if org != "org-a" || len(got) != 1 || !strings.Contains(string(got[0]), `"indicator--11111111-1111-4111-8111-111111111111"`) {
		t.Fatalf("hook got %s %s", org, got)
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kizuna test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestSyslog checks the RFC 5424 record received over UDP and over TCP
// with octet counting.
func TestSyslog(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 123456000, time.UTC)
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	tcpRec := make(chan string, 1)
	go func() {
		c, err := tcp.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		n, err := br.ReadString(' ')
		if err != nil {
			tcpRec <- "error: " + err.Error()
			return
		}
		l, _ := strconv.Atoi(strings.TrimSpace(n))
		buf := make([]byte, l)
		if _, err := io.ReadFull(br, buf); err != nil {
			tcpRec <- "error: " + err.Error()
			return
		}
		tcpRec <- string(buf)
	}()
	clock := func() time.Time { return now }
	d := open(t, t.TempDir(), alert.Options{Channels: map[string]alert.Channel{
		"syslog-udp": &deliver.Syslog{Network: "udp", Addr: udp.LocalAddr().String(), Hostname: "hub.example", Now: clock},
		"syslog-tcp": &deliver.Syslog{Network: "tcp", Addr: tcp.Addr().String(), Hostname: "hub.example", Now: clock},
	}})
	ctx := t.Context()
	if err := d.PutRule(ctx, alert.Rule{ID: `r"1]`, Org: "org-a", Target: alert.Target{Channel: "syslog-udp"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.PutRule(ctx, alert.Rule{ID: "r2", Org: "org-b", Target: alert.Target{Channel: "syslog-tcp"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Publish(ctx, event(t, "e1")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = udp.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	var viaTCP string
	select {
	case viaTCP = <-tcpRec:
	case <-time.After(10 * time.Second):
		t.Fatal("no TCP record")
	}
	re := regexp.MustCompile(`^<84>1 2026-11-25T12:00:00\.123456Z hub\.example kizuna \d+ object-added ` +
		`\[kizuna@32473 delivery="\d+" key="(kz1_[0-9a-f]{32})" org="(org-[ab])" rule="((?:[^"\\\]]|\\.)*)" alerts="1"\]` +
		`\[kizuna-alert@32473 event="e1" kind="object-added" type="indicator" tlp="TLP:GREEN"\] \x{FEFF}(\{.*\})$`)
	for _, rec := range []string{string(buf[:n]), viaTCP} {
		m := re.FindStringSubmatch(rec)
		if m == nil {
			t.Fatalf("record does not match RFC 5424 layout:\n%q", rec)
		}
		var msg alert.Message
		if err := json.Unmarshal([]byte(m[4]), &msg); err != nil || msg.Key != m[1] || msg.Org != m[2] {
			t.Fatalf("MSG %s: %v", m[4], err)
		}
		wantRule := map[string]string{"org-a": `r\"1\]`, "org-b": "r2"}[m[2]]
		if m[3] != wantRule {
			t.Fatalf("rule param %q, want %q", m[3], wantRule)
		}
	}
}

// TestWebhookRefusesPrivate: without AllowPrivate a receiver on loopback is
// never called, whether named by address or by a name resolving to it, and
// the permanent failure names the refused address; with it the same
// receiver gets the delivery.
func TestWebhookRefusesPrivate(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	m := &alert.Message{Key: "k"}
	for _, u := range []string{srv.URL + "/hook", "http://localhost:" + port + "/hook"} {
		err := (&deliver.Webhook{}).Deliver(t.Context(), &alert.Delivery{ID: 7, Key: "k", Target: alert.Target{URL: u}, Message: m, Body: []byte(`{}`)})
		if !errors.Is(err, alert.ErrPermanent) || !strings.Contains(err.Error(), "is loopback") ||
			!strings.Contains(err.Error(), "address 127.0.0.1") && !strings.Contains(err.Error(), "address ::1") {
			t.Errorf("%s without AllowPrivate: %v", u, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the refused receiver was called %d times", n)
	}
	if err := (&deliver.Webhook{AllowPrivate: true}).Deliver(t.Context(), &alert.Delivery{ID: 8, Key: "k", Target: alert.Target{URL: srv.URL}, Message: m, Body: []byte(`{}`)}); err != nil || calls.Load() != 1 {
		t.Fatalf("with AllowPrivate: %v, %d calls", err, calls.Load())
	}
}
