package notify

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/feed"
)

// Limits of a mapping; they bound what an import request may ask for.
const (
	// MaxMappings bounds the FIELD=COLUMN pairs of a mapping.
	MaxMappings = 64
	// MaxName bounds a field or column name and a source name (bytes).
	MaxName = 256
)

// The reserved FIELD names of a mapping: ValueField (repeatable) names a
// column whose value is routed to its owner, TimeField the column with the
// time of the observation. Every other FIELD is an extra field passed on
// to the owner under that name.
const (
	ValueField = "value"
	TimeField  = "time"
)

// Mapping says how a feed's columns become a notification's fields.
type Mapping struct {
	// Feed is the mapping feed.Route reads the feed with; its Extra lists
	// columns.
	Feed feed.Mapping
	// Names are the notification field names of Feed.Extra, index by
	// index.
	Names []string
	// Key are the notification field names that, with the source and the
	// routed value, identify a report for de-duplication (nil: every
	// extra field).
	Key []string
}

// ParseMapping parses a feed format ("csv", "jsonl" or "lines") and
// FIELD=COLUMN pairs such as "value=ip", "time=timestamp" or "port=port".
// COLUMN is a CSV header name or a JSON member (dotted for nested ones).
// A lines feed needs no pair (its value is the line). Errors wrap
// errkind.Invalid and quote the offending pair.
func ParseMapping(format string, pairs []string) (Mapping, error) {
	f, err := feed.ParseFormat(format)
	if err != nil {
		return Mapping{}, err
	}
	if len(pairs) > MaxMappings {
		return Mapping{}, fmt.Errorf("mapping: %w: %d pairs, at most %d", errkind.Invalid, len(pairs), MaxMappings)
	}
	m := Mapping{Feed: feed.Mapping{Format: f}}
	for _, p := range pairs {
		field, col, ok := strings.Cut(p, "=")
		field, col = strings.TrimSpace(field), strings.TrimSpace(col)
		if !ok || field == "" || col == "" {
			return Mapping{}, fmt.Errorf("mapping %q: %w: want FIELD=COLUMN", clip(p), errkind.Invalid)
		}
		if err := checkName("field", field); err != nil {
			return Mapping{}, fmt.Errorf("mapping %q: %w", clip(p), err)
		}
		if len(col) > MaxName || strings.ContainsAny(col, "\r\n\x00") {
			return Mapping{}, fmt.Errorf("mapping %q: %w: column name too long or with control characters", clip(p), errkind.Invalid)
		}
		switch {
		case field == ValueField:
			if slices.Contains(m.Feed.Values, col) {
				return Mapping{}, fmt.Errorf("mapping %q: %w: column %q mapped twice", clip(p), errkind.Invalid, col)
			}
			m.Feed.Values = append(m.Feed.Values, col)
		case field == TimeField:
			if m.Feed.Time != "" {
				return Mapping{}, fmt.Errorf("mapping %q: %w: time mapped twice", clip(p), errkind.Invalid)
			}
			m.Feed.Time = col
		case slices.Contains(m.Names, field):
			return Mapping{}, fmt.Errorf("mapping %q: %w: field %q mapped twice", clip(p), errkind.Invalid, field)
		default:
			m.Names = append(m.Names, field)
			m.Feed.Extra = append(m.Feed.Extra, col)
		}
	}
	if len(m.Feed.Values) == 0 && f != feed.Lines {
		return Mapping{}, fmt.Errorf("mapping: %w: a %s feed needs at least one value=COLUMN (the column routed to its owner)", errkind.Invalid, f)
	}
	return m, nil
}

// SetKey sets the fields that identify a report for de-duplication; each
// must be an extra field of the mapping.
func (m *Mapping) SetKey(fields []string) error {
	for _, k := range fields {
		if !slices.Contains(m.Names, k) {
			return fmt.Errorf("key field %q: %w: not an extra field of the mapping (have: %s)", clip(k), errkind.Invalid, strings.Join(m.Names, ", "))
		}
	}
	m.Key = fields
	return nil
}

