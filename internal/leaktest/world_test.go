package leaktest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// This file is the test's model of the hub: organisations, users,
// collections, the object versions the test submitted, and the oracle that
// says who may see what. The oracle is written from the table in
// docs/sharing.md and the TLP meanings in DESIGN.md, deliberately without
// calling package sharing: a test that asked the policy what the policy
// allows would prove nothing.

// level is a TLP level as the oracle understands it.
type level int

const (
	lvNone level = iota // no TLP marking: the default (AMBER) applies
	lvClear
	lvGreen
	lvAmber
	lvAmberStrict
	lvRed
	lvUnknown // an unknown or malformed marking: fail closed
)

func (l level) String() string {
	return [...]string{"unmarked", "CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED", "unknown"}[l]
}

// restrictiveness orders levels for "the most restrictive marking wins":
// unknown ranks above AMBER+STRICT but below RED (docs/sharing.md: "TLP:RED,
// when also present, still wins, because its audience is the narrowest").
func restrictiveness(l level) int {
	return [...]int{0, 1, 2, 3, 4, 6, 5}[l]
}

// The marking-definition ids of TLP 2.0 (OASIS TLP 2.0 extension) and the
// TLP 1.0 ones predefined by STIX 2.1 (section 7.2.1.4), typed in from the
// specifications.
var officialTLP = map[string]level{
	"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": lvClear,
	"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": lvGreen,
	"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": lvAmber,
	"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": lvAmberStrict,
	"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": lvRed,
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": lvClear, // TLP 1.0 WHITE
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": lvGreen,
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": lvAmber,
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": lvRed,
}

