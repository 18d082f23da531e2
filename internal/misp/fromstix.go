package misp

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// ExportOptions tunes FromSTIX.
type ExportOptions struct {
	// Unreferenced, when set, collects indicators that no report refers to
	// into one extra event (UnreferencedEventUUID).
	Unreferenced bool
}

// UnreferencedEventUUID is the uuid of the event FromSTIX builds from
// indicators that no report refers to.
const UnreferencedEventUUID = "6b697a75-6e61-5000-8000-756e72656665"

// index holds the latest version of every object given to FromSTIX.
type index map[string]*stix.Object

func (ix index) add(o *stix.Object) {
	if old, ok := ix[o.ID]; ok && compareTS(old.Version(), o.Version()) >= 0 {
		return
	}
	ix[o.ID] = o
}

// FromSTIX builds MISP events from STIX objects: one event per report
// (reports converted from MISP are restored exactly as far as the objects
// are present; other reports become events whose attributes come from the
// indicators they refer to). Objects missing from objs (for instance
// because the caller may not see them) are left out of their event. What
// MISP cannot express is added to loss. Events are ordered by uuid.
func FromSTIX(objs []*stix.Object, opts ExportOptions, loss *Loss) []*Event {
	ix := index{}
	for _, o := range objs {
		ix.add(o)
	}
	// Relationships and sightings by source.
	rels := map[string][]*stix.Object{}
	sights := map[string][]*stix.Object{}
	referenced := map[string]bool{}
	var reports []*stix.Object
	for _, o := range ix {
		switch o.Type {
		case "relationship":
			if s, _ := o.Props["source_ref"].(string); s != "" {
				rels[s] = append(rels[s], o)
			}
		case "sighting":
			if s, _ := o.Props["sighting_of_ref"].(string); s != "" {
				sights[s] = append(sights[s], o)
			}
		case "report":
			reports = append(reports, o)
			for _, r := range strList(o.Props["object_refs"]) {
				referenced[r] = true
			}
		}
	}
	e := &exporter{ix: ix, rels: rels, sights: sights, loss: loss}
	var out []*Event
	for _, r := range reports {
		if ev := e.event(r); ev != nil {
			out = append(out, ev)
		}
	}
	if opts.Unreferenced {
		var refs []string
		for id, o := range ix {
			if o.Type == "indicator" && !referenced[id] {
				refs = append(refs, id)
			}
		}
		if len(refs) > 0 {
			sort.Strings(refs)
			out = append(out, e.orphans(refs))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UUID < out[j].UUID })
	return out
}

type exporter struct {
	ix     index
	rels   map[string][]*stix.Object
	sights map[string][]*stix.Object
	loss   *Loss
}

func strList(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func uuidOf(id string) string {
	_, u, _ := strings.Cut(id, "--")
	return u
}

func epoch(ts string) Str {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ""
	}
	return Str(strconv.FormatInt(t.Unix(), 10))
}

// tlpTag is the MISP tag of an object's TLP marking: the original tag name
// for objects converted from MISP (none when the marking came from the
// distribution), tlp:LEVEL for others.
func tlpTag(o *stix.Object, fromMISP bool) (Tag, bool) {
	if name, ok := o.Props["x_misp_tlp_tag"].(string); ok && name != "" {
		return Tag{Name: name}, true
	}
	if fromMISP {
		return Tag{}, false
	}
	for _, m := range o.ObjectMarkingRefs {
		for _, t := range []sharing.TLP{sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber, sharing.TLPAmberStrict, sharing.TLPRed} {
			if sharing.MarkingID(t) == m {
				return Tag{Name: "tlp:" + strings.ToLower(strings.TrimPrefix(t.String(), "TLP:"))}, true
			}
		}
	}
	return Tag{}, false
}

// tags splits labels into structural facts (misp:k="v") and tag names.
func tags(o *stix.Object) (facts map[string]string, out []Tag) {
	facts = map[string]string{}
	for _, l := range strList(o.Props["labels"]) {
		if strings.HasPrefix(l, "misp:") {
			if k, v, ok := strings.Cut(l, "="); ok && len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				facts[k[5:]] = v[1 : len(v)-1]
				continue
			}
		}
		out = append(out, Tag{Name: l})
	}
	return facts, out
}

