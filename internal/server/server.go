// Package server assembles Kizuna's HTTP service: routes, authentication,
// limits, TLS, observability endpoints, and the mapping from error kinds to
// HTTP/TAXII responses (errors.go, the only place errors become status
// codes).
//
// Routes:
//
//	/taxii2/...            TAXII 2.1 (package taxii), authenticated
//	/api/v1/whoami         the caller's identity and rights, authenticated
//	/api/v1/share/preview  who would receive submitted objects, authenticated
//	/api/v1/telemetry      match a telemetry log, store sightings, authenticated
//	/api/v1/notifications  third-party report notifications, authenticated (notify.go)
//	/api/v1/constituency   an organisation's own registrations, authenticated
//	/api/v1/audit          the audit trail (admins and analysts), authenticated
//	/misp/feed/...         MISP feed (manifest.json, hashes.csv, UUID.json), authenticated
//	/public/clear          TLP:CLEAR objects as a STIX bundle, public
//	/healthz /readyz       liveness and readiness, public
//	/metrics               Prometheus text format, public
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kizuna-cti/kizuna/internal/auth"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/provenance/ledger"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
	"github.com/kizuna-cti/kizuna/internal/response/constituency"
	"github.com/kizuna-cti/kizuna/internal/response/incident"
	"github.com/kizuna-cti/kizuna/internal/response/notify"
	"github.com/kizuna-cti/kizuna/internal/response/route"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii"
	"github.com/kizuna-cti/kizuna/internal/vuln/source"
	"github.com/kizuna-cti/kizuna/internal/vuln/vulndb"
)

// Config configures a Server.
type Config struct {
	// Listen is HOST:PORT (port 0 picks a free port).
	Listen string
	// InsecureHTTP serves plain HTTP; refused unless Listen is loopback.
	InsecureHTTP bool
	// TLSCert and TLSKey are PEM files; when empty a self-signed
	// certificate is generated (and kept in DataDir).
	TLSCert, TLSKey string
	// DataDir is the data directory (for generated certificates).
	DataDir string
	Store   store.Store
	Policy  *sharing.Policy
	Log     *slog.Logger
	// MaxContentLength bounds request bodies (bytes; 0: default).
	MaxContentLength int64

	// Auth authenticates requests (default: auth.Authenticator on Store:
	// API tokens as Bearer or as the Basic password).
	Auth Authenticator
	// HubOrgID is the hub's identity id, shown as the source of anonymous
	// publications.
	HubOrgID string
	// Limits caps TAXII URL parameters and page sizes.
	Limits taxii.Limits
	// SubmitWait bounds how long a TAXII POST waits for ingestion (0: 5 s).
	SubmitWait time.Duration
	// Workers and Queue size the ingestion worker pool (0: defaults).
	Workers, Queue int
	// ReadTimeout, WriteTimeout and IdleTimeout are the HTTP server's
	// timeouts (0: 1 min, 2 min, 2 min).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Ledger, when set, logs every committed version and delete in the
	// transparency log and serves /api/v1/log/ (log.go).
	Ledger *ledger.Ledger
	// Signatures verifies Kizuna-Signature headers on TAXII POSTs (nil:
	// signed submissions are refused with 422).
	Signatures taxii.SignatureVerifier
	// Cases, when set, serves incident reporting, cases and cycle metrics
	// (incident.go); nil answers those routes with 404.
	Cases *incident.Cases
	// Vuln, when set, serves SBOM upload and findings (vuln.go); nil
	// answers those routes with 404.
	Vuln *vulndb.DB
	// VulnSources, when set, serves the scheduled vulnerability sources
	// (vulnsources.go: list, add, run, remove, health) to hub analysts and
	// hub admins; nil answers those routes with 404.
	VulnSources *source.Runner
	// Notifications and Constituency, when set, serve third-party report
	// notifications and the organisations' own registrations (notify.go);
	// nil answers those routes with 404. RouteOptions configure the
	// routing of imports (a prefix-to-ASN table); NotificationsAdded, when
	// set, receives the notifications an import stored, after the commit.
	Notifications      *notify.Store
	Constituency       *constituency.Registry
	RouteOptions       route.Options
	NotificationsAdded func(context.Context, []notify.Notification)
	// Audit, when set, records every authenticated request, failed
	// authentication and public read, and serves GET /api/v1/audit
	// (audit.go).
	Audit AuditTrail
	// Alerts, when set, serves alert rules, deliveries, acknowledgements
	// and dead letters (alerts.go); nil answers those routes with 404.
	Alerts *alert.Dispatcher
	// AlertRuleAdded, when set, is told of each rule added through the
	// API after it is stored (serve creates the alert collection of a
	// taxii rule's organisation); an error is logged, the rule stays.
	AlertRuleAdded func(context.Context, alert.Rule) error
	// AllowPrivateWebhooks accepts alert rules whose webhook URL is a
	// loopback, private, link-local or other reserved address (refused by
	// default: server-side request forgery).
	AllowPrivateWebhooks bool
}

