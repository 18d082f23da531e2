package pattern

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// setAgrees checks the Set's answer for pattern i against Pattern.Match:
// without an error from Match the answers must be equal; the Set may
// report an error only where Match does.
func setAgrees(t *testing.T, p *Pattern, got map[int]MatchResult, i int, obs []Observation) (matched bool) {
	t.Helper()
	want, werr := p.Match(obs)
	g, inSet := got[i]
	switch {
	case g.Err != nil && werr == nil:
		t.Errorf("pattern %d %s: Set error %v, Match found none (match %v)", i, p, g.Err, want)
	case werr == nil && g.Matched != want:
		t.Errorf("pattern %d %s: Set says %v, Match says %v", i, p, g.Matched, want)
	case inSet && !g.Matched && g.Err == nil:
		t.Errorf("pattern %d %s: result listed without a match or error", i, p)
	}
	return werr == nil && want
}

func resultsByIndex(rs []MatchResult) map[int]MatchResult {
	m := make(map[int]MatchResult, len(rs))
	for _, r := range rs {
		m[r.Index] = r
	}
	return m
}

// ---- random patterns covering every operator and qualifier ----

var (
	genNames  = []string{"a.exe", "b.dll", "Évil.exe", "E\u0301vil.exe", "x", "readme.txt", "\u212a.exe"}
	genIPs    = []string{"10.0.0.1", "10.0.0.2", "198.51.100.7", "2001:db8::1"}
	genCIDRs  = []string{"10.0.0.0/8", "10.0.0.0/30", "198.51.100.0/24", "2001:db8::/32", "0.0.0.0/0"}
	genDoms   = []string{"evil.example", "good.example", "a.evil.example"}
	genProtos = []string{"tcp", "udp", "tls"}
	genTimes  = []string{"2026-01-01T10:00:00Z", "2026-01-01T10:00:05Z", "2026-01-01T10:00:10.5Z", "2026-01-01T10:00:20Z"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// randomComparison returns one comparison; every operator appears, with
// and without NOT, on strings, numbers, booleans, bytes and timestamps.
func randomComparison(r *rand.Rand) string {
	not := ""
	if r.IntN(5) == 0 {
		not = "NOT "
	}
	switch r.IntN(22) {
	case 0, 1:
		return "file:name " + not + "= " + q(pick(r, genNames))
	case 2:
		return "file:name " + not + "IN (" + q(pick(r, genNames)) + ", " + q(pick(r, genNames)) + ")"
	case 3:
		return "file:name " + not + pick(r, []string{"LIKE '%.exe'", "LIKE '_.dll'", "MATCHES '^[ab]'", "LIKE 'E\u0301vil%'", "LIKE 'K.e%'", "LIKE 'b.dll'", "MATCHES '^E\u0301v'", "MATCHES '^a\\\\.e'", "MATCHES 'e$'", "MATCHES '(?i)^A'"})
	case 4:
		return "file:size " + not + pick(r, []string{"=", "!=", "<", "<=", ">", ">="}) + " " + pick(r, []string{"100", "2048", "2048.0", "1e3", "'2048'"})
	case 5:
		return "file:size " + not + "IN (" + pick(r, []string{"1, 2048", "100.0, 5", "'100'"}) + ")"
	case 6:
		return "file:ok " + not + "= " + pick(r, []string{"true", "false", "1"})
	case 7:
		return "file:magic_number_hex " + not + pick(r, []string{"= h'4d5a'", "= b'TVo='", "= 'MZ'", "> h'4d'", "IN (h'4d5a', h'00')", "!= h'4d5a'", "= 'é'", "= h'e9'", "= 'Ã©'"})
	case 8:
		return "file:ctime " + not + pick(r, []string{"=", "<", ">="}) + " t'" + pick(r, genTimes) + "'"
	case 9:
		return "file:ctime " + not + "IN (t'" + pick(r, genTimes) + "')"
	case 10:
		return "file:tags[" + pick(r, []string{"*", "0", "-1", "5"}) + "] " + not + "= " + q(pick(r, []string{"a", "b", "c"}))
	case 11:
		return "ipv4-addr:value " + not + "= " + q(pick(r, genIPs))
	case 12:
		return "ipv4-addr:value " + not + "ISSUBSET " + q(pick(r, genCIDRs))
	case 13:
		return "ipv4-addr:value " + not + "ISSUPERSET " + q(pick(r, genIPs))
	case 14:
		return "network-traffic:dst_ref.value " + not + pick(r, []string{"= ", "ISSUBSET ", "!= "}) + q(pick(r, append(genIPs, genCIDRs...)))
	case 15:
		return "network-traffic:dst_port " + not + pick(r, []string{"= 443", "= 80", "IN (80, 443)", "> 1024", "= 443.0"})
	case 16:
		return "network-traffic:protocols[*] " + not + "= " + q(pick(r, genProtos))
	case 17:
		return not + "EXISTS " + pick(r, []string{"network-traffic:src_ref", "network-traffic:dst_ref", "file:hashes.MD5", "file:missing"})
	case 18:
		return "domain-name:value " + not + pick(r, []string{"= ", "LIKE ", "!= "}) + q(pick(r, append(genDoms, "%.evil.example")))
	case 19:
		return "domain-name:resolves_to_refs[*].value " + not + "= " + q(pick(r, genIPs))
	case 20:
		return "file:hashes.MD5 " + not + "= '79054025255fb1a26e4bc422aef54eb4'"
	default:
		return "file:name " + not + pick(r, []string{"!=", "<", ">"}) + " " + q(pick(r, genNames))
	}
}

func randomCompExpr(r *rand.Rand, depth int) string {
	if depth <= 0 || r.IntN(3) > 0 {
		return randomComparison(r)
	}
	op := pick(r, []string{" AND ", " OR "})
	e := randomCompExpr(r, depth-1) + op + randomCompExpr(r, depth-1)
	if r.IntN(2) == 0 {
		e = "(" + e + ")"
	}
	return e
}

// randomObsExpr returns an observation expression with every operator
// and qualifier.
func randomObsExpr(r *rand.Rand, depth int) string {
	if depth <= 0 || r.IntN(3) == 0 {
		return "[" + randomCompExpr(r, 2) + "]"
	}
	switch r.IntN(6) {
	case 0:
		return "(" + randomObsExpr(r, depth-1) + ") WITHIN " + pick(r, []string{"1", "5", "10.5", "60"}) + " SECONDS"
	case 1:
		return "(" + randomObsExpr(r, depth-1) + ") REPEATS " + pick(r, []string{"1", "2", "3"}) + " TIMES"
	case 2:
		return "(" + randomObsExpr(r, depth-1) + ") START t'2026-01-01T10:00:0" + pick(r, []string{"0", "3"}) + "Z' STOP t'2026-01-01T10:00:" + pick(r, []string{"06", "15"}) + "Z'"
	default:
		op := pick(r, []string{" AND ", " OR ", " FOLLOWEDBY "})
		return randomObsExpr(r, depth-1) + op + randomObsExpr(r, depth-1)
	}
}

// randomObservations builds observations of files, addresses, traffic and
// domains over 20 seconds; a few carry malformed values (an invalid
// timestamp or hex string) so that errors are exercised too.
func randomObservations(r *rand.Rand, n int) []Observation {
	var objs []any
	id := 0
	next := func(typ string) string { id++; return fmt.Sprintf("%s--%d", typ, id) }
	for range n {
		var refs []any
		ip := map[string]any{"type": "ipv4-addr", "id": next("ipv4-addr"), "value": pick(r, genIPs)}
		switch r.IntN(4) {
		case 0:
			f := map[string]any{"type": "file", "id": next("file"), "name": pick(r, genNames)}
			if r.IntN(2) == 0 {
				f["size"] = json.Number(pick(r, []string{"100", "2048", "2048.0", "1000"}))
			}
			if r.IntN(2) == 0 {
				f["ok"] = r.IntN(2) == 0
			}
			if r.IntN(2) == 0 {
				f["magic_number_hex"] = pick(r, []string{"4d5a", "00", "4D5A", "e9", "c3a9"})
				if r.IntN(40) == 0 {
					f["magic_number_hex"] = "zz"
				}
			}
			if r.IntN(2) == 0 {
				f["ctime"] = pick(r, genTimes)
				if r.IntN(40) == 0 {
					f["ctime"] = "yesterday"
				}
			}
			if r.IntN(2) == 0 {
				f["tags"] = []any{pick(r, []string{"a", "b"}), pick(r, []string{"b", "c"})}
			}
			if r.IntN(3) == 0 {
				f["hashes"] = map[string]any{"MD5": "79054025255fb1a26e4bc422aef54eb4"}
			}
			objs = append(objs, f)
			refs = append(refs, f["id"])
		case 1:
			objs = append(objs, ip)
			refs = append(refs, ip["id"])
		case 2:
			nt := map[string]any{"type": "network-traffic", "id": next("network-traffic"), "dst_ref": ip["id"],
				"dst_port": json.Number(pick(r, []string{"80", "443", "8080"})), "protocols": []any{pick(r, genProtos), "tcp"}}
			if r.IntN(2) == 0 {
				nt["src_ref"] = "ipv4-addr--missing"
			}
			objs = append(objs, nt, ip)
			refs = append(refs, nt["id"], ip["id"])
		default:
			d := map[string]any{"type": "domain-name", "id": next("domain-name"), "value": pick(r, genDoms), "resolves_to_refs": []any{ip["id"]}}
			objs = append(objs, d, ip)
			refs = append(refs, d["id"])
		}
		first := r.IntN(20)
		last := first + r.IntN(3)
		objs = append(objs, map[string]any{"type": "observed-data", "id": next("observed-data"),
			"first_observed": fmt.Sprintf("2026-01-01T10:00:%02dZ", first), "last_observed": fmt.Sprintf("2026-01-01T10:00:%02dZ", last),
			"number_observed": json.Number(pick(r, []string{"1", "1", "2"})), "object_refs": refs})
	}
	raw, _ := json.Marshal(objs)
	var decoded []map[string]any
	if err := decodeJSON(raw, &decoded); err != nil {
		panic(err)
	}
	obs, err := ObservationsFromObjects(decoded)
	if err != nil {
		panic(err)
	}
	return obs
}

// TestSetAgreesWithMatch is the property: for random patterns and random
// observations, a Set of all the patterns answers as each pattern's Match.
func TestSetAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 7))
	matched, total := 0, 0
	for round := range 150 {
		var pats []*Pattern
		for len(pats) < 40 {
			p, err := Parse(randomObsExpr(r, 3))
			if err != nil {
				continue
			}
			pats = append(pats, p)
		}
		obs := randomObservations(r, 1+r.IntN(12))
		got := resultsByIndex(NewSet(pats).Match(obs))
		for i, p := range pats {
			total++
			if setAgrees(t, p, got, i, obs) {
				matched++
			}
		}
		if t.Failed() {
			t.Fatalf("round %d failed", round)
		}
	}
	// The generator must exercise both answers.
	if matched < total/20 || matched > total*19/20 {
		t.Fatalf("%d of %d patterns matched: the generator is too one-sided", matched, total)
	}
	t.Logf("%d of %d patterns matched", matched, total)
}

