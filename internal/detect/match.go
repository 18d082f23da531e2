package detect

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// Match returns the indicators the event matches, one Hit per indicator,
// or nil. Atomic indicators are answered from the index; other
// indicators whose candidate keys the event hits (and those without keys)
// are confirmed by evaluating their pattern on the event's observed-data
// (see Observations). An indicator applies when the event's time lies in
// its validity window; an event without a time is taken to happen now.
func (x *Index) Match(ev *telemetry.Event) []Hit {
	t := ev.Time
	if t.IsZero() {
		t = x.now()
	}
	m := matcher{t: t.UnixNano()}
	x.mu.RLock()
	for i := range ev.Observables {
		x.lookupLocked(&m, &ev.Observables[i])
	}
	for _, e := range x.always {
		if e.valid(m.t) {
			m.candidate(e, nil)
		}
	}
	x.mu.RUnlock()
	if len(m.cands) > 0 {
		// Evaluated outside the lock: patterns are immutable once added.
		obs := Observations(ev)
		for _, c := range m.cands {
			if ok, err := c.e.p.Match(obs); err != nil || !ok {
				continue
			}
			h := Hit{IndicatorID: c.e.id, Pattern: c.e.pattern}
			if c.o != nil {
				h.Kind, h.Field, h.Value = c.o.Kind, c.o.Field, c.o.Value
			}
			m.hits = append(m.hits, h)
		}
	}
	return m.hits
}

type candidate struct {
	e *entry
	o *telemetry.Observable
}

// matcher collects the hits and candidates of one event.
type matcher struct {
	t     int64
	hits  []Hit
	cands []candidate
}

func (m *matcher) add(ps postings, o *telemetry.Observable) {
	if ps.one != nil {
		m.addEntry(ps.one, o)
	}
	for _, e := range ps.more {
		m.addEntry(e, o)
	}
}

func (m *matcher) addEntry(e *entry, o *telemetry.Observable) {
	if !e.valid(m.t) {
		return
	}
	if e.p != nil {
		m.candidate(e, o)
		return
	}
	for i := range m.hits {
		if m.hits[i].IndicatorID == e.id {
			return
		}
	}
	m.hits = append(m.hits, Hit{IndicatorID: e.id, Pattern: e.pattern, Kind: o.Kind, Field: o.Field, Value: o.Value})
}

func (m *matcher) candidate(e *entry, o *telemetry.Observable) {
	for _, c := range m.cands {
		if c.e == e {
			return
		}
	}
	m.cands = append(m.cands, candidate{e, o})
}

func (x *Index) lookupLocked(m *matcher, o *telemetry.Observable) {
	switch o.Kind {
	case telemetry.KindIPv4, telemetry.KindIPv6:
		a, err := netip.ParseAddr(o.Value)
		if err != nil {
			return
		}
		roles := [2]telemetry.Role{telemetry.RoleNone, o.Role}
		n := 1
		if o.Role != telemetry.RoleNone {
			n = 2
		}
		for _, r := range roles[:n] {
			if ps, ok := x.ip[r][a]; ok {
				m.add(ps, o)
			}
			if x.npfx[r] > 0 && x.pfx[r].Contains(a) {
				for _, ps := range x.pfx[r].Supernets(netip.PrefixFrom(a, a.BitLen())) {
					m.add(ps, o)
				}
			}
		}
	case telemetry.KindDomain:
		if ps, ok := x.exact[o.Kind][o.Value]; ok {
			m.add(ps, o)
		}
		if len(x.suffix) > 0 {
			v := o.Value
			for i := 0; i < len(v); i++ {
				if v[i] == '.' {
					if ps, ok := x.suffix[v[i+1:]]; ok {
						m.add(ps, o)
					}
				}
			}
		}
	default:
		if o.Kind < telemetry.NumKinds {
			if ps, ok := x.exact[o.Kind][o.Value]; ok {
				m.add(ps, o)
			}
		}
	}
}

