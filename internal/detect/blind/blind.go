// Package blind implements blinded indicator indexes (issue #3 item 5):
// for TLP:AMBER+STRICT and TLP:RED indicators the hub hands a constituent
// an index of keyed hashes of the indicators' normalised values, which the
// constituent matches its own telemetry against locally; the hits carry
// opaque tokens that only the hub can resolve back to indicators.
//
// Keys. From a hub secret and the recipient organisation's id, HKDF-SHA256
// derives two keys per recipient: the match key, shipped inside the index,
// with which the recipient computes HMAC-SHA256 over the values it sees
// (truncated to HashSize bytes), and the token key, which never leaves the
// hub and turns indicator ids into tokens. Indexes of different recipients
// therefore share no hash and no token, and an index never contains a
// value or an indicator id.
//
// What blinding does not do: a recipient holding its match key can
// confirm a guessed value (hash it and look it up), which for small
// spaces such as IPv4 addresses amounts to enumerating them. The index
// protects the values from anyone without the key (a leaked file, a log
// aggregator, another recipient) and keeps the recipient from learning
// which indicator, of which producer, a hit belongs to.
//
// Values are normalised with telemetry.Normalize, exactly as package
// detect normalises both indicators and telemetry. The package is pure: no
// I/O.
package blind

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// Sizes of the index's parts, in bytes.
const (
	HashSize  = 16 // truncated HMAC-SHA256 of a value
	TokenSize = 16 // opaque token naming an indicator
	KeySize   = 32 // match and token keys
	// SecretSize is the size of the hub secret NewSecret callers generate.
	SecretSize = 32
)

// Version is the index format version written by Marshal.
const Version = 1

var magic = []byte("KZBI")

// Keys are one recipient's keys.
type Keys struct {
	// Recipient is the organisation id the keys were derived for.
	Recipient string
	// Match is the key values are hashed with (given to the recipient).
	Match []byte
	// Token is the key indicator ids are turned into tokens with (kept by
	// the hub).
	Token []byte
}

// DeriveKeys derives a recipient's keys from the hub secret with
// HKDF-SHA256 (the recipient id in the info string). The secret must be at
// least 16 bytes.
func DeriveKeys(secret []byte, recipient string) (Keys, error) {
	if len(secret) < 16 {
		return Keys{}, fmt.Errorf("%w: blind: hub secret of %d bytes, want at least 16", errkind.Invalid, len(secret))
	}
	if recipient == "" {
		return Keys{}, fmt.Errorf("%w: blind: empty recipient", errkind.Invalid)
	}
	m, err := hkdf.Key(sha256.New, secret, []byte("kizuna-blind"), "match key v1\x00"+recipient, KeySize)
	if err != nil {
		return Keys{}, fmt.Errorf("blind: deriving the match key: %w", err)
	}
	t, err := hkdf.Key(sha256.New, secret, []byte("kizuna-blind"), "token key v1\x00"+recipient, KeySize)
	if err != nil {
		return Keys{}, fmt.Errorf("blind: deriving the token key: %w", err)
	}
	return Keys{Recipient: recipient, Match: m, Token: t}, nil
}

