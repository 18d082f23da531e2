package source

import (
	"net/url"
	"testing"
	"time"
)

func TestNVDDelay(t *testing.T) {
	var r Runner
	if r.nvdDelay(false) != 6*time.Second || r.nvdDelay(true) != 600*time.Millisecond {
		t.Errorf("defaults: %s without key, %s with", r.nvdDelay(false), r.nvdDelay(true))
	}
	d := 2 * time.Second
	r.NVDDelay = &d
	if r.nvdDelay(false) != d || r.nvdDelay(true) != d {
		t.Errorf("configured delay not used")
	}
}

func TestNVDQuery(t *testing.T) {
	q := url.Values{"startIndex": {"20"}, "resultsPerPage": {"2000"}}
	for _, c := range []struct{ raw, want string }{
		{"", "resultsPerPage=2000&startIndex=20"},
		{"noRejected", "noRejected&resultsPerPage=2000&startIndex=20"},
		{"cpeName=cpe:2.3:a:x:y:*&startIndex=5&noRejected", "cpeName=cpe:2.3:a:x:y:*&noRejected&resultsPerPage=2000&startIndex=20"},
		{"start%49ndex=7", "resultsPerPage=2000&startIndex=20"},
	} {
		if got := nvdQuery(c.raw, q); got != c.want {
			t.Errorf("nvdQuery(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}
