package misp

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// namespace is the UUIDv5 namespace of the STIX ids Kizuna derives from MISP
// uuids: STIX id = TYPE--uuidv5(namespace, lower-case MISP uuid), so a
// re-import of the same event yields the same ids.
var namespace = [16]byte{0x6b, 0x69, 0x7a, 0x75, 0x6e, 0x61, 0x4d, 0x49, 0x53, 0x50, 0x9a, 0x43, 0x2f, 0x6c, 0x1a, 0x7b}

// stixID returns the deterministic STIX id of type typ for a MISP uuid (or
// any other name).
func stixID(typ, name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(strings.ToLower(name)))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return typ + "--" + string(b[:])
}

// field is one part of a MISP attribute value and where the misp-stix
// conventions put it: the cyber-observable type ("ip" stands for ipv4-addr
// or ipv6-addr, decided by the value), the property on that observable,
// and the path used in an indicator pattern ({ip} is replaced likewise).
type field struct {
	sco  string
	prop string
	path string
	num  bool
	// link is the property of the other observable that refers to this one
	// (dst_ref, resolves_to_refs).
	link string
}

// hashNames maps MISP hash attribute types to STIX hash algorithm names.
var hashNames = map[string]string{
	"md5": "MD5", "sha1": "SHA-1", "sha224": "SHA-224", "sha256": "SHA-256", "sha384": "SHA-384",
	"sha512": "SHA-512", "sha3-256": "SHA3-256", "sha3-512": "SHA3-512", "ssdeep": "SSDEEP", "tlsh": "TLSH",
	"imphash": "IMPHASH",
}

// attrFields maps MISP attribute types to their STIX parts. Types not
// listed become x-misp-attribute objects (vulnerability and yara have
// their own SDO and pattern type).
var attrFields = func() map[string][]field {
	ip := []field{{sco: "ip", prop: "value", path: "{ip}:value"}}
	dom := []field{{sco: "domain-name", prop: "value", path: "domain-name:value"}}
	url := []field{{sco: "url", prop: "value", path: "url:value"}}
	email := []field{{sco: "email-addr", prop: "value", path: "email-addr:value"}}
	fname := field{sco: "file", prop: "name", path: "file:name"}
	regkey := field{sco: "windows-registry-key", prop: "key", path: "windows-registry-key:key"}
	m := map[string][]field{
		"ip-src": ip, "ip-dst": ip,
		"domain": dom, "hostname": dom,
		"url": url, "link": url,
		"email": email, "email-src": email, "email-dst": email,
		"mutex":       {{sco: "mutex", prop: "name", path: "mutex:name"}},
		"mac-address": {{sco: "mac-addr", prop: "value", path: "mac-addr:value"}},
		"filename":    {fname},
		"regkey":      {regkey},
		"regkey|value": {regkey, {sco: "windows-registry-key", prop: "values.data",
			path: "windows-registry-key:values[*].data"}},
		"domain|ip": {dom[0], {sco: "ip", prop: "value", path: "domain-name:resolves_to_refs[*].value", link: "resolves_to_refs"}},
		"ip-dst|port": {{sco: "ip", prop: "value", path: "network-traffic:dst_ref.value", link: "dst_ref"},
			{sco: "network-traffic", prop: "dst_port", path: "network-traffic:dst_port", num: true}},
		"ip-src|port": {{sco: "ip", prop: "value", path: "network-traffic:src_ref.value", link: "src_ref"},
			{sco: "network-traffic", prop: "src_port", path: "network-traffic:src_port", num: true}},
	}
	for t, h := range hashNames {
		hf := field{sco: "file", prop: "hashes." + h, path: "file:hashes.'" + h + "'"}
		m[t] = []field{hf}
		m["filename|"+t] = []field{fname, hf}
	}
	return m
}()

// nativeTypes lists, for indicators that did not come from MISP, the MISP
// type chosen for a pattern's set of paths (first match wins), with the
// category MISP gives it by default.
var nativeTypes = []struct{ typ, category string }{
	{"ip-dst", "Network activity"}, {"domain", "Network activity"}, {"url", "Network activity"},
	{"email-src", "Payload delivery"}, {"mutex", "Artifacts dropped"}, {"mac-address", "Network activity"},
	{"filename", "Payload delivery"}, {"regkey", "Persistence mechanism"}, {"regkey|value", "Persistence mechanism"},
	{"domain|ip", "Network activity"}, {"ip-dst|port", "Network activity"}, {"ip-src|port", "Network activity"},
	{"md5", "Payload delivery"}, {"sha1", "Payload delivery"}, {"sha224", "Payload delivery"},
	{"sha256", "Payload delivery"}, {"sha384", "Payload delivery"}, {"sha512", "Payload delivery"},
	{"sha3-256", "Payload delivery"}, {"sha3-512", "Payload delivery"}, {"ssdeep", "Payload delivery"},
	{"tlsh", "Payload delivery"}, {"imphash", "Payload delivery"},
	{"filename|md5", "Payload delivery"}, {"filename|sha1", "Payload delivery"}, {"filename|sha256", "Payload delivery"},
	{"filename|sha512", "Payload delivery"},
}

