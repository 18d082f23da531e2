// Package cpe parses CPE 2.3 names (formatted strings and the 2.2 URI
// binding) into well-formed names and matches them attribute by attribute
// following NISTIR 7696 (name matching), with the logical values ANY ("*")
// and NA ("-") and the wildcards "*" and "?" in source attributes. Version
// ranges (NVD versionStart/versionEnd) are evaluated by the caller with
// package version. The package is pure.
package cpe

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// The attribute positions of a well-formed name.
const (
	Part = iota
	Vendor
	Product
	Version
	Update
	Edition
	Language
	SWEdition
	TargetSW
	TargetHW
	Other
	numAttrs
)

var attrNames = [numAttrs]string{"part", "vendor", "product", "version", "update", "edition",
	"language", "sw_edition", "target_sw", "target_hw", "other"}

// The logical values. Other attribute values are kept in the formatted
// string's quoting (backslash escapes), lower-cased.
const (
	Any = "*"
	NA  = "-"
)

// Name is a well-formed CPE name: eleven attribute values in formatted
// string form ("*" is ANY, "-" is NA).
type Name [numAttrs]string

// Parse reads a CPE 2.3 formatted string ("cpe:2.3:a:vendor:product:...")
// or a CPE 2.2 URI ("cpe:/a:vendor:product:version"). Missing trailing
// attributes are ANY. The error names the attribute at fault.
func Parse(s string) (Name, error) {
	var n Name
	for i := range n {
		n[i] = Any
	}
	switch {
	case strings.HasPrefix(s, "cpe:2.3:"):
		fields, err := splitFS(s[len("cpe:2.3:"):])
		if err != nil {
			return n, fmt.Errorf("cpe %q: %w: %w", s, err, errkind.Invalid)
		}
		if len(fields) != numAttrs {
			return n, fmt.Errorf("cpe %q: %d attributes, want %d: %w", s, len(fields), numAttrs, errkind.Invalid)
		}
		for i, f := range fields {
			if f == "" {
				return n, fmt.Errorf("cpe %q: empty %s: %w", s, attrNames[i], errkind.Invalid)
			}
			if err := checkValue(f, i); err != nil {
				return n, fmt.Errorf("cpe %q: %s: %w", s, attrNames[i], err)
			}
			n[i] = strings.ToLower(f)
		}
	case strings.HasPrefix(s, "cpe:/"):
		fields := strings.Split(s[len("cpe:/"):], ":")
		if len(fields) > 7 {
			return n, fmt.Errorf("cpe %q: %d URI components, at most 7: %w", s, len(fields), errkind.Invalid)
		}
		for i, f := range fields {
			if i == 5 && strings.HasPrefix(f, "~") {
				// Packed edition: ~edition~sw_edition~target_sw~target_hw~other.
				packed := strings.Split(f, "~")
				for j, p := range packed[1:] {
					if j < 5 {
						v, err := uriValue(p)
						if err != nil {
							return n, fmt.Errorf("cpe %q: packed edition: %w", s, err)
						}
						n[[]int{Edition, SWEdition, TargetSW, TargetHW, Other}[j]] = v
					}
				}
				continue
			}
			v, err := uriValue(f)
			if err != nil {
				return n, fmt.Errorf("cpe %q: %s: %w", s, attrNames[i], err)
			}
			n[[]int{Part, Vendor, Product, Version, Update, Edition, Language}[i]] = v
		}
	default:
		return n, fmt.Errorf("cpe %q: neither \"cpe:2.3:\" nor \"cpe:/\": %w", s, errkind.Invalid)
	}
	if p := n[Part]; p != "a" && p != "o" && p != "h" && p != Any {
		return n, fmt.Errorf("cpe %q: part %q not a, o or h: %w", s, p, errkind.Invalid)
	}
	return n, nil
}

// splitFS splits a formatted string at unescaped colons.
func splitFS(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash")
			}
			b.WriteByte(c)
			b.WriteByte(s[i+1])
			i++
		case ':':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String()), nil
}

// checkValue enforces the formatted-string rules: printable ASCII without
// spaces; unescaped "*" only at the ends, "?" only in runs at the ends.
func checkValue(v string, attr int) error {
	if v == Any || v == NA {
		return nil
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c > '~' {
			return fmt.Errorf("byte %#x at %d: %w", c, i, errkind.Invalid)
		}
		switch c {
		case '\\':
			i++
		case '*':
			if i != 0 && i != len(v)-1 {
				return fmt.Errorf("embedded unquoted '*' at %d: %w", i, errkind.Invalid)
			}
		}
	}
	return nil
}

// uriValue decodes one URI component into formatted-string form.
func uriValue(v string) (string, error) {
	switch v {
	case "":
		return Any, nil
	case "-":
		return NA, nil
	}
	dec, err := url.PathUnescape(v)
	if err != nil {
		return "", fmt.Errorf("%w: %w", err, errkind.Invalid)
	}
	var b strings.Builder
	for i := 0; i < len(dec); i++ {
		c := dec[i]
		if c <= ' ' || c > '~' {
			return "", fmt.Errorf("byte %#x at %d: %w", c, i, errkind.Invalid)
		}
		if !(isAlnum(c) || c == '_') {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return strings.ToLower(b.String()), nil
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// String returns the CPE 2.3 formatted string.
func (n Name) String() string {
	return "cpe:2.3:" + strings.Join(n[:], ":")
}

// Unescape returns an attribute value without its backslash quoting, for
// display and for comparing with package names.
func Unescape(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Match reports whether the target name is matched by the source name
// (source ⊇ target in NISTIR 7696 terms, or equal): every source
// attribute is ANY, or equals the target's, or (with wildcards) matches
// it. A target ANY is matched only by a source ANY; NA only by ANY or NA.
// When skipVersion is true the version attribute is not compared (the
// caller evaluates a version range instead).
func (n Name) Match(target Name, skipVersion bool) bool {
	for i := range n {
		if skipVersion && i == Version {
			continue
		}
		if !matchAttr(n[i], target[i]) {
			return false
		}
	}
	return true
}

func matchAttr(src, tgt string) bool {
	switch {
	case src == Any:
		return true
	case src == tgt:
		return true
	case src == NA || tgt == NA || tgt == Any:
		return false
	}
	if !hasWildcard(src) {
		return false
	}
	return glob(src, tgt)
}

func hasWildcard(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

// glob matches a source value with unquoted "*" (any run) and "?" (one
// character) against a target value; escapes compare literally.
func glob(p, s string) bool {
	if p == "" {
		return s == ""
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		if s == "" {
			return false
		}
		if s[0] == '\\' && len(s) > 1 {
			return glob(p[1:], s[2:])
		}
		return glob(p[1:], s[1:])
	case '\\':
		if len(p) < 2 || len(s) < 2 || s[0] != '\\' || p[1] != s[1] {
			return false
		}
		return glob(p[2:], s[2:])
	}
	if s == "" || p[0] != s[0] {
		return false
	}
	return glob(p[1:], s[1:])
}
