package detect

import (
	"hash/maphash"
	"unsafe"
)

// The compact key store of the index.
//
// Every key value (a domain name, an address in canonical text, a hash, a
// port, a subdomain suffix...) is stored once in one byte arena; an atom
// records where, the key's tag (kind and role, or the suffix marker) and
// the indicator it selects. Atoms with the same tag and value form a chain
// (next), whose head is found through an open-addressing hash table
// (linear probing, load at most 3/4) of uint64 slots: the head's atom
// number and 32 bits of the key's hash, so that a probe reads the atom and
// its value only when the hashes agree (a miss costs one cache line). An
// atom costs 16 bytes plus its value plus 1.3 to 2.7 8-byte slots;
// nothing in it holds a pointer, so the garbage collector does not scan
// it.

// Special indicator numbers of an atom.
const (
	indDead  int32 = -1 // removed: the atom is skipped (its slot is reused by a later insert of the same key)
	indPlain int32 = -2 // an indicator of a plain list: its id and pattern derive from the key
)

// tagSuffix marks the subdomain-rule keys (LIKE '%.suffix'); other tags
// are kind | role<<5.
const tagSuffix = 0x80

// atom is one (key, indicator) pair.
type atom struct {
	off  uint32 // value in arena
	ln   uint32 // tag<<24 | length
	ind  int32  // indicator number, indDead or indPlain
	next int32  // next atom of the same key, -1 at the end
}

func (a *atom) tag() uint8 { return uint8(a.ln >> 24) }
func (a *atom) n() uint32  { return a.ln & 0xffffff }

// maxAtomLen bounds the length of a stored value (the length has 24 bits).
const maxAtomLen = 1<<24 - 1

// atoms is the key store.
type atoms struct {
	seed  maphash.Seed
	arena []byte
	ents  []atom
	slots []uint64 // hash>>32<<32 | (head atom number + 1); 0 is empty
	// bloom has one bit set per key (bit hash>>32 mod its size, four
	// bits per slot): most misses are answered from it, a table a
	// sixteenth of the slots' size that stays in the CPU cache. Bits are
	// never cleared (a removed key costs a probe).
	bloom []uint64
	keys  int      // occupied slots
	tags  [256]int // live atoms by tag, to skip lookups of absent kinds
}

func newAtoms() *atoms { return &atoms{seed: maphash.MakeSeed()} }

// reserve sizes the store for n more keys of about avg bytes.
func (s *atoms) reserve(n, avg int) {
	s.arena = growCap(s.arena, n*avg)
	s.ents = growCap(s.ents, n)
	if need := slotsFor(s.keys + n); need > len(s.slots) {
		s.rehash(need)
	}
}

// slotsFor returns the slots that hold n keys at a load of at most 3/4.
func slotsFor(n int) int { return n/3*4 + 4 }

func growCap[T any](b []T, n int) []T {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]T, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

func (s *atoms) hash(tag uint8, v []byte) uint64 {
	return maphash.Bytes(s.seed, v) ^ uint64(tag)*0x9e3779b97f4a7c15
}

func (s *atoms) hashString(tag uint8, v string) uint64 {
	return maphash.String(s.seed, v) ^ uint64(tag)*0x9e3779b97f4a7c15
}

func (s *atoms) value(a *atom) []byte { return s.arena[a.off : a.off+a.n()] }

// head returns the head atom of the key, or -1.
func (s *atoms) head(tag uint8, v []byte) int32 {
	if len(s.slots) == 0 || s.tags[tag] == 0 || len(v) > maxAtomLen {
		return -1
	}
	hv := s.hash(tag, v)
	if !s.maybe(hv) {
		return -1
	}
	h, _ := s.probe(tag, unsafe.String(unsafe.SliceData(v), len(v)), hv)
	return h
}

// maybe reports whether the bloom bit of hash h is set.
func (s *atoms) maybe(h uint64) bool {
	b := (h >> 32) & (uint64(len(s.bloom))*64 - 1)
	return s.bloom[b>>6]&(1<<(b&63)) != 0
}

