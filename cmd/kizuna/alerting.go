package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/demo"
	"github.com/kizuna-cti/kizuna/internal/events"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/alert/collection"
	"github.com/kizuna-cti/kizuna/internal/response/alert/deliver"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/response/webhook"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// alertingFlags are serve's alerting settings.
type alertingFlags struct {
	nats     string // NATS URL ("" embedded bus)
	smtp     string // SMTP submission server host:port
	smtpFrom string
	syslog   string // udp://host:port or tcp://host:port
	// route configures constituency routing of events (the prefix-to-ASN
	// table of serve --asn-table).
	route route.Options
	// allowPrivateWebhooks lets webhooks reach loopback, private and
	// link-local addresses (serve --allow-private-webhooks).
	allowPrivateWebhooks bool
}

// openBus opens the hub's event bus: NATS JetStream when natsURL (or
// KIZUNA_NATS_URL) is set, else the embedded bus in dir/bus.db.
// KIZUNA_NATS_STREAM overrides the stream name (default KIZUNA_EVENTS).
func openBus(ctx context.Context, dir, natsURL string, log *slog.Logger) (bus.Bus, error) {
	if natsURL == "" {
		natsURL = os.Getenv("KIZUNA_NATS_URL")
	}
	if natsURL != "" {
		stream := os.Getenv("KIZUNA_NATS_STREAM")
		subject := ""
		if stream != "" {
			subject = "kizuna." + stream
		}
		b, err := bus.DialNATS(ctx, natsURL, bus.NATSOptions{Stream: stream, Subject: subject, Logger: log})
		if err != nil {
			return nil, failure("event bus: %v", err)
		}
		return b, nil
	}
	b, err := bus.OpenLocal(ctx, dir, bus.LocalOptions{Logger: log})
	if err != nil {
		return nil, failure("event bus: %v", err)
	}
	return b, nil
}

// withEvents returns st publishing its committed versions on the hub's bus
// (for the command-line writers: import, misp, feed, vuln, incident), and
// a function closing the bus. The publisher is durable (DIR/outbox.db):
// events the bus refuses, or that a killed process never published, are
// published by the next catch-up of any publisher of the data directory.
func withEvents(ctx context.Context, dir string, st store.Store, log *slog.Logger) (store.Store, func(), error) {
	if dir == "" {
		dir = os.Getenv("KIZUNA_DATA")
	}
	b, err := openBus(ctx, dir, "", log)
	if err != nil {
		return nil, nil, err
	}
	p, err := durablePublisher(ctx, dir, b, st, log)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	return p.Store(st), func() { p.Close(); b.Close() }, nil
}

// durablePublisher returns a publisher on b with its outbox in dir.
func durablePublisher(ctx context.Context, dir string, b bus.Publisher, st store.Store, log *slog.Logger) (*events.Publisher, error) {
	p := events.NewPublisher(b, st, log)
	if err := p.Durable(ctx, dir, st, events.OutboxOptions{}); err != nil {
		return nil, failure("event outbox: %v", err)
	}
	return p, nil
}

// publishFindings has the new findings vdb computes in this process
// published on the hub's bus (for the command-line writers: vuln import,
// vuln source run, csaf publish, sbom upload), so the serving hub alerts on
// them; the returned function closes the bus. The publisher is durable:
// findings the bus refuses stay in DIR/outbox.db until a catch-up (of
// this or the next publisher of the data directory) publishes them.
func publishFindings(ctx context.Context, dir string, st store.Store, vdb *vulndb.DB, log *slog.Logger) (func(), error) {
	if dir == "" {
		dir = os.Getenv("KIZUNA_DATA")
	}
	b, err := openBus(ctx, dir, "", log)
	if err != nil {
		return nil, err
	}
	p, err := durablePublisher(ctx, dir, b, st, log)
	if err != nil {
		b.Close()
		return nil, err
	}
	vdb.Subscribe(p.Findings)
	return func() { p.Close(); b.Close() }, nil
}

