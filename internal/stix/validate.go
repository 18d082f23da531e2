package stix

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/pattern"
)

// Validate checks an object against the STIX 2.1 rules and returns every
// problem found (nil when valid), sorted by property. It enforces the
// specification's MUST-level rules: required and forbidden properties,
// property types, identifier, timestamp and name formats, reference target
// types, closed enumerations, co-constraints between properties, the
// predefined SCO extensions and, for indicators with pattern_type "stix",
// the pattern grammar. Open vocabularies, custom properties and extensions
// are accepted. Validate never modifies o.
//
// An object of type "bundle" is validated together with every object it
// contains; errors of contained objects name those objects.
func Validate(o *Object) []*Error {
	if o == nil || o.Props == nil {
		return []*Error{{Message: "no object"}}
	}
	c := checker{id: o.ID}
	c.object(o.Props)
	if o.Type != "bundle" {
		sortErrors(c.errs)
	}
	return c.errs
}

// sortErrors orders one object's errors by property for stable output.
func sortErrors(errs []*Error) {
	if len(errs) > 1 {
		slices.SortStableFunc(errs, func(a, b *Error) int {
			return strings.Compare(a.Property, b.Property)
		})
	}
}

// kind is the value type of a property.
type kind uint8

const (
	kAny             kind = iota
	kString               // string
	kStrings              // non-empty list of strings
	kBool                 // boolean
	kInt                  // integer (optionally bounded)
	kNumber               // number (optionally bounded)
	kTimestamp            // STIX timestamp
	kTimestampMs          // STIX timestamp with at least millisecond precision
	kRef                  // identifier, optionally of given types
	kRefs                 // non-empty list of identifiers
	kHex                  // hex string
	kBinary               // base64 string
	kDict                 // non-empty dictionary
	kHashes               // hashes dictionary
	kExtRefs              // external_references
	kKillChain            // kill_chain_phases
	kGranular             // granular_markings
	kExtensions           // extensions dictionary
	kObject               // nested object described by sub
	kObjects              // non-empty list of nested objects described by sub
	kLang                 // RFC 5646 language tag
	kURL                  // URL (RFC 3986)
	kObservedObjects      // observed-data "objects" (deprecated dictionary of SCOs)
	kSpecial              // checked by the enclosing spec (type, id, spec_version)
)

// refRule restricts the types a reference may point at.
type refRule struct {
	desc string
	ok   func(typ string) bool
}

// prop describes one property.
type prop struct {
	kind     kind
	ref      *refRule
	enum     []string
	min, max float64
	bounded  uint8 // bit 1: min set, bit 2: max set
	sub      *spec
	exts     map[string]*spec // kExtensions: predefined extensions
}

// spec describes an object or nested structure.
type spec struct {
	cat      category
	props    map[string]*prop
	required []string
	check    func(c *checker, m map[string]any, at *path)
}

// category is the kind of top-level STIX object.
type category uint8

const (
	catNone category = iota
	catSDO
	catSRO
	catSCO
	catMeta // marking-definition, language-content, extension-definition
	catBundle
)

// path is a property location, built only when an error is reported.
type path struct {
	parent *path
	name   string
	index  int // element index when name == ""
}

func (p *path) key(name string) *path { return &path{parent: p, name: name} }
func (p *path) at(i int) *path        { return &path{parent: p, index: i} }

func (p *path) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p *path) write(b *strings.Builder) {
	if p.parent != nil {
		p.parent.write(b)
	}
	if p.name == "" {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(p.index))
		b.WriteByte(']')
		return
	}
	if p.parent != nil {
		b.WriteByte('.')
	}
	b.WriteString(p.name)
}

// checker accumulates the problems of one object.
type checker struct {
	id   string
	errs []*Error
	// nested is the depth of bundles being validated (bounded).
	nested int
}

func (c *checker) errf(at *path, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	c.errs = append(c.errs, &Error{ObjectID: c.id, Property: at.String(), Message: msg})
}

