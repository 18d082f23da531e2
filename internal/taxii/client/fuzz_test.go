package client

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// roundTrip serves one canned response without a network.
type roundTrip struct {
	body, ctype, last string
}

func (rt roundTrip) RoundTrip(r *http.Request) (*http.Response, error) {
	h := http.Header{}
	h.Set("Content-Type", rt.ctype)
	h.Set(HeaderDateAddedLast, rt.last)
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(rt.body)), Request: r}, nil
}

// FuzzGetObjects feeds arbitrary server replies to the envelope parser: it
// must never panic, and a page it accepts has a consistent shape.
func FuzzGetObjects(f *testing.F) {
	f.Add(`{"more":true,"next":"abc","objects":[{"id":"indicator--1"}]}`, MediaTAXII, "2024-01-01T00:00:00.000001Z")
	f.Add(`{"more":false}`, "application/stix+json;version=2.1", "")
	f.Add(`{"objects":"x"}`, MediaTAXII, "bad")
	f.Add(`[]`, "application/json", "2024-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, body, ctype, last string) {
		c, err := New(Options{APIRoot: "http://fuzz.invalid/root/", Retries: -1,
			HTTP: &http.Client{Transport: roundTrip{body, ctype, last}}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.GetObjects(context.Background(), "c", Query{Limit: 10})
		if err != nil {
			return
		}
		for _, o := range p.Objects {
			if len(o) == 0 {
				t.Fatalf("empty object accepted from %q", body)
			}
		}
		if !p.DateAddedLast.IsZero() && p.DateAddedLast.Location().String() != "UTC" {
			t.Fatalf("date not in UTC: %v", p.DateAddedLast)
		}
	})
}
