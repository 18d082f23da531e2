package deliver

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/response/alert"
)

// SDID is the structured-data id of alert records (32473 is the example
// enterprise number of RFC 5612; deployments may set their own).
const SDID = "kizuna@32473"

// Syslog sends one RFC 5424 record per message to a collector over UDP
// (one datagram per record) or TCP (octet-counting framing, RFC 6587):
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [kizuna@32473 delivery="7" key="kz1_..." org="..." rule="..." alerts="1"][kizuna-alert@32473 event="..." kind="..." type="..." tlp="..."] MSG
//
// MSG is the message as JSON, after a UTF-8 BOM.
type Syslog struct {
	// Network is "udp" or "tcp".
	Network string
	// Addr is the collector's host:port.
	Addr string
	// Facility (default 10, security/authorization) and Severity (default
	// 4, warning) make the PRI.
	Facility, Severity int
	// Hostname and AppName (defaults: os.Hostname and "kizuna").
	Hostname, AppName string
	// Now is the clock for TIMESTAMP (default time.Now).
	Now func() time.Time
}

// Deliver implements alert.Channel.
func (s *Syslog) Deliver(ctx context.Context, d *alert.Delivery) error {
	network := s.Network
	if network != "udp" && network != "tcp" {
		return fmt.Errorf("syslog: delivery %d: network %q (want udp or tcp): %w", d.ID, network, alert.ErrPermanent)
	}
	rec := s.Format(d)
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, network, s.Addr)
	if err != nil {
		return fmt.Errorf("syslog: delivery %d: %w", d.ID, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if network == "tcp" {
		rec = append([]byte(strconv.Itoa(len(rec))+" "), rec...)
	}
	if _, err := conn.Write(rec); err != nil {
		return fmt.Errorf("syslog: delivery %d: %w", d.ID, err)
	}
	return nil
}

// Format returns the RFC 5424 record of d (without transport framing).
func (s *Syslog) Format(d *alert.Delivery) []byte {
	fac, sev := s.Facility, s.Severity
	if fac == 0 {
		fac = 10
	}
	if sev == 0 {
		sev = 4
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	host := s.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	app := s.AppName
	if app == "" {
		app = "kizuna"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %d %s ", fac*8+sev, now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		header(host, 255), header(app, 48), os.Getpid(), msgID(d))
	fmt.Fprintf(&b, `[%s delivery="%d" key="%s" org="%s" rule="%s" alerts="%d"]`, SDID, d.ID, sdEscape(d.Key),
		sdEscape(d.Org), sdEscape(d.Rule), len(d.Message.Alerts))
	if !d.Message.Digest && len(d.Message.Alerts) == 1 {
		a := d.Message.Alerts[0]
		fmt.Fprintf(&b, `[kizuna-alert@32473 event="%s" kind="%s" type="%s" tlp="%s"`, sdEscape(a.Event), sdEscape(string(a.Kind)),
			sdEscape(a.Type), sdEscape(a.TLP))
		if a.Severity != "" {
			fmt.Fprintf(&b, ` severity="%s"`, sdEscape(a.Severity))
		}
		b.WriteByte(']')
	}
	b.WriteString(" \ufeff")
	b.Write(d.Body)
	return []byte(b.String())
}

func msgID(d *alert.Delivery) string {
	if d.Message.Digest {
		return "digest"
	}
	if len(d.Message.Alerts) == 1 {
		return header(string(d.Message.Alerts[0].Kind), 32)
	}
	return "alert"
}

// header makes a header field: printable US-ASCII without spaces, at most
// n characters, "-" when empty.
func header(s string, n int) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdEscape escapes a PARAM-VALUE: '"', '\' and ']' get a backslash.
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}