// object validates a top-level STIX object.
func (c *checker) object(m map[string]any) {
	typ, ok := m["type"].(string)
	if !ok {
		c.errf(&path{name: "type"}, "required property missing or not a string")
		return
	}
	s := types[typ]
	if s == nil {
		if !ValidTypeName(typ) {
			c.errf(&path{name: "type"}, "invalid type name %q: 3-250 characters a-z, 0-9 and single hyphens, starting with a letter", typ)
		}
		s = customSpec(m)
	}
	if s.cat == catBundle {
		c.bundle(m)
		return
	}
	// id
	if id, ok := m["id"].(string); !ok {
		c.errf(&path{name: "id"}, "required property missing or not a string")
	} else if idType, _, ok := SplitID(id); !ok {
		c.errf(&path{name: "id"}, "malformed identifier %q: want TYPE--UUID with an RFC 4122 UUID", id)
	} else if idType != typ {
		c.errf(&path{name: "id"}, "identifier type %q does not match object type %q", idType, typ)
	}
	// spec_version
	if v, present := m["spec_version"]; present {
		if sv, ok := v.(string); !ok {
			c.errf(&path{name: "spec_version"}, "must be a string")
		} else if sv != "2.1" {
			c.errf(&path{name: "spec_version"}, "must be \"2.1\", got %q", sv)
		}
	}
	c.props(s, m, nil)
	c.checkSelectors(m)
	c.checkMarkingRefs(m)
	for _, r := range reservedProps {
		if _, ok := m[r]; ok {
			c.errf(&path{name: r}, "reserved property name; it must not be used")
		}
	}
	if typ == "action" {
		c.errf(&path{name: "type"}, "\"action\" is a reserved type name")
	}
	if s.cat == catSCO {
		c.checkSCOID(typ, m)
	}
	if s.cat == catSDO || s.cat == catSRO || typ == "language-content" || typ == "extension-definition" {
		if cr, ok := m["created"].(string); ok {
			if md, ok := m["modified"].(string); ok && validTS(cr) && validTS(md) && CompareTimestamps(cr, md) > 0 {
				c.errf(&path{name: "modified"}, "must not be earlier than created (%s < %s)", md, cr)
			}
		}
	}
}

// bundle validates a bundle and every object in it.
func (c *checker) bundle(m map[string]any) {
	if id, ok := m["id"].(string); !ok {
		c.errf(&path{name: "id"}, "required property missing or not a string")
	} else if idType, _, ok := SplitID(id); !ok || idType != "bundle" {
		c.errf(&path{name: "id"}, "malformed bundle identifier %q: want bundle--UUID", id)
	}
	for k, v := range m {
		at := &path{name: k}
		switch k {
		case "type", "id":
		case "objects":
			list, ok := v.([]any)
			if !ok {
				c.errf(at, "must be a list of objects")
				continue
			}
			if len(list) == 0 {
				c.errf(at, "must not be empty")
			}
			if c.nested >= 4 {
				c.errf(at, "bundles nested too deeply")
				continue
			}
			for i, e := range list {
				om, ok := e.(map[string]any)
				if !ok {
					c.errf(at.at(i), "must be a JSON object")
					continue
				}
				id, _ := om["id"].(string)
				inner := checker{id: id, nested: c.nested + 1}
				inner.object(om)
				sortErrors(inner.errs)
				c.errs = append(c.errs, inner.errs...)
			}
		default:
			c.custom(k, v, at)
		}
	}
}

// props validates the properties of m against s.
func (c *checker) props(s *spec, m map[string]any, at *path) {
	for k, v := range m {
		p := s.props[k]
		if p == nil {
			c.custom(k, v, at.key(k))
			continue
		}
		if p.kind == kSpecial {
			continue
		}
		c.value(p, v, at.key(k))
	}
	for _, r := range s.required {
		if _, ok := m[r]; !ok {
			c.errf(at.key(r), "required property missing")
		}
	}
	if s.check != nil {
		s.check(c, m, at)
	}
}

