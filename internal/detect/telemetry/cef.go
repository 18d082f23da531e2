package telemetry

import (
	"strings"
)

// cefReader reads ArcSight Common Event Format records:
//
//	[syslog prefix] CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension
//
// Header fields escape "|" and "\" with a backslash; extension values
// escape "=", "\", and write newlines as \n or \r.
type cefReader struct {
	*lines
	name string
}

func (c *cefReader) Format() Format { return FormatCEF }

// cefKeys maps CEF extension keys (short and long names) to kinds.
var cefKeys = map[string]struct {
	kind Kind
	role Role
}{
	"src": {KindIPv4, RoleSrc}, "sourceAddress": {KindIPv4, RoleSrc},
	"dst": {KindIPv4, RoleDst}, "destinationAddress": {KindIPv4, RoleDst},
	"c6a2": {KindIPv6, RoleSrc}, "deviceCustomIPv6Address2": {KindIPv6, RoleSrc},
	"c6a3": {KindIPv6, RoleDst}, "deviceCustomIPv6Address3": {KindIPv6, RoleDst},
	"spt": {KindSrcPort, RoleNone}, "sourcePort": {KindSrcPort, RoleNone},
	"dpt": {KindDstPort, RoleNone}, "destinationPort": {KindDstPort, RoleNone},
	"proto": {KindProtocol, RoleNone}, "transportProtocol": {KindProtocol, RoleNone},
	"shost": {KindDomain, RoleNone}, "sourceHostName": {KindDomain, RoleNone},
	"dhost": {KindDomain, RoleNone}, "destinationHostName": {KindDomain, RoleNone},
	"destinationDnsDomain": {KindDomain, RoleNone}, "sourceDnsDomain": {KindDomain, RoleNone},
	"request": {KindURL, RoleNone}, "requestURL": {KindURL, RoleNone},
	"requestClientApplication": {KindUserAgent, RoleNone},
	"fileHash":                 {KindInvalid, RoleNone}, "oldFileHash": {KindInvalid, RoleNone},
	"fname": {KindFileName, RoleNone}, "fileName": {KindFileName, RoleNone},
	"suser": {KindEmail, RoleNone}, "duser": {KindEmail, RoleNone},
	"sourceUserName": {KindEmail, RoleNone}, "destinationUserName": {KindEmail, RoleNone},
}

func (c *cefReader) Next() (*Event, error) {
	for {
		line, err := c.next()
		if err != nil {
			return nil, err
		}
		s := string(line)
		if strings.TrimSpace(s) == "" {
			continue
		}
		ev, msg := parseCEF(s)
		if msg != "" {
			c.malformed(c.n, msg)
			continue
		}
		ev.Source, ev.Line = c.name, c.n
		c.stats.Events++
		return ev, nil
	}
}

// parseCEF parses one record; msg is non-empty when it is malformed.
func parseCEF(s string) (*Event, string) {
	i := strings.Index(s, "CEF:")
	if i < 0 {
		return nil, "no CEF: header"
	}
	s = s[i+4:]
	// seven header fields separated by unescaped '|'
	var header [7]string
	for f := 0; f < 7; f++ {
		var b strings.Builder
		j := 0
		for ; j < len(s); j++ {
			ch := s[j]
			if ch == '\\' && j+1 < len(s) && (s[j+1] == '|' || s[j+1] == '\\') {
				b.WriteByte(s[j+1])
				j++
				continue
			}
			if ch == '|' {
				break
			}
			b.WriteByte(ch)
		}
		if j >= len(s) {
			return nil, "CEF header has fewer than 7 fields"
		}
		header[f] = b.String()
		s = s[j+1:]
	}
	if header[0] != "0" && header[0] != "1" {
		return nil, "unsupported CEF version " + truncate(header[0])
	}
	ev := &Event{Type: "cef"}
	ext := parseCEFExtension(s)
	// fixed order for roles: the header field order of the spec
	for _, kv := range ext {
		switch kv[0] {
		case "rt", "end", "start":
			if ev.Time.IsZero() {
				if t, ok := parseTime(kv[1]); ok {
					ev.Time = t
				}
			}
			continue
		}
		km, ok := cefKeys[kv[0]]
		if !ok {
			continue
		}
		v := kv[1]
		switch {
		case km.kind == KindInvalid: // a hash of unknown algorithm: by length
			switch len(v) {
			case 32:
				ev.Add(KindMD5, RoleNone, kv[0], v)
			case 40:
				ev.Add(KindSHA1, RoleNone, kv[0], v)
			case 64:
				ev.Add(KindSHA256, RoleNone, kv[0], v)
			case 128:
				ev.Add(KindSHA512, RoleNone, kv[0], v)
			}
		case km.kind == KindEmail:
			if strings.IndexByte(v, '@') > 0 {
				ev.Add(KindEmail, RoleNone, kv[0], v)
			}
		case km.kind == KindDomain:
			if !ev.Add(KindIPv4, RoleNone, kv[0], v) {
				ev.Add(KindDomain, RoleNone, kv[0], v)
			}
		default:
			ev.Add(km.kind, km.role, kv[0], v)
		}
	}
	return ev, ""
}

// parseCEFExtension splits "k1=v1 k2=v two k3=v3" into pairs: a value runs
// until the space before the next unescaped "key=".
func parseCEFExtension(s string) [][2]string {
	var out [][2]string
	type pos struct{ keyStart, eq int }
	var ps []pos
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] != '=' {
			continue
		}
		// the key is the run of key characters before '='
		k := i
		for k > 0 && isCEFKeyChar(s[k-1]) {
			k--
		}
		if k == i || (k > 0 && s[k-1] != ' ') {
			continue // '=' inside a value
		}
		ps = append(ps, pos{k, i})
	}
	for n, p := range ps {
		end := len(s)
		if n+1 < len(ps) {
			end = ps[n+1].keyStart
		}
		val := strings.TrimRight(s[p.eq+1:end], " ")
		out = append(out, [2]string{s[p.keyStart:p.eq], unescapeCEF(val)})
	}
	return out
}

func isCEFKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '[' || c == ']'
}

func unescapeCEF(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
