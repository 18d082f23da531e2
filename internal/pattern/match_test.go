package pattern

import (
	"errors"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// obsJSON builds observations from a JSON array of STIX objects.
func obsJSON(t testing.TB, src string) []Observation {
	t.Helper()
	var objs []map[string]any
	if err := decodeJSON([]byte(src), &objs); err != nil {
		t.Fatalf("bad test JSON: %v", err)
	}
	obs, err := ObservationsFromObjects(objs)
	if err != nil {
		t.Fatalf("ObservationsFromObjects: %v", err)
	}
	return obs
}

// Three observations: a file at 10:00:00 (seen twice), a connection from
// 10:00:05 to 10:00:10, and a domain at 10:01:00.
const matchData = `[
 {"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T10:00:00Z","last_observed":"2026-01-01T10:00:00Z","number_observed":2,"object_refs":["file--1"]},
 {"type":"file","id":"file--1","name":"Évil.exe","title":"Ăx","size":2048,"hashes":{"MD5":"79054025255fb1a26e4bc422aef54eb4"},"magic_number_hex":"4d5a","tags":["a","b","c"],"ctime":"2025-12-31T23:00:00.5Z","score":7.5,"ok":true,"nothing":null},
 {"type":"observed-data","id":"observed-data--2","first_observed":"2026-01-01T10:00:05Z","last_observed":"2026-01-01T10:00:10Z","number_observed":1,"object_refs":["network-traffic--1","ipv6-addr--1"]},
 {"type":"network-traffic","id":"network-traffic--1","dst_ref":"ipv6-addr--1","src_ref":"ipv4-addr--missing","dst_port":443,"protocols":["tcp","tls"]},
 {"type":"ipv6-addr","id":"ipv6-addr--1","value":"2001:db8:dead:beef::7"},
 {"type":"observed-data","id":"observed-data--3","first_observed":"2026-01-01T10:01:00Z","last_observed":"2026-01-01T10:01:00Z","number_observed":1,"object_refs":["domain-name--1"]},
 {"type":"domain-name","id":"domain-name--1","value":"evil.example","resolves_to_refs":["ipv6-addr--1","ipv4-addr--missing"]}
]`

func TestMatch(t *testing.T) {
	obs := obsJSON(t, matchData)
	tests := []struct {
		pattern string
		want    bool
	}{
		// comparisons and type coercion
		{"[file:size = 2048]", true},
		{"[file:size = 2048.0]", true},
		{"[file:size > 2047.5 AND file:size <= 2048]", true},
		{"[file:size = '2048']", false},
		{"[file:size != '2048']", true},
		{"[file:score > 7]", true},
		{"[file:ok = true]", true},
		{"[file:ok = 1]", false},
		{"[file:ok > 'a']", false},
		{"[file:ok NOT > 'a']", false},     // incomparable types are false even with NOT
		{"[file:name < h'ff']", true},      // string vs bytes: the code points < 256 as bytes
		{"[file:title NOT < h'ff']", true}, // code point above 255: false, then NOT
		{"[file:title = h'0178']", false},
		{"[file:nothing != 'x']", true},
		{"[file:nothing = 'x']", false},
		{"[file:missing != 'x']", false}, // absent properties never compare
		{"[file:name = 'Évil.exe']", true},
		{"[file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4']", true},
		{"[file:hashes.'MD5' IN ('00000000000000000000000000000000', '79054025255fb1a26e4bc422aef54eb4')]", true},
		{"[file:size IN (1, 2048.0)]", true},
		{"[file:size NOT IN ('2048')]", true},
		{"[file:name IN ()]", false},
		// binary
		{"[file:magic_number_hex = h'4D5A']", true},
		{"[file:magic_number_hex = b'TVo=']", true},
		{"[file:magic_number_hex = 'MZ']", true},
		{"[file:magic_number_hex > h'4d']", true},
		{"[file:magic_number_hex MATCHES '^MZ$']", true},
		// timestamps
		{"[file:ctime = t'2025-12-31T23:00:00.500Z']", true},
		{"[file:ctime < t'2026-01-01T00:00:00Z']", true},
		{"[file:ctime IN (t'2025-12-31T23:00:00.5Z')]", true},
		// LIKE / MATCHES with Unicode normalisation (É as E + combining acute)
		{"[file:name LIKE 'E\u0301vil.%']", true},
		{"[file:name LIKE '_vil.exe']", true},
		{"[file:name LIKE 'vil%']", false},
		{"[file:name MATCHES 'vil\\\\.exe$']", true},
		{"[file:name NOT MATCHES '^x']", true},
		// lists and references
		{"[file:tags[0] = 'a']", true},
		{"[file:tags[-1] = 'c']", true},
		{"[file:tags[3] = 'c']", false},
		{"[file:tags[*] = 'b']", true},
		{"[file:tags[*] NOT = 'a']", true}, // some element is not 'a'
		{"[network-traffic:dst_ref.value = '2001:db8:dead:beef::7']", true},
		{"[network-traffic:dst_ref.value ISSUBSET '2001:db8:dead:beef::/64']", true},
		{"[network-traffic:dst_ref.value ISSUBSET '2001:db8:dead:bee0::/64']", false},
		{"[network-traffic:dst_ref.value ISSUBSET '10.0.0.0/8']", false},
		{"[network-traffic:src_ref.value = 'x' OR EXISTS network-traffic:src_ref]", false}, // dangling ref
		{"[NOT EXISTS network-traffic:src_ref]", true},
		{"[EXISTS network-traffic:dst_ref]", true},
		{"[domain-name:resolves_to_refs[*].value = '2001:db8:dead:beef::7']", true},
		{"[domain-name:resolves_to_refs[0].value = '2001:db8:dead:beef::7']", true},
		{"[domain-name:resolves_to_refs[1].value = '2001:db8:dead:beef::7']", false}, // unresolved refs drop out
		// AND/OR inside brackets apply to one root object
		{"[file:size = 2048 AND network-traffic:dst_port = 443]", false},
		{"[file:size = 2048 OR network-traffic:dst_port = 443]", true},
		{"[(file:size = 1 OR file:size = 2048) AND file:ok = true]", true},
		// observation operators
		{"[file:size = 2048] AND [network-traffic:dst_port = 443]", true},
		{"[file:size = 2048] AND [file:ok = true]", true}, // the file was seen twice
		{"[file:size = 2048] AND [file:ok = true] AND [file:name LIKE '%']", false},
		{"[file:size = 1] OR [domain-name:value = 'evil.example']", true},
		{"[file:size = 2048] FOLLOWEDBY [network-traffic:dst_port = 443]", true},
		{"[network-traffic:dst_port = 443] FOLLOWEDBY [file:size = 2048]", false},
		{"[file:size = 2048] FOLLOWEDBY [file:size = 2048]", true}, // same instant, two sightings
		// qualifiers
		{"[file:size = 2048] REPEATS 2 TIMES", true},
		{"[file:size = 2048] REPEATS 3 TIMES", false},
		{"([file:size = 2048] OR [domain-name:value = 'evil.example']) REPEATS 3 TIMES", true},
		{"([file:size = 2048] AND [domain-name:value = 'evil.example']) WITHIN 60 SECONDS", true},
		{"([file:size = 2048] AND [domain-name:value = 'evil.example']) WITHIN 59.9 SECONDS", false},
		{"([file:size = 2048] FOLLOWEDBY [network-traffic:dst_port = 443]) WITHIN 5 SECONDS", true},
		{"([file:size = 2048] FOLLOWEDBY [network-traffic:dst_port = 443]) WITHIN 4 SECONDS", false},
		{"[network-traffic:dst_port = 443] START t'2026-01-01T10:00:10Z' STOP t'2026-01-01T11:00:00Z'", true},
		{"[network-traffic:dst_port = 443] START t'2026-01-01T09:00:00Z' STOP t'2026-01-01T10:00:05Z'", false},
		{"([file:size = 2048] AND [domain-name:value = 'evil.example']) START t'2026-01-01T09:00:00Z' STOP t'2026-01-01T10:00:30Z'", false},
		{"([file:size = 2048] OR [domain-name:value = 'evil.example']) START t'2026-01-01T10:00:30Z' STOP t'2026-01-01T10:02:00Z'", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(obs)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	obs := obsJSON(t, matchData)
	tests := []struct{ pattern, msg string }{
		{"[file:name = t'2026-01-01T00:00:00Z']", "invalid timestamp in JSON"},
		{"[file:size IN (1, 'a')]", "mixes integer and string"},
		{"[file:name MATCHES '(?=x)']", "MATCHES"},
		{"[network-traffic:dst_ref.value ISSUPERSET '10.0.0.1']", "invalid CIDR block"},
		{"[file:name ISSUBSET '10.0.0.0/8']", "invalid IP address"},
		{"[network-traffic:dst_port_ref = 'x']", ""}, // no such property: not an error
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Match(obs)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("Match: unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, errkind.Invalid) {
				t.Fatalf("Match error = %v, want an errkind.Invalid error containing %q", err, tt.msg)
			}
		})
	}
}

func TestObservationsFromObjects(t *testing.T) {
	tests := []struct {
		name, src string
		wantObs   int
		wantRoots []int
		errHave   string
	}{
		{"bare SCOs", `[{"type":"ipv4-addr","id":"ipv4-addr--1","value":"10.0.0.1"},{"type":"file","id":"file--1","name":"a"}]`, 2, []int{1, 1}, ""},
		{"refs resolved", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"object_refs":["file--1","file--absent"]},{"type":"file","id":"file--1"}]`, 1, []int{1}, ""},
		{"embedded objects", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"objects":{"0":{"type":"file"},"1":{"type":"ipv4-addr"}}}]`, 1, []int{2}, ""},
		{"missing first_observed", `[{"type":"observed-data","id":"observed-data--1","last_observed":"2026-01-01T00:00:00Z","number_observed":1}]`, 0, nil, "observed-data--1: first_observed: required timestamp missing"},
		{"bad last_observed", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01","number_observed":1}]`, 0, nil, "observed-data--1: last_observed: invalid timestamp"},
		{"last before first", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-02T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1}]`, 0, nil, "is before first_observed"},
		{"zero number_observed", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":0}]`, 0, nil, "observed-data--1: number_observed: must be at least 1"},
		{"non-string ref", `[{"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T00:00:00Z","last_observed":"2026-01-01T00:00:00Z","number_observed":1,"object_refs":[1]}]`, 0, nil, "object_refs[0]: not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []map[string]any
			if err := decodeJSON([]byte(tt.src), &objs); err != nil {
				t.Fatal(err)
			}
			obs, err := ObservationsFromObjects(objs)
			if tt.errHave != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHave) || !errors.Is(err, errkind.Invalid) {
					t.Fatalf("error = %v, want errkind.Invalid containing %q", err, tt.errHave)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(obs) != tt.wantObs {
				t.Fatalf("%d observations, want %d", len(obs), tt.wantObs)
			}
			for i, n := range tt.wantRoots {
				if len(obs[i].Objects) != n {
					t.Errorf("observation %d has %d objects, want %d", i, len(obs[i].Objects), n)
				}
			}
		})
	}
}