var tlp2 = map[level]string{
	lvClear:       "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
	lvGreen:       "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
	lvAmber:       "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
	lvAmberStrict: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
	lvRed:         "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

var tlp1 = []string{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}

// distExt is the id of Kizuna's distribution extension (docs/sharing.md).
const distExt = "extension-definition--1f0e3c1d-6c0e-4f0a-9a43-6b2d1d3a4b5c"

// defaultLevel is the level of unmarked data (the server runs with the
// standard default, DESIGN.md: "Unmarked data takes the configured default
// (AMBER)").
const defaultLevel = lvAmber

type org struct {
	id, name, typ string
	anonymous     bool
	users         []*user
}

type user struct {
	id, name, role, token string
	org                   *org
}

// hubStaff reports whether the user is a hub analyst in the sense of
// docs/sharing.md: role analyst or hub-admin in the organisation of type
// hub.
func (u *user) hubStaff() bool {
	return u.org.typ == "hub" && (u.role == "analyst" || u.role == "hub-admin")
}

func (u *user) String() string { return u.org.name + "/" + u.name + " (" + u.role + ")" }

type collection struct {
	id, title   string
	read, write []string // organisation ids, or "*"
}

// canRead and canWrite follow docs/sharing.md, "Collections".
func (c *collection) canRead(u *user) bool {
	return u.hubStaff() || slices.Contains(c.read, "*") || slices.Contains(c.read, u.org.id)
}

func (c *collection) canWrite(u *user) bool {
	return slices.Contains(c.write, "*") || slices.Contains(c.write, u.org.id)
}

// object is one STIX object id in one collection; it has versions.
type object struct {
	coll    *collection
	id, typ string
	owner   *user
	sco     bool
	created time.Time
	// offsets already used for "modified" (seconds after created).
	used map[int]bool
	// value is the SCO's value (its id is derived from it).
	value string
}

// version is one submitted object version and everything the oracle
// knows about it.
type version struct {
	obj      *object
	producer *user
	raw      []byte // as submitted
	want     []byte // as it must be served (anonymous publications rewritten)
	// ver is the TAXII version: modified, or for SCOs the version the
	// server assigned (learned from the status resource).
	ver    string
	verKey int64 // ver in microseconds, to order versions
	eff    level // effective level (default applied)
	// distOrgs and distUsers are the recipients named in a well-formed
	// distribution extension.
	distOrgs, distUsers []string
	anonymous           bool // the producer's organisation publishes anonymously
	rejected            bool // the server must refuse it (invalid object)
	note                string
	// seq is the position in date_added order among stored versions (-1:
	// never stored: rejected, or a duplicate of an earlier version).
	seq int
	// dupOf is the stored version an identical re-submission resolved to:
	// the same JSON submitted again under the same label (see sameVersion).
	dupOf *version
	// twinOf is an earlier stored version with the same JSON but another
	// label: this one was stored as a version of its own (an observable
	// submitted by several producers).
	twinOf *version
}

func (v *version) String() string {
	return fmt.Sprintf("%s version %s [%s, %s, by %s%s]", v.obj.id, v.ver, v.eff, v.note, v.producer, map[bool]string{true: ", anonymous"}[v.anonymous])
}

// visibleTo is the oracle: docs/sharing.md, "Who sees what". A nil user is
// the unauthenticated public.
func visibleTo(u *user, v *version) bool {
	if u == nil {
		return v.eff == lvClear
	}
	switch v.eff {
	case lvClear, lvGreen:
		return true
	case lvAmber:
		return u.org == v.producer.org || slices.Contains(v.distOrgs, u.org.id) || u.hubStaff()
	case lvAmberStrict:
		return u.org == v.producer.org || slices.Contains(v.distOrgs, u.org.id)
	case lvRed:
		return u == v.producer || slices.Contains(v.distUsers, u.id)
	case lvUnknown:
		return u.org == v.producer.org || u.hubStaff()
	}
	panic("oracle: unexpected level " + v.eff.String())
}

// canSeeStatus follows docs/sharing.md, "Status resources".
func canSeeStatus(u *user, owner *user) bool {
	return u != nil && (u.org == owner.org || u.hubStaff())
}

// world is everything the test set up and submitted.
type world struct {
	rng      *rand.Rand
	hub      *org
	orgs     []*org
	users    []*user
	colls    []*collection
	objects  []*object
	versions []*version // in submission order
	// stored holds the stored versions in date_added order.
	stored []*version
	// byKey finds the stored versions with a collection, id and served
	// JSON, in date_added order: several when producers submitted the same
	// unversioned object (each is a version of its own, with its label).
	byKey map[string][]*version
	// byVer finds a stored version by collection, id and version.
	byVer map[string]*version
	// statements are known (stored) statement marking-definitions.
	statements []string
	// unknownMarking is a well-formed marking id that is never stored.
	unknownMarking string
	// statuses are the status resources of the submissions.
	statuses []*submission
	// scoIDs caches deterministic SCO ids by type and value.
	scoIDs map[string]string
	// nonexistent are well-formed ids nobody ever submitted.
	nonexistent []string
	base        time.Time
}

// submission is one TAXII POST.
type submission struct {
	by       *user
	coll     *collection
	versions []*version
	statusID string
}

func keyRaw(collID, id string, raw []byte) string { return collID + "|" + id + "|" + string(raw) }
func keyVer(collID, id, ver string) string        { return collID + "|" + id + "|" + ver }

// sameVersion reports whether submission v of the same JSON as the stored
// version prev is prev itself (an idempotent re-submission) rather than a
// new version. A versioned object's version is its modified (or created)
// timestamp, which the JSON carries. An unversioned object (an SCO: its
// version is its date_added) is the same version only when the label the
// submission would get is identical: same producer organisation and user
// and same anonymous flag (the TLP and the distribution lists come from
// the identical JSON). The same observable submitted by anybody else is a
// new version with that producer's label, visible under its rights; it
// must neither be answered with the earlier copy (which the new producer
// may not be allowed to read) nor reveal that the copy exists.
func sameVersion(prev, v *version) bool {
	if !v.obj.sco {
		return true
	}
	// A user belongs to one organisation: same user, same organisation.
	return prev.producer == v.producer && prev.anonymous == v.anonymous
}

// idOf returns the "id" property of a served object ("" if it has none).
func idOf(raw []byte) string {
	var head struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &head)
	return head.ID
}

// withRaw returns the stored versions, in collection coll (nil: in every
// collection), whose served JSON is raw.
func (w *world) withRaw(coll *collection, raw []byte) []*version {
	id := idOf(raw)
	if coll != nil {
		return w.byKey[keyRaw(coll.id, id, raw)]
	}
	var out []*version
	for _, cl := range w.colls {
		out = append(out, w.byKey[keyRaw(cl.id, id, raw)]...)
	}
	return out
}