// KeyID names a match key without revealing it (hex of 8 bytes of an HMAC
// under the key).
func KeyID(matchKey []byte) string {
	h := hmac.New(sha256.New, matchKey)
	h.Write([]byte("kizuna-blind key id"))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// class is the hashing domain of a kind: addresses share one (an address
// indicator matches the address wherever it appears), other kinds use
// their STIX path. Ports and protocols are not blinded: their values are
// too few to hide.
func class(k telemetry.Kind) (string, bool) {
	switch k {
	case telemetry.KindIPv4, telemetry.KindIPv6:
		return "ip", true
	case telemetry.KindInvalid, telemetry.KindDstPort, telemetry.KindSrcPort, telemetry.KindProtocol:
		return "", false
	}
	if p := k.Path(); p != "" {
		return p, true
	}
	return "", false
}

// Hash is the blinded form of a value.
type Hash [HashSize]byte

// Token names an indicator in one recipient's index.
type Token [TokenSize]byte

// String returns the token in hex, as hits carry it.
func (t Token) String() string { return hex.EncodeToString(t[:]) }

// ParseToken reads a token in hex.
func ParseToken(s string) (Token, error) {
	var t Token
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != TokenSize {
		return t, fmt.Errorf("%w: blind: token %q: want %d hex digits", errkind.Invalid, s, 2*TokenSize)
	}
	copy(t[:], b)
	return t, nil
}

// HashValue returns the blinded form of a normalised value of the given
// kind; ok is false for kinds that are not blinded.
func HashValue(matchKey []byte, k telemetry.Kind, normalised string) (Hash, bool) {
	c, ok := class(k)
	if !ok {
		return Hash{}, false
	}
	h := hmac.New(sha256.New, matchKey)
	h.Write([]byte(c))
	h.Write([]byte{0})
	h.Write([]byte(normalised))
	var out Hash
	copy(out[:], h.Sum(nil))
	return out, true
}

// TokenOf returns the token of an indicator id under a token key.
func TokenOf(tokenKey []byte, indicatorID string) Token {
	h := hmac.New(sha256.New, tokenKey)
	h.Write([]byte("token\x00"))
	h.Write([]byte(indicatorID))
	var out Token
	copy(out[:], h.Sum(nil))
	return out
}

// Value is one observable value an indicator matches.
type Value struct {
	Kind  telemetry.Kind
	Value string // normalised
}

// Values returns the values of an atomic pattern: one bracketed
// expression without qualifiers whose comparisons, joined by OR, are
// "path = 'value'" or "path IN (...)" on a path of package telemetry
// (addresses also through network-traffic:src_ref/dst_ref.value). Values
// that cannot be normalised are left out (they match nothing). ok is false
// for other patterns (CIDR blocks, LIKE, qualifiers, AND ...), which
// cannot be matched by exact lookups and are not blinded.
func Values(p *pattern.Pattern) ([]Value, bool) {
	e := p.Root
	for {
		par, ok := e.(*pattern.ObservationParen)
		if !ok {
			break
		}
		e = par.Inner
	}
	oc, ok := e.(*pattern.ObservationComparison)
	if !ok {
		return nil, false
	}
	var out []Value
	if !compValues(oc.Expr, &out) {
		return nil, false
	}
	return out, true
}

func compValues(e pattern.ComparisonExpr, out *[]Value) bool {
	switch n := e.(type) {
	case *pattern.ComparisonParen:
		return compValues(n.Inner, out)
	case *pattern.ComparisonBinary:
		return n.Op == pattern.Or && compValues(n.Left, out) && compValues(n.Right, out)
	case *pattern.Comparison:
		if n.Negated {
			return false
		}
		path := n.Path.String()
		k := telemetry.KindOfPath(path)
		if path == "network-traffic:src_ref.value" || path == "network-traffic:dst_ref.value" {
			k = telemetry.KindIPv4
		}
		if _, ok := class(k); !ok {
			return false
		}
		lits := []pattern.Literal{n.Value}
		switch n.Op {
		case pattern.OpEqual:
		case pattern.OpIn:
			if n.Value.Kind != pattern.KindSet {
				return false
			}
			lits = n.Value.Set
		default:
			return false
		}
		for _, l := range lits {
			if l.Kind != pattern.KindString {
				return false
			}
			kind := k
			if kind == telemetry.KindIPv4 || kind == telemetry.KindIPv6 {
				for _, c := range l.Str {
					if c == '/' {
						return false // a CIDR block: not an exact value
					}
				}
			}
			if v, ok := telemetry.Normalize(kind, l.Str); ok {
				*out = append(*out, Value{Kind: kind, Value: v})
			}
		}
		return true
	}
	return false
}

// Entry is one value of the index: its blinded hash and the token of an
// indicator that matches it.
type Entry struct {
	Hash  Hash
	Token Token
}

func compareEntries(a, b Entry) int {
	if c := bytes.Compare(a.Hash[:], b.Hash[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.Token[:], b.Token[:])
}

// Index is a blinded index for one recipient.
type Index struct {
	// Version is the format version (Version).
	Version uint8
	// KeyID names MatchKey (KeyID).
	KeyID string
	// Recipient is the organisation id the index was made for.
	Recipient string
	// Created is when the hub made the index (whole seconds, UTC).
	Created time.Time
	// MatchKey is the key to hash observed values with.
	MatchKey []byte
	// Entries are sorted by hash, then token, without duplicates.
	Entries []Entry
}

// Indicator is what Build needs of an indicator.
type Indicator struct {
	ID      string
	Pattern *pattern.Pattern
}

// Build makes the index of the given indicators for the keys' recipient.
// Indicators whose pattern is not atomic (see Values) are left out; n is
// the number of indicators included.
func Build(keys Keys, created time.Time, inds []Indicator) (x *Index, n int) {
	x = &Index{Version: Version, KeyID: KeyID(keys.Match), Recipient: keys.Recipient,
		Created: created.UTC().Truncate(time.Second), MatchKey: slices.Clone(keys.Match)}
	for _, ind := range inds {
		vals, ok := Values(ind.Pattern)
		if !ok || len(vals) == 0 {
			continue
		}
		n++
		tok := TokenOf(keys.Token, ind.ID)
		for _, v := range vals {
			if h, ok := HashValue(keys.Match, v.Kind, v.Value); ok {
				x.Entries = append(x.Entries, Entry{Hash: h, Token: tok})
			}
		}
	}
	slices.SortFunc(x.Entries, compareEntries)
	x.Entries = slices.Compact(x.Entries)
	return x, n
}

// Lookup returns the tokens of the indicators matching a normalised value
// of the given kind (nil when none does).
func (x *Index) Lookup(k telemetry.Kind, normalised string) []Token {
	h, ok := HashValue(x.MatchKey, k, normalised)
	if !ok {
		return nil
	}
	i, _ := slices.BinarySearchFunc(x.Entries, Entry{Hash: h}, compareEntries)
	var out []Token
	for ; i < len(x.Entries) && x.Entries[i].Hash == h; i++ {
		out = append(out, x.Entries[i].Token)
	}
	return out
}

// Marshal encodes the index:
//
//	"KZBI" version:u8 len:u8 key-id len:u16 recipient created:i64 (Unix seconds)
//	len:u8 match-key count:u32 count × (hash[16] token[16])
//
// all integers big-endian.
func (x *Index) Marshal() ([]byte, error) {
	switch {
	case len(x.KeyID) > 255 || len(x.MatchKey) > 255:
		return nil, fmt.Errorf("%w: blind: key id or key too long", errkind.Invalid)
	case len(x.Recipient) > 65535:
		return nil, fmt.Errorf("%w: blind: recipient too long", errkind.Invalid)
	case uint64(len(x.Entries)) > 1<<32-1:
		return nil, fmt.Errorf("%w: blind: too many entries", errkind.TooLarge)
	}
	b := make([]byte, 0, 4+1+1+len(x.KeyID)+2+len(x.Recipient)+8+1+len(x.MatchKey)+4+len(x.Entries)*(HashSize+TokenSize))
	b = append(b, magic...)
	b = append(b, x.Version, byte(len(x.KeyID)))
	b = append(b, x.KeyID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(x.Recipient)))
	b = append(b, x.Recipient...)
	b = binary.BigEndian.AppendUint64(b, uint64(x.Created.Unix()))
	b = append(b, byte(len(x.MatchKey)))
	b = append(b, x.MatchKey...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(x.Entries)))
	for _, e := range x.Entries {
		b = append(b, e.Hash[:]...)
		b = append(b, e.Token[:]...)
	}
	return b, nil
}