// alertChannels returns the delivery channels: webhook and taxii (the
// organisations' alert collections colls) always, e-mail when an SMTP
// server is configured, syslog when a collector is.
func alertChannels(f alertingFlags, colls *collection.Collections) (map[string]alert.Channel, error) {
	ch := map[string]alert.Channel{
		"webhook": &deliver.Webhook{AllowPrivate: f.allowPrivateWebhooks},
		"taxii":   &deliver.TAXII{Add: colls.Add},
	}
	if f.smtp != "" {
		if f.smtpFrom == "" {
			return nil, usage("serve: --smtp needs --smtp-from ADDRESS")
		}
		ch["email"] = &deliver.SMTP{Addr: f.smtp, From: f.smtpFrom,
			Username: os.Getenv("KIZUNA_SMTP_USERNAME"), Password: os.Getenv("KIZUNA_SMTP_PASSWORD")}
	}
	if f.syslog != "" {
		u, err := url.Parse(f.syslog)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" {
			return nil, usage("serve: --syslog %q: want udp://HOST:PORT or tcp://HOST:PORT", f.syslog)
		}
		ch["syslog"] = &deliver.Syslog{Network: u.Scheme, Addr: u.Host}
	}
	return ch, nil
}

// allChannelNames lets the command line validate rules for any channel
// (it never delivers).
func allChannelNames() map[string]alert.Channel {
	nop := alert.ChannelFunc(func(context.Context, *alert.Delivery) error { return nil })
	return map[string]alert.Channel{"webhook": nop, "email": nop, "syslog": nop, "taxii": nop}
}

// alertVisible is the dispatcher's visibility check: the sharing policy
// for a member of the rule's organisation.
func alertVisible(policy *sharing.Policy) func(string, sharing.Label) bool {
	return func(org string, l sharing.Label) bool {
		return policy.CanSee(sharing.Principal{OrgID: org, Role: sharing.RoleMember}, l)
	}
}

// openAlerts opens the dispatcher of dir/alerts.db: delivering with
// channels, or passive (administration only) when channels is nil.
func openAlerts(ctx context.Context, dir string, policy *sharing.Policy, channels map[string]alert.Channel, log *slog.Logger) (*alert.Dispatcher, error) {
	opt := alert.Options{Visible: alertVisible(policy), Channels: channels, Logger: log, Timeout: 10 * time.Second}
	if channels == nil {
		opt.Channels, opt.Passive = allChannelNames(), true
	}
	d, err := alert.Open(ctx, dir, opt)
	if err != nil {
		return nil, failure("alerts: %v", err)
	}
	return d, nil
}

// hubAlerting is serve's alerting: the bus, the publisher, the
// dispatcher and its subscription.
type hubAlerting struct {
	bus        bus.Bus
	publisher  *events.Publisher
	dispatcher *alert.Dispatcher
	registry   *constituency.Registry
	sub        bus.Subscription
	// collections are the organisations' TAXII alert collections.
	collections *collection.Collections
	log         *slog.Logger
}

// ruleAdded creates the alert collection of a new taxii rule's
// organisation (the server's AlertRuleAdded).
func (h *hubAlerting) ruleAdded(ctx context.Context, r alert.Rule) error {
	if r.Target.Channel != "taxii" {
		return nil
	}
	_, err := h.collections.Ensure(ctx, r.Org)
	return err
}

// ensureCollections creates the alert collection of every organisation
// with a taxii rule, so that its members find it before the first alert
// (a failure is logged: the first delivery creates it).
func (h *hubAlerting) ensureCollections(ctx context.Context) {
	for _, r := range h.dispatcher.Rules("") {
		if r.Target.Channel != "taxii" {
			continue
		}
		if _, err := h.collections.Ensure(ctx, r.Org); err != nil {
			h.log.WarnContext(ctx, "alert collection", "org", r.Org, "err", err)
		}
	}
}

