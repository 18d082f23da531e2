package misp

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// Label prefixes of the misp-stix conventions: structural facts of the MISP
// attribute, object or galaxy, kept as STIX labels. Every other label is a
// MISP tag name.
const (
	labelType         = "misp:type="
	labelCategory     = "misp:category="
	labelToIDs        = "misp:to_ids="
	labelName         = "misp:name="
	labelMetaCategory = "misp:meta-category="
	labelGalaxyName   = "misp:galaxy-name="
	labelGalaxyType   = "misp:galaxy-type="
)

// ReportType is the report_types value of a report converted from a MISP
// event.
const ReportType = "misp-event"

var cveRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// tlpTags maps MISP tlp tags (TLP 1.0 and 2.0 names) to TLP 2.0 levels.
var tlpTags = map[string]sharing.TLP{
	"tlp:white": sharing.TLPClear, "tlp:clear": sharing.TLPClear, "tlp:green": sharing.TLPGreen,
	"tlp:amber": sharing.TLPAmber, "tlp:amber+strict": sharing.TLPAmberStrict, "tlp:red": sharing.TLPRed,
}

// converter holds the state of one event's conversion.
type converter struct {
	ev       *Event
	loss     *Loss
	ts       string // event timestamp (STIX)
	creator  string // identity id
	eventTLP sharing.TLP
	tlpTag   string
	out      []json.RawMessage
	refs     []string
	ids      map[string]string // MISP uuid -> STIX id
	clusters map[string]string // cluster uuid -> STIX id
	err      error
}

// ToSTIX converts one MISP event to STIX 2.1 objects: the event becomes a
// report (report_types ["misp-event"]) whose object_refs name every other
// object; attributes become indicators (to_ids), observed-data (not to_ids),
// vulnerabilities or x-misp-attribute objects; MISP objects become
// x-misp-object objects referring to their converted attributes; object
// references, attribute galaxies become relationships; galaxy clusters
// become attack-patterns, threat-actors, malware, intrusion-sets, tools,
// courses of action (or x-misp-galaxy-cluster); sightings become sightings.
// Tags become labels, tlp tags (and distribution 0 or 4) TLP 2.0 markings.
// Every id is a UUIDv5 of the MISP uuid, so converting again gives the same
// objects. Every object returned passes stix.Validate; what could not be
// expressed is added to loss.
func ToSTIX(ev *Event, loss *Loss) ([]json.RawMessage, error) {
	c := &converter{ev: ev, loss: loss, ids: map[string]string{}, clusters: map[string]string{}}
	ts, ok := tsFromEpoch(ev.Timestamp)
	if !ok {
		ts, ok = tsFromISO(ev.Date)
	}
	if !ok {
		ts = "1970-01-01T00:00:00.000Z"
		loss.Add("event without a usable timestamp or date: 1970-01-01 used", ev.UUID)
	}
	c.ts = ts
	for _, u := range ev.Unmapped {
		loss.Add("event member "+u+" has no STIX equivalent and is not kept", ev.UUID)
	}
	c.eventTLP, c.tlpTag = c.tlp(ev.Tag, ev.Distribution, sharing.TLPNone)
	c.identity()
	for i := range ev.Attribute {
		c.attribute(&ev.Attribute[i], "", c.eventTLP)
	}
	for i := range ev.Object {
		c.object(&ev.Object[i])
	}
	for i := range ev.Object {
		c.references(&ev.Object[i])
	}
	var eventClusters []string
	for _, g := range ev.Galaxy {
		for i := range g.GalaxyCluster {
			eventClusters = append(eventClusters, c.cluster(&g, &g.GalaxyCluster[i]))
		}
	}
	c.report(eventClusters)
	if c.err != nil {
		return nil, c.err
	}
	return c.out, nil
}

// tlp picks the TLP level of an event, object or attribute: the strictest
// tlp tag, raised to AMBER+STRICT for distribution 0 (organisation only) and
// 4 (sharing group), else inherited.
func (c *converter) tlp(tags []Tag, dist Str, inherited sharing.TLP) (sharing.TLP, string) {
	level, name := sharing.TLPNone, ""
	for _, t := range tags {
		if l, ok := tlpTags[strings.ToLower(t.Name)]; ok && l > level {
			level, name = l, t.Name
		}
	}
	if dist == "0" || dist == "4" {
		if level < sharing.TLPAmberStrict {
			level = sharing.TLPAmberStrict
			name = ""
		}
	}
	if level == sharing.TLPNone {
		return inherited, ""
	}
	return level, name
}

