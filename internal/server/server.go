// Package server assembles Kizuna's HTTP service: routes, authentication,
// limits, and the mapping from error kinds to HTTP/TAXII responses.
//
// PLACEHOLDER: the real server replaces this file; the exported API below is
// the contract other packages (the demo, the CLI) build on.
package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
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
}

// Server is a running Kizuna HTTP server.
type Server struct{ cfg Config }

// New checks the configuration and prepares a server.
func New(cfg Config) (*Server, error) { return &Server{cfg: cfg}, nil }

// Start begins listening and serving in the background.
func (s *Server) Start(ctx context.Context) error { return errors.New("not implemented") }

// URL returns the base URL, e.g. https://127.0.0.1:8443.
func (s *Server) URL() string { return "" }

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