// custom checks a property the specification does not define.
func (c *checker) custom(name string, v any, at *path) {
	if !ValidPropertyName(name) {
		c.errf(at, "invalid property name: 3-250 ASCII letters, digits or underscores")
		return
	}
	switch {
	case name == "created" || name == "modified":
		// The common timestamp names keep their meaning on any object.
		c.value(&prop{kind: kTimestamp}, v, at)
	case strings.HasSuffix(name, "_refs"):
		c.value(anyRefs, v, at)
	case strings.HasSuffix(name, "_ref"):
		// An empty string is tolerated as "no reference": MITRE ATT&CK
		// publishes x_mitre_data_source_ref "" on some data components.
		if s, ok := v.(string); !ok || s != "" {
			c.value(anyRef, v, at)
		}
	case strings.HasSuffix(name, "_bin"):
		c.value(&prop{kind: kBinary}, v, at)
	case strings.HasSuffix(name, "_hex"):
		c.value(&prop{kind: kHex}, v, at)
	default:
		if l, ok := v.([]any); ok && len(l) == 0 {
			c.errf(at, "must not be an empty list")
		}
	}
}

var (
	anyRef  = &prop{kind: kRef}
	anyRefs = &prop{kind: kRefs}
)

// value checks one property value against p.
func (c *checker) value(p *prop, v any, at *path) {
	switch p.kind {
	case kAny, kSpecial:
	case kString:
		s, ok := v.(string)
		if !ok {
			c.errf(at, "must be a string")
			return
		}
		if p.enum != nil && !slices.Contains(p.enum, s) {
			c.errf(at, "%q is not one of %s", s, strings.Join(p.enum, ", "))
		}
	case kStrings:
		l, ok := v.([]any)
		if !ok {
			c.errf(at, "must be a list of strings")
			return
		}
		if len(l) == 0 {
			c.errf(at, "must not be empty")
		}
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				c.errf(at.at(i), "must be a string")
				continue
			}
			if p.enum != nil && !slices.Contains(p.enum, s) {
				c.errf(at.at(i), "%q is not one of %s", s, strings.Join(p.enum, ", "))
			}
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			c.errf(at, "must be a boolean")
		}
	case kInt, kNumber:
		n, ok := v.(json.Number)
		if !ok {
			if p.kind == kInt {
				c.errf(at, "must be an integer")
			} else {
				c.errf(at, "must be a number")
			}
			return
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			c.errf(at, "number out of range: %s", n)
			return
		}
		if p.kind == kInt && (f != float64(int64(f)) || f > 1<<63-1 || f < -1<<63) {
			c.errf(at, "must be an integer, got %s", n)
			return
		}
		if p.bounded&1 != 0 && f < p.min {
			c.errf(at, "must be at least %v, got %s", p.min, n)
		}
		if p.bounded&2 != 0 && f > p.max {
			c.errf(at, "must be at most %v, got %s", p.max, n)
		}
	case kTimestamp, kTimestampMs:
		s, ok := v.(string)
		if !ok {
			c.errf(at, "must be a timestamp string")
			return
		}
		frac, ok := CheckTimestamp(s)
		if !ok {
			c.errf(at, "malformed timestamp %q: want YYYY-MM-DDTHH:MM:SS[.s+]Z", s)
			return
		}
		if p.kind == kTimestampMs && frac < 3 {
			c.errf(at, "timestamp %q must be precise to the millisecond (at least 3 fractional digits)", s)
		}
	case kRef:
		c.ref(p, v, at)
	case kRefs:
		l, ok := v.([]any)
		if !ok {
			c.errf(at, "must be a list of identifiers")
			return
		}
		if len(l) == 0 {
			c.errf(at, "must not be empty")
		}
		for i, e := range l {
			c.ref(p, e, at.at(i))
		}
	case kHex:
		if s, ok := v.(string); !ok || !validHex(s) {
			c.errf(at, "must be an even-length hexadecimal string")
		}
	case kBinary:
		if s, ok := v.(string); !ok || !validBase64(s) {
			c.errf(at, "must be a base64-encoded string")
		}
	case kDict:
		c.dict(v, at)
	case kHashes:
		c.hashes(v, at)
	case kExtRefs:
		c.objects(extRefSpec, v, at)
	case kKillChain:
		c.objects(killChainSpec, v, at)
	case kGranular:
		c.objects(granularSpec, v, at)
	case kExtensions:
		c.extensions(p, v, at)
	case kObject:
		m, ok := v.(map[string]any)
		if !ok {
			c.errf(at, "must be a JSON object")
			return
		}
		if len(m) == 0 {
			c.errf(at, "must not be empty")
		}
		c.props(p.sub, m, at)
	case kObjects:
		c.objects(p.sub, v, at)
	case kLang:
		if s, ok := v.(string); !ok || !validLangTag(s) {
			c.errf(at, "must be an RFC 5646 language tag")
		}
	case kURL:
		s, ok := v.(string)
		if !ok {
			c.errf(at, "must be a URL string")
			return
		}
		if u, err := url.Parse(s); err != nil || s == "" {
			c.errf(at, "malformed URL %q", s)
		} else if u.Scheme == "" {
			c.errf(at, "URL %q has no scheme", s)
		}
	case kObservedObjects:
		m, ok := v.(map[string]any)
		if !ok {
			c.errf(at, "must be a dictionary of cyber-observable objects")
			return
		}
		if len(m) == 0 {
			c.errf(at, "must not be empty")
		}
		for k, e := range m {
			om, ok := e.(map[string]any)
			if !ok {
				c.errf(at.key(k), "must be a JSON object")
				continue
			}
			if t, ok := om["type"].(string); !ok || !ValidTypeName(t) {
				c.errf(at.key(k).key("type"), "required property missing or not a valid type name")
			}
		}
	}
}

