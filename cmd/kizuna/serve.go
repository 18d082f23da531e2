package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/server"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// shutdownGrace bounds the graceful shutdown after SIGINT/SIGTERM.
const shutdownGrace = 15 * time.Second

// newServeCmd is `kizuna serve`: the TAXII 2.1 server, the JSON API and
// the public TLP:CLEAR feed over one data directory.
func newServeCmd() *cobra.Command {
	var (
		dataDir, listen  string
		tlsCert, tlsKey  string
		insecureHTTP     bool
		maxContentLength int64
		alerting         alertingFlags
		asnTable         string
		asnFormat        string
	)
	cmd := &cobra.Command{
		Use:   "serve --data DIR [--listen HOST:PORT] [--tls-cert FILE --tls-key FILE | --insecure-http]",
		Short: "Serve TAXII 2.1 (discovery at /taxii2/), the JSON API and the public TLP:CLEAR feed",
		Long: `Serve the hub over HTTPS: TAXII 2.1 at /taxii2/, the JSON API at /api/v1/,
the public TLP:CLEAR feed at /public/clear, and /healthz, /readyz, /metrics.

Without --tls-cert/--tls-key a self-signed ECDSA certificate is generated
into DIR/tls/ and reused on later runs. --insecure-http serves plain HTTP and
is only allowed on a loopback address (127.0.0.0/8, ::1, localhost).
The data directory is created when missing. SIGINT or SIGTERM stops the
server gracefully.

--asn-table FILE loads a prefix-to-ASN table (CSV prefix,asn or a pyasn
dump) so that notification imports and alert routing reach organisations
that registered only their ASN.

Webhook alerts never reach loopback, private, link-local (cloud metadata),
unspecified, multicast or other reserved addresses, checked when dialling,
unless --allow-private-webhooks is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return usage("serve: --listen %q: want HOST:PORT", listen)
			}
			if insecureHTTP && !server.IsLoopback(host) {
				return usage("serve: --insecure-http refused on %q: plain HTTP is only allowed on loopback (127.0.0.1, ::1, localhost); drop it to serve TLS", listen)
			}
			if insecureHTTP && (tlsCert != "" || tlsKey != "") {
				return usage("serve: give either --insecure-http or --tls-cert/--tls-key, not both")
			}
			if (tlsCert == "") != (tlsKey == "") {
				return usage("serve: give both --tls-cert and --tls-key, or neither")
			}
			if asnFormat != "auto" && asnFormat != "csv" && asnFormat != "dump" {
				return usage("serve: --asn-format %q: want auto, csv or dump", asnFormat)
			}
			if asnTable != "" {
				// Addresses of sightings, shared objects and imported reports
				// reach the organisations that registered only their ASN.
				if alerting.route.ASN, err = loadASNTable(ctx, "serve", asnTable, asnFormat, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			if dataDir == "" {
				dataDir = os.Getenv("KIZUNA_DATA")
			}
			st, err := openData(ctx, dataDir)
			if err != nil {
				return err
			}
			defer st.Close()
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			policy, err := policyFor(cmd) // --default-tlp: how unmarked data is shared
			if err != nil {
				return err
			}
			led, err := ledger.Open(ctx, dataDir, st, policy, log, ledger.Options{HubIdentity: hubOrgID(ctx, st)})
			if err != nil {
				return failure("serve: transparency log: %v", err)
			}
			defer led.Close()
			cases, err := incident.Open(ctx, dataDir) // DIR/cases.db: incident reports and cases
			if err != nil {
				return failure("serve: %v", err)
			}
			defer cases.Close()
			cases.Dir, cases.Log = st, log
			vdb, err := vulndb.Open(ctx, dataDir, log) // DIR/vuln.db: vulnerabilities, SBOMs, findings
			if err != nil {
				return failure("serve: %v", err)
			}
			defer vdb.Close()
			notes, err := notify.Open(ctx, dataDir) // DIR/notifications.db: third-party reports for their owners
			if err != nil {
				return failure("serve: %v", err)
			}
			defer notes.Close()
			// DIR/bus.db or NATS, DIR/alerts.db, DIR/outbox.db; sightings notify the owners of what they observed
			al, err := startAlerting(ctx, dataDir, st, policy, alerting, cases, vdb, notes, log)
			if err != nil {
				return err
			}
			defer func() {
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
				defer cancel()
				if err := al.close(actx); err != nil {
					log.Error("closing alerting", "err", err)
				}
			}()
			trail, err := audit.Open(ctx, dataDir, audit.Options{HubIdentity: hubOrgID(ctx, st), Log: log}) // DIR/audit.db
			if err != nil {
				return failure("serve: audit trail: %v", err)
			}
			defer trail.Close() // after Shutdown: flushes the queued records
			sources, closeSources := vulnSourceRunner(ctx, dataDir, al.publisher.Store(st), policy, led, hubOrgID(ctx, st), vdb, log)
			defer closeSources()
			srv, err := server.New(server.Config{
				Listen:           listen,
				InsecureHTTP:     insecureHTTP,
				TLSCert:          tlsCert,
				TLSKey:           tlsKey,
				DataDir:          dataDir,
				Store:            al.publisher.Store(st), // committed versions become hub events
				Policy:           policy,
				Ledger:           led,
				Signatures:       ledger.NewOrgKeys(dataDir),
				Log:              log,
				MaxContentLength: maxContentLength,
				Auth:             &auth.Authenticator{Dir: st, Log: log},
				HubOrgID:         hubOrgID(ctx, st),
				Cases:            cases,
				Vuln:             vdb,
				VulnSources:      sources,
				Audit:            trail,
				Alerts:           al.dispatcher,
				AlertRuleAdded:   al.ruleAdded, // a taxii rule's alert collection exists at once
				// Third-party report notifications (DIR/notifications.db) and the
				// organisations' own registrations; new notifications become alert events.
				Notifications: notes,
				Constituency:  al.registry,
				RouteOptions:  alerting.route,
				// Webhook rules may target private addresses only when allowed.
				AllowPrivateWebhooks: alerting.allowPrivateWebhooks,
				NotificationsAdded:   al.publisher.Notifications,
			})
			if err != nil {
				return failure("serve: %v", err)
			}
			if err := srv.Start(ctx); err != nil {
				return failure("serve: %v", err)
			}
			defer startFeedScheduler(ctx, dataDir, al.publisher.Store(st), policy, led, hubOrgID(ctx, st), log)() // feeds with --every
			defer startVulnSources(ctx, sources)()                                                                // vulnerability sources with --every
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Kizuna hub serving at %s\n", srv.URL())
			fmt.Fprintf(out, "TAXII 2.1 discovery: %s/taxii2/\n", srv.URL())
			<-ctx.Done()
			log.Info("shutting down", "grace", shutdownGrace.String())
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return failure("serve: shutting down: %v", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory (created when missing; default $KIZUNA_DATA)")
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "listen address HOST:PORT")
	f.BoolVar(&insecureHTTP, "insecure-http", false, "serve plain HTTP (loopback addresses only)")
	f.StringVar(&tlsCert, "tls-cert", "", "TLS certificate (PEM); default: a self-signed certificate kept in DIR/tls/")
	f.StringVar(&tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.Int64Var(&maxContentLength, "max-content-length", 0, "largest request body in bytes (default 10 MiB)")
	f.StringVar(&alerting.nats, "nats", "", "NATS URL of the event bus (JetStream; default $KIZUNA_NATS_URL, else the embedded bus in DIR/bus.db)")
	f.StringVar(&alerting.smtp, "smtp", "", "SMTP submission server HOST:PORT for e-mail alerts (STARTTLS; credentials from $KIZUNA_SMTP_USERNAME/$KIZUNA_SMTP_PASSWORD)")
	f.StringVar(&alerting.smtpFrom, "smtp-from", "", "sender address of e-mail alerts")
	f.StringVar(&asnTable, "asn-table", "", "prefix-to-ASN table (CSV prefix,asn or pyasn ipasn dump) routing addresses to organisations that registered their ASN")
	f.StringVar(&asnFormat, "asn-format", "auto", "format of --asn-table: auto, csv or dump")
	f.BoolVar(&alerting.allowPrivateWebhooks, "allow-private-webhooks", false, "let webhook alerts reach loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10) and other reserved addresses (refused by default)")
	f.StringVar(&alerting.syslog, "syslog", "", "syslog collector for syslog alerts: udp://HOST:PORT or tcp://HOST:PORT (RFC 5424)")
	return cmd
}