// Observations converts an event to the observed-data the general pattern
// evaluator matches: one observation (number_observed 1, first and last
// observed at the event's time) whose root objects are the event's
// cyber-observables: an ipv4-addr or ipv6-addr per address, a
// domain-name, url, email-addr, mutex or windows-registry-key per value, a
// file per set of hashes and name, an x509-certificate per fingerprint,
// and a network-traffic with src_ref and dst_ref pointing at the
// addresses of the connection's ends, src_port, dst_port, protocols, the
// HTTP user agent (http-request-ext) and JA3 hashes (x-tls-ext).
func Observations(ev *telemetry.Event) []pattern.Observation {
	b := obsBuilder{refs: map[string]map[string]any{}}
	var nt map[string]any
	netTraffic := func(prop string) map[string]any {
		if nt == nil || (prop != "" && nt[prop] != nil) {
			nt = b.object("network-traffic")
		}
		return nt
	}
	var file, cert map[string]any
	for i := range ev.Observables {
		o := &ev.Observables[i]
		switch o.Kind {
		case telemetry.KindIPv4, telemetry.KindIPv6:
			typ := "ipv4-addr"
			if o.Kind == telemetry.KindIPv6 {
				typ = "ipv6-addr"
			}
			id := b.unique(typ, "value", o.Value)
			switch o.Role {
			case telemetry.RoleSrc:
				netTraffic("src_ref")["src_ref"] = id
			case telemetry.RoleDst:
				netTraffic("dst_ref")["dst_ref"] = id
			}
		case telemetry.KindDomain:
			b.unique("domain-name", "value", o.Value)
		case telemetry.KindURL:
			b.unique("url", "value", o.Value)
		case telemetry.KindEmail:
			b.unique("email-addr", "value", o.Value)
		case telemetry.KindMutex:
			b.unique("mutex", "name", o.Value)
		case telemetry.KindRegistryKey:
			b.unique("windows-registry-key", "key", o.Value)
		case telemetry.KindMD5, telemetry.KindSHA1, telemetry.KindSHA256, telemetry.KindSHA512:
			algo := hashNames[o.Kind]
			if file == nil || hashesOf(file)[algo] != nil {
				file = b.object("file")
			}
			hashesOf(file)[algo] = o.Value
		case telemetry.KindFileName:
			if file == nil || file["name"] != nil {
				file = b.object("file")
			}
			file["name"] = o.Value
		case telemetry.KindX509SHA1, telemetry.KindX509SHA256:
			algo := "SHA-1"
			if o.Kind == telemetry.KindX509SHA256 {
				algo = "SHA-256"
			}
			if cert == nil || hashesOf(cert)[algo] != nil {
				cert = b.object("x509-certificate")
			}
			hashesOf(cert)[algo] = o.Value
		case telemetry.KindDstPort, telemetry.KindSrcPort:
			prop := "dst_port"
			if o.Kind == telemetry.KindSrcPort {
				prop = "src_port"
			}
			n, err := strconv.ParseInt(o.Value, 10, 64)
			if err != nil {
				continue
			}
			netTraffic(prop)[prop] = n
		case telemetry.KindProtocol:
			t := netTraffic("")
			l, _ := t["protocols"].([]any)
			t["protocols"] = append(l, o.Value)
		case telemetry.KindUserAgent:
			t := netTraffic("")
			ext := sub(sub(t, "extensions"), "http-request-ext")
			hdr := sub(ext, "request_header")
			if hdr["User-Agent"] != nil {
				t = netTraffic("extensions")
				hdr = sub(sub(sub(t, "extensions"), "http-request-ext"), "request_header")
			}
			hdr["User-Agent"] = o.Value
		case telemetry.KindJA3, telemetry.KindJA3S:
			prop := "ja3"
			if o.Kind == telemetry.KindJA3S {
				prop = "ja3s"
			}
			t := netTraffic("")
			ext := sub(sub(t, "extensions"), "x-tls-ext")
			if ext[prop] != nil {
				t = netTraffic("extensions")
				ext = sub(sub(t, "extensions"), "x-tls-ext")
			}
			ext[prop] = o.Value
		}
	}
	return []pattern.Observation{{
		ID:             "observed-data--" + strings.ReplaceAll(ev.Source, " ", "_") + ":" + strconv.Itoa(ev.Line),
		FirstObserved:  ev.Time,
		LastObserved:   ev.Time,
		NumberObserved: 1,
		Objects:        b.roots,
		Refs:           b.refs,
	}}
}

var hashNames = map[telemetry.Kind]string{
	telemetry.KindMD5: "MD5", telemetry.KindSHA1: "SHA-1", telemetry.KindSHA256: "SHA-256", telemetry.KindSHA512: "SHA-512",
}

type obsBuilder struct {
	roots []map[string]any
	refs  map[string]map[string]any
	seen  map[[2]string]string
}

func (b *obsBuilder) object(typ string) map[string]any {
	id := typ + "--" + strconv.Itoa(len(b.roots))
	o := map[string]any{"type": typ, "id": id}
	b.roots = append(b.roots, o)
	b.refs[id] = o
	return o
}

// unique returns the id of the object of type typ with prop = v, creating
// it the first time.
func (b *obsBuilder) unique(typ, prop, v string) string {
	if b.seen == nil {
		b.seen = map[[2]string]string{}
	}
	k := [2]string{typ, v}
	if id, ok := b.seen[k]; ok {
		return id
	}
	o := b.object(typ)
	o[prop] = v
	id := o["id"].(string)
	b.seen[k] = id
	return id
}

func hashesOf(o map[string]any) map[string]any { return sub(o, "hashes") }

func sub(o map[string]any, k string) map[string]any {
	m, ok := o[k].(map[string]any)
	if !ok {
		m = map[string]any{}
		o[k] = m
	}
	return m
}