// close stops the subscription, lets deliveries in flight finish until
// ctx is done (the rest resume on the next start), and closes the bus.
func (h *hubAlerting) close(ctx context.Context) error {
	h.publisher.Close() // queued events of committed versions onto the bus
	if h.sub != nil {
		h.sub.Stop()
	}
	var err error
	if h.dispatcher != nil {
		err = h.dispatcher.Close(ctx)
	}
	if h.registry != nil {
		h.registry.Close()
	}
	if cerr := h.bus.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("alerting: %w", err)
	}
	return nil
}

// startAlerting opens the bus and the dispatcher, subscribes the
// dispatcher to the bus (with constituency routing) and hooks the case
// store and the vulnerability database up as publishers. Wrap the store
// the server writes through with h.publisher.Store. With notes, the owners
// of what a sighting observed get a notification (routed with f.route).
func startAlerting(ctx context.Context, dir string, st store.Store, policy *sharing.Policy, f alertingFlags,
	cases *incident.Cases, vdb *vulndb.DB, notes *notify.Store, log *slog.Logger) (*hubAlerting, error) {
	colls := &collection.Collections{Store: st, Policy: policy, Log: log} // st unwrapped: the copies raise no events
	channels, err := alertChannels(f, colls)
	if err != nil {
		return nil, err
	}
	b, err := openBus(ctx, dir, f.nats, log)
	if err != nil {
		return nil, err
	}
	p, err := durablePublisher(ctx, dir, b, st, log) // catches up with what the bus missed
	if err != nil {
		b.Close()
		return nil, err
	}
	h := &hubAlerting{bus: b, publisher: p, collections: colls, log: log}
	h.dispatcher, err = openAlerts(ctx, dir, policy, channels, log)
	if err != nil {
		p.Close()
		b.Close()
		return nil, err
	}
	h.ensureCollections(ctx)
	reg, err := constituency.Open(ctx, dir)
	if err != nil {
		h.close(ctx)
		return nil, failure("alerts: %v", err)
	}
	h.registry = reg
	// Visible decides which owners may learn of a value another object
	// names (and, with notes, be notified).
	router := &events.ConstituencyRouter{Registry: reg, Options: f.route, Log: log, Visible: alertVisible(policy)}
	if notes != nil { // sightings and shared intelligence notify the owners of what they name
		router.Notes, router.Added = notes, p.PublishNotifications
		router.Producer = sharing.Principal{OrgID: hubOrgID(ctx, st)}
	}
	h.sub, err = events.Deliver(ctx, b, h.dispatcher, router, events.StoreLoader(st), log)
	if err != nil {
		h.close(ctx)
		return nil, failure("alerts: subscribing to the event bus: %v", err)
	}
	if cases != nil {
		cases.Changed = h.publisher.Case
	}
	if vdb != nil {
		vdb.Subscribe(h.publisher.Findings)
	}
	return h, nil
}

// The ids of the demo's alert rules.
const (
	demoAlertRule = "demo-utility-webhook"
	demoTAXIIRule = "demo-city-taxii"
)

