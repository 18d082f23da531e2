package detect

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"unsafe"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

// MatchReader matches every event of r and calls fn with each event that
// hits and its hits, until the end of r (nil), an error of r or fn, or
// the context's end.
//
// When r is a telemetry.RawReader (Zeek TSV) and the index holds only
// address and domain-name keys (plain lists of addresses, blocks and
// domains, the usual feeds), records are looked up from the raw cells,
// without building events or allocating; an Event is built and matched
// with Match only for the records one of whose values is a key. The hits
// are the same as with Match on every event. Records are filtered on
// Options.Workers goroutines when r is a telemetry.ParallelRawReader; on
// one goroutine the read lock is held across the reading of up to 1024
// records, so writers of the index may wait for a slow input that long.
func (x *Index) MatchReader(ctx context.Context, r telemetry.Reader, fn func(*telemetry.Event, []Hit) error) error {
	rr, raw := r.(telemetry.RawReader)
	if raw && x.rawCapable() {
		if pr, ok := r.(telemetry.ParallelRawReader); ok && x.workers > 1 {
			err := pr.FilterRaw(x.workers, func() telemetry.RawFilter {
				return &rawScan{x: x, buf: make([]byte, 0, 256), ctx: ctx}
			}, func(ev *telemetry.Event) error {
				if hits := x.Match(ev); len(hits) > 0 {
					return fn(ev, hits)
				}
				return nil
			})
			if err == nil {
				err = ctx.Err()
			}
			return err
		}
		return x.matchRaw(ctx, rr, fn)
	}
	for n := 0; ; n++ {
		if n&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if hits := x.Match(ev); len(hits) > 0 {
			if err := fn(ev, hits); err != nil {
				return err
			}
		}
	}
}

var (
	tagDomain       = uint8(telemetry.KindDomain)
	tagSuffixDomain = tagSuffix | uint8(telemetry.KindDomain)
)

// rawCapable reports whether every key of the index is an address or a
// domain name (the kinds the raw lookup handles) and no indicator is
// evaluated on every event.
func (x *Index) rawCapable() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.always) > 0 {
		return false
	}
	for tag, n := range x.atoms.tags {
		if n == 0 {
			continue
		}
		t := uint8(tag)
		if t == tagDomain || t == tagSuffixDomain || t&31 == uint8(telemetry.KindIPv4) && t&tagSuffix == 0 {
			continue
		}
		return false
	}
	return true
}

// rawScan is the state of the raw lookup of one goroutine.
type rawScan struct {
	x       *Index
	haveIP  bool
	haveDom bool
	buf     []byte
	ctx     context.Context
	done    bool // the context is done
}

// Begin implements telemetry.RawFilter: it takes the read lock.
func (s *rawScan) Begin() {
	s.done = s.ctx.Err() != nil
	s.x.mu.RLock()
	s.kinds()
}

// End implements telemetry.RawFilter.
func (s *rawScan) End() { s.x.mu.RUnlock() }

// Keep implements telemetry.RawFilter: false once the context is done
// (FilterRaw then reads on without matching; MatchReader reports the
// context's error).
func (s *rawScan) Keep(fields []telemetry.RawField, setSep string) bool {
	return !s.done && s.mayHit(fields, setSep)
}

// matchRaw holds the read lock for 1024 records at a time (and not
// while it calls Match and fn), so that writers wait little.
func (x *Index) matchRaw(ctx context.Context, r telemetry.RawReader, fn func(*telemetry.Event, []Hit) error) error {
	s := rawScan{x: x, buf: make([]byte, 0, 256)}
	x.mu.RLock()
	locked := true
	defer func() {
		if locked {
			x.mu.RUnlock()
		}
	}()
	s.kinds()
	for n := 1; ; n++ {
		if n&1023 == 0 {
			x.mu.RUnlock()
			if err := ctx.Err(); err != nil {
				locked = false
				return err
			}
			x.mu.RLock()
			s.kinds()
		}
		fields, err := r.NextRaw()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !s.mayHit(fields, r.SetSeparator()) {
			continue
		}
		x.mu.RUnlock()
		locked = false
		ev := r.Event()
		if hits := x.Match(ev); len(hits) > 0 {
			if err := fn(ev, hits); err != nil {
				return err
			}
		}
		x.mu.RLock()
		locked = true
		s.kinds()
	}
}

