package taxii

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// DefaultMaxContentLength is the largest request body accepted when neither
// the configuration nor the API root sets one (10 MiB).
const DefaultMaxContentLength = 10 << 20

// ErrBusy is returned when the submission queue stays full for the whole
// wait budget; the server maps it to 503 Service Unavailable.
var ErrBusy = errors.New("submission queue full, retry later")

// Config configures a Handler.
type Config struct {
	Store    store.Store
	Policy   *sharing.Policy
	Pipeline *ingest.Pipeline
	Log      *slog.Logger
	// Rights decides collection and status rights (default: the policy's
	// methods where it has them, else DefaultRights).
	Rights Rights
	// Title, Description and Contact describe the server in discovery.
	Title, Description, Contact string
	// MaxContentLength caps request bodies (0: DefaultMaxContentLength);
	// an API root's own smaller value wins for that root.
	MaxContentLength int64
	// Limits caps URL parameters and page sizes.
	Limits Limits
	// SubmitWait is how long POST waits for ingestion before answering with
	// a pending status (0: 5 s).
	SubmitWait time.Duration
	// Workers ingest submissions in the background (0: 2); Queue is how many
	// submissions may wait for a worker (0: 64).
	Workers, Queue int
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// Signatures verifies the Kizuna-Signature header of a POST (nil:
	// signed submissions are refused, unsigned ones accepted).
	Signatures SignatureVerifier
}

// SignatureVerifier checks a submission's detached signature (the value of
// the Kizuna-Signature header) over the request body against the keys of
// the submitting organisation. It returns the signer and key id; a
// signature that does not verify wraps provenance.ErrVerification (422).
type SignatureVerifier interface {
	VerifySubmission(ctx context.Context, orgID, header string, body []byte) (signer, keyID string, err error)
}

// HandlerFunc is a TAXII endpoint: it receives the authenticated principal
// and returns an error wrapping an errkind sentinel instead of writing
// error responses itself.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p sharing.Principal) error

// Route is one TAXII endpoint for an http.ServeMux pattern.
type Route struct {
	// Pattern is an http.ServeMux pattern with method, e.g.
	// "GET /taxii2/{root}/collections/{$}".
	Pattern string
	Handle  HandlerFunc
}

// Handler serves TAXII 2.1.
type Handler struct {
	cfg    Config
	rights Rights
	log    *slog.Logger

	jobs   chan job
	quit   chan struct{} // closed by Close: workers drain the queue and stop
	wg     sync.WaitGroup
	ctx    context.Context // cancelled by Close after draining
	cancel context.CancelFunc

	closeOnce sync.Once
}

// job is one queued submission.
type job struct {
	sub  ingest.Submission
	raws [][]byte
	done chan struct{}
}

// New prepares a Handler and starts its ingestion workers; Close stops them.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Policy == nil {
		return nil, fmt.Errorf("%w: taxii: Store and Policy are required", errkind.Invalid)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Pipeline == nil {
		cfg.Pipeline = &ingest.Pipeline{Store: cfg.Store, Policy: cfg.Policy, Log: cfg.Log}
	}
	if cfg.MaxContentLength <= 0 {
		cfg.MaxContentLength = DefaultMaxContentLength
	}
	if cfg.SubmitWait <= 0 {
		cfg.SubmitWait = 5 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Title == "" {
		cfg.Title = "Kizuna threat-intelligence sharing hub"
	}
	cfg.Limits = cfg.Limits.withDefaults()
	h := &Handler{cfg: cfg, rights: cfg.Rights, log: cfg.Log, jobs: make(chan job, cfg.Queue), quit: make(chan struct{})}
	if h.rights == nil {
		h.rights = PolicyRights{Policy: cfg.Policy}
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		h.wg.Add(1)
		go h.worker()
	}
	return h, nil
}

// Close stops accepting submissions and waits for queued ones to finish,
// or until ctx ends (then in-flight ingestion is cancelled).
func (h *Handler) Close(ctx context.Context) error {
	h.closeOnce.Do(func() { close(h.quit) })
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel()
		<-done
		return fmt.Errorf("taxii: draining submissions: %w", ctx.Err())
	}
}

// Limits returns the effective URL-parameter limits.
func (h *Handler) Limits() Limits { return h.cfg.Limits }

// MaxContentLength returns the server-wide request body limit.
func (h *Handler) MaxContentLength() int64 { return h.cfg.MaxContentLength }

// Routes lists the TAXII endpoints. Each resource is reachable with and
// without its trailing slash.
func (h *Handler) Routes() []Route {
	rs := []Route{
		{"GET /taxii2/", h.discovery},
		{"GET /taxii2/{root}/", h.apiRoot},
		{"GET /taxii2/{root}/collections/", h.collections},
		{"GET /taxii2/{root}/collections/{id}/", h.collection},
		{"GET /taxii2/{root}/collections/{id}/objects/", h.getObjects},
		{"POST /taxii2/{root}/collections/{id}/objects/", h.addObjects},
		{"GET /taxii2/{root}/collections/{id}/objects/{oid}/", h.getObject},
		{"DELETE /taxii2/{root}/collections/{id}/objects/{oid}/", h.deleteObject},
		{"GET /taxii2/{root}/collections/{id}/objects/{oid}/versions/", h.versions},
		{"GET /taxii2/{root}/collections/{id}/manifest/", h.manifest},
		{"GET /taxii2/{root}/status/{sid}/", h.status},
	}
	out := make([]Route, 0, 2*len(rs))
	for _, r := range rs {
		out = append(out, Route{r.Pattern + "{$}", r.Handle}, Route{r.Pattern[:len(r.Pattern)-1], r.Handle})
	}
	return out
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// NewUUID returns a random (version 4) UUID string.
func NewUUID() string { return newID() }