// uuid4 returns a random version-4 UUID from the test's source.
func (w *world) uuid4() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(w.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func pick[T any](r *rand.Rand, l []T) T { return l[r.IntN(len(l))] }

func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newObject creates a logical object of a random type in a collection.
func (w *world) newObject(c *collection, owner *user) *object {
	r := w.rng
	o := &object{coll: c, owner: owner, used: map[int]bool{},
		created: w.base.Add(time.Duration(r.IntN(300*24*3600)) * time.Second)}
	switch n := r.IntN(100); {
	case n < 22:
		o.typ = "indicator"
	case n < 32:
		o.typ = "malware"
	case n < 40:
		o.typ = "identity"
	case n < 50:
		o.typ = "vulnerability"
	case n < 58:
		o.typ = "report"
	case n < 68:
		o.typ = "relationship"
	default:
		o.sco = true
		o.typ = pick(r, []string{"ipv4-addr", "domain-name", "url"})
		// A small value space: the same observable is submitted by
		// several producers with different markings.
		k := r.IntN(60)
		switch o.typ {
		case "ipv4-addr":
			o.value = fmt.Sprintf("198.51.100.%d", k)
		case "domain-name":
			o.value = fmt.Sprintf("h%d.example.org", k)
		case "url":
			o.value = fmt.Sprintf("https://h%d.example.org/x", k)
		}
		o.id = w.scoID(o.typ, o.value)
		w.objects = append(w.objects, o)
		return o
	}
	o.id = o.typ + "--" + w.uuid4()
	w.objects = append(w.objects, o)
	return o
}

// scoID is the deterministic (UUIDv5) id of an SCO, computed by package stix
// (not a sharing decision).
func (w *world) scoID(typ, value string) string {
	k := typ + "|" + value
	if id, ok := w.scoIDs[k]; ok {
		return id
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "id": typ + "--00000000-0000-4000-8000-000000000000", "value": value})
	o, err := stix.Parse(b)
	if err != nil {
		panic(err)
	}
	id, err := stix.SCOID(o)
	if err != nil {
		panic(err)
	}
	w.scoIDs[k] = id
	return id
}

// sdoIDs returns n random ids of existing SDOs (no SCOs, relationships or
// marking-definitions, which relationships may not point to).
func (w *world) sdoIDs(n int) []string {
	var out []string
	for range 20 * n {
		if len(out) == n {
			break
		}
		o := pick(w.rng, w.objects)
		if !o.sco && o.typ != "relationship" && o.typ != "marking-definition" && !slices.Contains(out, o.id) {
			out = append(out, o.id)
		}
	}
	if len(out) == 0 {
		out = append(out, "indicator--"+w.uuid4())
	}
	return out
}

// newVersion makes a new random version of o submitted by producer.
func (w *world) newVersion(o *object, producer *user) *version {
	r := w.rng
	v := &version{obj: o, producer: producer, anonymous: producer.org.anonymous, seq: -1}
	props := map[string]any{"type": o.typ, "id": o.id, "spec_version": "2.1"}
	selector := "name"
	if o.sco {
		props["value"] = o.value
		selector = "value"
	} else {
		off := r.IntN(1_000_000)
		for o.used[off] {
			off = r.IntN(1_000_000)
		}
		o.used[off] = true
		mod := o.created.Add(time.Duration(off)*time.Second + time.Duration(r.IntN(1000))*time.Millisecond)
		props["created"] = ts(o.created)
		props["modified"] = ts(mod)
		v.ver = ts(mod)
		v.verKey = mod.UnixMicro()
		name := fmt.Sprintf("%s %d by %s", o.typ, r.IntN(1e6), producer.name)
		switch o.typ {
		case "indicator":
			props["name"] = name
			props["pattern"] = fmt.Sprintf("[ipv4-addr:value = '10.%d.%d.%d']", r.IntN(256), r.IntN(256), r.IntN(256))
			props["pattern_type"] = "stix"
			props["valid_from"] = ts(o.created)
		case "malware":
			props["name"] = name
			props["is_family"] = r.IntN(2) == 0
		case "identity":
			props["name"] = name
			props["identity_class"] = "organization"
		case "vulnerability":
			props["name"] = fmt.Sprintf("CVE-2024-%05d", r.IntN(100000))
		case "report":
			props["name"] = name
			props["published"] = ts(mod)
			props["object_refs"] = w.sdoIDs(1 + r.IntN(4))
		case "relationship":
			ends := w.sdoIDs(2)
			props["relationship_type"] = "related-to"
			props["source_ref"] = ends[0]
			props["target_ref"] = ends[len(ends)-1]
			selector = "relationship_type"
		}
		if r.IntN(10) < 7 {
			props["created_by_ref"] = producer.org.id
		}
	}
	w.mark(v, props, selector)
	raw, err := json.Marshal(props)
	if err != nil {
		panic(err)
	}
	v.raw, v.want = raw, raw
	if v.anonymous && props["created_by_ref"] == producer.org.id {
		// docs/sharing.md, "Anonymous publishing": the hub is shown as the
		// source.
		props["created_by_ref"] = w.hub.id
		v.want, _ = json.Marshal(props)
	}
	w.versions = append(w.versions, v)
	return v
}

