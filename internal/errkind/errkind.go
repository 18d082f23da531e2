// Package errkind defines the kinds of error Kizuna distinguishes. Code
// anywhere wraps one of these sentinels with %w; the server maps them to
// HTTP/TAXII status codes in one place and the CLI maps them to exit codes.
package errkind

import "errors"

// The error kinds. Check them with errors.Is.
var (
	// Invalid marks bad input: the message names what is wrong and where.
	Invalid = errors.New("invalid input")
	// NotFound marks a missing resource (or one the caller may not see).
	NotFound = errors.New("not found")
	// Unauthorized marks a request without valid credentials.
	Unauthorized = errors.New("unauthorized")
	// Forbidden marks a request the caller's rights do not allow.
	Forbidden = errors.New("forbidden")
	// Conflict marks a write that clashes with what is stored.
	Conflict = errors.New("conflict")
	// TooLarge marks input over a configured limit.
	TooLarge = errors.New("too large")
	// Unacceptable marks a request whose media types cannot be served.
	Unacceptable = errors.New("not acceptable")
	// UnsupportedMediaType marks a request body of a media type not accepted.
	UnsupportedMediaType = errors.New("unsupported media type")
	// Unprocessable marks well-formed input whose content cannot be
	// processed (for instance a TAXII envelope without "objects").
	Unprocessable = errors.New("unprocessable content")
)