// kinds notes which kinds of keys the index has (under the read lock).
func (s *rawScan) kinds() {
	x := s.x
	s.haveIP = x.npfx[0] > 0 || x.npfx[1] > 0 || x.npfx[2] > 0
	for r := range 3 {
		s.haveIP = s.haveIP || x.atoms.tags[uint8(telemetry.KindIPv4)|uint8(r)<<5] > 0
	}
	s.haveDom = x.atoms.tags[tagDomain] > 0 || x.atoms.tags[tagSuffixDomain] > 0
}

// mayHit reports whether a value of the record is a key of the index
// (under the read lock).
func (s *rawScan) mayHit(fields []telemetry.RawField, setSep string) bool {
	for i := range fields {
		f := &fields[i]
		if f.Kind != telemetry.KindIPv4 && f.Kind != telemetry.KindIPv6 && f.Kind != telemetry.KindDomain && !f.IPOrDomain {
			continue
		}
		v := f.Value
		for {
			elem := v
			more := false
			if f.List {
				j := -1
				if len(setSep) == 1 {
					j = bytes.IndexByte(v, setSep[0])
				} else {
					j = bytes.Index(v, []byte(setSep))
				}
				if j >= 0 {
					elem, v, more = v[:j], v[j+len(setSep):], true
				}
			}
			if s.value(f, elem) {
				return true
			}
			if !more {
				break
			}
		}
	}
	return false
}

// value looks up one cell value as telemetry's Zeek reader would file it.
func (s *rawScan) value(f *telemetry.RawField, v []byte) bool {
	if !s.haveIP && !f.IPOrDomain && f.Kind != telemetry.KindDomain {
		return false // an address column, and no address key
	}
	if bytes.IndexByte(v, '\\') >= 0 || bytes.IndexByte(v, '%') >= 0 || len(v) > 0 && (v[0] <= ' ' || v[len(v)-1] <= ' ') {
		return true // escaped, padded or with a zone: let the event decide
	}
	switch {
	case f.IPOrDomain:
		if !s.haveIP {
			// an address looked up as a domain name finds no more
			// than its indicators: Match decides
		} else if a, ok := parseAddr(v); ok {
			return s.addr(a, f.Role)
		}
		if i := bytes.LastIndexByte(v, ':'); i > 0 && bytes.IndexByte(v, ':') == i {
			v = v[:i] // stripPort
		}
		return s.domain(v)
	case f.Kind == telemetry.KindDomain:
		return s.domain(v)
	default:
		if !s.haveIP {
			return false
		}
		a, ok := parseAddr(v)
		return ok && s.addr(a, f.Role)
	}
}

// parseAddr parses an address without allocating (the error of a value
// that is not one does allocate, but such values are rare in address
// columns and skipped by a character test in the others).
func parseAddr(v []byte) (netip.Addr, bool) {
	if len(v) == 0 || len(v) > 64 {
		return netip.Addr{}, false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(v), len(v)))
	return a, err == nil
}

func (s *rawScan) addr(a netip.Addr, role telemetry.Role) bool {
	if !s.haveIP {
		return false
	}
	x := s.x
	a = a.Unmap().WithZone("")
	s.buf = a.AppendTo(s.buf[:0])
	roles := [2]telemetry.Role{telemetry.RoleNone, role}
	n := 1
	if role != telemetry.RoleNone {
		n = 2
	}
	for _, r := range roles[:n] {
		if s.live(uint8(telemetry.KindIPv4)|uint8(r)<<5, s.buf) {
			return true
		}
		if x.npfx[r] > 0 && x.pfx[r].Contains(a) {
			return true
		}
	}
	return false
}

func (s *rawScan) domain(v []byte) bool {
	if !s.haveDom {
		return false
	}
	d := v
	if !canonicalDomain(v) {
		n, ok := telemetry.Normalize(telemetry.KindDomain, string(v))
		if !ok {
			return false
		}
		s.buf = append(s.buf[:0], n...)
		d = s.buf
	}
	if s.live(tagDomain, d) {
		return true
	}
	if s.x.atoms.tags[tagSuffixDomain] > 0 {
		for i := 0; i < len(d); i++ {
			if d[i] == '.' && s.live(tagSuffixDomain, d[i+1:]) {
				return true
			}
		}
	}
	return false
}

// canonicalDomain reports whether telemetry.Normalize leaves v unchanged.
func canonicalDomain(v []byte) bool {
	if len(v) == 0 || v[len(v)-1] == '.' {
		return false
	}
	for _, c := range v {
		if c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// live reports whether the key has an indicator.
func (s *rawScan) live(tag uint8, v []byte) bool {
	st := s.x.atoms
	for a := st.head(tag, v); a >= 0; a = st.ents[a].next {
		if st.ents[a].ind != indDead {
			return true
		}
	}
	return false
}
