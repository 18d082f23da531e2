package route

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile maps Unicode names to their ASCII (punycode) form the way a
// resolver looks them up (UTS #46 non-transitional mapping, so "ß" stays
// "ß" and case and width are folded) and validates punycode labels. The
// STD3 and hyphen rules are off because real host names contain "_" and
// "r3---sn" labels; ASCII characters are checked by normDomain itself.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

// Domain name limits (RFC 1035 section 2.3.4).
const (
	maxLabel  = 63
	maxDomain = 253
)

var errEmptyDomain = errors.New("empty domain name")

// NormalizeDomain returns the canonical form of a domain name used for
// matching: lower case ASCII, internationalised labels in punycode
// ("xn--..."), no trailing dot. It accepts letters, digits, hyphens and
// underscores in ASCII labels and any name IDNA maps for lookup.
func NormalizeDomain(s string) (string, error) {
	return normDomain(s)
}

// normDomain is NormalizeDomain. The common case, an ASCII name already in
// lower case, returns s itself without allocating.
func normDomain(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", errEmptyDomain
	}
	if len(s) > maxDomain && isASCII(s) {
		return "", fmt.Errorf("domain name longer than %d bytes", maxDomain)
	}
	upper, needIDNA := false, false
	labelStart := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			n := i - labelStart
			if n == 0 {
				return "", errors.New("empty label")
			}
			if n > maxLabel && !needIDNA {
				return "", fmt.Errorf("label longer than %d bytes", maxLabel)
			}
			if n >= 4 && (s[labelStart] == 'x' || s[labelStart] == 'X') && (s[labelStart+1] == 'n' || s[labelStart+1] == 'N') && s[labelStart+2] == '-' && s[labelStart+3] == '-' {
				needIDNA = true // validate the punycode
			}
			labelStart = i + 1
			continue
		}
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case 'A' <= c && c <= 'Z':
			upper = true
		case c >= 0x80:
			needIDNA = true
		default:
			return "", fmt.Errorf("character %q not allowed in a domain name", c)
		}
	}
	if needIDNA {
		return idnaDomain(s)
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, nil
}

// idnaDomain converts a name with non-ASCII or punycode labels and checks
// the result is a plain ASCII name (IDNA lets through, for instance, full
// stops that map to "." and leave an empty label).
func idnaDomain(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return "", fmt.Errorf("not a valid internationalised domain name: %w", err)
	}
	a = strings.TrimSuffix(a, ".")
	if a == "" || len(a) > maxDomain {
		return "", fmt.Errorf("domain name empty or longer than %d bytes after IDNA mapping", maxDomain)
	}
	for _, l := range strings.Split(a, ".") {
		if l == "" || len(l) > maxLabel {
			return "", errors.New("empty or over-long label after IDNA mapping")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("character %q not allowed in a domain name", c)
			}
		}
	}
	// The ASCII form must be stable: it is what registrations and
	// observations are compared in.
	if again, err := idnaProfile.ToASCII(a); err != nil || again != a {
		return "", fmt.Errorf("internationalised domain name has no stable ASCII form")
	}
	return a, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
