package detect

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // UUIDv5 is defined with SHA-1
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// namespaceURL is the RFC 9562 URL namespace.
var namespaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// PlainID returns the stable id of a plain-list indicator with the given
// pattern: "indicator--" and the UUIDv5 of "kizuna:plain:" + pattern in
// the URL namespace (Python: uuid.uuid5(uuid.NAMESPACE_URL,
// "kizuna:plain:" + pattern)).
func PlainID(pattern string) string {
	h := sha1.New() //nolint:gosec // UUIDv5
	h.Write(namespaceURL[:])
	h.Write([]byte("kizuna:plain:"))
	h.Write([]byte(pattern))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID("indicator--", u)
}

// PlainStats counts what ReadPlainList read.
type PlainStats struct {
	Lines, Values, Duplicates int
	// Skipped counts the values whose type was not recognised; Examples
	// holds the first few with their line numbers.
	Skipped  int
	Examples []string
}

// ReadPlainList adds the values of a plain indicator list to the index:
// one value per line (the first whitespace-separated token; "#" starts a
// comment, blank lines are skipped), as Maltrail trail files and IPsum
// write them. The type is inferred (see ClassifyPlain). Each value is an
// indicator without validity bounds whose id is PlainID of its pattern;
// its id and pattern are derived only when it hits.
func ReadPlainList(r io.Reader, x *Index) (PlainStats, error) {
	var st PlainStats
	data, err := io.ReadAll(r) // a whole list: its lines size the tables
	if err != nil {
		return st, fmt.Errorf("plain list: %w", err)
	}
	lines := bytes.Count(data, []byte{'\n'}) + 1
	x.mu.Lock()
	defer x.mu.Unlock()
	x.atoms.reserve(lines, len(data)/lines+1)
	b := bulk{s: x.atoms, pend: make([]pending, 0, lines)}
	for len(data) > 0 {
		st.Lines++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		for i, c := range line {
			if c == ' ' || c == '\t' {
				line = line[:i]
				break
			}
		}
		// The token is only read or copied (into the arena): no copy.
		tok := unsafe.String(unsafe.SliceData(line), len(line))
		var added, ok bool
		if c, simple := ClassifyPlain(tok); simple && c.Port == 0 && !c.Prefix.IsValid() && len(c.Value) <= maxAtomLen {
			b.add(plainTag(c.Kind), c.Value)
			continue
		} else {
			added, ok = x.addPlainLocked(tok)
		}
		switch {
		case !ok:
			st.Skipped++
			if len(st.Examples) < 5 {
				st.Examples = append(st.Examples, fmt.Sprintf("line %d: %q", st.Lines, strings.Clone(tok)))
			}
		case added:
			st.Values++
		default:
			st.Duplicates++
		}
	}
	added, dups := b.flush()
	st.Values += added
	st.Duplicates += dups
	x.plain += added
	return st, nil
}

func plainTag(k telemetry.Kind) uint8 {
	if k == telemetry.KindIPv6 {
		return uint8(telemetry.KindIPv4)
	}
	return uint8(k)
}

// bulk inserts many plain keys into an atoms store whose table is already
// large enough: the values are appended to the arena as they come, then
// inserted in the order of their table slots, so that the table is
// written sequentially instead of one cache miss per key.
type bulk struct {
	s    *atoms
	pend []pending
}

type pending struct {
	h       uint64
	off, ln uint32
}

func (b *bulk) add(tag uint8, v string) {
	s := b.s
	off := uint32(len(s.arena))
	s.arena = append(s.arena, v...)
	b.pend = append(b.pend, pending{h: s.hashString(tag, v), off: off, ln: uint32(tag)<<24 | uint32(len(v))})
}

// flush inserts the pending keys as plain indicators.
func (b *bulk) flush() (added, dups int) {
	s := b.s
	if len(b.pend) == 0 {
		return 0, 0
	}
	if need := slotsFor(s.keys + len(b.pend)); need > len(s.slots) {
		s.rehash(need)
	}
	mask := uint64(len(s.slots) - 1)
	radixSort(b.pend, mask)
	for _, p := range b.pend {
		a := atom{off: p.off, ln: p.ln, ind: indPlain, next: -1}
		tag, v := a.tag(), unsafe.String(unsafe.SliceData(s.arena[p.off:]), a.n())
		head, free := s.probe(tag, v, p.h)
		if head >= 0 {
			if s.insert(tag, v, indPlain) {
				added++
			} else {
				dups++
			}
			continue
		}
		s.ents = append(s.ents, a)
		s.slots[free] = p.h>>32<<32 | uint64(len(s.ents))
		s.setBloom(p.h)
		s.keys++
		s.tags[tag]++
		added++
	}
	b.pend = b.pend[:0]
	return added, dups
}