// common sets the properties every SDO/SRO of the event shares.
func (c *converter) common(o map[string]any, typ, id, ts string, level sharing.TLP, tlpTag string) {
	o["type"] = typ
	o["spec_version"] = "2.1"
	o["id"] = id
	o["created"] = ts
	o["modified"] = ts
	if c.creator != "" {
		o["created_by_ref"] = c.creator
	}
	if level != sharing.TLPNone {
		o["object_marking_refs"] = []string{sharing.MarkingID(level)}
		if tlpTag != "" {
			o["x_misp_tlp_tag"] = tlpTag
		}
	}
}

// emit validates o and appends it (and its id to the report's refs).
// It returns the validation problems instead when there are any.
func (c *converter) emit(o map[string]any) []*stix.Error {
	raw, err := json.Marshal(o)
	if err != nil {
		return []*stix.Error{{Message: err.Error()}}
	}
	so, err := stix.Parse(raw)
	if err != nil {
		return []*stix.Error{{Message: err.Error()}}
	}
	if errs := stix.Validate(so); len(errs) > 0 {
		return errs
	}
	c.out = append(c.out, so.Raw)
	c.refs = append(c.refs, so.ID)
	return nil
}

// must emits an object built only from values the converter controls
// (identities, reports, x-misp-* objects, relationships), which cannot fail
// validation, without validating it here: the ingest pipeline validates
// every object anyway, and the fuzz target checks that these stay valid.
// Only objects that have a fallback (emit) are validated during conversion.
func (c *converter) must(o map[string]any, what string) {
	raw, err := json.Marshal(o)
	if err != nil {
		if c.err == nil {
			c.err = fmt.Errorf("event %s: %s: %w", c.ev.UUID, what, err)
		}
		return
	}
	c.out = append(c.out, raw)
	c.refs = append(c.refs, o["id"].(string))
}

func (c *converter) identity() {
	org := c.ev.Orgc
	if org == nil || org.UUID == "" || org.Name == "" {
		org = c.ev.Org
	}
	if org == nil || !validUUID(org.UUID) || org.Name == "" {
		return
	}
	o := map[string]any{"name": org.Name, "identity_class": "organization",
		"x_misp_org": map[string]any{"uuid": org.UUID, "name": org.Name}}
	c.creator = ""
	c.common(o, "identity", stixID("identity", org.UUID), c.ts, sharing.TLPNone, "")
	c.must(o, "organisation "+org.UUID)
	c.creator = o["id"].(string)
}

// labels returns the structural labels plus the non-TLP tag names.
func labels(structural []string, tags []Tag) []string {
	out := structural
	for _, t := range tags {
		if _, ok := tlpTags[strings.ToLower(t.Name)]; ok || t.Name == "" {
			continue
		}
		out = append(out, t.Name)
	}
	return out
}

func pyBool(b Bool) string {
	if b {
		return "True"
	}
	return "False"
}

// attrExtras is the x_misp_attribute property: the attribute's members
// that no STIX property carries.
func attrExtras(a *Attribute) map[string]any {
	m := map[string]any{"uuid": a.UUID}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("comment", a.Comment)
	put("distribution", string(a.Distribution))
	put("sharing_group_id", string(a.SharingGroupID))
	put("timestamp", string(a.Timestamp))
	put("first_seen", string(a.FirstSeen))
	put("last_seen", string(a.LastSeen))
	put("object_relation", string(a.ObjectRelation))
	put("data", a.Data)
	if a.DisableCorrelation {
		m["disable_correlation"] = true
	}
	if a.Deleted {
		m["deleted"] = true
	}
	colours := map[string]any{}
	for _, t := range a.Tag {
		if t.Colour != "" {
			colours[t.Name] = t.Colour
		}
	}
	if len(colours) > 0 {
		m["tag_colours"] = colours
	}
	return m
}

