package blind

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/pattern"
)

var testSecret = bytes.Repeat([]byte{7}, SecretSize)

const (
	orgA = "identity--00000000-0000-4000-8000-00000000000a"
	orgB = "identity--00000000-0000-4000-8000-00000000000b"
)

func mustKeys(t testing.TB, recipient string) Keys {
	t.Helper()
	k, err := DeriveKeys(testSecret, recipient)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustInds(t testing.TB, pats map[string]string) []Indicator {
	t.Helper()
	var out []Indicator
	for id, src := range pats {
		p, err := pattern.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Indicator{ID: id, Pattern: p})
	}
	return out
}

var testPatterns = map[string]string{
	"indicator--1": "[domain-name:value = 'Evil.Example.']",
	"indicator--2": "[ipv4-addr:value = '198.51.100.7' OR network-traffic:dst_ref.value = '203.0.113.9']",
	"indicator--3": "[file:hashes.'SHA-256' IN ('AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F')]",
	"indicator--4": "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",                          // not exact: left out
	"indicator--5": "[domain-name:value = 'a.example'] REPEATS 2 TIMES",                // qualifier: left out
	"indicator--6": "[email-addr:value = 'Mallory <MALLORY@evil.example>']",            // normalised
	"indicator--7": "[network-traffic:dst_port = 443]",                                 // ports are not blinded
	"indicator--8": "[domain-name:value = 'evil.example' AND domain-name:value = 'x']", // AND: left out
}

// normalised values of testPatterns, as telemetry would carry them.
var testValues = []Value{
	{telemetry.KindDomain, "evil.example"},
	{telemetry.KindIPv4, "198.51.100.7"},
	{telemetry.KindIPv4, "203.0.113.9"},
	{telemetry.KindSHA256, "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"},
	{telemetry.KindEmail, "mallory@evil.example"},
}

func TestDeriveKeys(t *testing.T) {
	a, b := mustKeys(t, orgA), mustKeys(t, orgB)
	if bytes.Equal(a.Match, b.Match) || bytes.Equal(a.Token, b.Token) || bytes.Equal(a.Match, a.Token) {
		t.Fatal("keys of different recipients or purposes are equal")
	}
	if again := mustKeys(t, orgA); !bytes.Equal(again.Match, a.Match) || !bytes.Equal(again.Token, a.Token) {
		t.Fatal("derivation is not deterministic")
	}
	other, err := DeriveKeys(bytes.Repeat([]byte{8}, SecretSize), orgA)
	if err != nil || bytes.Equal(other.Match, a.Match) {
		t.Fatalf("another secret gives the same key (err %v)", err)
	}
	if _, err := DeriveKeys([]byte("short"), orgA); !errors.Is(err, errkind.Invalid) {
		t.Errorf("short secret: err %v, want errkind.Invalid", err)
	}
	if _, err := DeriveKeys(testSecret, ""); !errors.Is(err, errkind.Invalid) {
		t.Errorf("empty recipient: err %v, want errkind.Invalid", err)
	}
}

func TestBuildAndLookup(t *testing.T) {
	keys := mustKeys(t, orgA)
	x, n := Build(keys, time.Date(2026, 3, 1, 10, 0, 0, 500, time.UTC), mustInds(t, testPatterns))
	if n != 4 {
		t.Errorf("%d indicators included, want 4 (1, 2, 3, 6)", n)
	}
	if len(x.Entries) != 5 {
		t.Errorf("%d entries, want 5", len(x.Entries))
	}
	want := map[string]string{"evil.example": "indicator--1", "198.51.100.7": "indicator--2", "203.0.113.9": "indicator--2",
		"mallory@evil.example": "indicator--6", testValues[3].Value: "indicator--3"}
	for _, v := range testValues {
		toks := x.Lookup(v.Kind, v.Value)
		if len(toks) != 1 || toks[0] != TokenOf(keys.Token, want[v.Value]) {
			t.Errorf("Lookup(%v, %q) = %v, want the token of %s", v.Kind, v.Value, toks, want[v.Value])
		}
	}
	// An address indicator matches the address in any role and family kind.
	if toks := x.Lookup(telemetry.KindIPv6, "198.51.100.7"); len(toks) != 1 {
		t.Errorf("address under KindIPv6: %v", toks)
	}
	for _, v := range []Value{{telemetry.KindDomain, "Evil.Example."}, {telemetry.KindDomain, "good.example"},
		{telemetry.KindURL, "evil.example"}, {telemetry.KindDstPort, "443"}, {telemetry.KindIPv4, "10.1.2.3"}} {
		if toks := x.Lookup(v.Kind, v.Value); toks != nil {
			t.Errorf("Lookup(%v, %q) = %v, want none", v.Kind, v.Value, toks)
		}
	}
	if !x.Created.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) || x.Recipient != orgA || x.KeyID != KeyID(keys.Match) {
		t.Errorf("header = %v %q %q", x.Created, x.Recipient, x.KeyID)
	}
}