// mark adds random markings and a random distribution extension to props
// and computes the version's effective level from them.
func (w *world) mark(v *version, props map[string]any, selector string) {
	r := w.rng
	var objRefs []string
	var granular []any
	var refs []string // every marking_ref, object-level and granular
	malformed := false
	addObj := func(id string) { objRefs = append(objRefs, id); refs = append(refs, id) }
	randTLP2 := func() string { return tlp2[level(1+r.IntN(5))] }
	switch n := r.IntN(100); {
	case n < 12:
		v.note = "no marking"
	case n < 57:
		addObj(randTLP2())
		v.note = "TLP 2.0"
	case n < 67:
		addObj(pick(r, tlp1))
		v.note = "TLP 1.0"
	case n < 73:
		addObj(w.unknownMarking)
		if r.IntN(2) == 0 {
			addObj(randTLP2())
		}
		v.note = "unknown marking"
	case n < 79:
		addObj(pick(r, w.statements))
		if r.IntN(2) == 0 {
			addObj(randTLP2())
		}
		v.note = "statement marking"
	case n < 87:
		if r.IntN(3) > 0 {
			addObj(randTLP2())
		}
		ref := randTLP2()
		granular = append(granular, map[string]any{"marking_ref": ref, "selectors": []string{selector}})
		refs = append(refs, ref)
		v.note = "granular TLP"
	case n < 90:
		if r.IntN(2) == 0 {
			addObj(randTLP2())
		}
		granular = append(granular, map[string]any{"lang": "en", "selectors": []string{selector}})
		v.note = "lang granular marking"
	case n < 96:
		malformed = true
		if r.IntN(2) == 0 {
			addObj(randTLP2())
		}
		v.note = "malformed distribution extension"
	default:
		// Markings the validator refuses: the object must never be stored.
		v.rejected = true
		v.note = "invalid marking"
		switch r.IntN(3) {
		case 0:
			props["object_marking_refs"] = tlp2[lvClear]
		case 1:
			props["object_marking_refs"] = []any{42}
		default:
			props["object_marking_refs"] = []string{"marking-definition--not-a-uuid"}
		}
	}
	if len(objRefs) > 0 {
		props["object_marking_refs"] = objRefs
	}
	if len(granular) > 0 {
		props["granular_markings"] = granular
	}
	// Recipients; an anonymous producer never names its own organisation
	// (its id in the object would give it away).
	namedOrg := func() *org {
		for {
			if o := pick(r, w.orgs); !v.anonymous || o != v.producer.org {
				return o
			}
		}
	}
	switch {
	case malformed:
		props["extensions"] = map[string]any{distExt: pick(r, []map[string]any{
			{"extension_type": "property-extension", "organizations": namedOrg().id},
			{"extension_type": "toplevel-property-extension", "users": []string{pick(r, w.users).id}},
			{"extension_type": "property-extension", "users": []string{""}},
			{"extension_type": "property-extension", "organizations": []any{7}},
		})}
	case r.IntN(100) < 55:
		ext := map[string]any{"extension_type": "property-extension"}
		var orgs, users []string
		for range r.IntN(4) {
			orgs = append(orgs, namedOrg().id)
		}
		for range r.IntN(4) {
			u := pick(r, w.users)
			if v.anonymous && u.org == v.producer.org {
				continue
			}
			users = append(users, u.id)
		}
		if r.IntN(5) == 0 {
			orgs = append(orgs, "identity--"+w.uuid4()) // named but unknown here
		}
		if r.IntN(5) == 0 {
			users = append(users, "user--"+w.uuid4())
		}
		if len(orgs) > 0 {
			ext["organizations"] = orgs
		}
		if len(users) > 0 {
			ext["users"] = users
		}
		props["extensions"] = map[string]any{distExt: ext}
		v.distOrgs, v.distUsers = orgs, users
	}

	// The level, from docs/sharing.md "How an object's level is computed".
	lv := lvNone
	raise := func(l level) {
		if restrictiveness(l) > restrictiveness(lv) {
			lv = l
		}
	}
	for _, ref := range refs {
		switch l, ok := officialTLP[ref]; {
		case ok:
			raise(l)
		case slices.Contains(w.statements, ref):
			// a known marking that is not TLP does not restrict
		default:
			raise(lvUnknown)
		}
	}
	if malformed {
		raise(lvUnknown)
	}
	if lv == lvNone {
		lv = defaultLevel
	}
	v.eff = lv
}
