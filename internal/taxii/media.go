package taxii

import (
	"fmt"
	"mime"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// The media types of TAXII 2.1 (section 1.6.8).
const (
	MediaTAXII = "application/taxii+json;version=2.1"
	MediaSTIX  = "application/stix+json;version=2.1"
)

// mediaType is a parsed media range.
type mediaType struct {
	typ, sub, version string
	q                 float64
}

// parseMediaRange parses one element of an Accept header or a Content-Type.
func parseMediaRange(s string) (mediaType, bool) {
	mt, params, err := mime.ParseMediaType(strings.TrimSpace(s))
	if err != nil {
		return mediaType{}, false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok {
		return mediaType{}, false
	}
	m := mediaType{typ: typ, sub: sub, version: params["version"], q: 1}
	if q, ok := params["q"]; ok {
		var f float64
		if _, err := fmt.Sscanf(q, "%g", &f); err != nil || f < 0 || f > 1 {
			return mediaType{}, false
		}
		m.q = f
	}
	return m, true
}

// matches reports whether the range accepts the concrete offer.
func (m mediaType) matches(offer mediaType) bool {
	if m.typ == "*" {
		return m.sub == "*"
	}
	if m.typ != offer.typ {
		return false
	}
	if m.sub == "*" {
		return true
	}
	if m.sub != offer.sub {
		return false
	}
	// A range without version accepts the latest version (section 1.6.8.1).
	return m.version == "" || m.version == offer.version
}

// negotiate picks the first of offers (concrete media types, in order of
// preference) acceptable under the Accept header value. An empty header
// accepts the first offer. It fails with errkind.Unacceptable.
func negotiate(accept string, offers ...string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return offers[0], nil
	}
	best, bestQ := "", 0.0
	for _, part := range splitAccept(accept) {
		r, ok := parseMediaRange(part)
		if !ok || r.q == 0 {
			continue
		}
		for _, o := range offers {
			om, _ := parseMediaRange(o)
			if r.matches(om) && r.q > bestQ {
				best, bestQ = o, r.q
			}
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: Accept %q: this resource is served as %s", errkind.Unacceptable,
			truncate(accept, 100), strings.Join(offers, " or "))
	}
	return best, nil
}

// splitAccept splits an Accept header on commas outside quoted strings.
func splitAccept(s string) []string {
	var parts []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// checkContentType accepts only application/taxii+json;version=2.1 (other
// parameters such as charset=utf-8 are ignored); it fails with
// errkind.UnsupportedMediaType.
func checkContentType(ct string) error {
	m, ok := parseMediaRange(ct)
	if ok && m.typ == "application" && m.sub == "taxii+json" && m.version == "2.1" {
		return nil
	}
	return fmt.Errorf("%w: Content-Type %q: send %s", errkind.UnsupportedMediaType, truncate(ct, 100), MediaTAXII)
}

// truncate shortens s for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
