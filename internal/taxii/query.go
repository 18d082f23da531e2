package taxii

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Endpoint names the kind of TAXII endpoint a query is for; each accepts a
// different set of URL parameters (TAXII 2.1 section 3.4 and chapter 5).
type Endpoint int

// The endpoints that take URL parameters.
const (
	// EndpointObjects is GET .../objects/ and GET .../manifest/.
	EndpointObjects Endpoint = iota
	// EndpointObject is GET .../objects/{object-id}/.
	EndpointObject
	// EndpointVersions is GET .../objects/{object-id}/versions/.
	EndpointVersions
	// EndpointDelete is DELETE .../objects/{object-id}/.
	EndpointDelete
	// EndpointFeed is a feed paged by added_after/limit/next with an
	// optional match[type].
	EndpointFeed
)

// Limits caps URL parameters. The zero value of a field selects its default.
type Limits struct {
	// DefaultLimit is the page size when the client gives no limit (100).
	DefaultLimit int
	// MaxLimit is the largest page size served; larger limits are lowered
	// to it (1000).
	MaxLimit int
	// MaxQueryLen caps the raw query string in bytes (4096).
	MaxQueryLen int
	// MaxParams caps the number of distinct parameters (16).
	MaxParams int
	// MaxListItems caps the items of one comma-separated list (100).
	MaxListItems int
	// MaxValueLen caps one parameter value in bytes (2048).
	MaxValueLen int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.DefaultLimit, 100)
	def(&l.MaxLimit, 1000)
	def(&l.MaxQueryLen, 4096)
	def(&l.MaxParams, 16)
	def(&l.MaxListItems, 100)
	def(&l.MaxValueLen, 2048)
	if l.DefaultLimit > l.MaxLimit {
		l.DefaultLimit = l.MaxLimit
	}
	return l
}

// Query is a parsed, validated set of TAXII URL parameters.
type Query struct {
	// AddedAfter is zero when absent.
	AddedAfter time.Time
	// Limit is always between 1 and Limits.MaxLimit.
	Limit int
	// Next is the opaque cursor of a previous page ("" when absent).
	Next         string
	IDs          []string
	Types        []string
	Versions     []string
	SpecVersions []string
}

var (
	reType        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,249}$`)
	reID          = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,249}--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	reSpecVersion = regexp.MustCompile(`^[0-9]{1,3}\.[0-9]{1,3}$`)
	reNext        = regexp.MustCompile(`^[A-Za-z0-9._~+/=:-]{1,512}$`)
)

// ValidID reports whether s has the form of a STIX identifier
// (type--UUID).
func ValidID(s string) bool { return reID.MatchString(s) }

// allowed lists the parameters each endpoint understands.
var allowed = map[Endpoint][]string{
	EndpointObjects:  {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]", "match[spec_version]"},
	EndpointObject:   {"added_after", "limit", "next", "match[version]", "match[spec_version]"},
	EndpointVersions: {"added_after", "limit", "next", "match[spec_version]"},
	EndpointDelete:   {"match[version]", "match[spec_version]"},
	EndpointFeed:     {"added_after", "limit", "next", "match[type]"},
}

// ParseQuery parses and validates the raw query string of a request to the
// given endpoint. Parameters the endpoint does not define are ignored (they
// still count towards the limits); a parameter given twice, a malformed
// value or a query over the limits fails with errkind.Invalid and a message
// naming the parameter.
func ParseQuery(rawQuery string, ep Endpoint, lim Limits) (Query, error) {
	lim = lim.withDefaults()
	q := Query{Limit: lim.DefaultLimit}
	if len(rawQuery) > lim.MaxQueryLen {
		return q, fmt.Errorf("%w: query string is %d bytes, the limit is %d", errkind.Invalid, len(rawQuery), lim.MaxQueryLen)
	}
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return q, fmt.Errorf("%w: malformed query string", errkind.Invalid)
	}
	if len(vals) > lim.MaxParams {
		return q, fmt.Errorf("%w: %d query parameters, the limit is %d", errkind.Invalid, len(vals), lim.MaxParams)
	}
	known := allowed[ep]
	for name, vs := range vals {
		if !slices.Contains(known, name) {
			continue
		}
		if len(vs) != 1 {
			return q, fmt.Errorf("%w: parameter %s given %d times; give it once, with a comma-separated list where lists are allowed", errkind.Invalid, name, len(vs))
		}
		v := vs[0]
		if len(v) > lim.MaxValueLen {
			return q, fmt.Errorf("%w: parameter %s is %d bytes, the limit is %d", errkind.Invalid, name, len(v), lim.MaxValueLen)
		}
		if err := q.set(name, v, lim); err != nil {
			return q, err
		}
	}
	return q, nil
}

// set parses one parameter into q.
func (q *Query) set(name, v string, lim Limits) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: parameter %s: %s", errkind.Invalid, name, fmt.Sprintf(format, args...))
	}
	switch name {
	case "added_after":
		t, err := ParseTimestamp(v)
		if err != nil {
			return bad("%q is not an RFC 3339 timestamp such as 2024-01-31T12:00:00.000Z", truncate(v, 64))
		}
		q.AddedAfter = t
	case "limit":
		n, err := strconv.Atoi(v)
		if err != nil {
			return bad("%q is not an integer", truncate(v, 64))
		}
		if n <= 0 {
			return bad("must be a positive integer, got %d", n)
		}
		q.Limit = min(n, lim.MaxLimit)
	case "next":
		if !reNext.MatchString(v) {
			return bad("not a cursor returned by this server")
		}
		q.Next = v
	default:
		items, err := splitList(name, v, lim.MaxListItems)
		if err != nil {
			return err
		}
		var check func(string) bool
		var want string
		switch name {
		case "match[id]":
			check, want, q.IDs = reID.MatchString, "a STIX id (type--UUID)", items
		case "match[type]":
			check, want, q.Types = reType.MatchString, "a STIX type such as indicator", items
		case "match[version]":
			check, want, q.Versions = validVersion, `"first", "last", "all" or a timestamp`, items
		case "match[spec_version]":
			check, want, q.SpecVersions = reSpecVersion.MatchString, "a spec version such as 2.1", items
		}
		for _, it := range items {
			if !check(it) {
				return bad("%q is not %s", truncate(it, 64), want)
			}
		}
	}
	return nil
}

// splitList splits a comma-separated parameter value.
func splitList(name, v string, max int) ([]string, error) {
	items := strings.Split(v, ",")
	if len(items) > max {
		return nil, fmt.Errorf("%w: parameter %s lists %d values, the limit is %d", errkind.Invalid, name, len(items), max)
	}
	out := items[:0]
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, fmt.Errorf("%w: parameter %s has an empty value", errkind.Invalid, name)
		}
		if !slices.Contains(out, it) {
			out = append(out, it)
		}
	}
	return out, nil
}

func validVersion(s string) bool {
	switch s {
	case "first", "last", "all":
		return true
	}
	_, err := ParseTimestamp(s)
	return err == nil
}

// ParseTimestamp parses an RFC 3339 timestamp (STIX and TAXII timestamps
// are of this form) and returns it in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) < 20 || len(s) > 40 {
		return time.Time{}, fmt.Errorf("%w: timestamp %q has an impossible length", errkind.Invalid, truncate(s, 64))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q: %v", errkind.Invalid, truncate(s, 64), err)
	}
	return t.UTC(), nil
}

// FormatTimestamp formats a date_added for TAXII: UTC, microsecond
// precision (nanoseconds when the time has sub-microsecond digits, so that
// distinct stored times never print alike).
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()%1000 != 0 {
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}