// Pairs returns the mapping as FIELD=COLUMN pairs (ParseMapping's input).
func (m Mapping) Pairs() []string {
	var out []string
	for _, v := range m.Feed.Values {
		out = append(out, ValueField+"="+v)
	}
	if m.Feed.Time != "" {
		out = append(out, TimeField+"="+m.Feed.Time)
	}
	for i, c := range m.Feed.Extra {
		out = append(out, m.Names[i]+"="+c)
	}
	return out
}

// checkName accepts names of letters, digits, '_', '-' and '.'.
func checkName(what, s string) error {
	if s == "" || len(s) > MaxName {
		return fmt.Errorf("%w: %s name empty or longer than %d bytes", errkind.Invalid, what, MaxName)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("%w: %s name %q: only letters, digits, '_', '-' and '.'", errkind.Invalid, what, clip(s))
		}
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ImportRequest is what an import needs besides the feed itself.
type ImportRequest struct {
	// Source names the feed (for instance "shadowserver-scan").
	Source  string
	Mapping Mapping
	// Window is the de-duplication window (0: DefaultWindow).
	Window time.Duration
}

// DefaultWindow is the de-duplication window when none is given: a report
// of the same value with the same key fields from the same source within
// it is folded into the earlier notification.
const DefaultWindow = 24 * time.Hour

// MaxWindow bounds the de-duplication window.
const MaxWindow = 366 * 24 * time.Hour

// ParseImportQuery parses the query parameters of an HTTP import:
// source=NAME, format=csv|jsonl|lines, map=FIELD=COLUMN (repeated),
// key=FIELD (repeated, optional) and window=DURATION (optional, such as
// "24h"). Unknown parameters are refused. Errors wrap errkind.Invalid and
// name the parameter.
func ParseImportQuery(q url.Values) (ImportRequest, error) {
	for k, v := range q {
		switch k {
		case "source", "format", "window":
			if len(v) > 1 {
				return ImportRequest{}, fmt.Errorf("parameter %s: %w: given %d times", k, errkind.Invalid, len(v))
			}
		case "map", "key":
		default:
			return ImportRequest{}, fmt.Errorf("parameter %q: %w: unknown (want source, format, map, key, window)", clip(k), errkind.Invalid)
		}
	}
	var req ImportRequest
	req.Source = strings.TrimSpace(q.Get("source"))
	if err := CheckSource(req.Source); err != nil {
		return ImportRequest{}, fmt.Errorf("parameter source: %w", err)
	}
	m, err := ParseMapping(q.Get("format"), q["map"])
	if err != nil {
		return ImportRequest{}, fmt.Errorf("parameters format and map: %w", err)
	}
	if err := m.SetKey(q["key"]); err != nil {
		return ImportRequest{}, fmt.Errorf("parameter key: %w", err)
	}
	req.Mapping = m
	if w := q.Get("window"); w != "" {
		if req.Window, err = ParseWindow(w); err != nil {
			return ImportRequest{}, fmt.Errorf("parameter window: %w", err)
		}
	}
	return req, nil
}

// ParseWindow parses a de-duplication window such as "24h" or "30m"; it
// must be positive and at most MaxWindow.
func ParseWindow(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxWindow {
		return 0, fmt.Errorf("window %q: %w: want a positive duration up to %s, such as 24h", clip(s), errkind.Invalid, MaxWindow)
	}
	return d, nil
}

// CheckSource validates a source name: non-empty, at most MaxName bytes,
// printable.
func CheckSource(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%w: source name is required", errkind.Invalid)
	}
	if len(s) > MaxName {
		return fmt.Errorf("%w: source name longer than %d bytes", errkind.Invalid, MaxName)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: source name %q has control characters", errkind.Invalid, clip(s))
		}
	}
	return nil
}