// attribute converts one attribute (of the event, or of the MISP object
// objUUID) and returns its STIX id.
func (c *converter) attribute(a *Attribute, objUUID string, inherited sharing.TLP) string {
	// tag names the tlp tag only when the attribute carries it itself, so
	// that export puts it back where it was.
	level, tag := c.tlp(a.Tag, a.Distribution, inherited)
	ts, ok := tsFromEpoch(a.Timestamp)
	if !ok {
		ts = c.ts
	}
	lbl := labels([]string{labelType + `"` + a.Type + `"`, labelCategory + `"` + a.Category + `"`, labelToIDs + `"` + pyBool(a.ToIDs) + `"`}, a.Tag)
	extras := attrExtras(a)
	if objUUID != "" {
		extras["object_uuid"] = objUUID
	}
	if len(a.ShadowAttribute) > 0 && !isEmptyJSON(a.ShadowAttribute) {
		c.loss.Add("attribute proposals (ShadowAttribute) have no STIX equivalent and are not kept", a.UUID)
	}
	var o map[string]any
	var why string
	switch fs := attrFields[a.Type]; {
	case a.Type == "vulnerability":
		o = map[string]any{"name": a.Value}
		if cveRE.MatchString(a.Value) {
			o["external_references"] = []any{map[string]any{"source_name": "cve", "external_id": a.Value}}
		}
		if a.Comment != "" {
			o["description"] = a.Comment
		}
		c.common(o, "vulnerability", stixID("vulnerability", a.UUID), ts, level, tag)
	case a.Type == "yara" && bool(a.ToIDs):
		o = map[string]any{"pattern": a.Value, "pattern_type": "yara", "valid_from": ts}
		c.common(o, "indicator", stixID("indicator", a.UUID), ts, level, tag)
	case len(fs) > 0:
		parts, ok := splitValue(a.Type, a.Value, len(fs))
		if !ok {
			why = "value does not have the parts its type needs"
			break
		}
		first, okF := tsFromISO(string(a.FirstSeen))
		if !okF {
			first = ts
		}
		last, okL := tsFromISO(string(a.LastSeen))
		if !okL || stix.CompareTimestamps(last, first) < 0 {
			last = first
		}
		if a.ToIDs {
			pat, ok := buildPattern(fs, parts)
			if !ok {
				why = "value is not a valid port number"
				break
			}
			o = map[string]any{"pattern": pat, "pattern_type": "stix", "pattern_version": "2.1", "valid_from": first}
			if okL && stix.CompareTimestamps(last, first) > 0 {
				o["valid_until"] = last
			}
			if a.Comment != "" {
				o["description"] = a.Comment
			}
			c.common(o, "indicator", stixID("indicator", a.UUID), ts, level, tag)
		} else {
			objs, ok := observables(fs, parts)
			if !ok {
				why = "value is not a valid port number"
				break
			}
			o = map[string]any{"first_observed": first, "last_observed": last, "number_observed": 1, "objects": objs}
			c.common(o, "observed-data", stixID("observed-data", a.UUID), ts, level, tag)
		}
	}
	if o != nil {
		o["labels"] = lbl
		o["x_misp_attribute"] = extras
		errs := c.emit(o)
		if len(errs) == 0 {
			id := o["id"].(string)
			c.ids[strings.ToLower(a.UUID)] = id
			c.sightings(a, id, level, tag)
			c.attrGalaxies(a, id, ts, level, tag)
			return id
		}
		why = errs[0].Message
	}
	if why != "" {
		c.loss.Add(fmt.Sprintf("attribute of type %s not expressible as STIX: kept as x-misp-attribute", a.Type), a.UUID+" ("+why+")")
	}
	o = map[string]any{"labels": lbl, "x_misp_value": a.Value, "x_misp_attribute": extras}
	c.common(o, "x-misp-attribute", stixID("x-misp-attribute", a.UUID), ts, level, tag)
	if a.Value == "" {
		delete(o, "x_misp_value")
	}
	c.must(o, "attribute "+a.UUID)
	id := o["id"].(string)
	c.ids[strings.ToLower(a.UUID)] = id
	c.sightings(a, id, level, tag)
	c.attrGalaxies(a, id, ts, level, tag)
	return id
}

