package pattern

import (
	"cmp"
	"regexp/syntax"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Set evaluates many patterns against the same observations at once. It
// indexes patterns rather than looping over them: every bracketed
// expression (leaf) of every pattern is filed under keys that any root
// object satisfying it must hit, so that each observation only touches
// the leaves that can be true for it:
//
//   - "path = literal" and "path IN (...)" (not negated) are filed under
//     (object type, path, value) for every value that can be equal;
//   - "path ISSUBSET 'cidr'" under (object type, path, block), looked up
//     with every registered prefix length of the data's address;
//   - "path LIKE" with a literal head or tail, and "path MATCHES '^lit...'",
//     under (object type, path, head or tail), looked up with the heads and
//     tails of registered lengths of the data's (NFC) text;
//   - any other comparison is filed under (object type, path): a path that
//     reaches nothing makes a comparison false, also under NOT and !=;
//   - "NOT EXISTS path" is filed under its object type alone;
//   - AND inside brackets keeps the more selective side, OR the union.
//
// A candidate leaf is then evaluated exactly on the observation (the same
// code as Pattern.Match), and the temporal and boolean logic of a pattern
// (FOLLOWEDBY, WITHIN, REPEATS, START/STOP, AND, OR) runs only for
// patterns with at least one leaf satisfied by some observation: a
// pattern without any cannot match.
//
// For every pattern whose Match returns no error, Set.Match reports the
// same answer. Data errors (a malformed timestamp or hex value in the
// observations) are found only where a leaf is evaluated: a Set reports
// an error for a pattern only when Match would, but may miss errors on
// observations that could not satisfy the pattern anyway.
//
// A Set is immutable after NewSet and safe for concurrent use.
type Set struct {
	pats   []setPattern
	leaves []setLeaf
	// paths are the (type, path) pairs the index uses, grouped by type.
	byType map[string][]int32 // type -> path ids
	paths  []indexedPath
	eq     map[eqKey][]int32 // (path id, value key) -> leaf ids
	// onPath lists the leaves filed under a path (reached by any value);
	// onType the leaves filed under an object type alone.
	onPath [][]int32
	onType map[string][]int32
}

type setPattern struct {
	root onode
	err  error // compile error: reported by every Match
}

type setLeaf struct {
	pat  int32
	node *leafNode
}

type indexedPath struct {
	path *ObjectPath
	// The distinct CIDR prefix lengths, LIKE tail lengths and LIKE /
	// MATCHES head lengths (in bytes) registered on this path.
	cidrLens, tailLens, headLens []int
	// all lists every leaf with a key on this path (an error walking the
	// path makes them candidates, so that the error is reported).
	all []int32
}

type eqKey struct {
	path int32
	val  string
}

// MatchResult is the outcome of one pattern of a Set.
type MatchResult struct {
	// Index is the position of the pattern in the slice given to NewSet.
	Index int
	// Matched reports a match; false when Err is set.
	Matched bool
	// Err is an evaluation error (as Pattern.Match returns).
	Err error
}

// NewSet compiles patterns for evaluation together. Patterns that cannot
// be evaluated (a MATCHES expression Go cannot run, a set mixing types)
// are reported with their error by every Match, like Pattern.Match does.
func NewSet(patterns []*Pattern) *Set {
	s := &Set{
		pats:   make([]setPattern, len(patterns)),
		byType: map[string][]int32{},
		eq:     map[eqKey][]int32{},
		onType: map[string][]int32{},
	}
	pathIDs := map[string]int32{}
	pathID := func(p *ObjectPath) int32 {
		k := p.String()
		if id, ok := pathIDs[k]; ok {
			return id
		}
		id := int32(len(s.paths))
		pathIDs[k] = id
		s.paths = append(s.paths, indexedPath{path: p})
		s.onPath = append(s.onPath, nil)
		s.byType[p.ObjectType] = append(s.byType[p.ObjectType], id)
		return id
	}
	for pi, p := range patterns {
		m := &matcher{}
		root, err := m.compileObs(p.Root, nil)
		if err != nil {
			s.pats[pi].err = err
			continue
		}
		s.pats[pi].root = root
		for _, l := range m.leaves {
			lid := int32(len(s.leaves))
			l.id = int(lid)
			s.leaves = append(s.leaves, setLeaf{pat: int32(pi), node: l})
			for _, k := range necessaryKeys(l.expr, l.comp) {
				if k.path == nil {
					s.onType[k.typ] = appendOnce(s.onType[k.typ], lid)
					continue
				}
				id := pathID(k.path)
				ip := &s.paths[id]
				ip.all = appendOnce(ip.all, lid)
				if k.vals == nil {
					s.onPath[id] = appendOnce(s.onPath[id], lid)
					continue
				}
				for _, v := range k.vals {
					ek := eqKey{id, v}
					s.eq[ek] = appendOnce(s.eq[ek], lid)
				}
				switch k.kind {
				case keyCIDR:
					ip.cidrLens = insertSorted(ip.cidrLens, k.n)
				case keyTail:
					ip.tailLens = insertSorted(ip.tailLens, k.n)
				case keyHead:
					ip.headLens = insertSorted(ip.headLens, k.n)
				}
			}
		}
	}
	return s
}

// Len returns the number of patterns in the set.
func (s *Set) Len() int { return len(s.pats) }

func insertSorted(l []int, n int) []int {
	i, found := slices.BinarySearch(l, n)
	if found {
		return l
	}
	return slices.Insert(l, i, n)
}

func appendOnce(l []int32, v int32) []int32 {
	if len(l) > 0 && l[len(l)-1] == v {
		return l
	}
	return append(l, v)
}

// leafKey is one necessary condition of a leaf: a root object of type typ
// (path nil), reaching some value at path (vals nil), or reaching a value
// at path whose key of the given kind (with length n) is one of vals.
type leafKey struct {
	typ  string
	path *ObjectPath
	kind keyKind
	n    int
	vals []string
}

type keyKind uint8

const (
	keyValue keyKind = iota // valueKey of the value
	keyCIDR                 // "c" + the value's address masked to n bits
	keyTail                 // "t" + the last n bytes of the NFC text
	keyHead                 // "h" + the first n bytes of the NFC text
)

// necessaryKeys returns keys one of which every root object satisfying e
// hits.
func necessaryKeys(e ComparisonExpr, cc map[*Comparison]*compiledComparison) []leafKey {
	switch n := e.(type) {
	case *ComparisonParen:
		return necessaryKeys(n.Inner, cc)
	case *ComparisonBinary:
		l, r := necessaryKeys(n.Left, cc), necessaryKeys(n.Right, cc)
		if n.Op == Or {
			return append(l, r...)
		}
		if keyCost(r) < keyCost(l) {
			return r
		}
		return l
	case *Comparison:
		switch {
		case n.Op == OpExists && n.Negated:
			return []leafKey{{typ: n.Path.ObjectType}}
		case !n.Negated && n.Op == OpEqual:
			if v, ok := literalKey(&n.Value); ok {
				return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, vals: []string{v}}}
			}
		case !n.Negated && n.Op == OpIn && n.Value.Kind == KindSet:
			vals := make([]string, 0, len(n.Value.Set))
			ok := true
			for i := range n.Value.Set {
				v, vok := literalKey(&n.Value.Set[i])
				if !vok {
					ok = false
					break
				}
				vals = append(vals, v)
			}
			if ok {
				if len(vals) == 0 {
					return nil // IN () is never true
				}
				return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, vals: vals}}
			}
		case !n.Negated && n.Op == OpIsSubset:
			if c := cc[n]; c != nil && c.pfxErr == nil && c.pfx.IsValid() {
				p := c.pfx.Masked()
				return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, kind: keyCIDR, n: p.Bits(), vals: []string{"c" + p.String()}}}
			}
		case !n.Negated && n.Op == OpLike:
			if c := cc[n]; c != nil {
				head, tail := c.lit, ""
				if i := strings.IndexAny(c.lit, "%_"); i >= 0 {
					head = c.lit[:i]
					tail = c.lit[strings.LastIndexAny(c.lit, "%_")+1:]
				}
				switch {
				case len(tail) >= len(head) && tail != "":
					return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, kind: keyTail, n: len(tail), vals: []string{"t" + tail}}}
				case head != "":
					return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, kind: keyHead, n: len(head), vals: []string{"h" + head}}}
				}
			}
		case !n.Negated && n.Op == OpMatches:
			if c := cc[n]; c != nil && anchored(c.lit) {
				if head, _ := c.re.LiteralPrefix(); head != "" {
					return []leafKey{{typ: n.Path.ObjectType, path: &n.Path, kind: keyHead, n: len(head), vals: []string{"h" + head}}}
				}
			}
		}
		return []leafKey{{typ: n.Path.ObjectType, path: &n.Path}}
	}
	return nil
}

