// Package intake parses vulnerability sources into the normalised model of
// package vuln: CVE JSON 5.x records, NVD API 2.0 pages, OSV in JSON and
// YAML, CSAF 2.0 advisories and the CISA KEV catalogue.
//
// Every parser takes the source's name (a file name or URL, used only in
// error messages) and its bytes; errors wrap errkind.Invalid and name the
// source, the line and column of a syntax error or the field at fault.
// The package is pure: callers read files or HTTP bodies (with their own
// size limits) and hand the bytes over.
package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// decodeJSON unmarshals data into v, turning syntax and type errors into
// errors that name the source with line and column.
func decodeJSON(name string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := lineCol(data, se.Offset)
			return fmt.Errorf("%s:%d:%d: %w: %w", name, line, col, err, errkind.Invalid)
		case errors.As(err, &te):
			line, col := lineCol(data, te.Offset)
			return fmt.Errorf("%s:%d:%d: field %s: %w: %w", name, line, col, te.Field, err, errkind.Invalid)
		}
		return fmt.Errorf("%s: %w: %w", name, err, errkind.Invalid)
	}
	return nil
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// invalid builds an error for a field of a source.
func invalid(name, field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s: %w", name, field, fmt.Sprintf(format, args...), errkind.Invalid)
}

// parseTime reads the timestamps the sources use (RFC 3339, with or
// without zone, with or without fraction, or a bare date); an empty string
// gives the zero time. Times are returned in UTC.
func parseTime(name, field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid(name, field, "timestamp %q not RFC 3339", s)
}

// appendUnique appends s to list unless empty or already present.
func appendUnique(list []string, s ...string) []string {
	for _, x := range s {
		if x == "" {
			continue
		}
		dup := false
		for _, y := range list {
			if x == y {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, x)
		}
	}
	return list
}

// jsonRaw is json.RawMessage, named for tests and wrappers.
type jsonRaw = json.RawMessage