// observables builds the observed-data "objects" dictionary (embedded
// observables, keys "0", "1").
//
// Kizuna embeds the observables rather than storing them as separate SCOs
// with object_refs (as misp-stix does): a deterministic SCO id is shared by
// every event that saw the value, so separate SCOs would either carry no
// marking (and be visible beyond the event's TLP) or conflict between events
// with different markings. Embedded, an observation stays under its event's
// marking.
func observables(fs []field, parts []string) (map[string]any, bool) {
	objs := map[string]any{}
	keyOf := map[string]string{}
	get := func(f field, v string) map[string]any {
		t := f.sco
		if t == "ip" {
			t = ipType(v)
		}
		if k, ok := keyOf[t]; ok {
			return objs[k].(map[string]any)
		}
		k := fmt.Sprint(len(objs))
		m := map[string]any{"type": t}
		objs[k], keyOf[t] = m, k
		return m
	}
	for i, f := range fs {
		m := get(f, parts[i])
		v := parts[i]
		switch {
		case strings.HasPrefix(f.prop, "hashes."):
			h, _ := m["hashes"].(map[string]any)
			if h == nil {
				h = map[string]any{}
				m["hashes"] = h
			}
			h[strings.TrimPrefix(f.prop, "hashes.")] = v
		case f.prop == "values.data":
			m["values"] = []any{map[string]any{"data": v}}
		case f.num:
			var n uint16
			if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != v {
				return nil, false
			}
			m[f.prop] = n
		default:
			m[f.prop] = v
		}
	}
	for i, f := range fs {
		if f.link == "" {
			continue
		}
		ipKey := keyOf[ipType(parts[i])]
		for j, g := range fs {
			if j == i {
				continue
			}
			host := get(g, parts[j])
			if f.link == "resolves_to_refs" {
				host[f.link] = []any{ipKey}
			} else {
				host[f.link] = ipKey
				host["protocols"] = []any{strings.TrimSuffix(ipType(parts[i]), "-addr")}
			}
		}
	}
	return objs, true
}

// sightings converts the attribute's sightings.
func (c *converter) sightings(a *Attribute, id string, level sharing.TLP, tag string) {
	for _, s := range a.Sighting {
		if !validUUID(s.UUID) {
			c.loss.Add("sighting without a uuid not kept", a.UUID)
			continue
		}
		ts, ok := tsFromEpoch(s.DateSighting)
		if !ok {
			ts = c.ts
		}
		ex := map[string]any{"uuid": s.UUID}
		if s.Type != "" {
			ex["type"] = string(s.Type)
		}
		if s.Source != "" {
			ex["source"] = s.Source
		}
		if s.Organisation != nil && s.Organisation.UUID != "" {
			ex["organisation"] = map[string]any{"uuid": s.Organisation.UUID, "name": s.Organisation.Name}
		}
		o := map[string]any{"sighting_of_ref": id, "count": 1, "first_seen": ts, "last_seen": ts, "x_misp_sighting": ex}
		c.common(o, "sighting", stixID("sighting", s.UUID), ts, level, tag)
		if errs := c.emit(o); len(errs) > 0 {
			c.loss.Add("sighting not expressible as STIX", s.UUID+" ("+errs[0].Message+")")
		}
	}
}

// attrGalaxies relates the attribute to the clusters attached to it.
func (c *converter) attrGalaxies(a *Attribute, id, ts string, level sharing.TLP, tag string) {
	for gi := range a.Galaxy {
		g := &a.Galaxy[gi]
		for ci := range g.GalaxyCluster {
			cid := c.cluster(g, &g.GalaxyCluster[ci])
			o := map[string]any{"relationship_type": "related-to", "source_ref": id, "target_ref": cid,
				"x_misp_link": "attribute-galaxy"}
			c.common(o, "relationship", stixID("relationship", a.UUID+"/"+cid), ts, level, tag)
			c.must(o, "attribute "+a.UUID+" galaxy "+g.GalaxyCluster[ci].UUID)
		}
	}
}

// galaxyType picks the STIX type of a galaxy's clusters.
func galaxyType(galaxyType string) string {
	t := strings.ToLower(galaxyType)
	switch {
	case strings.Contains(t, "attack-pattern"):
		return "attack-pattern"
	case strings.Contains(t, "course-of-action"):
		return "course-of-action"
	case strings.Contains(t, "intrusion-set"):
		return "intrusion-set"
	case strings.Contains(t, "threat-actor"):
		return "threat-actor"
	case strings.Contains(t, "malware") || strings.Contains(t, "ransomware") || strings.Contains(t, "rat") ||
		strings.Contains(t, "botnet") || strings.Contains(t, "banker") || strings.Contains(t, "stealer") || t == "malpedia":
		return "malware"
	case strings.Contains(t, "tool"):
		return "tool"
	}
	return "x-misp-galaxy-cluster"
}

