package csaf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// printer renders schema error messages.
var printer = message.NewPrinter(language.English)

// MaxDocumentSize bounds an advisory's size in bytes.
const MaxDocumentSize = 16 << 20

// Check validates a CSAF 2.0 document: the JSON schema, then (when the
// schema holds) the implemented mandatory tests. It returns the problems
// found; err is only for documents that are not JSON objects (wrapping
// errkind.Invalid) or internal failures.
func Check(data []byte) ([]Problem, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: document of %d bytes exceeds %d", errkind.TooLarge, len(data), MaxDocumentSize)
	}
	v, err := decode(data)
	if err != nil {
		return nil, err
	}
	ps, err := validateSchema(csafSchemaURL, data)
	if err != nil {
		return nil, err
	}
	return append(ps, Mandatory(v)...), nil
}

// Validate is Check that turns problems into an error wrapping
// errkind.Invalid, whose message names each test and JSON pointer.
func Validate(data []byte) error {
	ps, err := Check(data)
	if err != nil {
		return err
	}
	return problemsError("CSAF document", ps)
}

// ProblemsError is the error of a document that failed validation.
type ProblemsError struct {
	What     string
	Problems []Problem
}

// Error lists the problems (at most 20).
func (e *ProblemsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem(s)", e.What, len(e.Problems))
	for i, p := range e.Problems {
		if i == 20 {
			fmt.Fprintf(&b, "; ... and %d more", len(e.Problems)-20)
			break
		}
		b.WriteString("; ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap makes the error an errkind.Invalid.
func (e *ProblemsError) Unwrap() error { return errkind.Invalid }

func problemsError(what string, ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	return &ProblemsError{What: what, Problems: ps}
}

// ProblemsOf returns the problems carried by a validation error.
func ProblemsOf(err error) []Problem {
	var pe *ProblemsError
	if errors.As(err, &pe) {
		return pe.Problems
	}
	return nil
}

// decode parses a JSON object (numbers kept as json.Number) and refuses
// trailing data.
func decode(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: not JSON: %v", errkind.Invalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", errkind.Invalid)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a CSAF document is a JSON object", errkind.Invalid)
	}
	return m, nil
}

// timeOf parses a CSAF date-time (RFC 3339); the zero time when invalid.
func timeOf(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