// ErrFormat is matched by every error of Parse.
var ErrFormat = errors.New("not a valid blinded index")

// Parse decodes an index written by Marshal, checking every length, the
// version, the key size and that entries are sorted without duplicates.
// Errors match both ErrFormat and errkind.Invalid.
func Parse(data []byte) (*Index, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: blind: %w: %s", errkind.Invalid, ErrFormat, fmt.Sprintf(format, args...))
	}
	r := data
	take := func(n int) ([]byte, bool) {
		if n > len(r) {
			return nil, false
		}
		b := r[:n]
		r = r[n:]
		return b, true
	}
	if m, ok := take(4); !ok || !bytes.Equal(m, magic) {
		return nil, bad("missing the KZBI header")
	}
	hdr, ok := take(2)
	if !ok {
		return nil, bad("truncated header")
	}
	x := &Index{Version: hdr[0]}
	if x.Version != Version {
		return nil, bad("version %d, want %d", x.Version, Version)
	}
	kid, ok := take(int(hdr[1]))
	if !ok {
		return nil, bad("truncated key id")
	}
	x.KeyID = string(kid)
	l, ok := take(2)
	if !ok {
		return nil, bad("truncated header")
	}
	rcp, ok := take(int(binary.BigEndian.Uint16(l)))
	if !ok || !utf8.Valid(rcp) {
		return nil, bad("truncated or invalid recipient")
	}
	x.Recipient = string(rcp)
	ts, ok := take(8)
	if !ok {
		return nil, bad("truncated creation time")
	}
	x.Created = time.Unix(int64(binary.BigEndian.Uint64(ts)), 0).UTC()
	kl, ok := take(1)
	if !ok || int(kl[0]) != KeySize {
		return nil, bad("match key missing or not %d bytes", KeySize)
	}
	key, _ := take(KeySize)
	x.MatchKey = slices.Clone(key)
	if KeyID(x.MatchKey) != x.KeyID {
		return nil, bad("key id %q does not name the match key", x.KeyID)
	}
	cnt, ok := take(4)
	if !ok {
		return nil, bad("truncated entry count")
	}
	n := uint64(binary.BigEndian.Uint32(cnt))
	const size = HashSize + TokenSize
	if uint64(len(r)) != n*size {
		return nil, bad("%d entries announced, %d bytes of entries", n, len(r))
	}
	x.Entries = make([]Entry, n)
	for i := range x.Entries {
		e := &x.Entries[i]
		copy(e.Hash[:], r[i*size:])
		copy(e.Token[:], r[i*size+HashSize:])
		if i > 0 && compareEntries(x.Entries[i-1], *e) >= 0 {
			return nil, bad("entry %d out of order or repeated", i)
		}
	}
	return x, nil
}