// radixSort sorts by h&mask (least significant digit first, 11 bits a
// pass).
func radixSort(ps []pending, mask uint64) {
	tmp := make([]pending, len(ps))
	src, dst := ps, tmp
	for shift := 0; mask>>shift != 0; shift += 11 {
		var count [2049]int
		for i := range src {
			count[(src[i].h&mask)>>shift&2047+1]++
		}
		for i := 1; i < len(count); i++ {
			count[i] += count[i-1]
		}
		for i := range src {
			d := (src[i].h & mask) >> shift & 2047
			dst[count[d]] = src[i]
			count[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &ps[0] {
		copy(ps, src)
	}
}

// AddPlain adds one value of a plain list (see ReadPlainList). It
// reports whether the value was new; errors wrap errkind.Invalid when its
// type is not recognised.
func (x *Index) AddPlain(v string) (bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	added, ok := x.addPlainLocked(v)
	if !ok {
		return false, fmt.Errorf("%w: %q: not an address, block, domain name, URL, e-mail address or hash", errkind.Invalid, v)
	}
	return added, nil
}

func (x *Index) addPlainLocked(v string) (added, ok bool) {
	c, ok := ClassifyPlain(v)
	if !ok {
		return false, false
	}
	switch {
	case c.Port > 0:
		p := "[network-traffic:dst_ref.value = '" + c.Value + "' AND network-traffic:dst_port = " + strconv.Itoa(c.Port) + "]"
		id := PlainID(p)
		if _, dup := x.find(id); dup {
			return false, true
		}
		pr, err := prepare(Indicator{ID: id, Pattern: p})
		if err != nil {
			return false, false
		}
		x.addLocked(&pr)
		return true, true
	case c.Prefix.IsValid():
		added := false
		x.pfx[0].Modify(c.Prefix, func(ps []int32, exists bool) ([]int32, bool) {
			if !exists {
				x.npfx[0]++
			}
			for _, i := range ps {
				if i == indPlain {
					return ps, false
				}
			}
			added = true
			return append(ps, indPlain), false
		})
		if added {
			x.plain++
		}
		return added, true
	}
	tag := uint8(c.Kind)
	if c.Kind == telemetry.KindIPv6 {
		tag = uint8(telemetry.KindIPv4)
	}
	if x.atoms.insert(tag, c.Value, indPlain) {
		x.plain++
		return true, true
	}
	return false, true
}

// Plain is a classified plain-list value.
type Plain struct {
	Kind   telemetry.Kind
	Value  string       // normalised (telemetry.Normalize)
	Prefix netip.Prefix // for a CIDR block
	Port   int          // for "address:port" (Value is the address)
}

// ClassifyPlain infers the type of a plain-list value: an IPv4 or IPv6
// address, a CIDR block, "IPv4:port" (a connection to that port), a URL
// (with a scheme, or "host/path"), an e-mail address, an MD5, SHA-1,
// SHA-256 or SHA-512 hash (hex by length), or a domain name (letters,
// digits, "-", "_" and at least one dot). ok is false otherwise.
func ClassifyPlain(v string) (Plain, bool) {
	if v == "" {
		return Plain{}, false
	}
	if strings.Contains(v, "://") {
		return Plain{Kind: telemetry.KindURL, Value: telemetry.NormalizeURL(v)}, true
	}
	if addrChars(v) {
		if strings.IndexByte(v, '/') >= 0 {
			if p, err := netip.ParsePrefix(v); err == nil {
				return Plain{Kind: telemetry.KindIPv4, Prefix: p.Masked()}, true
			}
		} else if a, err := netip.ParseAddr(v); err == nil {
			a = a.Unmap()
			k := telemetry.KindIPv4
			if a.Is6() {
				k = telemetry.KindIPv6
			}
			return Plain{Kind: k, Value: a.String()}, true
		} else if h, p, ok := strings.Cut(v, ":"); ok {
			if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
				if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
					return Plain{Kind: telemetry.KindIPv4, Value: a.String(), Port: n}, true
				}
			}
		}
	}
	if k := hashKind(v); k != telemetry.KindInvalid {
		return Plain{Kind: k, Value: strings.ToLower(v)}, true
	}
	if strings.IndexByte(v, '@') > 0 && strings.IndexByte(v, '/') < 0 {
		n, ok := telemetry.Normalize(telemetry.KindEmail, v)
		return Plain{Kind: telemetry.KindEmail, Value: n}, ok
	}
	if i := strings.IndexByte(v, '/'); i > 0 && domainName(v[:i]) {
		return Plain{Kind: telemetry.KindURL, Value: telemetry.NormalizeURL(v)}, true
	}
	if domainName(v) {
		n, ok := telemetry.Normalize(telemetry.KindDomain, v)
		return Plain{Kind: telemetry.KindDomain, Value: n}, ok
	}
	return Plain{}, false
}

// addrChars reports whether v holds only characters of addresses, blocks
// and ports (so that parsing is worth trying).
func addrChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':' || c == '/') {
			return false
		}
	}
	return true
}

func hashKind(v string) telemetry.Kind {
	var k telemetry.Kind
	switch len(v) {
	case 32:
		k = telemetry.KindMD5
	case 40:
		k = telemetry.KindSHA1
	case 64:
		k = telemetry.KindSHA256
	case 128:
		k = telemetry.KindSHA512
	default:
		return telemetry.KindInvalid
	}
	for i := 0; i < len(v); i++ {
		if _, ok := unhex(v[i] | 0x20); !ok {
			return telemetry.KindInvalid
		}
	}
	return k
}

// domainName reports whether v looks like a domain name with a dot and a
// letter in its last label.
func domainName(v string) bool {
	v = strings.TrimSuffix(v, ".")
	if v == "" || v[0] == '.' || v[len(v)-1] == '.' || strings.IndexByte(v, '.') < 0 {
		return false
	}
	letter := false // in the last label: a top-level domain is not numeric
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			letter = true
		case c == '.':
			letter = false
		case c >= '0' && c <= '9' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return letter
}