func (c *checker) ref(p *prop, v any, at *path) {
	s, ok := v.(string)
	if !ok {
		c.errf(at, "must be an identifier string")
		return
	}
	typ, _, ok := SplitID(s)
	if !ok {
		c.errf(at, "malformed identifier %q: want TYPE--UUID with an RFC 4122 UUID", s)
		return
	}
	if p.ref != nil && !p.ref.ok(typ) {
		c.errf(at, "must reference %s, not %s", p.ref.desc, typ)
	}
}

func (c *checker) objects(s *spec, v any, at *path) {
	l, ok := v.([]any)
	if !ok {
		c.errf(at, "must be a list of objects")
		return
	}
	if len(l) == 0 {
		c.errf(at, "must not be empty")
	}
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			c.errf(at.at(i), "must be a JSON object")
			continue
		}
		c.props(s, m, at.at(i))
	}
}

func (c *checker) dict(v any, at *path) {
	m, ok := v.(map[string]any)
	if !ok {
		c.errf(at, "must be a dictionary (JSON object)")
		return
	}
	if len(m) == 0 {
		c.errf(at, "must not be empty")
	}
	for k := range m {
		if !validDictKey(k) {
			c.errf(at.key(k), "invalid dictionary key: 1-250 ASCII letters, digits, '_' or '-'")
		}
	}
}

// hashFormats gives the value format of the hashing-algorithm-ov names.
var hashFormats = map[string]func(string) bool{
	"MD5":      hexLen(32),
	"SHA-1":    hexLen(40),
	"SHA-256":  hexLen(64),
	"SHA-512":  hexLen(128),
	"SHA3-256": hexLen(64),
	"SHA3-512": hexLen(128),
	"SSDEEP": func(s string) bool {
		if s == "" || len(s) > 128 {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '/' || c == '+' || c == ':' || c == '.') {
				return false
			}
		}
		return true
	},
	"TLSH": func(s string) bool {
		// 70 hex digits, or 72 with the "T1" version prefix.
		if len(s) == 72 && (s[:2] == "T1" || s[:2] == "t1") {
			s = s[2:]
		}
		return hexLen(70)(s)
	},
}