// cluster converts a galaxy cluster once per event and returns its id.
func (c *converter) cluster(g *Galaxy, cl *Cluster) string {
	// Clusters of older events may lack a uuid: they are named by galaxy
	// type and value instead.
	// Some events reuse one uuid for several clusters, so the value is
	// part of the name.
	key := strings.ToLower(cl.UUID) + "|" + cl.Value
	if cl.UUID == "" {
		key = "misp-galaxy:" + g.Type + "=" + cl.Value
	}
	if id, ok := c.clusters[strings.ToLower(key)]; ok {
		return id
	}
	typ := galaxyType(g.Type)
	id := stixID(typ, key)
	c.clusters[strings.ToLower(key)] = id
	name := cl.Value
	if name == "" {
		name = cl.UUID
	}
	o := map[string]any{"name": name, "labels": []string{labelGalaxyName + `"` + g.Name + `"`, labelGalaxyType + `"` + g.Type + `"`}}
	if cl.Description != "" {
		o["description"] = cl.Description
	}
	if typ == "malware" {
		o["is_family"] = true
	}
	gx := map[string]any{"uuid": g.UUID, "name": g.Name, "type": g.Type}
	putStr(gx, "description", g.Description)
	putStr(gx, "version", string(g.Version))
	putStr(gx, "namespace", g.Namespace)
	cx := map[string]any{"type": cl.Type, "value": cl.Value}
	putStr(cx, "uuid", cl.UUID)
	putStr(cx, "tag_name", cl.TagName)
	putStr(cx, "source", cl.Source)
	putStr(cx, "version", string(cl.Version))
	putStr(cx, "collection_uuid", cl.CollectionUUID)
	if len(cl.Authors) > 0 {
		cx["authors"] = cl.Authors
	}
	if len(cl.Meta) > 0 && !isEmptyJSON(cl.Meta) {
		var meta map[string]any
		if json.Unmarshal(cl.Meta, &meta) == nil {
			cx["meta"] = meta
			if ext, ok := meta["external_id"].([]any); ok && strings.HasPrefix(g.Type, "mitre") {
				var refs []any
				for _, e := range ext {
					if s, ok := e.(string); ok && s != "" {
						src := "mitre-attack"
						if strings.HasPrefix(s, "CAPEC-") {
							src = "capec"
						}
						refs = append(refs, map[string]any{"source_name": src, "external_id": s})
					}
				}
				if len(refs) > 0 {
					o["external_references"] = refs
				}
			}
		}
	}
	o["x_misp_galaxy"] = gx
	o["x_misp_cluster"] = cx
	c.common(o, typ, id, c.ts, c.eventTLP, "")
	if errs := c.emit(o); len(errs) > 0 {
		c.loss.Add("galaxy cluster not expressible as "+typ+": kept as x-misp-galaxy-cluster", cl.UUID+" ("+errs[0].Message+")")
		id = stixID("x-misp-galaxy-cluster", key)
		c.clusters[strings.ToLower(key)] = id
		delete(o, "external_references")
		delete(o, "is_family")
		c.common(o, "x-misp-galaxy-cluster", id, c.ts, c.eventTLP, "")
		c.must(o, "galaxy cluster "+cl.UUID)
	}
	return id
}