// anchored reports whether a regular expression only matches at the
// start of the text (begins with ^, not in multi-line mode).
func anchored(expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return false
	}
	re = re.Simplify()
	for re.Op == syntax.OpCapture && len(re.Sub) == 1 {
		re = re.Sub[0]
	}
	return re.Op == syntax.OpBeginText || re.Op == syntax.OpConcat && len(re.Sub) > 0 && re.Sub[0].Op == syntax.OpBeginText
}

// keyCost orders key sets by selectivity: values before paths before
// types, then fewer keys.
func keyCost(ks []leafKey) int {
	c := 0
	for _, k := range ks {
		switch {
		case k.path == nil:
			c += 1_000_000
		case k.vals == nil:
			c += 10_000
		default:
			c += len(k.vals)
		}
	}
	return c
}

// literalKey returns the value key a data value equal to l has (see
// valueKey); ok is false for literals not indexed by value (timestamps,
// which compare by instant whatever the text).
func literalKey(l *Literal) (string, bool) {
	switch l.Kind {
	case KindString:
		return "s" + l.Str, true
	case KindBinary, KindHex:
		return "s" + fromLatin1(binary(l.Str)), true
	case KindInt, KindFloat:
		f, _, _ := literalNumber(l)
		return floatKey(f), true
	case KindBool:
		return "b" + strconv.FormatBool(l.Bool), true
	}
	return "", false
}