func (e *exporter) event(r *stix.Object) *Event {
	ex := obj(r.Props["x_misp_event"])
	fromMISP := ex != nil
	ev := &Event{}
	if fromMISP {
		ev.UUID = str(ex, "uuid")
		ev.Date = str(ex, "date")
		ev.ThreatLevelID = Str(str(ex, "threat_level_id"))
		ev.Analysis = Str(str(ex, "analysis"))
		ev.Distribution = Str(str(ex, "distribution"))
		ev.SharingGroupID = Str(str(ex, "sharing_group_id"))
		ev.Timestamp = Str(str(ex, "timestamp"))
		ev.PublishTimestamp = Str(str(ex, "publish_timestamp"))
		ev.ExtendsUUID = str(ex, "extends_uuid")
		ev.Published = Bool(str(ex, "published") == "true")
		for k, dst := range map[string]**Org{"orgc": &ev.Orgc, "org": &ev.Org} {
			if m := obj(ex[k]); m != nil {
				*dst = &Org{UUID: str(m, "uuid"), Name: str(m, "name")}
			}
		}
	} else {
		ev.UUID = uuidOf(r.ID)
		pub, _ := r.Props["published"].(string)
		if len(pub) >= 10 {
			ev.Date = pub[:10]
		}
		ev.Timestamp = epoch(r.Version())
		ev.PublishTimestamp = epoch(pub)
		ev.Published = true
		ev.ThreatLevelID, ev.Analysis = "4", "2"
		if id := e.ix[r.CreatedByRef]; id != nil {
			ev.Orgc = &Org{UUID: uuidOf(id.ID), Name: str(id.Props, "name")}
		}
	}
	if ev.Info, _ = r.Props["name"].(string); ev.Info == "MISP event "+ev.UUID {
		ev.Info = ""
	}
	_, ev.Tag = tags(r)
	colours := obj(ex["tag_colours"])
	for i := range ev.Tag {
		ev.Tag[i].Colour = str(colours, ev.Tag[i].Name)
	}
	if t, ok := tlpTag(r, fromMISP); ok {
		t.Colour = str(colours, t.Name)
		ev.Tag = append(ev.Tag, t)
	}
	galaxies := map[string]*Galaxy{}
	var gorder []string
	addCluster := func(gs map[string]*Galaxy, order *[]string, id string) {
		o := e.ix[id]
		if o == nil {
			return
		}
		g, cl := e.cluster(o)
		key := g.UUID + "|" + g.Type
		if gs[key] == nil {
			gs[key] = &g
			*order = append(*order, key)
		}
		gs[key].GalaxyCluster = append(gs[key].GalaxyCluster, cl)
	}
	var clusterRefs []string
	if fromMISP {
		clusterRefs = strList(r.Props["x_misp_galaxy_refs"])
	}
	for _, id := range strList(r.Props["object_refs"]) {
		o := e.ix[id]
		if o == nil {
			continue
		}
		switch o.Type {
		case "indicator", "observed-data", "vulnerability", "x-misp-attribute":
			if a := obj(o.Props["x_misp_attribute"]); a != nil && str(a, "object_uuid") != "" {
				continue // exported with its object
			}
			if a, ok := e.attribute(o); ok {
				ev.Attribute = append(ev.Attribute, a)
			}
		case "x-misp-object":
			ev.Object = append(ev.Object, e.object(o))
		case "attack-pattern", "malware", "threat-actor", "intrusion-set", "tool", "course-of-action", "x-misp-galaxy-cluster":
			if !fromMISP {
				clusterRefs = append(clusterRefs, id)
			}
		case "relationship", "sighting", "identity":
		default:
			e.loss.Add("STIX "+o.Type+" has no MISP equivalent and is not exported", o.ID)
		}
	}
	for _, id := range clusterRefs {
		addCluster(galaxies, &gorder, id)
	}
	for _, k := range gorder {
		ev.Galaxy = append(ev.Galaxy, *galaxies[k])
	}
	return ev
}

// orphans builds the event of indicators no report refers to.
func (e *exporter) orphans(refs []string) *Event {
	ev := &Event{UUID: UnreferencedEventUUID, Info: "Kizuna: indicators not in any report", Published: true,
		ThreatLevelID: "4", Analysis: "2"}
	var latest string
	for _, id := range refs {
		o := e.ix[id]
		if compareTS(o.Version(), latest) > 0 {
			latest = o.Version()
		}
		if a, ok := e.attribute(o); ok {
			ev.Attribute = append(ev.Attribute, a)
		}
	}
	ev.Timestamp = epoch(latest)
	if len(latest) >= 10 {
		ev.Date = latest[:10]
	}
	return ev
}