func hexLen(n int) func(string) bool {
	return func(s string) bool {
		if len(s) != n {
			return false
		}
		for i := 0; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
}

func (c *checker) hashes(v any, at *path) {
	m, ok := v.(map[string]any)
	if !ok {
		c.errf(at, "must be a hashes dictionary")
		return
	}
	if len(m) == 0 {
		c.errf(at, "must not be empty")
	}
	for k, hv := range m {
		s, ok := hv.(string)
		if !ok {
			c.errf(at.key(k), "hash value must be a string")
			continue
		}
		if len(k) < 3 || !validDictKey(k) {
			c.errf(at.key(k), "invalid hash algorithm name: 3-250 ASCII letters, digits, '_' or '-'")
			continue
		}
		if f := hashFormats[k]; f != nil && !f(s) {
			c.errf(at.key(k), "malformed %s value %q", k, s)
		}
	}
}

func (c *checker) extensions(p *prop, v any, at *path) {
	m, ok := v.(map[string]any)
	if !ok {
		c.errf(at, "must be a dictionary of extensions")
		return
	}
	if len(m) == 0 {
		c.errf(at, "must not be empty")
	}
	for k, ev := range m {
		eat := at.key(k)
		em, ok := ev.(map[string]any)
		if !ok {
			c.errf(eat, "extension must be a JSON object")
			continue
		}
		if strings.HasPrefix(k, "extension-definition--") {
			if _, _, ok := SplitID(k); !ok {
				c.errf(eat, "malformed extension-definition identifier")
			}
			c.props(extensionSpec, em, eat)
			continue
		}
		if s := p.exts[k]; s != nil {
			if len(em) == 0 {
				c.errf(eat, "extension must not be empty")
			}
			c.props(s, em, eat)
			continue
		}
		if !strings.HasSuffix(k, "-ext") || !ValidTypeName(k) {
			c.errf(eat, "extension name must be an extension-definition identifier or a predefined or custom name ending in -ext")
			continue
		}
		if len(em) == 0 {
			c.errf(eat, "extension must not be empty")
		}
		for pk, pv := range em {
			c.custom(pk, pv, eat.key(pk))
		}
	}
}

// Helpers for type-specific checks.

func validTS(s string) bool {
	_, ok := CheckTimestamp(s)
	return ok
}

// order reports an error when both timestamps are present and valid and
// later < earlier (or later <= earlier when strict).
func (c *checker) order(m map[string]any, at *path, earlier, later string, strict bool) {
	a, ok1 := m[earlier].(string)
	b, ok2 := m[later].(string)
	if !ok1 || !ok2 || !validTS(a) || !validTS(b) {
		return
	}
	cmp := CompareTimestamps(a, b)
	if cmp > 0 || strict && cmp == 0 {
		rel := "earlier than"
		if strict {
			rel = "later than"
			c.errf(at.key(later), "must be %s %s (%s vs %s)", rel, earlier, b, a)
			return
		}
		c.errf(at.key(later), "must not be %s %s (%s < %s)", rel, earlier, b, a)
	}
}

// atLeastOne reports an error unless one of names is present.
func (c *checker) atLeastOne(m map[string]any, at *path, names ...string) {
	for _, n := range names {
		if _, ok := m[n]; ok {
			return
		}
	}
	c.errf(at, "at least one of %s must be present", strings.Join(names, ", "))
}

// exclusive reports an error when both a and b are present.
func (c *checker) exclusive(m map[string]any, at *path, a, b string) bool {
	_, okA := m[a]
	_, okB := m[b]
	if okA && okB {
		c.errf(at.key(b), "must not be present together with %s", a)
		return false
	}
	return true
}

// granularCheck checks one granular marking beyond its property types.
func granularCheck(c *checker, m map[string]any, at *path) {
	_, hasRef := m["marking_ref"]
	_, hasLang := m["lang"]
	switch {
	case hasRef && hasLang:
		c.errf(at.key("lang"), "must not be present together with marking_ref")
	case !hasRef && !hasLang:
		c.errf(at, "one of marking_ref or lang must be present")
	}
}

// validSelector checks the granular-marking selector syntax: a property
// name followed by ".name" or ".[N]" steps.
func validSelector(s string) bool {
	if s == "" {
		return false
	}
	for i, step := range strings.Split(s, ".") {
		if step == "" {
			return false
		}
		if step[0] == '[' {
			if i == 0 || len(step) < 3 || step[len(step)-1] != ']' {
				return false
			}
			if _, err := strconv.Atoi(step[1 : len(step)-1]); err != nil || step[1] == '-' || step[1] == '+' {
				return false
			}
			continue
		}
		for j := 0; j < len(step); j++ {
			c := step[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// resolveSelector reports whether a valid selector names something present
// in the object.
func resolveSelector(root map[string]any, s string) bool {
	var cur any = root
	for _, step := range strings.Split(s, ".") {
		if step[0] == '[' {
			l, ok := cur.([]any)
			if !ok {
				return false
			}
			n, _ := strconv.Atoi(step[1 : len(step)-1])
			if n < 0 || n >= len(l) {
				return false
			}
			cur = l[n]
			continue
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[step]; !ok {
			return false
		}
	}
	return true
}

// checkSelectors validates the selectors of every granular marking
// against the object they are in.
func (c *checker) checkSelectors(m map[string]any) {
	gms, ok := m["granular_markings"].([]any)
	if !ok {
		return
	}
	at := &path{name: "granular_markings"}
	for i, g := range gms {
		gm, ok := g.(map[string]any)
		if !ok {
			continue
		}
		sels, ok := gm["selectors"].([]any)
		if !ok {
			continue
		}
		for j, sv := range sels {
			s, ok := sv.(string)
			if !ok {
				continue
			}
			sat := at.at(i).key("selectors").at(j)
			if !validSelector(s) {
				c.errf(sat, "malformed selector %q", s)
			} else if !resolveSelector(m, s) {
				c.errf(sat, "selector %q does not refer to anything in the object", s)
			}
		}
	}
}

// checkPattern parses an indicator's STIX pattern.
func checkPattern(c *checker, m map[string]any, at *path) {
	pt, _ := m["pattern_type"].(string)
	src, ok := m["pattern"].(string)
	if pt != "stix" || !ok {
		return
	}
	if _, err := pattern.Parse(src); err != nil {
		c.errf(at.key("pattern"), "%v", err)
	}
}

// checkIPAddr validates the value of ipv4-addr and ipv6-addr objects (an
// address or a CIDR block).
func checkIPAddr(v6 bool) func(c *checker, m map[string]any, at *path) {
	return func(c *checker, m map[string]any, at *path) {
		s, ok := m["value"].(string)
		if !ok {
			return
		}
		var a netip.Addr
		var err error
		if strings.Contains(s, "/") {
			var p netip.Prefix
			p, err = netip.ParsePrefix(s)
			a = p.Addr()
		} else {
			a, err = netip.ParseAddr(s)
		}
		switch {
		case err != nil:
			c.errf(at.key("value"), "malformed IP address or CIDR %q", s)
		case v6 && !a.Is6():
			c.errf(at.key("value"), "%q is not an IPv6 address", s)
		case !v6 && !a.Is4():
			c.errf(at.key("value"), "%q is not an IPv4 address", s)
		}
	}
}

// reservedProps are property names STIX 2.1 reserves (section 3.1 and the
// OASIS schemas); objects must not use them.
var reservedProps = []string{"severity", "action", "username", "phone_numbers"}

// checkMarkingRefs enforces that an object carries at most one of the
// predefined TLP markings and that a marking-definition does not mark
// itself.
func (c *checker) checkMarkingRefs(m map[string]any) {
	refs, _ := m["object_marking_refs"].([]any)
	self, _ := m["id"].(string)
	isMarking := m["type"] == "marking-definition"
	tlp := 0
	for i, r := range refs {
		id, _ := r.(string)
		if _, ok := tlpMarkings[id]; ok {
			tlp++
			if tlp == 2 {
				c.errf((&path{name: "object_marking_refs"}).at(i), "more than one TLP marking")
			}
		}
		if isMarking && id == self {
			c.errf((&path{name: "object_marking_refs"}).at(i), "a marking-definition must not mark itself")
		}
	}
	if !isMarking {
		return
	}
	gms, _ := m["granular_markings"].([]any)
	for i, g := range gms {
		if gm, ok := g.(map[string]any); ok && gm["marking_ref"] == self {
			c.errf((&path{name: "granular_markings"}).at(i).key("marking_ref"), "a marking-definition must not mark itself")
		}
	}
}

// checkSCOID enforces that an SCO without ID-contributing properties (and
// every process) uses a random (version 4) UUID.
func (c *checker) checkSCOID(typ string, m map[string]any) {
	contrib, known := idContrib[typ]
	if !known {
		return
	}
	for _, p := range contrib {
		if _, ok := m[p]; ok {
			return
		}
	}
	id, _ := m["id"].(string)
	if _, uuid, ok := SplitID(id); ok && uuid[14] != '4' {
		c.errf(&path{name: "id"}, "%s has no ID-contributing properties, so its id must use a version 4 UUID", typ)
	}
}
