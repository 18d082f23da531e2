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
	m := matcher{x: x, t: t.UnixNano()}
	x.mu.RLock()
	for i := range ev.Observables {
		x.lookupLocked(&m, &ev.Observables[i])
	}
	for _, i := range x.always {
		if x.metas[i].valid(m.t) {
			m.candidate(i, nil)
		}
	}
	hits := make([]Hit, 0, len(m.hits))
	for _, h := range m.hits {
		hits = append(hits, x.hitLocked(h))
	}
	cands := make([]candidate, len(m.cands))
	for j, c := range m.cands {
		cands[j] = candidate{p: x.pats[c.ind], h: x.hitLocked(c)}
	}
	x.mu.RUnlock()
	if len(cands) > 0 {
		// Evaluated outside the lock: patterns are immutable once added.
		obs := Observations(ev)
		for _, c := range cands {
			if ok, err := c.p.Match(obs); err != nil || !ok {
				continue
			}
			hits = append(hits, c.h)
		}
	}
	if len(hits) == 0 {
		return nil
	}
	return hits
}

type candidate struct {
	p *pattern.Pattern
	h Hit
}

// mhit is a hit or candidate before it is materialised: an indicator
// number, or for a plain-list indicator the atom or prefix it is.
type mhit struct {
	ind  int32
	atom int32
	pfx  netip.Prefix
	role telemetry.Role
	o    *telemetry.Observable
}

func (h *mhit) same(o *mhit) bool {
	if h.ind != o.ind {
		return false
	}
	if h.ind >= 0 {
		return true
	}
	return h.atom == o.atom && h.pfx == o.pfx && h.role == o.role
}

// matcher collects the hits and candidates of one event.
type matcher struct {
	x     *Index
	t     int64
	hits  []mhit
	cands []mhit
}

func (m *matcher) add(h mhit) {
	if h.ind == indDead {
		return
	}
	if h.ind >= 0 {
		e := &m.x.metas[h.ind]
		if !e.valid(m.t) {
			return
		}
		if e.flags&flagComplex != 0 {
			m.candidate(h.ind, h.o)
			return
		}
	}
	for i := range m.hits {
		if m.hits[i].same(&h) {
			return
		}
	}
	m.hits = append(m.hits, h)
}

func (m *matcher) candidate(i int32, o *telemetry.Observable) {
	for _, c := range m.cands {
		if c.ind == i {
			return
		}
	}
	m.cands = append(m.cands, mhit{ind: i, atom: -1, o: o})
}

// hitLocked materialises a hit: the indicator's id and pattern text.
func (x *Index) hitLocked(h mhit) Hit {
	var out Hit
	switch {
	case h.ind >= 0:
		out.IndicatorID, out.Pattern = x.idOf(h.ind), x.patternOf(h.ind)
	case h.atom >= 0:
		a := &x.atoms.ents[h.atom]
		out.Pattern = keyPattern(a.tag(), string(x.atoms.value(a)))
		out.IndicatorID = PlainID(out.Pattern)
	default:
		out.Pattern = prefixPattern(h.pfx, h.role)
		out.IndicatorID = PlainID(out.Pattern)
	}
	if h.o != nil {
		out.Kind, out.Field, out.Value = h.o.Kind, h.o.Field, h.o.Value
	}
	return out
}

// atomHits adds the indicators of the key (tag, v).
func (m *matcher) atomHits(tag uint8, v string, o *telemetry.Observable) {
	s := m.x.atoms
	for a := s.headString(tag, v); a >= 0; a = s.ents[a].next {
		m.add(mhit{ind: s.ents[a].ind, atom: a, o: o})
	}
}

func (x *Index) lookupLocked(m *matcher, o *telemetry.Observable) {
	switch o.Kind {
	case telemetry.KindIPv4, telemetry.KindIPv6:
		roles := [2]telemetry.Role{telemetry.RoleNone, o.Role}
		n := 1
		if o.Role != telemetry.RoleNone {
			n = 2
		}
		for _, r := range roles[:n] {
			m.atomHits(uint8(telemetry.KindIPv4)|uint8(r)<<5, o.Value, o)
			if x.npfx[r] > 0 {
				a, err := netip.ParseAddr(o.Value)
				if err != nil || !x.pfx[r].Contains(a) {
					continue
				}
				for p, ps := range x.pfx[r].Supernets(netip.PrefixFrom(a, a.BitLen())) {
					for _, i := range ps {
						m.add(mhit{ind: i, atom: -1, pfx: p, role: r, o: o})
					}
				}
			}
		}
	case telemetry.KindDomain:
		m.atomHits(uint8(o.Kind), o.Value, o)
		if x.atoms.tags[tagSuffix|uint8(telemetry.KindDomain)] > 0 {
			v := o.Value
			for i := 0; i < len(v); i++ {
				if v[i] == '.' {
					m.atomHits(tagSuffix|uint8(telemetry.KindDomain), v[i+1:], o)
				}
			}
		}
	default:
		if o.Kind < telemetry.NumKinds {
			m.atomHits(uint8(o.Kind), o.Value, o)
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
