package taxii

import (
	"errors"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestNegotiate(t *testing.T) {
	both := []string{MediaTAXII, MediaSTIX}
	tests := []struct {
		accept string
		offers []string
		want   string // "" means 406
	}{
		{"", both, MediaTAXII},
		{"   ", both, MediaTAXII},
		{MediaTAXII, both, MediaTAXII},
		{MediaSTIX, both, MediaSTIX},
		{"application/taxii+json; version=2.1", both, MediaTAXII},
		{"application/TAXII+json;version=2.1", both, MediaTAXII},
		{"application/taxii+json;version=2.1;charset=utf-8", both, MediaTAXII},
		{"application/taxii+json", both, MediaTAXII},
		{"application/*", both, MediaTAXII},
		{"*/*", both, MediaTAXII},
		{"*/*;q=0.1, application/stix+json;version=2.1", both, MediaSTIX},
		{"application/stix+json;version=2.1;q=0.2, application/taxii+json;version=2.1;q=0.9", both, MediaTAXII},
		{"application/taxii+json;version=2.1;q=0", both, ""},
		{"application/taxii+json;version=2.0", both, ""},
		{"application/vnd.oasis.taxii+json; version=2.0", both, ""},
		{"application/json", both, ""},
		{"text/*", both, ""},
		{MediaSTIX, []string{MediaTAXII}, ""},
		{"garbage;;;", both, ""},
		{`application/taxii+json;version="2.1", text/html`, both, MediaTAXII},
		{"*/json", both, ""},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			got, err := negotiate(tt.accept, tt.offers...)
			if tt.want == "" {
				if !errors.Is(err, errkind.Unacceptable) {
					t.Errorf("negotiate = %q, %v; want errkind.Unacceptable", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("negotiate = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCheckContentType(t *testing.T) {
	tests := []struct {
		ct string
		ok bool
	}{
		{MediaTAXII, true},
		{"application/taxii+json; version=2.1", true},
		{"application/taxii+json;version=2.1; charset=utf-8", true},
		{"application/taxii+json", false},
		{"application/taxii+json;version=2.0", false},
		{MediaSTIX, false},
		{"application/json", false},
		{"", false},
		{"application/taxii+json;version=2.1;", true},
	}
	for _, tt := range tests {
		err := checkContentType(tt.ct)
		if (err == nil) != tt.ok {
			t.Errorf("checkContentType(%q) = %v, want ok=%v", tt.ct, err, tt.ok)
		}
		if err != nil && !errors.Is(err, errkind.UnsupportedMediaType) {
			t.Errorf("checkContentType(%q) error kind: %v", tt.ct, err)
		}
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u := NewUUID()
		if !ValidID("x--"+u) || u[14] != '4' || seen[u] {
			t.Fatalf("bad or repeated uuid %s", u)
		}
		seen[u] = true
	}
}
