package pattern

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// MaxSearchSteps bounds the work Match spends searching for a combination
// of observations (REPEATS and AND over many observations are
// combinatorial); past it Match fails with an errkind.TooLarge error
// rather than run unbounded.
const MaxSearchSteps = 5_000_000

// Match reports whether the pattern matches the observations, following
// the matching semantics of STIX 2.1 section 9 with the OASIS reference
// matcher (stix2-matcher) as the yardstick:
//
//   - a bracketed comparison expression matches an observation when one of
//     its root objects satisfies it (AND and OR combine tests on the same
//     root object; a path through *_ref/*_refs follows the reference);
//   - each observation counts NumberObserved times, and no sighting is used
//     twice by one match (observation AND, FOLLOWEDBY, REPEATS);
//   - FOLLOWEDBY needs the left side's latest first_observed to be no later
//     than the right side's earliest last_observed; WITHIN n SECONDS needs
//     a window of n seconds touching every interval used; START/STOP needs
//     every interval used to overlap [START, STOP).
//
// Errors (wrapping errkind.Invalid) report values the pattern cannot be
// evaluated against, such as a malformed timestamp in the data, a set of
// mixed types or a MATCHES expression Go's regexp cannot compile.
func (p *Pattern) Match(observations []Observation) (bool, error) {
	m := &matcher{obs: observations}
	root, err := m.compileObs(p.Root, nil)
	if err != nil {
		return false, err
	}
	// Evaluate every bracketed expression against every observation first,
	// so that errors in the data surface whatever the search order.
	for _, l := range m.leaves {
		if err := m.evalLeaf(l); err != nil {
			return false, err
		}
	}
	s := &search{m: m, used: make([]int64, len(observations))}
	ok, err := s.gen(root, func(summary) (bool, error) { return true, nil })
	return ok, err
}

// matchError builds an evaluation error.
func matchError(format string, args ...any) error {
	return fmt.Errorf("%w: pattern evaluation: %s", errkind.Invalid, fmt.Sprintf(format, args...))
}

// ---- compiled observation tree ----

type onode interface{}

type leafNode struct {
	expr   ComparisonExpr
	comp   map[*Comparison]*compiledComparison
	window []window // START/STOP windows applying to this leaf
	cands  []int    // matching observation indices, filled by evalLeaf
	id     int      // index of the leaf in a Set (search.cands)
}

type window struct{ start, stop time.Time }

type binNode struct {
	op          ObservationOp
	left, right onode
}

type repeatsNode struct {
	child onode
	n     int64
}

type withinNode struct {
	child onode
	d     time.Duration
}

type matcher struct {
	obs    []Observation
	leaves []*leafNode
}

func (m *matcher) compileObs(e ObservationExpr, win []window) (onode, error) {
	switch n := e.(type) {
	case *ObservationComparison:
		l := &leafNode{expr: n.Expr, comp: map[*Comparison]*compiledComparison{}, window: win}
		if err := compileComp(n.Expr, l.comp); err != nil {
			return nil, err
		}
		m.leaves = append(m.leaves, l)
		return l, nil
	case *ObservationParen:
		return m.compileObs(n.Inner, win)
	case *ObservationBinary:
		left, err := m.compileObs(n.Left, win)
		if err != nil {
			return nil, err
		}
		right, err := m.compileObs(n.Right, win)
		if err != nil {
			return nil, err
		}
		return &binNode{op: n.Op, left: left, right: right}, nil
	case *ObservationQualified:
		q := n.Qualifier
		switch q.Kind {
		case StartStop:
			// START/STOP constrains every sighting used below it, so it
			// filters the leaves.
			w := append(append([]window(nil), win...), window{q.Start.Time, q.Stop.Time})
			return m.compileObs(n.Inner, w)
		case Within:
			child, err := m.compileObs(n.Inner, win)
			if err != nil {
				return nil, err
			}
			d := time.Duration(math.MaxInt64)
			if q.Seconds < float64(math.MaxInt64)/float64(time.Second) {
				d = time.Duration(q.Seconds * float64(time.Second))
			}
			return &withinNode{child: child, d: d}, nil
		case Repeats:
			child, err := m.compileObs(n.Inner, win)
			if err != nil {
				return nil, err
			}
			return &repeatsNode{child: child, n: q.Times}, nil
		}
	}
	return nil, fmt.Errorf("pattern evaluation: unexpected node %T", e)
}