func TestMatchSearchBudget(t *testing.T) {
	// 40 sightings that each match, but a WITHIN window no pair satisfies:
	// REPEATS 6 must give up (or answer) without running unbounded.
	var b strings.Builder
	b.WriteString("[")
	for i := 0; i < 40; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		ts := "2026-01-01T" + twoDigits(i/60) + ":" + twoDigits(i%60) + ":00Z"
		b.WriteString(`{"type":"observed-data","id":"observed-data--` + twoDigits(i) + `","first_observed":"` + ts + `","last_observed":"` + ts + `","number_observed":1,"object_refs":["x--1"]}`)
	}
	b.WriteString(`,{"type":"x","id":"x--1","v":1}]`)
	obs := obsJSON(t, b.String())
	p, err := Parse("([x:v = 1] AND [x:v = 1] AND [x:v = 1] AND [x:v = 1] AND [x:v = 1] AND [x:v = 1]) WITHIN 30 SECONDS")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := p.Match(obs)
	if ok {
		t.Fatal("matched, but no two sightings are within 30 seconds")
	}
	if err != nil && !errors.Is(err, errkind.TooLarge) {
		t.Fatalf("error = %v, want nil or errkind.TooLarge", err)
	}
	// With the leaf REPEATS path the same question is answered exactly.
	p, err = Parse("[x:v = 1] REPEATS 6 TIMES WITHIN 30 SECONDS")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Match(obs); ok || err != nil {
		t.Fatalf("REPEATS: Match = %v, %v; want false, nil", ok, err)
	}
}