// valueKey returns the key of a data value: strings and bytes (read as
// code points below 256, which is how equal compares them) share one
// space, numbers compare as float64, booleans as themselves. Equal values
// (under equal and member) have equal keys; unequal ones may collide.
func valueKey(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return "s" + x, true
	case binary:
		return "s" + fromLatin1(x), true
	case bool:
		return "b" + strconv.FormatBool(x), true
	}
	if f, _, _, ok := number(v); ok {
		return floatKey(f), true
	}
	return "", false
}

func floatKey(f float64) string {
	if f == 0 {
		f = 0 // -0 and 0 are equal
	}
	return "n" + strconv.FormatFloat(f, 'g', -1, 64)
}

// Match evaluates every pattern of the set against the observations and
// returns the patterns that matched or failed, in index order. For each
// pattern it agrees with Pattern.Match (see Set for errors). The
// observations are scanned in parallel (GOMAXPROCS workers).
func (s *Set) Match(observations []Observation) []MatchResult {
	// Phase 1: the leaves each observation satisfies, by contiguous
	// chunks of observations so that candidate lists stay in order.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(observations)/1000))
	parts := make([]scanResult, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(observations)/workers, (w+1)*len(observations)/workers
		wg.Go(func() { parts[w] = s.scan(observations, lo, hi) })
	}
	wg.Wait()
	cands := make([][]int, len(s.leaves))
	errs := map[int32]error{}
	for _, part := range parts {
		for lid, c := range part.cands {
			if len(c) > 0 {
				cands[lid] = append(cands[lid], c...)
			}
		}
		for pi, err := range part.errs {
			if _, ok := errs[pi]; !ok {
				errs[pi] = err
			}
		}
	}
	for pi, p := range s.pats {
		if p.err != nil {
			errs[int32(pi)] = p.err
		}
	}
	// Phase 2: the observation logic of the patterns with a satisfied
	// leaf (a pattern without one cannot match).
	var todo []int32
	for lid, c := range cands {
		if len(c) > 0 {
			todo = append(todo, s.leaves[lid].pat)
		}
	}
	slices.Sort(todo)
	todo = slices.Compact(todo)
	var out []MatchResult
	m := &matcher{obs: observations}
	used := make([]int64, len(observations))
	for _, pi := range todo {
		if _, failed := errs[pi]; failed {
			continue
		}
		sr := &search{m: m, used: used, cands: cands}
		ok, err := sr.gen(s.pats[pi].root, func(summary) (bool, error) { return true, nil })
		if err != nil {
			errs[pi] = err
			clear(used) // an error may leave the counts mid-search
			continue
		}
		if ok {
			out = append(out, MatchResult{Index: int(pi), Matched: true})
		}
	}
	for pi, err := range errs {
		out = append(out, MatchResult{Index: int(pi), Err: err})
	}
	slices.SortFunc(out, func(a, b MatchResult) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// scanResult is what one worker found: the observations (in order) each
// leaf matches, and the first error of each failed pattern.
type scanResult struct {
	cands [][]int
	errs  map[int32]error
}

// scan evaluates the candidate leaves of observations[lo:hi].
func (s *Set) scan(observations []Observation, lo, hi int) scanResult {
	res := scanResult{cands: make([][]int, len(s.leaves)), errs: map[int32]error{}}
	seen := make([]int32, len(s.leaves)) // observation index + 1 that last touched a leaf
	var touched []int32
	var vals []any
	for oi := lo; oi < hi; oi++ {
		o := &observations[oi]
		stamp := int32(oi + 1)
		touched = touched[:0]
		touch := func(ls []int32) {
			for _, l := range ls {
				if seen[l] != stamp {
					seen[l] = stamp
					touched = append(touched, l)
				}
			}
		}
		for _, root := range o.Objects {
			typ, _ := root["type"].(string)
			if typ == "" {
				continue
			}
			touch(s.onType[typ])
			for _, pid := range s.byType[typ] {
				ip := &s.paths[pid]
				vals = vals[:0]
				_, err := walk(ip.path, ip.path.Steps, root, o, func(v any) (bool, error) {
					vals = append(vals, v)
					return false, nil
				})
				if err != nil {
					touch(ip.all) // let the evaluation report it
					continue
				}
				if len(vals) == 0 {
					continue
				}
				touch(s.onPath[pid])
				for _, v := range vals {
					if !s.lookup(pid, ip, v, touch) {
						touch(ip.all)
						break
					}
				}
			}
		}
		for _, lid := range touched {
			l := &s.leaves[lid]
			if _, failed := res.errs[l.pat]; failed {
				continue
			}
			ok, err := leafMatches(l.node, o)
			if err != nil {
				res.errs[l.pat] = err
				continue
			}
			if ok {
				res.cands[lid] = append(res.cands[lid], oi)
			}
		}
	}
	return res
}

// lookup touches the leaves filed under the keys of value v at path pid;
// false means v cannot be keyed (every leaf of the path must be tried).
func (s *Set) lookup(pid int32, ip *indexedPath, v any, touch func([]int32)) bool {
	if k, ok := valueKey(v); ok {
		touch(s.eq[eqKey{pid, k}])
	}
	if len(ip.cidrLens) > 0 {
		if str, ok := v.(string); ok {
			val, err := parseIPOrCIDR(str)
			if err != nil {
				return false // ISSUBSET reports it
			}
			if val.Addr().Zone() == "" {
				for _, n := range ip.cidrLens {
					if n > val.Bits() {
						break
					}
					if p, err := val.Addr().Prefix(n); err == nil {
						touch(s.eq[eqKey{pid, "c" + p.String()}])
					}
				}
			}
		} else if _, ok := v.(binary); ok {
			return false
		}
	}
	if len(ip.tailLens) > 0 || len(ip.headLens) > 0 {
		var text string
		switch x := v.(type) {
		case string:
			text = x
			if !isASCIIString(x) {
				text = norm.NFC.String(x)
			}
		case binary:
			return false // LIKE and MATCHES read bytes in ways of their own
		default:
			return true
		}
		for _, n := range ip.tailLens {
			if n > len(text) {
				break
			}
			touch(s.eq[eqKey{pid, "t" + text[len(text)-n:]}])
		}
		for _, n := range ip.headLens {
			if n > len(text) {
				break
			}
			touch(s.eq[eqKey{pid, "h" + text[:n]}])
		}
	}
	return true
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// leafMatches evaluates one leaf on one observation, as evalLeaf does.
func leafMatches(l *leafNode, o *Observation) (bool, error) {
	for _, w := range l.window {
		if !inWindow(o, w) {
			return false, nil
		}
	}
	for _, root := range o.Objects {
		ok, err := evalComp(l.expr, l.comp, root, o)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func inWindow(o *Observation, w window) bool {
	return o.FirstObserved.Before(w.stop) && !o.LastObserved.Before(w.start)
}