// TestIndexLeaksNothing: the serialised index contains no normalised
// value, no indicator id and not the token key, and two recipients get
// unrelated hashes and tokens for the same indicators.
func TestIndexLeaksNothing(t *testing.T) {
	inds := mustInds(t, testPatterns)
	ka, kb := mustKeys(t, orgA), mustKeys(t, orgB)
	xa, _ := Build(ka, time.Now(), inds)
	xb, _ := Build(kb, time.Now(), inds)
	da, err := xa.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	lower := bytes.ToLower(da)
	for _, v := range testValues {
		if bytes.Contains(lower, []byte(v.Value)) || bytes.Contains(lower, []byte(hex.EncodeToString([]byte(v.Value)))) {
			t.Errorf("index contains value %q", v.Value)
		}
	}
	for id := range testPatterns {
		if bytes.Contains(da, []byte(id)) {
			t.Errorf("index contains indicator id %s", id)
		}
	}
	if bytes.Contains(da, ka.Token) {
		t.Error("index contains the token key")
	}
	hashes, tokens := map[Hash]bool{}, map[Token]bool{}
	for _, e := range xa.Entries {
		hashes[e.Hash], tokens[e.Token] = true, true
	}
	for _, e := range xb.Entries {
		if hashes[e.Hash] || tokens[e.Token] {
			t.Errorf("recipients share hash %x or token %s", e.Hash, e.Token)
		}
	}
	if len(xa.Entries) == 0 || len(xa.Entries) != len(xb.Entries) {
		t.Fatalf("entries: %d and %d", len(xa.Entries), len(xb.Entries))
	}
	// Recipient B's key does not find recipient A's entries.
	xa.MatchKey = kb.Match
	if toks := xa.Lookup(telemetry.KindDomain, "evil.example"); toks != nil {
		t.Errorf("B's key finds A's entry: %v", toks)
	}
}

func TestMarshalParse(t *testing.T) {
	x, _ := Build(mustKeys(t, orgA), time.Unix(1772359200, 0), mustInds(t, testPatterns))
	data, err := x.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	y, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := y.Marshal()
	if !bytes.Equal(again, data) || y.Recipient != orgA || !y.Created.Equal(x.Created) || len(y.Entries) != len(x.Entries) {
		t.Fatalf("round trip differs: %+v", y)
	}
	if toks := y.Lookup(telemetry.KindDomain, "evil.example"); len(toks) != 1 {
		t.Errorf("parsed index lookup = %v", toks)
	}
	corrupt := func(f func([]byte) []byte) []byte { return f(bytes.Clone(data)) }
	for name, in := range map[string][]byte{
		"empty":     nil,
		"magic":     corrupt(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":   corrupt(func(b []byte) []byte { b[4] = 2; return b }),
		"truncated": data[:len(data)-1],
		"extra":     append(bytes.Clone(data), 0),
		"key id":    corrupt(func(b []byte) []byte { b[6] ^= 1; return b }),
		"order": corrupt(func(b []byte) []byte {
			n := len(b)
			e := HashSize + TokenSize
			last, prev := bytes.Clone(b[n-e:]), bytes.Clone(b[n-2*e:n-e])
			copy(b[n-2*e:], last)
			copy(b[n-e:], prev)
			return b
		}),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrFormat) || !errors.Is(err, errkind.Invalid) {
			t.Errorf("%s: err %v, want ErrFormat and errkind.Invalid", name, err)
		}
	}
}

func TestParseToken(t *testing.T) {
	tok := TokenOf(mustKeys(t, orgA).Token, "indicator--1")
	got, err := ParseToken(tok.String())
	if err != nil || got != tok {
		t.Fatalf("ParseToken(%s) = %v, %v", tok, got, err)
	}
	for _, s := range []string{"", "zz", strings.Repeat("a", 30), strings.Repeat("a", 34)} {
		if _, err := ParseToken(s); !errors.Is(err, errkind.Invalid) {
			t.Errorf("ParseToken(%q): err %v", s, err)
		}
	}
}

// FuzzParse: Parse never panics, and what it accepts marshals back to the
// same bytes. Seeded with a real index and its prefixes.
func FuzzParse(f *testing.F) {
	x, _ := Build(mustKeys(f, orgA), time.Unix(1772359200, 0), mustInds(f, testPatterns))
	data, err := x.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:40])
	empty, _ := (&Index{Version: Version, KeyID: KeyID(x.MatchKey), MatchKey: x.MatchKey}).Marshal()
	f.Add(empty)
	f.Fuzz(func(t *testing.T, in []byte) {
		y, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		out, err := y.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("Marshal(Parse(x)) != x:\n%x\n%x", in, out)
		}
	})
}