// startDemoAlerting runs the hub's alerting for `kizuna demo`: the bus and
// dispatcher as in serve, a webhook receiver on loopback in this process
// that prints every alert it accepts (signature verified) to w, a rule of
// org sending it object-added, sighting, finding and case alerts, and a
// rule of taxiiOrg storing the indicators it may see in its TAXII alert
// collection. It returns the alerting and the receiver's URL.
func startDemoAlerting(ctx context.Context, dir string, st store.Store, policy *sharing.Policy, cases *incident.Cases,
	vdb *vulndb.DB, notes *notify.Store, org, taxiiOrg string, w io.Writer, log *slog.Logger) (*hubAlerting, string, error) {
	// The receiver is on loopback: the demo allows private webhook targets.
	al, err := startAlerting(ctx, dir, st, policy, alertingFlags{allowPrivateWebhooks: true, route: demo.RouteOptions()}, cases, vdb, notes, log)
	if err != nil {
		return nil, "", err
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	secret := hex.EncodeToString(raw[:])
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		al.close(ctx)
		return nil, "", failure("demo: webhook receiver: %v", err)
	}
	var mu sync.Mutex
	recv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err == nil {
			_, err = webhook.Verify(r.Header.Get(webhook.Header), body, time.Now(), 0, []byte(secret))
		}
		var m alert.Message
		if err == nil {
			err = json.Unmarshal(body, &m)
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range m.Alerts {
			fmt.Fprintf(w, "[demo webhook] delivery %d %s: %s %s %s (%s)\n", m.Delivery, a.Key, a.Kind, a.Type, a.Event, a.TLP)
		}
		mu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = recv.Serve(ln) }()
	context.AfterFunc(ctx, func() { recv.Close() })
	hookURL := "http://" + ln.Addr().String() + "/hook"
	rule := alert.Rule{ID: demoAlertRule, Org: org, Kinds: []alert.Kind{alert.ObjectAdded, alert.Sighting, alert.Finding, alert.Case},
		Target: alert.Target{Channel: "webhook", URL: hookURL, Secret: []byte(secret)}}
	taxiiRule := alert.Rule{ID: demoTAXIIRule, Org: taxiiOrg, Kinds: []alert.Kind{alert.ObjectAdded, alert.Sighting},
		Types: []string{"indicator", "sighting"}, Target: alert.Target{Channel: "taxii"}}
	for _, r := range []alert.Rule{rule, taxiiRule} {
		if err := al.dispatcher.PutRule(ctx, r); err != nil {
			al.close(ctx)
			recv.Close()
			return nil, "", failure("demo: alert rule %s: %v", r.ID, err)
		}
	}
	al.ensureCollections(ctx)
	return al, hookURL, nil
}

// printDemoAlerting tells how to see the demo's alert rules at work: org's
// webhook rule and taxiiOrg's taxii rule, whose alert collection is read
// at collURL with taxiiToken (k: curl options).
func printDemoAlerting(w io.Writer, dataDir, org, hookURL, taxiiOrg, collURL, taxiiToken, k string) {
	fmt.Fprintf(w, `
Alerting: %s has rule %s (object-added, sighting, finding and case alerts it may see)
to a webhook receiver in this process, %s, which prints each signed alert it accepts
here as "[demo webhook] ...". Publish anything over TAXII or upload a telemetry log as above, then:
  kizuna alert rule list --data %s --org '%s'
  kizuna alert list --data %s --org '%s'
  kizuna alert rule add --data %s --org '%s' --channel webhook --url https://soc.example/hook --secret 0123456789abcdef --type indicator
(webhooks to loopback and private addresses are allowed in the demo only: serve refuses them
unless started with --allow-private-webhooks)
%s has rule %s (channel taxii): the indicators and sightings it may see, published from now on,
land in its alert collection, read-only, which only %s lists and reads (others get 404):
  curl %s-H 'Accept: application/taxii+json;version=2.1' -H 'Authorization: Bearer %s' %s
`, org, demoAlertRule, hookURL, dataDir, org, dataDir, org, dataDir, org, taxiiOrg, demoTAXIIRule, taxiiOrg, k, taxiiToken, collURL)
}

// printDemoIntel prints how the partner CERT's shared indicator
// (demo.ShareIntel) reached the city as notifications.
func printDemoIntel(w io.Writer, dataDir, url, city, cityToken, k string) {
	fmt.Fprintf(w, `
Shared intelligence routed by constituency: the partner CERT shared the TLP:GREEN indicator
%s naming %s;
the city (198.51.100.0/24, minato-kita.example) alone got one notification per value, source "intel".
Every indicator, observed-data and address, domain, URL or e-mail SCO published from now on is
routed the same way (the signed POST above names the city's 198.51.100.250):
  kizuna notify list --data %s --org '%s'
  curl %s-H 'Authorization: Bearer %s' '%s/api/v1/notifications'
`, demo.IntelIndicatorID, strings.Join(demo.IntelValues, " and "), dataDir, city, k, cityToken, url)
}