// Server is a running Kizuna HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	auth    Authenticator
	taxii   *taxii.Handler
	metrics *metrics
	handler http.Handler
	tlsConf *tls.Config

	srv   *http.Server
	url   string
	ready atomic.Bool
	done  chan error
}

// New checks the configuration and prepares a server: it refuses plain HTTP
// on a non-loopback address and loads (or creates) the TLS certificate.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Policy == nil {
		return nil, fmt.Errorf("%w: server: Store and Policy are required", errkind.Invalid)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxContentLength <= 0 {
		cfg.MaxContentLength = taxii.DefaultMaxContentLength
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address %q: want HOST:PORT", errkind.Invalid, cfg.Listen)
	}
	s := &Server{cfg: cfg, log: cfg.Log, auth: cfg.Auth, metrics: newMetrics(), done: make(chan error, 1)}
	if s.auth == nil {
		s.auth = &auth.Authenticator{Dir: cfg.Store, Log: cfg.Log}
	}
	if cfg.InsecureHTTP {
		if !IsLoopback(host) {
			return nil, fmt.Errorf("%w: refusing plain HTTP on %q: --insecure-http is only allowed on loopback (127.0.0.1, ::1, localhost); serve TLS instead", errkind.Invalid, cfg.Listen)
		}
	} else {
		var cert tls.Certificate
		switch {
		case cfg.TLSCert != "" && cfg.TLSKey != "":
			cert, err = tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("%w: loading TLS certificate %s and key %s: %v", errkind.Invalid, cfg.TLSCert, cfg.TLSKey, err)
			}
		case cfg.TLSCert != "" || cfg.TLSKey != "":
			return nil, fmt.Errorf("%w: give both a TLS certificate and a key, or neither", errkind.Invalid)
		case cfg.DataDir == "":
			return nil, fmt.Errorf("%w: no TLS certificate and no data directory to keep a generated one", errkind.Invalid)
		default:
			cert, err = selfSigned(cfg.DataDir, []string{host}, cfg.Now())
			if err != nil {
				return nil, fmt.Errorf("self-signed certificate: %w", err)
			}
		}
		s.tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	st := cfg.Store
	var rec ingest.Recorder
	if cfg.Ledger != nil {
		st, rec = cfg.Ledger.Wrap(st), cfg.Ledger
	}
	s.taxii, err = taxii.New(taxii.Config{
		Store:  st,
		Policy: cfg.Policy,
		Pipeline: &ingest.Pipeline{
			Store: st, Policy: cfg.Policy, Log: cfg.Log, HubOrgID: cfg.HubOrgID, Recorder: rec,
		},
		Signatures:       cfg.Signatures,
		Log:              cfg.Log,
		MaxContentLength: cfg.MaxContentLength,
		Limits:           cfg.Limits,
		SubmitWait:       cfg.SubmitWait,
		Workers:          cfg.Workers,
		Queue:            cfg.Queue,
		Now:              cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// routes assembles the handler tree.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	allow := map[string][]string{} // path pattern -> methods
	var paths []string
	for _, rt := range s.taxii.Routes() {
		mux.Handle(rt.Pattern, s.authed(asAPI(rt.Handle)))
		method, path, _ := strings.Cut(rt.Pattern, " ")
		if allow[path] == nil {
			paths = append(paths, path)
		}
		allow[path] = append(allow[path], method)
	}
	// Other methods on TAXII resources: 405 as a TAXII error.
	for _, path := range paths {
		methods := strings.Join(allow[path], ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, r, s.log, fmt.Errorf("%w: %s is not supported here (allowed: %s)", errMethodNotAllowed, r.Method, methods))
		})
	}
	mux.Handle("GET /api/v1/whoami", s.authed(s.whoami))
	mux.Handle("POST /api/v1/share/preview", s.authed(s.sharePreview))
	mux.Handle("POST /api/v1/telemetry", s.authed(s.telemetry))
	mux.Handle("GET /api/v1/blinded-index", s.authed(s.blindedIndex))
	mux.Handle("POST /api/v1/blinded-hits", s.authed(s.blindedHits))
	s.logRoutes(mux)
	s.auditRoutes(mux)
	s.mispRoutes(mux)
	s.incidentRoutes(mux)
	s.csafRoutes(mux)
	s.vulnRoutes(mux)
	s.vulnSourceRoutes(mux)
	s.alertRoutes(mux)
	s.notifyRoutes(mux)
	mux.Handle("GET /public/clear", s.public(s.publicClear))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, fmt.Errorf("%w: no resource at %s %s", errkind.NotFound, r.Method, truncate(r.URL.Path, 200)))
	})
	return s.observe(securityHeaders(mux))
}