// attribute restores a MISP attribute from its STIX object.
func (e *exporter) attribute(o *stix.Object) (Attribute, bool) {
	ex := obj(o.Props["x_misp_attribute"])
	fromMISP := ex != nil
	facts, tg := tags(o)
	a := Attribute{Type: facts["type"], Category: facts["category"], ToIDs: facts["to_ids"] == "True", Tag: tg}
	if t, ok := tlpTag(o, fromMISP); ok {
		a.Tag = append(a.Tag, t)
	}
	if fromMISP {
		a.UUID = str(ex, "uuid")
		a.Comment = str(ex, "comment")
		a.Distribution = Str(str(ex, "distribution"))
		a.SharingGroupID = Str(str(ex, "sharing_group_id"))
		a.Timestamp = Str(str(ex, "timestamp"))
		a.FirstSeen = Str(str(ex, "first_seen"))
		a.LastSeen = Str(str(ex, "last_seen"))
		a.ObjectRelation = Str(str(ex, "object_relation"))
		a.Data = str(ex, "data")
		a.DisableCorrelation = ex["disable_correlation"] == true
		a.Deleted = ex["deleted"] == true
		colours := obj(ex["tag_colours"])
		for i := range a.Tag {
			a.Tag[i].Colour = str(colours, a.Tag[i].Name)
		}
	} else {
		a.UUID = uuidOf(o.ID)
		a.Timestamp = epoch(o.Version())
		a.Comment, _ = o.Props["description"].(string)
		a.ToIDs = o.Type == "indicator"
	}
	var ok bool
	switch o.Type {
	case "indicator":
		pat, _ := o.Props["pattern"].(string)
		if pt, _ := o.Props["pattern_type"].(string); pt == "yara" {
			a.Value, ok = pat, true
			if a.Type == "" {
				a.Type, a.Category = "yara", "Payload installation"
			}
			break
		}
		cmp, parsed := parsePattern(pat)
		if !parsed {
			break
		}
		if a.Type == "" {
			for _, nt := range nativeTypes {
				if v, match := valueFromPattern(nt.typ, cmp); match {
					a.Type, a.Category, a.Value, ok = nt.typ, nt.category, v, true
					break
				}
			}
		} else {
			a.Value, ok = valueFromPattern(a.Type, cmp)
		}
	case "observed-data":
		a.Value, ok = valueFromObservables(a.Type, obj(o.Props["objects"]))
	case "vulnerability":
		a.Value, ok = o.Props["name"].(string)
		if a.Type == "" {
			a.Type, a.Category = "vulnerability", "External analysis"
		}
	case "x-misp-attribute":
		a.Value, ok = o.Props["x_misp_value"].(string)
		ok = ok || a.Type != ""
	}
	if !ok || a.Type == "" {
		if fromMISP {
			e.loss.Add("attribute value could not be derived from its STIX "+o.Type, o.ID)
		} else {
			e.loss.Add("STIX "+o.Type+" pattern is not a single value MISP can hold: not exported", o.ID)
		}
		return Attribute{}, false
	}
	if a.Category == "" {
		a.Category = "Other"
	}
	for _, s := range e.sights[o.ID] {
		sx := obj(s.Props["x_misp_sighting"])
		si := Sighting{UUID: uuidOf(s.ID), DateSighting: epoch(str(s.Props, "last_seen"))}
		if sx != nil {
			si.UUID, si.Type, si.Source = str(sx, "uuid"), Str(str(sx, "type")), str(sx, "source")
			if m := obj(sx["organisation"]); m != nil {
				si.Organisation = &Org{UUID: str(m, "uuid"), Name: str(m, "name")}
			}
		}
		a.Sighting = append(a.Sighting, si)
	}
	gs := map[string]*Galaxy{}
	var order []string
	for _, r := range e.rels[o.ID] {
		if r.Props["x_misp_link"] != "attribute-galaxy" {
			continue
		}
		c := e.ix[str(r.Props, "target_ref")]
		if c == nil {
			continue
		}
		g, cl := e.cluster(c)
		key := g.UUID + "|" + g.Type
		if gs[key] == nil {
			gs[key] = &g
			order = append(order, key)
		}
		gs[key].GalaxyCluster = append(gs[key].GalaxyCluster, cl)
	}
	for _, k := range order {
		a.Galaxy = append(a.Galaxy, *gs[k])
	}
	return a, true
}

// valueFromObservables derives a value of type typ from embedded
// observables.
func valueFromObservables(typ string, objs map[string]any) (string, bool) {
	fs := attrFields[typ]
	if len(fs) == 0 || len(objs) == 0 {
		return "", false
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		var sco map[string]any
		for _, v := range objs {
			m := obj(v)
			t := str(m, "type")
			if t == f.sco || f.sco == "ip" && (t == "ipv4-addr" || t == "ipv6-addr") {
				sco = m
				break
			}
		}
		if sco == nil {
			return "", false
		}
		switch {
		case strings.HasPrefix(f.prop, "hashes."):
			parts[i] = str(obj(sco["hashes"]), strings.TrimPrefix(f.prop, "hashes."))
		case f.prop == "values.data":
			if l, _ := sco["values"].([]any); len(l) > 0 {
				parts[i] = str(obj(l[0]), "data")
			}
		default:
			parts[i] = str(sco, f.prop)
		}
		if parts[i] == "" {
			return "", false
		}
	}
	return strings.Join(parts, "|"), true
}