func putStr(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// object converts a MISP object: its attributes first, then an
// x-misp-object referring to them.
func (c *converter) object(ob *Object) {
	level, tag := c.tlp(nil, ob.Distribution, c.eventTLP)
	ts, ok := tsFromEpoch(ob.Timestamp)
	if !ok {
		ts = c.ts
	}
	var attrRefs []string
	for i := range ob.Attribute {
		attrRefs = append(attrRefs, c.attribute(&ob.Attribute[i], ob.UUID, level))
	}
	ex := map[string]any{"uuid": ob.UUID, "name": ob.Name}
	putStr(ex, "meta_category", ob.MetaCategory)
	putStr(ex, "description", ob.Description)
	putStr(ex, "template_uuid", ob.TemplateUUID)
	putStr(ex, "template_version", string(ob.TemplateVersion))
	putStr(ex, "timestamp", string(ob.Timestamp))
	putStr(ex, "distribution", string(ob.Distribution))
	putStr(ex, "sharing_group_id", string(ob.SharingGroupID))
	putStr(ex, "comment", ob.Comment)
	putStr(ex, "first_seen", string(ob.FirstSeen))
	putStr(ex, "last_seen", string(ob.LastSeen))
	if ob.Deleted {
		ex["deleted"] = true
	}
	o := map[string]any{"labels": []string{labelName + `"` + ob.Name + `"`, labelMetaCategory + `"` + ob.MetaCategory + `"`}, "x_misp_object": ex}
	if len(attrRefs) > 0 {
		o["x_misp_attribute_refs"] = attrRefs
	}
	id := stixID("x-misp-object", ob.UUID)
	c.common(o, "x-misp-object", id, ts, level, tag)
	c.must(o, "object "+ob.UUID)
	c.ids[strings.ToLower(ob.UUID)] = id
}

// references converts a MISP object's references to relationships.
func (c *converter) references(ob *Object) {
	src := c.ids[strings.ToLower(ob.UUID)]
	for _, r := range ob.ObjectReference {
		if !validUUID(r.UUID) {
			c.loss.Add("object reference without a uuid not kept", ob.UUID)
			continue
		}
		dst := c.ids[strings.ToLower(r.ReferencedUUID)]
		if dst == "" {
			c.loss.Add("object reference to something outside the event not kept", r.UUID)
			continue
		}
		ts, ok := tsFromEpoch(r.Timestamp)
		if !ok {
			ts = c.ts
		}
		rel := strings.ToLower(r.RelationshipType)
		ex := map[string]any{"uuid": r.UUID}
		if rel != r.RelationshipType || !validRelType(rel) {
			ex["relationship_type"] = r.RelationshipType
			if !validRelType(rel) {
				rel = "related-to"
			}
		}
		putStr(ex, "comment", r.Comment)
		putStr(ex, "timestamp", string(r.Timestamp))
		if r.Deleted {
			ex["deleted"] = true
		}
		o := map[string]any{"relationship_type": rel, "source_ref": src, "target_ref": dst, "x_misp_reference": ex}
		c.common(o, "relationship", stixID("relationship", r.UUID), ts, c.eventTLP, "")
		c.must(o, "object reference "+r.UUID)
	}
}

func validRelType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

// report emits the event's report last, referring to everything else.
func (c *converter) report(eventClusters []string) {
	ev := c.ev
	published, ok := tsFromEpoch(ev.PublishTimestamp)
	if !ok {
		if published, ok = tsFromISO(ev.Date); !ok {
			published = c.ts
		}
	}
	ex := map[string]any{"uuid": ev.UUID}
	putStr(ex, "date", ev.Date)
	putStr(ex, "threat_level_id", string(ev.ThreatLevelID))
	putStr(ex, "analysis", string(ev.Analysis))
	putStr(ex, "distribution", string(ev.Distribution))
	putStr(ex, "sharing_group_id", string(ev.SharingGroupID))
	putStr(ex, "timestamp", string(ev.Timestamp))
	putStr(ex, "publish_timestamp", string(ev.PublishTimestamp))
	putStr(ex, "extends_uuid", ev.ExtendsUUID)
	ex["published"] = bool(ev.Published)
	if ev.Orgc != nil {
		ex["orgc"] = map[string]any{"uuid": ev.Orgc.UUID, "name": ev.Orgc.Name}
	}
	if ev.Org != nil {
		ex["org"] = map[string]any{"uuid": ev.Org.UUID, "name": ev.Org.Name}
	}
	colours := map[string]any{}
	for _, t := range ev.Tag {
		if t.Colour != "" {
			colours[t.Name] = t.Colour
		}
	}
	if len(colours) > 0 {
		ex["tag_colours"] = colours
	}
	name := ev.Info
	if name == "" {
		name = "MISP event " + ev.UUID
	}
	refs := dedup(c.refs)
	if len(refs) == 0 {
		// object_refs must not be empty.
		c.loss.Add("event without attributes, objects or organisation: report refers to nothing", ev.UUID)
		refs = []string{stixID("identity", ev.UUID)}
	}
	o := map[string]any{"name": name, "published": published, "report_types": []string{ReportType},
		"object_refs": refs, "x_misp_event": ex,
		"external_references": []any{map[string]any{"source_name": "misp", "external_id": ev.UUID}}}
	if l := labels(nil, ev.Tag); len(l) > 0 {
		o["labels"] = l
	}
	if len(eventClusters) > 0 {
		o["x_misp_galaxy_refs"] = dedup(eventClusters)
	}
	c.common(o, "report", stixID("report", ev.UUID), c.ts, c.eventTLP, c.tlpTag)
	c.must(o, "report")
}

func dedup(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ReportID returns the STIX id of the report converted from the MISP event
// with this uuid.
func ReportID(eventUUID string) string { return stixID("report", eventUUID) }