// TestSetConformance runs a Set of every recorded reference pattern over
// the observations of every recorded case and compares each pattern's
// answer with Match (which TestMatcherConformanceFixture checks against
// the reference).
func TestSetConformance(t *testing.T) {
	rec := loadMatcherCases(t, testdataFile(t, "matcher-cases.json"))
	var pats []*Pattern
	for _, c := range rec.Cases {
		if c.Args.StixVersion != "2.1" {
			continue
		}
		if p, err := Parse(c.Args.Pattern); err == nil {
			pats = append(pats, p)
		}
	}
	set := NewSet(pats)
	n := 0
	for _, c := range rec.Cases {
		if c.Args.StixVersion != "2.1" {
			continue
		}
		obs := observationsOf(t, c.Test, c.Args.Observed, rec.Blobs)
		got := resultsByIndex(set.Match(obs))
		for i, p := range pats {
			if setAgrees(t, p, got, i, obs) {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no pattern matched any case")
	}
}

func TestSetCompileError(t *testing.T) {
	p, err := Parse("[file:name MATCHES '(?=x)'] OR [file:name = 'a']")
	if err != nil {
		t.Fatal(err)
	}
	ok, _ := Parse("[file:name = 'a']")
	res := NewSet([]*Pattern{p, ok}).Match(obsJSON(t, `[{"type":"file","id":"file--1","name":"a"}]`))
	if len(res) != 2 || res[0].Index != 0 || res[0].Err == nil || res[1].Index != 1 || !res[1].Matched {
		t.Fatalf("got %+v, want an error for pattern 0 and a match for pattern 1", res)
	}
}

// TestSetParallelScan checks the answers when observations are scanned by
// several workers (candidate lists merged in observation order).
func TestSetParallelScan(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	r := rand.New(rand.NewPCG(11, 13))
	var pats []*Pattern
	for len(pats) < 30 {
		if p, err := Parse(randomObsExpr(r, 2)); err == nil {
			pats = append(pats, p)
		}
	}
	obs := randomObservations(r, 2500)
	got := resultsByIndex(NewSet(pats).Match(obs))
	for i, p := range pats {
		setAgrees(t, p, got, i, obs)
	}
}
