package telemetry

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldMapping maps one field of generic records to an observable kind.
type FieldMapping struct {
	// Field is a CSV column name or a JSON key; a dotted JSON key that is
	// not present as such is looked up through nested objects.
	Field string
	Kind  Kind
	Role  Role
}

// Mapping says how to read generic JSON lines and CSV records.
type Mapping struct {
	// Fields lists the fields carrying observables.
	Fields []FieldMapping
	// Time names the timestamp field: RFC 3339 text, "2006-01-02
	// 15:04:05" (UTC), or a number of seconds (milliseconds when above
	// 1e12) since the Unix epoch. Empty for none.
	Time string
	// Type is put on events as Event.Type ("json" or "csv" when empty).
	Type string
	// Header gives the CSV column names when the input has no header line.
	Header []string
	// Comma is the CSV field delimiter (',' when 0).
	Comma rune
}

// ParseMapping reads a mapping written as comma-separated
// "field=kind[:src|:dst]" items, with "time=field" naming the timestamp,
// for example "src_ip=ip:src,dst_ip=ip:dst,qname=domain,time=ts". Kinds are
// the names ParseKind accepts.
func ParseMapping(s string) (*Mapping, error) {
	m := &Mapping{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		field, spec, ok := strings.Cut(item, "=")
		if !ok || field == "" || spec == "" {
			return nil, fmt.Errorf("%w: mapping item %q: want field=kind", errInvalid, item)
		}
		if field == "time" {
			m.Time = spec
			continue
		}
		kindName, roleName, _ := strings.Cut(spec, ":")
		k, ok := ParseKind(kindName)
		if !ok {
			return nil, fmt.Errorf("%w: mapping item %q: unknown kind %q", errInvalid, item, kindName)
		}
		fm := FieldMapping{Field: field, Kind: k}
		switch roleName {
		case "":
		case "src":
			fm.Role = RoleSrc
		case "dst":
			fm.Role = RoleDst
		default:
			return nil, fmt.Errorf("%w: mapping item %q: role must be src or dst", errInvalid, item)
		}
		m.Fields = append(m.Fields, fm)
	}
	if len(m.Fields) == 0 {
		return nil, fmt.Errorf("%w: mapping %q names no fields", errInvalid, s)
	}
	return m, nil
}

// jsonReader reads Zeek JSON, Suricata EVE and mapped JSON lines.
type jsonReader struct {
	*lines
	name     string
	format   Format
	zeekPath string
	mapping  *Mapping
}

func (j *jsonReader) Format() Format { return j.format }

func (j *jsonReader) Next() (*Event, error) {
	for {
		line, err := j.next()
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			j.malformed(j.n, "invalid JSON: "+err.Error())
			continue
		}
		if rec == nil {
			j.malformed(j.n, "not a JSON object")
			continue
		}
		ev := &Event{Source: j.name, Line: j.n}
		var msg string
		switch j.format {
		case FormatZeekJSON:
			msg = j.zeek(ev, rec)
		case FormatEVE:
			msg = eve(ev, rec, &j.stats)
		default:
			msg = mapped(ev, j.mapping, func(f string) (any, bool) { return lookup(rec, f) })
			ev.Type = j.mapping.Type
			if ev.Type == "" {
				ev.Type = "json"
			}
		}
		if msg != "" {
			j.malformed(j.n, msg)
			continue
		}
		j.stats.Events++
		return ev, nil
	}
}

func (j *jsonReader) zeek(ev *Event, rec map[string]any) string {
	path, _ := rec["_path"].(string)
	if path == "" {
		path = j.zeekPath
	}
	ev.Type = path
	if ts, ok := rec["ts"]; ok {
		t, ok := parseTime(ts)
		if !ok {
			j.stats.BadTime++
		}
		ev.Time = t
	}
	// Fixed order, so that the src/dst roles are assigned the same way
	// every time (map iteration order is random).
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f, ok := zeekFieldFor(path, k)
		if !ok {
			continue
		}
		for _, v := range values(rec[k]) {
			f.add(ev, k, v)
		}
	}
	if path == "http" {
		host, _ := rec["host"].(string)
		uri, _ := rec["uri"].(string)
		port := ""
		if p := values(rec["id.resp_p"]); len(p) == 1 {
			port = p[0]
		}
		if u := httpURL(host, uri, port); u != "" && uri != "" {
			ev.Add(KindURL, RoleNone, "host+uri", u)
		}
	}
	return ""
}

