package stix

import "strings"

// Lexical rules of STIX 2.1 section 3: identifiers, type names, property
// names, dictionary keys and timestamps. These are hand-written scanners
// (no regular expressions) because they run for every property of every
// object on the bulk-import path.

// SplitID splits a STIX identifier "type--UUID" into its type and UUID parts
// and reports whether it is well-formed: a valid type name, "--", and an
// RFC 4122 UUID (versions 1-5, variant 10xx) in its 8-4-4-4-12 hex form.
func SplitID(id string) (typ, uuid string, ok bool) {
	i := strings.Index(id, "--")
	if i < 0 {
		return "", "", false
	}
	typ, uuid = id[:i], id[i+2:]
	return typ, uuid, ValidTypeName(typ) && validUUID(uuid)
}

// validUUID checks the canonical textual form of an RFC 4122 UUID with a
// version of 1 to 5 and the RFC 4122 variant.
func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := u[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		}
		if !isHex(c) {
			return false
		}
	}
	if v := u[14]; v < '1' || v > '5' {
		return false
	}
	switch u[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return true
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ValidTypeName reports whether s follows the STIX 2.1 type-name rules:
// 3 to 250 characters of a-z, 0-9 and hyphen, starting with a letter and
// never containing "--" (which separates the type from the UUID in ids).
func ValidTypeName(s string) bool {
	if len(s) < 3 || len(s) > 250 {
		return false
	}
	if s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if s[i-1] == '-' {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ValidPropertyName reports whether s follows the STIX 2.1 property-name
// rules: 3 to 250 ASCII letters, digits and underscores, starting with a
// letter ("id" is the one shorter standard name).
func ValidPropertyName(s string) bool {
	if s == "id" {
		return true
	}
	if len(s) < 3 || len(s) > 250 {
		return false
	}
	if c := s[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validDictKey checks a dictionary key: at most 250 ASCII letters, digits,
// underscores and hyphens.
func validDictKey(s string) bool {
	if len(s) == 0 || len(s) > 250 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CheckTimestamp checks s against the STIX timestamp format
// YYYY-MM-DDTHH:MM:SS[.s+]Z (RFC 3339, UTC with "Z", leap second 60
// allowed) including calendar validity. It returns the number of
// fractional-second digits and whether s is valid.
func CheckTimestamp(s string) (frac int, ok bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return 0, false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	rest := s[19 : len(s)-1]
	if rest == "" {
		return 0, true
	}
	if rest[0] != '.' || len(rest) == 1 {
		return 0, false
	}
	for i := 1; i < len(rest); i++ {
		if rest[i] < '0' || rest[i] > '9' {
			return 0, false
		}
	}
	return len(rest) - 1, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// CompareTimestamps orders two timestamps that CheckTimestamp accepts:
// -1 if a is earlier, 0 if equal, +1 if later. Fractions of different
// lengths compare by value ("…:00Z" equals "…:00.000Z").
func CompareTimestamps(a, b string) int {
	if c := strings.Compare(a[:19], b[:19]); c != 0 {
		return c
	}
	fa, fb := a[19:len(a)-1], b[19:len(b)-1]
	if fa != "" {
		fa = fa[1:]
	}
	if fb != "" {
		fb = fb[1:]
	}
	n := max(len(fa), len(fb))
	for i := 0; i < n; i++ {
		ca, cb := byte('0'), byte('0')
		if i < len(fa) {
			ca = fa[i]
		}
		if i < len(fb) {
			cb = fb[i]
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return 0
}

// validLangTag loosely checks an RFC 5646 language tag: subtags of 1 to 8
// ASCII letters or digits separated by hyphens, the first alphabetic.
func validLangTag(s string) bool {
	if s == "" {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			if n == 0 {
				return false
			}
			n = 0
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			n++
		case '0' <= c && c <= '9':
			if i == 0 {
				return false
			}
			n++
		default:
			return false
		}
		if n > 8 {
			return false
		}
	}
	return n > 0
}

// validHex checks an even-length hexadecimal string (the *_hex type).
func validHex(s string) bool {
	if len(s) == 0 || len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// validBase64 checks standard padded base64 (the binary type).
func validBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			if pad > 0 {
				return false
			}
		case c == '=':
			pad++
			if pad > 2 || i < len(s)-2 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
