package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/kizuna-cti/kizuna/internal/audit"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// statusWriter records the status code written by a handler.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first status code.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the body bytes (an implicit 200 when no status was set).
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe is the outermost middleware: panic recovery, access logging (no
// credentials, no query values) and request metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inFlight.Add(1)
		defer func() {
			s.metrics.inFlight.Add(-1)
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.metrics.panics.Add(1)
				s.log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, s.log, fmt.Errorf("panic: %v", v))
				}
			}
			d := time.Since(start)
			s.metrics.observe(sw.status, d)
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			s.log.Log(r.Context(), level, "http request", "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "bytes", sw.bytes, "ms", float64(d.Microseconds())/1000,
				"remote", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r)
	})
}

// apiFunc is a handler that receives the caller and returns its error.
type apiFunc func(w http.ResponseWriter, r *http.Request, p sharing.Principal) error

// authed wraps an endpoint: authentication, then request limits, then the
// handler; any error is rendered by writeError.
func (s *Server) authed(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r.Context(), r)
		if err != nil {
			if isKind(err, errkind.Unauthorized) {
				s.metrics.authFailures.Add(1)
			}
			sw := statusOf(&w)
			writeError(w, r, s.log, err)
			s.auditAuthFailure(r, sw.status)
			return
		}
		s.serve(w, r, p, h)
	})
}

// public wraps an endpoint open to unauthenticated callers: it runs as the
// public principal.
func (s *Server) public(h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, sharing.Principal{Public: true}, h)
	})
}

// serve applies the request limits and runs the handler; with an audit
// trail configured, it records the request (audit.go).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, p sharing.Principal, h apiFunc) {
	if s.cfg.Audit != nil {
		ctx, note := audit.WithNote(r.Context())
		r = r.WithContext(ctx)
		sw := statusOf(&w)
		defer s.auditRequest(r, p, note, sw)
	}
	if err := s.checkQuery(r); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if r.ContentLength > s.cfg.MaxContentLength {
		writeError(w, r, s.log, fmt.Errorf("%w: request body of %d bytes exceeds the limit of %d", errkind.TooLarge, r.ContentLength, s.cfg.MaxContentLength))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxContentLength)
	if err := h(w, r, p); err != nil {
		writeError(w, r, s.log, err)
	}
}

// checkQuery enforces the global caps on URL parameters (endpoints check
// their own parameters in detail).
func (s *Server) checkQuery(r *http.Request) error {
	lim := s.taxii.Limits()
	if len(r.URL.RawQuery) > lim.MaxQueryLen {
		return fmt.Errorf("%w: query string is %d bytes, the limit is %d", errkind.Invalid, len(r.URL.RawQuery), lim.MaxQueryLen)
	}
	return nil
}

// asAPI adapts a TAXII handler.
func asAPI(h taxii.HandlerFunc) apiFunc { return apiFunc(h) }
