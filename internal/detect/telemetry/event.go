package telemetry

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of an observable value: it names the STIX object path
// the value stands for in observed-data (see Kind.Path).
type Kind uint8

// The observable kinds. Their STIX paths are listed by Kind.Path.
const (
	KindInvalid     Kind = iota
	KindIPv4             // ipv4-addr:value
	KindIPv6             // ipv6-addr:value
	KindDomain           // domain-name:value
	KindURL              // url:value
	KindEmail            // email-addr:value
	KindMD5              // file:hashes.MD5
	KindSHA1             // file:hashes.'SHA-1'
	KindSHA256           // file:hashes.'SHA-256'
	KindSHA512           // file:hashes.'SHA-512'
	KindFileName         // file:name
	KindX509SHA1         // x509-certificate:hashes.'SHA-1'
	KindX509SHA256       // x509-certificate:hashes.'SHA-256'
	KindJA3              // network-traffic:extensions.'x-tls-ext'.ja3
	KindJA3S             // network-traffic:extensions.'x-tls-ext'.ja3s
	KindUserAgent        // network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'
	KindDstPort          // network-traffic:dst_port
	KindSrcPort          // network-traffic:src_port
	KindProtocol         // network-traffic:protocols[*]
	KindRegistryKey      // windows-registry-key:key
	KindMutex            // mutex:name
	NumKinds             // the number of kinds (not a kind)
)

var kindPaths = [NumKinds]string{
	KindIPv4:        "ipv4-addr:value",
	KindIPv6:        "ipv6-addr:value",
	KindDomain:      "domain-name:value",
	KindURL:         "url:value",
	KindEmail:       "email-addr:value",
	KindMD5:         "file:hashes.MD5",
	KindSHA1:        "file:hashes.'SHA-1'",
	KindSHA256:      "file:hashes.'SHA-256'",
	KindSHA512:      "file:hashes.'SHA-512'",
	KindFileName:    "file:name",
	KindX509SHA1:    "x509-certificate:hashes.'SHA-1'",
	KindX509SHA256:  "x509-certificate:hashes.'SHA-256'",
	KindJA3:         "network-traffic:extensions.'x-tls-ext'.ja3",
	KindJA3S:        "network-traffic:extensions.'x-tls-ext'.ja3s",
	KindUserAgent:   "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
	KindDstPort:     "network-traffic:dst_port",
	KindSrcPort:     "network-traffic:src_port",
	KindProtocol:    "network-traffic:protocols[*]",
	KindRegistryKey: "windows-registry-key:key",
	KindMutex:       "mutex:name",
}

// Path returns the STIX object path of the kind, written as
// pattern.ObjectPath.String renders it (so that it can be compared with
// the paths of parsed patterns), or "" for KindInvalid.
func (k Kind) Path() string {
	if k >= NumKinds {
		return ""
	}
	return kindPaths[k]
}

// String returns the kind's STIX path.
func (k Kind) String() string {
	if p := k.Path(); p != "" {
		return p
	}
	return "invalid"
}

// KindOfPath returns the kind whose STIX path is p, or KindInvalid.
func KindOfPath(p string) Kind {
	for k := KindIPv4; k < NumKinds; k++ {
		if kindPaths[k] == p {
			return k
		}
	}
	return KindInvalid
}

// ParseKind returns the kind named by s: a STIX path (see Kind.Path) or a
// short name (ip, ipv4, ipv6, domain, url, email, md5, sha1, sha256, sha512,
// filename, x509-sha1, x509-sha256, ja3, ja3s, user-agent, dst-port,
// src-port, protocol, registry-key, mutex). It is used by field mappings.
func ParseKind(s string) (Kind, bool) {
	if k := KindOfPath(s); k != KindInvalid {
		return k, true
	}
	k, ok := shortKinds[strings.ToLower(s)]
	return k, ok
}

var shortKinds = map[string]Kind{
	"ip": KindIPv4, "ipv4": KindIPv4, "ipv6": KindIPv6, "domain": KindDomain, "url": KindURL,
	"email": KindEmail, "md5": KindMD5, "sha1": KindSHA1, "sha256": KindSHA256, "sha512": KindSHA512,
	"filename": KindFileName, "x509-sha1": KindX509SHA1, "x509-sha256": KindX509SHA256,
	"ja3": KindJA3, "ja3s": KindJA3S, "user-agent": KindUserAgent, "dst-port": KindDstPort,
	"src-port": KindSrcPort, "protocol": KindProtocol, "registry-key": KindRegistryKey, "mutex": KindMutex,
}

