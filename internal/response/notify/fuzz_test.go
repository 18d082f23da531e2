package notify

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// FuzzParseMapping: any --map flags either fail as invalid input or give a
// mapping whose pairs parse back to the same mapping.
func FuzzParseMapping(f *testing.F) {
	for _, seed := range []string{
		"value=ip\nvalue=hostname\ntime=timestamp\nport=port\nvulnerability=tag",
		"value=src.ip\nproduct=device.vendor",
		"value=ip\nvalue=ip", "=ip", "value=", "port=port", "time=a\ntime=b", "x y=z", "value=a\rb",
	} {
		f.Add("csv", seed)
		f.Add("jsonl", seed)
	}
	f.Add("lines", "")
	f.Fuzz(func(t *testing.T, format, pairs string) {
		var in []string
		if pairs != "" {
			in = strings.Split(pairs, "\n")
		}
		m, err := ParseMapping(format, in)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) {
				t.Fatalf("error %v does not wrap errkind.Invalid", err)
			}
			return
		}
		if len(m.Feed.Values) == 0 && m.Feed.Format.String() != "lines" {
			t.Fatalf("mapping without a value field: %+v", m)
		}
		if len(m.Names) != len(m.Feed.Extra) {
			t.Fatalf("names %v for extra columns %v", m.Names, m.Feed.Extra)
		}
		back, err := ParseMapping(m.Feed.Format.String(), m.Pairs())
		if err != nil {
			t.Fatalf("pairs %q of a parsed mapping: %v", m.Pairs(), err)
		}
		if !slices.Equal(back.Pairs(), m.Pairs()) {
			t.Fatalf("round trip %q != %q", back.Pairs(), m.Pairs())
		}
	})
}

// FuzzParseImportQuery: any query string of an HTTP import either fails as
// invalid input or gives a request within the limits.
func FuzzParseImportQuery(f *testing.F) {
	for _, seed := range []string{
		"source=scan&format=csv&map=value%3Dip&map=port%3Dport&key=port&window=2h",
		"source=scan&format=lines", "source=&format=csv&map=value%3Dip", "source=s&format=csv&map=value%3Dip&window=-1h",
		"source=s&source=t&format=csv", "bogus=1", "source=s&format=jsonl&map=value%3Dsrc.ip&key=nosuch",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := ParseImportQuery(q)
		if err != nil {
			if !errors.Is(err, errkind.Invalid) {
				t.Fatalf("error %v does not wrap errkind.Invalid", err)
			}
			return
		}
		if CheckSource(req.Source) != nil || req.Window < 0 || req.Window > MaxWindow || len(req.Mapping.Pairs()) > MaxMappings {
			t.Fatalf("accepted out-of-limit request %+v", req)
		}
		for _, k := range req.Mapping.Key {
			if !slices.Contains(req.Mapping.Names, k) {
				t.Fatalf("key %q is not a mapped field %v", k, req.Mapping.Names)
			}
		}
	})
}