func twoDigits(n int) string { return string([]byte{byte('0' + n/10), byte('0' + n%10)}) }

func TestMatchHugeQualifiers(t *testing.T) {
	obs := obsJSON(t, `[
 {"type":"observed-data","id":"observed-data--1","first_observed":"2026-01-01T10:00:00Z","last_observed":"2026-01-01T10:00:00Z","number_observed":1000000000,"object_refs":["x--1"]},
 {"type":"observed-data","id":"observed-data--2","first_observed":"2100-01-01T10:00:00Z","last_observed":"2100-01-01T10:00:00Z","number_observed":1,"object_refs":["x--1"]},
 {"type":"x","id":"x--1","v":1}]`)
	tests := []struct {
		pattern string
		want    bool
		tooBig  bool
	}{
		{"([x:v = 1] AND [x:v = 1]) WITHIN 99999999999999999999.0 SECONDS", true, false},
		{"[x:v = 1] REPEATS 9000000000000000000 TIMES", false, false},
		{"([x:v = 1] OR [x:v = 2]) REPEATS 9000000000000000000 TIMES", false, false},
		{"[x:v = 1] REPEATS 2000000 TIMES", false, true},
		{"([x:v = 1] OR [x:v = 2]) REPEATS 2000000 TIMES", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Parse(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(obs)
			if tt.tooBig {
				if !errors.Is(err, errkind.TooLarge) {
					t.Fatalf("Match = %v, %v; want an errkind.TooLarge error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Match = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