// Role says which end of a connection an address belongs to.
type Role uint8

// The roles of an address.
const (
	RoleNone Role = iota // not an end of the event's connection (for example a DNS answer)
	RoleSrc              // the originator (network-traffic:src_ref)
	RoleDst              // the responder (network-traffic:dst_ref)
)

// Observable is one value seen in an event.
type Observable struct {
	Kind Kind
	// Role is set for the addresses at either end of a connection; an
	// event has at most one RoleSrc and one RoleDst address.
	Role Role
	// Field names where the value came from, such as "id.resp_h" or
	// "dns.rrname".
	Field string
	// Value is the normalised value (see Normalize).
	Value string
}

// Event is one telemetry record: where it was read, when it happened, and
// the observable values it carries.
type Event struct {
	// Source is the name the reader was opened with; Line is the 1-based
	// line number in it.
	Source string
	Line   int
	// Time is the event's timestamp (zero when the record has none).
	Time time.Time
	// Type is the record type: the Zeek log path (conn, dns, ...), the
	// Suricata event_type, "cef" or "json"/"csv" for mapped records.
	Type string
	// Observables are the values of the event, normalised.
	Observables []Observable
}

// Add normalises value for kind and appends it as an observable; empty
// and invalid values (an address that does not parse, a port out of range)
// are dropped. An IPv4 address given with an IPv6 kind or the reverse is
// filed under the right kind. It reports whether the value was added.
func (e *Event) Add(kind Kind, role Role, field, value string) bool {
	v, ok := Normalize(kind, value)
	if !ok {
		return false
	}
	if kind == KindIPv4 || kind == KindIPv6 {
		kind = KindIPv4
		if strings.IndexByte(v, ':') >= 0 {
			kind = KindIPv6
		}
		if role != RoleNone {
			for _, o := range e.Observables {
				if o.Role == role {
					role = RoleNone // at most one address per end
					break
				}
			}
		}
	} else {
		role = RoleNone
	}
	e.Observables = append(e.Observables, Observable{Kind: kind, Role: role, Field: field, Value: v})
	return true
}

// Normalize returns the canonical form of an observable value of the given
// kind, the form indexes compare: addresses as netip renders them (IPv4
// mapped into IPv6 unmapped), domain names lowercase without a trailing
// dot, hashes and fingerprints lowercase without colons, e-mail addresses
// lowercase without angle brackets, URLs by NormalizeURL, ports in
// decimal, protocols lowercase; other kinds unchanged. ok is false for
// empty or invalid values.
func Normalize(kind Kind, value string) (string, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", false
	}
	switch kind {
	case KindIPv4, KindIPv6:
		a, err := netip.ParseAddr(value)
		if err != nil {
			return "", false
		}
		return a.Unmap().WithZone("").String(), true
	case KindDomain:
		v := lower(strings.TrimRight(value, "."))
		return v, v != ""
	case KindMD5, KindSHA1, KindSHA256, KindSHA512, KindX509SHA1, KindX509SHA256, KindJA3, KindJA3S:
		if strings.IndexByte(value, ':') >= 0 {
			value = strings.ReplaceAll(value, ":", "")
		}
		return lower(value), value != ""
	case KindEmail:
		if i := strings.LastIndexByte(value, '<'); i >= 0 {
			if j := strings.IndexByte(value[i:], '>'); j > 0 {
				value = value[i+1 : i+j]
			}
		}
		v := lower(strings.TrimSpace(value))
		return v, v != ""
	case KindURL:
		return NormalizeURL(value), true
	case KindDstPort, KindSrcPort:
		n, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return "", false
		}
		return strconv.FormatUint(n, 10), true
	case KindProtocol:
		return lower(value), true
	case KindInvalid:
		return "", false
	}
	if kind >= NumKinds {
		return "", false
	}
	return value, true
}

// NormalizeURL returns the canonical form of a URL: a scheme is added when
// missing ("http://"), scheme and host are lowercased, the default port of
// http and https is removed, and a fragment is dropped. Path and query
// are kept as given (they are case-sensitive).
func NormalizeURL(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	scheme := "http"
	rest := s
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		scheme = lower(s[:i])
		rest = s[i+3:]
	}
	hostEnd := strings.IndexAny(rest, "/?")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	host, tail := lower(rest[:hostEnd]), rest[hostEnd:]
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = host[:len(host)-3]
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = host[:len(host)-4]
	}
	if tail == "" {
		tail = "/"
	}
	return scheme + "://" + host + tail
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// lower lowercases ASCII letters, allocating only when needed.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