// evalLeaf finds the observations a bracketed expression matches.
func (m *matcher) evalLeaf(l *leafNode) error {
	for i := range m.obs {
		o := &m.obs[i]
		inWindow := true
		for _, w := range l.window {
			// Reference semantics: the interval [first, last] overlaps
			// [start, stop), touching start allowed, touching stop not.
			if !(o.FirstObserved.Before(w.stop) && !o.LastObserved.Before(w.start)) {
				inWindow = false
			}
		}
		matched := false
		for _, root := range o.Objects {
			ok, err := evalComp(l.expr, l.comp, root, o)
			if err != nil {
				return err
			}
			matched = matched || ok
		}
		if matched && inWindow {
			l.cands = append(l.cands, i)
		}
	}
	return nil
}

// ---- search for a consistent combination of sightings ----

// summary is what the temporal operators need to know of a partial match.
type summary struct {
	maxFirst, minLast time.Time
}

func merge(a, b summary) summary {
	if b.maxFirst.After(a.maxFirst) {
		a.maxFirst = b.maxFirst
	}
	if b.minLast.Before(a.minLast) {
		a.minLast = b.minLast
	}
	return a
}

type search struct {
	m    *matcher
	used []int64
	// cands, when set (by a Set), holds the candidates of each leaf by
	// leaf id instead of leafNode.cands.
	cands [][]int
	steps int
	depth int // nesting of REPEATS recursion
}

// maxRepeatDepth bounds the recursion of REPEATS (one level per
// repetition), keeping the stack small for huge counts.
const maxRepeatDepth = 100_000

func (s *search) deeper() error {
	s.depth++
	if s.depth > maxRepeatDepth {
		return fmt.Errorf("%w: pattern evaluation: REPEATS needs more than %d nested repetitions", errkind.TooLarge, maxRepeatDepth)
	}
	return nil
}

type cont func(summary) (bool, error)

// gen enumerates the ways n can be matched with the sightings not yet
// used, calling k for each until k reports success.
func (s *search) gen(n onode, k cont) (bool, error) {
	switch n := n.(type) {
	case *leafNode:
		return s.genLeaf(n, k)
	case *binNode:
		switch n.op {
		case ObsOr:
			ok, err := s.gen(n.left, k)
			if ok || err != nil {
				return ok, err
			}
			return s.gen(n.right, k)
		case ObsAnd:
			return s.gen(n.left, func(a summary) (bool, error) {
				return s.gen(n.right, func(b summary) (bool, error) { return k(merge(a, b)) })
			})
		case ObsFollowedBy:
			return s.gen(n.left, func(a summary) (bool, error) {
				return s.gen(n.right, func(b summary) (bool, error) {
					if a.maxFirst.After(b.minLast) {
						return false, nil
					}
					return k(merge(a, b))
				})
			})
		}
	case *withinNode:
		return s.gen(n.child, func(a summary) (bool, error) {
			if a.maxFirst.Sub(a.minLast) > n.d {
				return false, nil
			}
			return k(a)
		})
	case *repeatsNode:
		if leaf, ok := n.child.(*leafNode); ok {
			return s.genLeafRepeats(leaf, n.n, 0, summary{}, true, k)
		}
		return s.genRepeats(n.child, n.n, summary{}, true, k)
	}
	return false, fmt.Errorf("pattern evaluation: unexpected node %T", n)
}

func (s *search) step() error {
	s.steps++
	if s.steps > MaxSearchSteps {
		return fmt.Errorf("%w: pattern evaluation gave up after %d search steps", errkind.TooLarge, MaxSearchSteps)
	}
	return nil
}

// candsOf returns the observations leaf l matches.
func (s *search) candsOf(l *leafNode) []int {
	if s.cands != nil {
		return s.cands[l.id]
	}
	return l.cands
}

