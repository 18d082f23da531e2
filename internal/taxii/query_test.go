package taxii

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestParseQuery(t *testing.T) {
	ts := time.Date(2024, 1, 31, 12, 0, 0, 123000000, time.UTC)
	tests := []struct {
		name  string
		raw   string
		ep    Endpoint
		want  Query
		error string // substring of the error, "" for success
	}{
		{name: "empty", raw: "", ep: EndpointObjects, want: Query{Limit: 100}},
		{name: "all filters", raw: "added_after=2024-01-31T12:00:00.123Z&limit=5&next=d1x&match[id]=indicator--00000000-0000-4000-8000-000000000001&match[type]=indicator,malware&match[version]=first,2024-01-01T00:00:00Z&match[spec_version]=2.1",
			ep: EndpointObjects,
			want: Query{AddedAfter: ts, Limit: 5, Next: "d1x", IDs: []string{"indicator--00000000-0000-4000-8000-000000000001"},
				Types: []string{"indicator", "malware"}, Versions: []string{"first", "2024-01-01T00:00:00Z"}, SpecVersions: []string{"2.1"}}},
		{name: "escaped brackets", raw: "match%5Btype%5D=indicator", ep: EndpointObjects, want: Query{Limit: 100, Types: []string{"indicator"}}},
		{name: "offset timestamp to UTC", raw: "added_after=2024-01-31T13:00:00.123%2B01:00", ep: EndpointObjects, want: Query{Limit: 100, AddedAfter: ts}},
		{name: "limit capped", raw: "limit=5000", ep: EndpointObjects, want: Query{Limit: 1000}},
		{name: "duplicates in list removed", raw: "match[type]=indicator,indicator", ep: EndpointObjects, want: Query{Limit: 100, Types: []string{"indicator"}}},
		{name: "unknown parameter ignored", raw: "foo=bar", ep: EndpointObjects, want: Query{Limit: 100}},
		{name: "match[id] ignored on object endpoint", raw: "match[id]=bogus", ep: EndpointObject, want: Query{Limit: 100}},
		{name: "match[version] ignored on versions", raw: "match[version]=bogus", ep: EndpointVersions, want: Query{Limit: 100}},
		{name: "limit ignored on delete", raw: "limit=-1&match[version]=all", ep: EndpointDelete, want: Query{Limit: 100, Versions: []string{"all"}}},
		{name: "negative limit", raw: "limit=-20", ep: EndpointObjects, error: "parameter limit: must be a positive integer"},
		{name: "zero limit", raw: "limit=0", ep: EndpointObjects, error: "parameter limit"},
		{name: "limit not a number", raw: "limit=ten", ep: EndpointObjects, error: "parameter limit"},
		{name: "huge limit", raw: "limit=99999999999999999999999", ep: EndpointObjects, error: "parameter limit"},
		{name: "bad timestamp", raw: "added_after=2024-13-01T00:00:00Z", ep: EndpointObjects, error: "parameter added_after"},
		{name: "date only", raw: "added_after=2024-01-01", ep: EndpointObjects, error: "parameter added_after"},
		{name: "bad version", raw: "match[version]=latest", ep: EndpointObjects, error: "parameter match[version]"},
		{name: "bad id", raw: "match[id]=indicator--1", ep: EndpointObjects, error: "parameter match[id]"},
		{name: "bad type", raw: "match[type]=Indicator", ep: EndpointObjects, error: "parameter match[type]"},
		{name: "empty list item", raw: "match[type]=indicator,", ep: EndpointObjects, error: "empty value"},
		{name: "bad spec version", raw: "match[spec_version]=2", ep: EndpointObjects, error: "parameter match[spec_version]"},
		{name: "repeated", raw: "limit=1&limit=2", ep: EndpointObjects, error: "given 2 times"},
		{name: "bad next", raw: "next=a%20b", ep: EndpointObjects, error: "parameter next"},
		{name: "malformed escape", raw: "limit=%zz", ep: EndpointObjects, error: "malformed query"},
		{name: "too long", raw: "a=" + strings.Repeat("b", 5000), ep: EndpointObjects, error: "query string is 5002 bytes"},
		{name: "too many parameters", raw: "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1", ep: EndpointObjects, error: "17 query parameters"},
		{name: "too many list items", raw: "match[type]=" + strings.Repeat("a,", 100) + "a", ep: EndpointObjects, error: "lists 101 values"},
		{name: "value too long", raw: "next=" + strings.Repeat("a", 2049), ep: EndpointObjects, error: "parameter next is 2049 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuery(tt.raw, tt.ep, Limits{})
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) || !errors.Is(err, errkind.Invalid) {
					t.Fatalf("error = %v, want errkind.Invalid containing %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.AddedAfter.Equal(tt.want.AddedAfter) || got.Limit != tt.want.Limit || got.Next != tt.want.Next ||
				!slices.Equal(got.IDs, tt.want.IDs) || !slices.Equal(got.Types, tt.want.Types) ||
				!slices.Equal(got.Versions, tt.want.Versions) || !slices.Equal(got.SpecVersions, tt.want.SpecVersions) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLimitsConfigurable(t *testing.T) {
	q, err := ParseQuery("", EndpointObjects, Limits{DefaultLimit: 10, MaxLimit: 20})
	if err != nil || q.Limit != 10 {
		t.Fatalf("default limit: %v %v", q.Limit, err)
	}
	q, _ = ParseQuery("limit=50", EndpointObjects, Limits{DefaultLimit: 10, MaxLimit: 20})
	if q.Limit != 20 {
		t.Errorf("limit over max = %d, want 20", q.Limit)
	}
	if _, err := ParseQuery("a=1&b=2", EndpointObjects, Limits{MaxParams: 1}); err == nil {
		t.Error("MaxParams not enforced")
	}
}

func TestFormatTimestamp(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "2024-01-02T03:04:05.000000Z"},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), "2024-01-02T03:04:05.123456Z"},
		{time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC), "2024-01-02T03:04:05.123456789Z"},
		{time.Date(2024, 1, 2, 4, 4, 5, 0, time.FixedZone("x", 3600)), "2024-01-02T03:04:05.000000Z"},
	}
	for _, tt := range tests {
		got := FormatTimestamp(tt.in)
		if got != tt.want {
			t.Errorf("FormatTimestamp(%v) = %s, want %s", tt.in, got, tt.want)
		}
		back, err := ParseTimestamp(got)
		if err != nil || !back.Equal(tt.in) {
			t.Errorf("ParseTimestamp(%s) = %v, %v", got, back, err)
		}
	}
}