// eve reads the observables of a Suricata EVE record.
func eve(ev *Event, rec map[string]any, st *Stats) string {
	ev.Type, _ = rec["event_type"].(string)
	if ts, ok := rec["timestamp"]; ok {
		t, ok := parseTime(ts)
		if !ok {
			st.BadTime++
		}
		ev.Time = t
	}
	one := func(path string, kind Kind, role Role) {
		if v, ok := lookup(rec, path); ok {
			for _, s := range values(v) {
				ev.Add(kind, role, path, s)
			}
		}
	}
	ipOrDomain := func(path string, v any) {
		for _, s := range values(v) {
			if !ev.Add(KindIPv4, RoleNone, path, s) {
				ev.Add(KindDomain, RoleNone, path, s)
			}
		}
	}
	one("src_ip", KindIPv4, RoleSrc)
	one("dest_ip", KindIPv4, RoleDst)
	one("src_port", KindSrcPort, RoleNone)
	one("dest_port", KindDstPort, RoleNone)
	one("proto", KindProtocol, RoleNone)
	// dns, version 1 (one record per query or answer) and 2 (grouped)
	one("dns.rrname", KindDomain, RoleNone)
	if v, ok := lookup(rec, "dns.rdata"); ok {
		ipOrDomain("dns.rdata", v)
	}
	if qs, ok := lookup(rec, "dns.queries"); ok {
		for _, q := range asList(qs) {
			if m, ok := q.(map[string]any); ok {
				for _, s := range values(m["rrname"]) {
					ev.Add(KindDomain, RoleNone, "dns.queries.rrname", s)
				}
			}
		}
	}
	if as, ok := lookup(rec, "dns.answers"); ok {
		for _, a := range asList(as) {
			if m, ok := a.(map[string]any); ok {
				ipOrDomain("dns.answers.rdata", m["rdata"])
			}
		}
	}
	if g, ok := lookup(rec, "dns.grouped"); ok {
		if m, ok := g.(map[string]any); ok {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				ipOrDomain("dns.grouped."+k, m[k])
			}
		}
	}
	// http
	if h, ok := lookup(rec, "http.hostname"); ok {
		ipOrDomain("http.hostname", h)
		host, _ := h.(string)
		u, _ := lookup(rec, "http.url")
		uri, _ := u.(string)
		port := ""
		if p := values(rec["dest_port"]); len(p) == 1 {
			port = p[0]
		}
		if u := httpURL(host, uri, port); u != "" && uri != "" {
			ev.Add(KindURL, RoleNone, "http.hostname+url", u)
		}
	}
	one("http.http_user_agent", KindUserAgent, RoleNone)
	// tls
	one("tls.sni", KindDomain, RoleNone)
	one("tls.fingerprint", KindX509SHA1, RoleNone)
	one("tls.ja3.hash", KindJA3, RoleNone)
	one("tls.ja3s.hash", KindJA3S, RoleNone)
	// files
	one("fileinfo.md5", KindMD5, RoleNone)
	one("fileinfo.sha1", KindSHA1, RoleNone)
	one("fileinfo.sha256", KindSHA256, RoleNone)
	one("fileinfo.filename", KindFileName, RoleNone)
	// mail
	one("smtp.mail_from", KindEmail, RoleNone)
	one("smtp.rcpt_to", KindEmail, RoleNone)
	one("email.from", KindEmail, RoleNone)
	one("email.to", KindEmail, RoleNone)
	return ""
}

// mapped reads the observables a Mapping names.
func mapped(ev *Event, m *Mapping, get func(string) (any, bool)) string {
	if m.Time != "" {
		if v, ok := get(m.Time); ok && v != nil && v != "" {
			t, ok := parseTime(v)
			if !ok {
				return fmt.Sprintf("field %s: invalid time %v", m.Time, truncate(fmt.Sprint(v)))
			}
			ev.Time = t
		}
	}
	for _, f := range m.Fields {
		v, ok := get(f.Field)
		if !ok {
			continue
		}
		for _, s := range values(v) {
			ev.Add(f.Kind, f.Role, f.Field, s)
		}
	}
	return ""
}

// lookup finds a flat key, or follows a dotted path through objects.
func lookup(rec map[string]any, path string) (any, bool) {
	if v, ok := rec[path]; ok {
		return v, true
	}
	cur := any(rec)
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// values renders a JSON value as observable strings: each element of a
// list, integers without a fraction; objects and nulls give nothing.
func values(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return []string{strconv.FormatInt(int64(x), 10)}
		}
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(x)}
	case []any:
		var out []string
		for _, e := range x {
			switch e.(type) {
			case string, float64:
				out = append(out, values(e)...)
			}
		}
		return out
	}
	return nil
}

// parseTime reads a timestamp: RFC 3339 (with "Z" or a numeric offset
// with or without colon), "2006-01-02 15:04:05", epoch seconds as a number
// or decimal text (milliseconds when above 1e12).
func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case float64:
		return epochFloat(x)
	case string:
		if x == "" {
			return time.Time{}, false
		}
		if c := x[0]; c >= '0' && c <= '9' && !strings.ContainsAny(x, "-:T ") {
			if t, ok := parseEpoch(x); ok {
				if t.Year() > 33658 { // milliseconds
					f, err := strconv.ParseFloat(x, 64)
					if err != nil {
						return time.Time{}, false
					}
					return epochFloat(f)
				}
				return t, true
			}
			return time.Time{}, false
		}
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), true
			}
		}
	}
	return time.Time{}, false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"Jan 2 2006 15:04:05",
	"Jan 2 2006 15:04:05.000",
	"Jan 02 2006 15:04:05 MST",
}

func epochFloat(f float64) (time.Time, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e15 {
		return time.Time{}, false
	}
	if f > 1e12 {
		f /= 1000
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC(), true
}
