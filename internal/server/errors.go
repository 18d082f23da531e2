package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// kindStatus maps error kinds to HTTP status codes and TAXII error titles:
// the one place where errors become responses.
var kindStatus = []struct {
	kind   error
	status int
	title  string
}{
	{errkind.Invalid, http.StatusBadRequest, "Bad request"},
	{errkind.Unauthorized, http.StatusUnauthorized, "Authentication required"},
	{errkind.Forbidden, http.StatusForbidden, "Forbidden"},
	{errkind.NotFound, http.StatusNotFound, "Not found"},
	{errkind.Unacceptable, http.StatusNotAcceptable, "Not acceptable"},
	{errkind.Conflict, http.StatusConflict, "Conflict"},
	{errkind.TooLarge, http.StatusRequestEntityTooLarge, "Request too large"},
	{errkind.UnsupportedMediaType, http.StatusUnsupportedMediaType, "Unsupported media type"},
	{errkind.Unprocessable, http.StatusUnprocessableEntity, "Unprocessable content"},
	{taxii.ErrBusy, http.StatusServiceUnavailable, "Service unavailable"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "Method not allowed"},
}

// errMethodNotAllowed marks a request with a method the resource does not
// support.
var errMethodNotAllowed = errors.New("method not allowed")

// StatusOf returns the HTTP status code for an error and whether its
// message is safe to show to the client (client errors are; server
// errors are not).
func StatusOf(err error) (status int, title string, safe bool) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "Request too large", true
	}
	for _, k := range kindStatus {
		if errors.Is(err, k.kind) {
			return k.status, k.title, true
		}
	}
	if errors.Is(err, context.Canceled) {
		return 499, "Client closed request", false
	}
	return http.StatusInternalServerError, "Internal server error", false
}

// errorBody is the TAXII error message (TAXII 2.1 section 3.6.1), used for
// every API of the server.
type errorBody struct {
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	ErrorID     string `json:"error_id,omitempty"`
	HTTPStatus  string `json:"http_status"`
}

// Realm is the authentication realm announced with 401 responses.
const Realm = "kizuna"

// writeError renders err as a TAXII error message. Server errors are logged
// with their detail under an error id that is the only thing the client
// sees of them.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, title, safe := StatusOf(err)
	body := errorBody{Title: title, HTTPStatus: strconv.Itoa(status)}
	if safe {
		body.Description = describe(err)
	} else {
		body.ErrorID = taxii.NewUUID()
		body.Description = "the server could not complete the request; quote error_id " + body.ErrorID + " to the operator"
		if status != 499 {
			log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error_id", body.ErrorID, "err", err)
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="`+Realm+`"`)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	mt := "application/json"
	if strings.HasPrefix(r.URL.Path, "/taxii2") {
		mt = taxii.MediaTAXII
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// describe turns a wrapped error into its client message: the text after
// the kind sentinel, e.g. "invalid input: parameter limit: ..." becomes
// "parameter limit: ...".
func describe(err error) string {
	msg := err.Error()
	for _, k := range kindStatus {
		if i := strings.Index(msg, k.kind.Error()+": "); i >= 0 && errors.Is(err, k.kind) {
			return msg[i+len(k.kind.Error())+2:]
		}
	}
	return msg
}