// splitValue splits a composite MISP value ("a|b") into n parts.
func splitValue(typ, v string, n int) ([]string, bool) {
	if n == 1 {
		return []string{v}, true
	}
	var a, b string
	var ok bool
	if strings.HasPrefix(typ, "filename|") {
		i := strings.LastIndexByte(v, '|')
		if i < 0 {
			return nil, false
		}
		a, b, ok = v[:i], v[i+1:], true
	} else {
		a, b, ok = strings.Cut(v, "|")
	}
	return []string{a, b}, ok && a != "" && b != ""
}

// ipType is the observable type of an IP address value.
func ipType(v string) string {
	if strings.Contains(v, ":") {
		return "ipv6-addr"
	}
	return "ipv4-addr"
}

// quotePattern quotes s as a STIX pattern string literal.
func quotePattern(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// buildPattern renders the STIX pattern of a MISP value: one observation
// whose comparisons are joined with AND.
func buildPattern(fs []field, parts []string) (string, bool) {
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(strings.Replace(f.path, "{ip}", ipType(parts[i]), 1))
		b.WriteString(" = ")
		if f.num {
			if _, err := strconv.ParseUint(parts[i], 10, 16); err != nil {
				return "", false
			}
			b.WriteString(parts[i])
		} else {
			b.WriteString(quotePattern(parts[i]))
		}
	}
	b.WriteByte(']')
	return b.String(), true
}

// parsePattern reads a pattern of the form buildPattern writes (one
// observation, equality comparisons joined by AND) into path → value. ok
// is false for any other pattern.
func parsePattern(p string) (map[string]string, bool) {
	p = strings.TrimSpace(p)
	if len(p) < 2 || p[0] != '[' || p[len(p)-1] != ']' {
		return nil, false
	}
	s := p[1 : len(p)-1]
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		i := strings.Index(s, " = ")
		if i <= 0 {
			return nil, false
		}
		path := strings.TrimSpace(s[:i])
		if strings.ContainsAny(path, " []()") && !strings.Contains(path, "[*]") {
			return nil, false
		}
		s = s[i+3:]
		var val string
		if strings.HasPrefix(s, "'") {
			var b strings.Builder
			j := 1
			closed := false
			for ; j < len(s); j++ {
				c := s[j]
				if c == '\\' && j+1 < len(s) {
					j++
					b.WriteByte(s[j])
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, false
			}
			val, s = b.String(), s[j+1:]
		} else {
			j := strings.IndexByte(s, ' ')
			if j < 0 {
				j = len(s)
			}
			val, s = s[:j], s[j:]
			if _, err := strconv.ParseInt(val, 10, 64); err != nil {
				return nil, false
			}
		}
		// hashes.'SHA-256' and hashes.MD5 name paths alike.
		path = strings.ReplaceAll(path, "'", "")
		if _, dup := out[path]; dup {
			return nil, false
		}
		out[path] = val
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out, true
		}
		if !strings.HasPrefix(s, "AND ") {
			return nil, false
		}
		s = s[4:]
	}
}

// valueFromPattern derives the MISP value of type typ from a parsed
// pattern; ok is false unless the pattern has exactly the type's paths.
func valueFromPattern(typ string, cmp map[string]string) (string, bool) {
	fs := attrFields[typ]
	if len(fs) == 0 || len(cmp) != len(fs) {
		return "", false
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		path := strings.ReplaceAll(f.path, "'", "")
		v, ok := cmp[strings.Replace(path, "{ip}", "ipv4-addr", 1)]
		if !ok {
			v, ok = cmp[strings.Replace(path, "{ip}", "ipv6-addr", 1)]
		}
		if !ok {
			return "", false
		}
		parts[i] = v
	}
	return strings.Join(parts, "|"), true
}

// tsFromEpoch converts a MISP epoch-seconds timestamp to a STIX timestamp.
func tsFromEpoch(s Str) (string, bool) {
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n <= 0 || n > 253402300799 {
		return "", false
	}
	return time.Unix(n, 0).UTC().Format("2006-01-02T15:04:05.000Z"), true
}

// tsFromISO converts a MISP first_seen/last_seen or date to a STIX
// timestamp (microsecond precision, UTC).
func tsFromISO(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1 || t.Year() > 9999 {
				return "", false
			}
			return t.UTC().Format("2006-01-02T15:04:05.000000Z"), true
		}
	}
	return "", false
}