// object restores a MISP object and its attributes.
func (e *exporter) object(o *stix.Object) Object {
	ex := obj(o.Props["x_misp_object"])
	facts, _ := tags(o)
	ob := Object{UUID: str(ex, "uuid"), Name: str(ex, "name"), MetaCategory: str(ex, "meta_category"),
		Description: str(ex, "description"), TemplateUUID: str(ex, "template_uuid"),
		TemplateVersion: Str(str(ex, "template_version")), Timestamp: Str(str(ex, "timestamp")),
		Distribution: Str(str(ex, "distribution")), SharingGroupID: Str(str(ex, "sharing_group_id")),
		Comment: str(ex, "comment"), Deleted: ex["deleted"] == true,
		FirstSeen: Str(str(ex, "first_seen")), LastSeen: Str(str(ex, "last_seen"))}
	if ob.Name == "" {
		ob.Name = facts["name"]
	}
	for _, id := range strList(o.Props["x_misp_attribute_refs"]) {
		if ao := e.ix[id]; ao != nil {
			if a, ok := e.attribute(ao); ok {
				ob.Attribute = append(ob.Attribute, a)
			}
		}
	}
	for _, r := range e.rels[o.ID] {
		rx := obj(r.Props["x_misp_reference"])
		if rx == nil {
			continue
		}
		target := e.ix[str(r.Props, "target_ref")]
		if target == nil {
			continue // not visible: the reference goes too
		}
		ref := ObjectReference{UUID: str(rx, "uuid"), ObjectUUID: ob.UUID, ReferencedUUID: mispUUID(target),
			RelationshipType: str(r.Props, "relationship_type"), Comment: str(rx, "comment"),
			Timestamp: Str(str(rx, "timestamp")), Deleted: rx["deleted"] == true}
		if t := str(rx, "relationship_type"); t != "" {
			ref.RelationshipType = t
		}
		ob.ObjectReference = append(ob.ObjectReference, ref)
	}
	sort.Slice(ob.ObjectReference, func(i, j int) bool { return ob.ObjectReference[i].UUID < ob.ObjectReference[j].UUID })
	return ob
}

// mispUUID is the MISP uuid an object was converted from.
func mispUUID(o *stix.Object) string {
	for _, k := range []string{"x_misp_attribute", "x_misp_object"} {
		if m := obj(o.Props[k]); m != nil {
			return str(m, "uuid")
		}
	}
	return uuidOf(o.ID)
}

// cluster restores a galaxy and one of its clusters.
func (e *exporter) cluster(o *stix.Object) (Galaxy, Cluster) {
	gx, cx := obj(o.Props["x_misp_galaxy"]), obj(o.Props["x_misp_cluster"])
	name, _ := o.Props["name"].(string)
	desc, _ := o.Props["description"].(string)
	if gx == nil {
		// A native STIX SDO: MISP's own mitre galaxies are the closest.
		t := o.Type
		g := Galaxy{UUID: stixID("galaxy", t)[len("galaxy--"):], Name: t, Type: "stix-" + t}
		return g, Cluster{UUID: uuidOf(o.ID), Type: g.Type, Value: name, Description: desc,
			TagName: fmt.Sprintf("misp-galaxy:%s=%q", g.Type, name)}
	}
	g := Galaxy{UUID: str(gx, "uuid"), Name: str(gx, "name"), Type: str(gx, "type"), Description: str(gx, "description"),
		Version: Str(str(gx, "version")), Namespace: str(gx, "namespace")}
	c := Cluster{UUID: str(cx, "uuid"), Type: str(cx, "type"), Value: str(cx, "value"), TagName: str(cx, "tag_name"),
		Description: desc, Source: str(cx, "source"), Version: Str(str(cx, "version")),
		CollectionUUID: str(cx, "collection_uuid")}
	authors, _ := cx["authors"].([]any)
	for _, a := range authors {
		if s, ok := a.(string); ok {
			c.Authors = append(c.Authors, s)
		}
	}
	if m, ok := cx["meta"]; ok {
		c.Meta, _ = json.Marshal(m)
	}
	return g, c
}

// compareTS compares STIX timestamps, tolerating malformed or empty ones
// (compared as strings; stix.CompareTimestamps needs valid input).
func compareTS(a, b string) int {
	_, okA := stix.CheckTimestamp(a)
	_, okB := stix.CheckTimestamp(b)
	if okA && okB {
		return stix.CompareTimestamps(a, b)
	}
	return strings.Compare(a, b)
}