func (s *search) genLeaf(l *leafNode, k cont) (bool, error) {
	for _, i := range s.candsOf(l) {
		if s.used[i] >= s.m.obs[i].NumberObserved {
			continue
		}
		if err := s.step(); err != nil {
			return false, err
		}
		o := &s.m.obs[i]
		s.used[i]++
		ok, err := k(summary{maxFirst: o.FirstObserved, minLast: o.LastObserved})
		s.used[i]--
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// genLeafRepeats picks n sightings for a repeated bracketed expression in
// non-decreasing candidate order (an observation may be picked up to its
// NumberObserved times), so each combination is tried once.
func (s *search) genLeafRepeats(l *leafNode, n int64, from int, acc summary, first bool, k cont) (bool, error) {
	if n == 0 {
		return k(acc)
	}
	cands := s.candsOf(l)
	var avail int64
	for _, i := range cands[from:] {
		avail += s.m.obs[i].NumberObserved - s.used[i]
	}
	if avail < n {
		return false, nil
	}
	for p := from; p < len(cands); p++ {
		i := cands[p]
		o := &s.m.obs[i]
		if s.used[i] >= o.NumberObserved {
			continue
		}
		if err := s.step(); err != nil {
			return false, err
		}
		next := summary{maxFirst: o.FirstObserved, minLast: o.LastObserved}
		if !first {
			next = merge(acc, next)
		}
		if err := s.deeper(); err != nil {
			return false, err
		}
		s.used[i]++
		ok, err := s.genLeafRepeats(l, n-1, p, next, false, k)
		s.used[i]--
		s.depth--
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

func (s *search) genRepeats(child onode, n int64, acc summary, first bool, k cont) (bool, error) {
	if n == 0 {
		return k(acc)
	}
	var avail int64
	for i := range s.m.obs {
		avail += s.m.obs[i].NumberObserved - s.used[i]
		if avail >= n {
			break
		}
	}
	if avail < n {
		return false, nil // each repetition needs at least one sighting
	}
	return s.gen(child, func(b summary) (bool, error) {
		next := b
		if !first {
			next = merge(acc, b)
		}
		if err := s.deeper(); err != nil {
			return false, err
		}
		ok, err := s.genRepeats(child, n-1, next, false, k)
		s.depth--
		return ok, err
	})
}

// ---- comparison expressions on one root object ----

// compiledComparison holds what a Comparison needs precompiled.
type compiledComparison struct {
	re  *regexp.Regexp // MATCHES, LIKE
	set []Literal
	// pfx is the ISSUBSET CIDR block or the ISSUPERSET address or block;
	// pfxErr is reported when a string value is tested against it.
	pfx    netip.Prefix
	pfxErr error
	lit    string // NFC-normalised literal for LIKE / MATCHES
}

func compileComp(e ComparisonExpr, out map[*Comparison]*compiledComparison) error {
	switch n := e.(type) {
	case *ComparisonBinary:
		if err := compileComp(n.Left, out); err != nil {
			return err
		}
		return compileComp(n.Right, out)
	case *ComparisonParen:
		return compileComp(n.Inner, out)
	case *Comparison:
		cc := &compiledComparison{}
		switch n.Op {
		case OpLike:
			lit := norm.NFC.String(n.Value.Str)
			var b strings.Builder
			b.WriteString(`^(?s:`)
			for _, r := range lit {
				switch r {
				case '%':
					b.WriteString(`.*`)
				case '_':
					b.WriteString(`.`)
				default:
					b.WriteString(regexp.QuoteMeta(string(r)))
				}
			}
			b.WriteString(`)$`)
			re, err := regexp.Compile(b.String())
			if err != nil {
				return matchError("LIKE %s at column %d: %v", n.Value.String(), n.Value.Pos+1, err)
			}
			cc.re, cc.lit = re, lit
		case OpMatches:
			lit := norm.NFC.String(n.Value.Str)
			re, err := regexp.Compile(lit)
			if err != nil {
				return matchError("MATCHES %s at column %d: not a regular expression Go can run: %v", n.Value.String(), n.Value.Pos+1, err)
			}
			cc.re, cc.lit = re, lit
		case OpIsSubset:
			cc.pfx, cc.pfxErr = parseCIDR(n.Value.Str)
		case OpIsSuperset:
			cc.pfx, cc.pfxErr = parseIPOrCIDR(n.Value.Str)
		case OpIn:
			if err := checkSet(&n.Value); err != nil {
				return err
			}
			cc.set = n.Value.Set
		}
		out[n] = cc
	}
	return nil
}

// checkSet rejects sets mixing types (other than integers with floats).
func checkSet(l *Literal) error {
	if len(l.Set) == 0 {
		return nil
	}
	class := func(k LiteralKind) LiteralKind {
		switch k {
		case KindFloat:
			return KindInt
		case KindHex:
			return KindBinary
		}
		return k
	}
	first := class(l.Set[0].Kind)
	for _, e := range l.Set[1:] {
		if class(e.Kind) != first {
			return matchError("set %s at column %d mixes %s and %s values", l.String(), l.Pos+1, l.Set[0].Kind, e.Kind)
		}
	}
	return nil
}

// evalComp evaluates e on one root object. Both operands of AND and OR are
// always evaluated, so that errors surface as they do in the reference.
func evalComp(e ComparisonExpr, cc map[*Comparison]*compiledComparison, root map[string]any, o *Observation) (bool, error) {
	switch n := e.(type) {
	case *ComparisonBinary:
		a, err := evalComp(n.Left, cc, root, o)
		if err != nil {
			return false, err
		}
		b, err := evalComp(n.Right, cc, root, o)
		if err != nil {
			return false, err
		}
		if n.Op == And {
			return a && b, nil
		}
		return a || b, nil
	case *ComparisonParen:
		return evalComp(n.Inner, cc, root, o)
	case *Comparison:
		if root["type"] != n.Path.ObjectType {
			return false, nil
		}
		var ok bool
		var err error
		if n.Op == OpExists {
			ok, err = walk(&n.Path, n.Path.Steps, root, o, func(any) (bool, error) { return true, nil })
			ok = ok != n.Negated
		} else {
			c := cc[n]
			ok, err = walk(&n.Path, n.Path.Steps, root, o, func(v any) (bool, error) { return test(n, c, v) })
		}
		if err != nil {
			id, _ := root["id"].(string)
			return false, fmt.Errorf("observation %s, object %s, %s (column %d): %w", o.ID, id, n.Path.String(), n.Start+1, err)
		}
		return ok, nil
	}
	return false, nil
}

// binary is a value known to be bytes: a *_hex or *_bin property.
type binary string

// walk follows steps from v, calling fn with every value reached until fn
// reports done. Keys ending in _ref / _refs are dereferenced; keys ending
// in _hex / _bin are decoded to bytes. It allocates nothing on paths
// without [*] or *_refs fan-out.
func walk(path *ObjectPath, steps []PathStep, v any, o *Observation, fn func(any) (bool, error)) (bool, error) {
	for si := range steps {
		st := &steps[si]
		switch st.Kind {
		case StepKey:
			m, ok := v.(map[string]any)
			if !ok {
				return false, nil
			}
			val, ok := m[st.Key]
			if !ok {
				return false, nil
			}
			val, err := processKey(path, st.Key, val, o)
			if err != nil {
				return false, err
			}
			if val == nil && (strings.HasSuffix(st.Key, "_ref") || strings.HasSuffix(st.Key, "_refs")) {
				return false, nil // reference did not resolve
			}
			v = val
		case StepIndex:
			l, ok := v.([]any)
			if !ok {
				return false, nil
			}
			i := st.Index
			if i < 0 {
				i += int64(len(l))
			}
			if i < 0 || i >= int64(len(l)) {
				return false, nil
			}
			v = l[i]
		case StepAny:
			l, ok := v.([]any)
			if !ok {
				return false, nil
			}
			for _, e := range l {
				done, err := walk(path, steps[si+1:], e, o, fn)
				if done || err != nil {
					return done, err
				}
			}
			return false, nil
		}
	}
	return fn(v)
}

// processKey converts the value of property key as the reference does.
func processKey(path *ObjectPath, key string, val any, o *Observation) (any, error) {
	switch {
	case strings.HasSuffix(key, "_hex"):
		s, ok := val.(string)
		if !ok {
			return val, nil
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, matchError("property %s: invalid hex value %q", key, s)
		}
		return binary(b), nil
	case strings.HasSuffix(key, "_bin"):
		s, ok := val.(string)
		if !ok {
			return val, nil
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, matchError("property %s: invalid base64 value %q", key, s)
		}
		return binary(b), nil
	case strings.HasSuffix(key, "_ref"):
		id, ok := val.(string)
		if !ok {
			return nil, matchError("reference property %s: value is not a string", key)
		}
		if t, ok := o.Refs[id]; ok {
			return t, nil
		}
		return nil, nil
	case strings.HasSuffix(key, "_refs"):
		l, ok := val.([]any)
		if !ok {
			return nil, matchError("reference list property %s: value is not a list", key)
		}
		var out []any
		for _, e := range l {
			id, ok := e.(string)
			if !ok {
				return nil, matchError("reference list property %s: an element is not a string", key)
			}
			if t, ok := o.Refs[id]; ok {
				out = append(out, t)
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return val, nil
}

// number reads a JSON number; isInt says whether it was written without a
// fraction or exponent.
func number(v any) (f float64, isInt bool, i int64, ok bool) {
	switch n := v.(type) {
	case json.Number:
		s := string(n)
		if !strings.ContainsAny(s, ".eE") {
			if iv, err := strconv.ParseInt(s, 10, 64); err == nil {
				return float64(iv), true, iv, true
			}
		}
		fv, err := strconv.ParseFloat(s, 64)
		return fv, false, 0, err == nil
	case float64:
		return n, false, 0, true
	case int:
		return float64(n), true, int64(n), true
	case int64:
		return float64(n), true, n, true
	}
	return 0, false, 0, false
}

func literalNumber(l *Literal) (float64, bool, int64) {
	if l.Kind == KindInt {
		return float64(l.Int), true, l.Int
	}
	return l.Float, false, 0
}

func cmpNumbers(v any, l *Literal) (int, bool) {
	vf, vInt, vi, ok := number(v)
	if !ok {
		return 0, false
	}
	lf, lInt, li := literalNumber(l)
	if vInt && lInt {
		return cmpOrdered(vi, li), true
	}
	return cmpOrdered(vf, lf), true
}

func cmpOrdered[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// latin1 converts a string of code points below 256 to bytes; ok is false
// when the string has a higher code point.
func latin1(s string) (string, bool) {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), true
}

// fromLatin1 maps each byte to the code point of the same value.
func fromLatin1(b binary) string {
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		sb.WriteRune(rune(b[i]))
	}
	return sb.String()
}

// jsonTimestamp parses a data value compared with a timestamp literal.
func jsonTimestamp(s string) (time.Time, error) {
	t, err := parseTimestamp(s)
	if err != nil {
		return t, matchError("invalid timestamp in JSON: %q: %v", s, err)
	}
	return t, nil
}

const (
	cmpNone = iota // the types cannot be ordered: the test is false, even with NOT
	cmpDone
	cmpFalse // the comparison is false (NOT applies)
)

// order compares value v with literal l.
func order(v any, l *Literal) (int, int, error) {
	switch l.Kind {
	case KindInt, KindFloat:
		if c, ok := cmpNumbers(v, l); ok {
			return c, cmpDone, nil
		}
	case KindString:
		switch x := v.(type) {
		case string:
			return strings.Compare(x, l.Str), cmpDone, nil
		case binary:
			b, ok := latin1(l.Str)
			if !ok {
				return 0, cmpFalse, nil
			}
			return strings.Compare(string(x), b), cmpDone, nil
		}
	case KindBinary, KindHex:
		switch x := v.(type) {
		case binary:
			return strings.Compare(string(x), l.Str), cmpDone, nil
		case string:
			b, ok := latin1(x)
			if !ok {
				return 0, cmpFalse, nil
			}
			return strings.Compare(b, l.Str), cmpDone, nil
		}
	case KindTimestamp:
		if s, ok := v.(string); ok {
			t, err := jsonTimestamp(s)
			if err != nil {
				return 0, cmpNone, err
			}
			return t.Compare(l.Time), cmpDone, nil
		}
	}
	return 0, cmpNone, nil
}

// equal reports whether value v equals literal l under the reference's
// typing rules (numbers compare across int and float; strings compare with
// bytes when every code point is below 256).
func equal(v any, l *Literal) (bool, error) {
	switch l.Kind {
	case KindInt, KindFloat:
		c, ok := cmpNumbers(v, l)
		return ok && c == 0, nil
	case KindBool:
		b, ok := v.(bool)
		return ok && b == l.Bool, nil
	case KindString:
		switch x := v.(type) {
		case string:
			return x == l.Str, nil
		case binary:
			b, ok := latin1(l.Str)
			return ok && string(x) == b, nil
		}
	case KindBinary, KindHex:
		switch x := v.(type) {
		case binary:
			return string(x) == l.Str, nil
		case string:
			b, ok := latin1(x)
			return ok && b == l.Str, nil
		}
	case KindTimestamp:
		if s, ok := v.(string); ok {
			t, err := jsonTimestamp(s)
			if err != nil {
				return false, err
			}
			return t.Equal(l.Time), nil
		}
	}
	return false, nil
}

// member reports whether v is in the set: strict typing except that
// integers and floats compare numerically and strings are read as
// timestamps for a set of timestamps.
func member(v any, set []Literal) (bool, error) {
	for i := range set {
		e := &set[i]
		switch e.Kind {
		case KindInt, KindFloat:
			if _, isBool := v.(bool); !isBool {
				if c, ok := cmpNumbers(v, e); ok && c == 0 {
					return true, nil
				}
			}
		case KindString:
			if s, ok := v.(string); ok && s == e.Str {
				return true, nil
			}
		case KindBool:
			if b, ok := v.(bool); ok && b == e.Bool {
				return true, nil
			}
		case KindBinary, KindHex:
			if b, ok := v.(binary); ok && string(b) == e.Str {
				return true, nil
			}
		case KindTimestamp:
			if s, ok := v.(string); ok {
				t, err := jsonTimestamp(s)
				if err != nil {
					return false, err
				}
				if t.Equal(e.Time) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// parseIPOrCIDR parses an IP address (as a /32 or /128) or a CIDR block.
func parseIPOrCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, matchError("invalid IP address or CIDR block %q", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, matchError("invalid IP address or CIDR block %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseCIDR parses a CIDR block.
func parseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, matchError("invalid CIDR block %q", s)
	}
	return p, nil
}

// within reports whether inner lies inside outer (false across IPv4 and
// IPv6).
func within(inner, outer netip.Prefix) bool {
	if inner.Addr().Is4() != outer.Addr().Is4() {
		return false
	}
	return outer.Bits() <= inner.Bits() && outer.Masked().Contains(inner.Addr())
}

// test applies one comparison to one selected value.
func test(c *Comparison, cc *compiledComparison, v any) (bool, error) {
	var res bool
	switch c.Op {
	case OpEqual, OpNotEqual:
		eq, err := equal(v, &c.Value)
		if err != nil {
			return false, err
		}
		res = eq == (c.Op == OpEqual)
	case OpLess, OpLessEqual, OpGreater, OpGreaterEqual:
		cmp, st, err := order(v, &c.Value)
		if err != nil {
			return false, err
		}
		switch st {
		case cmpNone:
			return false, nil
		case cmpFalse:
			res = false
		default:
			switch c.Op {
			case OpLess:
				res = cmp < 0
			case OpLessEqual:
				res = cmp <= 0
			case OpGreater:
				res = cmp > 0
			default:
				res = cmp >= 0
			}
		}
	case OpIn:
		in, err := member(v, cc.set)
		if err != nil {
			return false, err
		}
		res = in
	case OpLike:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case binary:
			if _, ok := latin1(cc.lit); !ok || !utf8.ValidString(string(x)) {
				break
			}
			s = string(x)
			v = s
		}
		if _, ok := v.(string); ok {
			res = cc.re.MatchString(norm.NFC.String(s))
		}
	case OpMatches:
		switch x := v.(type) {
		case string:
			res = cc.re.MatchString(norm.NFC.String(x))
		case binary:
			if _, ok := latin1(cc.lit); ok {
				res = cc.re.MatchString(fromLatin1(x))
			}
		}
	case OpIsSubset, OpIsSuperset:
		s, ok := v.(string)
		if ok {
			if cc.pfxErr != nil {
				return false, cc.pfxErr
			}
			var err error
			var val netip.Prefix
			if c.Op == OpIsSubset {
				val, err = parseIPOrCIDR(s)
			} else {
				val, err = parseCIDR(s)
			}
			if err != nil {
				return false, err
			}
			if c.Op == OpIsSubset {
				res = within(val, cc.pfx)
			} else {
				res = within(cc.pfx, val)
			}
		}
	}
	return res != c.Negated, nil
}