func (s *atoms) setBloom(h uint64) {
	b := (h >> 32) & (uint64(len(s.bloom))*64 - 1)
	s.bloom[b>>6] |= 1 << (b & 63)
}

// headString is head for a string value (no copy, no allocation).
func (s *atoms) headString(tag uint8, v string) int32 {
	if len(s.slots) == 0 || s.tags[tag] == 0 || len(v) > maxAtomLen {
		return -1
	}
	hv := s.hashString(tag, v)
	if !s.maybe(hv) {
		return -1
	}
	h, _ := s.probe(tag, v, hv)
	return h
}

// probe returns the head atom of the key with hash h, or -1 and the free
// slot where it would go.
func (s *atoms) probe(tag uint8, v string, h uint64) (int32, uint64) {
	mask := uint64(len(s.slots) - 1)
	hi := h >> 32 << 32
	want := uint32(tag)<<24 | uint32(len(v))
	for i := h & mask; ; i = (i + 1) & mask {
		sl := s.slots[i]
		if sl == 0 {
			return -1, i
		}
		if sl&^0xffffffff != hi {
			continue
		}
		a := &s.ents[uint32(sl)-1]
		if a.ln == want && unsafe.String(unsafe.SliceData(s.arena[a.off:]), a.n()) == v {
			return int32(uint32(sl) - 1), 0
		}
	}
}

// insert adds (key, ind); it reports false when the pair was there.
func (s *atoms) insert(tag uint8, v string, ind int32) bool {
	if len(v) > maxAtomLen {
		return false
	}
	if slotsFor(s.keys+1) > len(s.slots) {
		s.rehash(max(1024, len(s.slots)*2))
	}
	hv := s.hashString(tag, v)
	h, free := s.probe(tag, v, hv)
	if h >= 0 {
		dead := int32(-1)
		for i := h; i >= 0; i = s.ents[i].next {
			switch s.ents[i].ind {
			case ind:
				return false
			case indDead:
				if dead < 0 {
					dead = i
				}
			}
		}
		if dead >= 0 {
			s.ents[dead].ind = ind
		} else {
			hd := &s.ents[h]
			s.ents = append(s.ents, atom{off: hd.off, ln: hd.ln, ind: ind, next: hd.next})
			s.ents[h].next = int32(len(s.ents) - 1)
		}
		s.tags[tag]++
		return true
	}
	off := uint32(len(s.arena))
	s.arena = append(s.arena, v...)
	s.ents = append(s.ents, atom{off: off, ln: uint32(tag)<<24 | uint32(len(v)), ind: ind, next: -1})
	s.slots[free] = hv>>32<<32 | uint64(len(s.ents))
	s.setBloom(hv)
	s.keys++
	s.tags[tag]++
	return true
}

// remove marks (key, ind) dead; it reports whether it was there.
func (s *atoms) remove(tag uint8, v string, ind int32) bool {
	for i := s.headString(tag, v); i >= 0; i = s.ents[i].next {
		if s.ents[i].ind == ind {
			s.ents[i].ind = indDead
			s.tags[tag]--
			return true
		}
	}
	return false
}

func (s *atoms) place(h uint64, head uint32) {
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if s.slots[i] == 0 {
			s.slots[i] = h>>32<<32 | uint64(head)
			s.setBloom(h)
			return
		}
	}
}

// rehash rebuilds the table with at least n slots (a power of two).
func (s *atoms) rehash(n int) {
	size := 1024
	for size < n {
		size *= 2
	}
	old := s.slots
	s.slots = make([]uint64, size)
	s.bloom = make([]uint64, size/16)
	for _, sl := range old {
		if sl != 0 {
			a := &s.ents[uint32(sl)-1]
			s.place(s.hash(a.tag(), s.value(a)), uint32(sl))
		}
	}
}

// bytes returns the memory the store holds.
func (s *atoms) bytes() int {
	return cap(s.arena) + cap(s.ents)*int(unsafe.Sizeof(atom{})) + cap(s.slots)*8 + cap(s.bloom)*8
}