// FuzzParseQuery checks that query parsing never panics, that every error
// is an errkind.Invalid, and that accepted queries respect the limits.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=10", "added_after=2024-01-31T12:00:00.123Z", "match[type]=indicator,malware",
		"match[version]=first,last,all,2024-01-01T00:00:00Z", "match[spec_version]=2.0,2.1",
		"match[id]=indicator--00000000-0000-4000-8000-000000000001", "next=d1x&limit=1",
		"limit=-1", "%zz", "a;b", "match%5Bid%5D=x", "limit=1&limit=2",
	} {
		for ep := EndpointObjects; ep <= EndpointFeed; ep++ {
			f.Add(s, int(ep))
		}
	}
	f.Fuzz(func(t *testing.T, raw string, ep int) {
		e := Endpoint(uint(ep) % uint(EndpointFeed+1))
		q, err := ParseQuery(raw, e, Limits{})
		if err != nil {
			if !errors.Is(err, errkind.Invalid) {
				t.Fatalf("error %v is not errkind.Invalid", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > 1000 {
			t.Fatalf("limit %d out of range", q.Limit)
		}
		for _, l := range [][]string{q.IDs, q.Types, q.Versions, q.SpecVersions} {
			if len(l) > 100 {
				t.Fatalf("list of %d items", len(l))
			}
			for _, it := range l {
				if it == "" || strings.ContainsAny(it, ", ") {
					t.Fatalf("bad list item %q", it)
				}
			}
		}
		for _, id := range q.IDs {
			if !ValidID(id) {
				t.Fatalf("invalid id %q accepted", id)
			}
		}
		if !q.AddedAfter.IsZero() && q.AddedAfter.Location() != time.UTC {
			t.Fatalf("added_after not UTC")
		}
	})
}