// securityHeaders sets headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// readyz reports ready when the server is serving and the store answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !s.ready.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("not serving\n"))
		return
	}
	if _, err := s.cfg.Store.APIRoots(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: store unavailable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("store unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Start begins listening and serving in the background.
func (s *Server) Start(ctx context.Context) error {
	// Submissions a crash interrupted were rolled back whole: their
	// statuses must say failed, not stay pending forever.
	if n, err := s.cfg.Store.FailPending(ctx, "not stored: the hub restarted before this submission completed; submit it again"); err != nil {
		return fmt.Errorf("recovering interrupted submissions: %w", err)
	} else if n > 0 {
		s.log.Warn("submissions interrupted by a restart marked failed", "objects", n)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Listen, err)
	}
	scheme := "http"
	if s.tlsConf != nil {
		ln = tls.NewListener(ln, s.tlsConf)
		scheme = "https"
	}
	s.url = scheme + "://" + ln.Addr().String()
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       def(s.cfg.ReadTimeout, time.Minute),
		WriteTimeout:      def(s.cfg.WriteTimeout, 2*time.Minute),
		IdleTimeout:       def(s.cfg.IdleTimeout, 2*time.Minute),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.ready.Store(true)
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	s.log.InfoContext(ctx, "serving", "url", s.url, "tls", s.tlsConf != nil)
	return nil
}

// URL returns the base URL, e.g. https://127.0.0.1:8443.
func (s *Server) URL() string { return s.url }

// Shutdown stops the server gracefully: it stops accepting connections,
// waits for requests in progress and for queued submissions, or until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	var errs []error
	if s.srv != nil {
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping HTTP server: %w", err))
		}
		if err := <-s.done; err != nil {
			errs = append(errs, fmt.Errorf("serving: %w", err))
		}
		s.srv = nil
	}
	if err := s.taxii.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isKind(err, kind error) bool { return errors.Is(err, kind) }
