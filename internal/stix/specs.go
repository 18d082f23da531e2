package stix

import "strings"

// The property tables of STIX 2.1 (OASIS Standard, sections 2-8). They are
// built once at package initialisation and never modified.

// Spec constructors.
func pStr() *prop                 { return &prop{kind: kString} }
func pStrs() *prop                { return &prop{kind: kStrings} }
func pBool() *prop                { return &prop{kind: kBool} }
func pInt() *prop                 { return &prop{kind: kInt} }
func pNum() *prop                 { return &prop{kind: kNumber} }
func pTS() *prop                  { return &prop{kind: kTimestamp} }
func pHex() *prop                 { return &prop{kind: kHex} }
func pBin() *prop                 { return &prop{kind: kBinary} }
func pDict() *prop                { return &prop{kind: kDict} }
func pHashes() *prop              { return &prop{kind: kHashes} }
func pKillChain() *prop           { return &prop{kind: kKillChain} }
func pURL() *prop                 { return &prop{kind: kURL} }
func pObj(s *spec) *prop          { return &prop{kind: kObject, sub: s} }
func pObjs(s *spec) *prop         { return &prop{kind: kObjects, sub: s} }
func pEnum(v ...string) *prop     { return &prop{kind: kString, enum: v} }
func pEnumList(v ...string) *prop { return &prop{kind: kStrings, enum: v} }

func pIntRange(lo, hi float64) *prop {
	return &prop{kind: kInt, min: lo, max: hi, bounded: 3}
}

func pIntMin(lo float64) *prop { return &prop{kind: kInt, min: lo, bounded: 1} }

func pNumRange(lo, hi float64) *prop {
	return &prop{kind: kNumber, min: lo, max: hi, bounded: 3}
}

func pRef(r *refRule) *prop  { return &prop{kind: kRef, ref: r} }
func pRefs(r *refRule) *prop { return &prop{kind: kRefs, ref: r} }

// to allows references to the listed types only.
func to(types ...string) *refRule {
	return &refRule{
		desc: strings.Join(types, " or "),
		ok: func(t string) bool {
			for _, x := range types {
				if x == t {
					return true
				}
			}
			return false
		},
	}
}

// props builds a property map from alternating names and specs, merged
// over the given bases.
func props(bases []map[string]*prop, kv ...any) map[string]*prop {
	m := map[string]*prop{}
	for _, b := range bases {
		for k, v := range b {
			m[k] = v
		}
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(*prop)
	}
	return m
}

// Type categories of the predefined object types.
var (
	sdoTypes = set("attack-pattern", "campaign", "course-of-action", "grouping", "identity", "incident",
		"indicator", "infrastructure", "intrusion-set", "location", "malware", "malware-analysis", "note",
		"observed-data", "opinion", "report", "threat-actor", "tool", "vulnerability")
	scoTypes = set("artifact", "autonomous-system", "directory", "domain-name", "email-addr", "email-message",
		"file", "ipv4-addr", "ipv6-addr", "mac-addr", "mutex", "network-traffic", "process", "software", "url",
		"user-account", "windows-registry-key", "x509-certificate")
	sroTypes  = set("relationship", "sighting")
	metaTypes = set("marking-definition", "language-content", "extension-definition", "bundle")
)

func set(v ...string) map[string]bool {
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

// Reference rules used by several types.
var (
	refIdentity = to("identity")
	refMarking  = to("marking-definition")
	// refSCO: a cyber-observable (predefined or custom).
	refSCO = &refRule{desc: "a cyber-observable object", ok: func(t string) bool {
		return !sdoTypes[t] && !sroTypes[t] && !metaTypes[t]
	}}
	// refSCOorSRO: observed-data object_refs.
	refSCOorSRO = &refRule{desc: "a cyber-observable object or SRO", ok: func(t string) bool {
		return !sdoTypes[t] && !metaTypes[t]
	}}
	// refSDO: sighting_of_ref (predefined or custom SDO).
	refSDO = &refRule{desc: "an SDO", ok: func(t string) bool {
		return !scoTypes[t] && !sroTypes[t] && !metaTypes[t]
	}}
	// refRelEnd: relationship endpoints (SDOs and SCOs).
	refRelEnd = &refRule{desc: "an SDO or SCO", ok: func(t string) bool {
		return !sroTypes[t] && !metaTypes[t]
	}}
	// refContent: language-content object_ref.
	refContent = &refRule{desc: "a STIX object other than bundle or language-content", ok: func(t string) bool {
		return t != "bundle" && t != "language-content"
	}}
	refAddr = to("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")
)

// Common properties (section 3.2).
var (
	sdoCommon = map[string]*prop{
		"type":                {kind: kSpecial},
		"id":                  {kind: kSpecial},
		"spec_version":        {kind: kSpecial},
		"created_by_ref":      pRef(refIdentity),
		"created":             {kind: kTimestampMs},
		"modified":            {kind: kTimestampMs},
		"revoked":             pBool(),
		"labels":              pStrs(),
		"confidence":          pIntRange(0, 100),
		"lang":                {kind: kLang},
		"external_references": {kind: kExtRefs},
		"object_marking_refs": pRefs(refMarking),
		"granular_markings":   {kind: kGranular},
		"extensions":          {kind: kExtensions},
	}
	sdoRequired = []string{"spec_version", "created", "modified"}

	scoCommon = map[string]*prop{
		"type":                {kind: kSpecial},
		"id":                  {kind: kSpecial},
		"spec_version":        {kind: kSpecial},
		"object_marking_refs": pRefs(refMarking),
		"granular_markings":   {kind: kGranular},
		"defanged":            pBool(),
		"extensions":          {kind: kExtensions},
	}
)

// Nested structures.
var (
	extRefSpec = &spec{
		props: props(nil,
			"source_name", pStr(),
			"description", pStr(),
			"url", pURL(),
			"hashes", pHashes(),
			"external_id", pStr()),
		required: []string{"source_name"},
		check: func(c *checker, m map[string]any, at *path) {
			c.atLeastOne(m, at, "description", "url", "external_id")
			src, _ := m["source_name"].(string)
			eid, _ := m["external_id"].(string)
			if src != "cve" && validCVE(eid) {
				c.errf(at.key("source_name"), "must be \"cve\" for external_id %q", eid)
			}
			if src != "capec" && strings.HasPrefix(eid, "CAPEC-") && allDigits(eid[len("CAPEC-"):]) {
				c.errf(at.key("source_name"), "must be \"capec\" for external_id %q", eid)
			}
			switch src {
			case "cve":
				if !validCVE(eid) {
					c.errf(at.key("external_id"), "source_name cve requires external_id CVE-YYYY-NNNN, got %q", eid)
				}
			case "capec":
				if !strings.HasPrefix(eid, "CAPEC-") || !allDigits(eid[len("CAPEC-"):]) {
					c.errf(at.key("external_id"), "source_name capec requires external_id CAPEC-N, got %q", eid)
				}
			}
		},
	}
	killChainSpec = &spec{
		props:    props(nil, "kill_chain_name", pStr(), "phase_name", pStr()),
		required: []string{"kill_chain_name", "phase_name"},
	}
	granularSpec = &spec{
		props: props(nil,
			"selectors", pStrs(),
			"marking_ref", pRef(refMarking),
			"lang", &prop{kind: kLang}),
		required: []string{"selectors"},
		check:    granularCheck,
	}
	extensionSpec = &spec{
		props:    props(nil, "extension_type", pEnum(extensionTypes...)),
		required: []string{"extension_type"},
	}
	extensionTypes = []string{"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
)

func validCVE(s string) bool {
	if !strings.HasPrefix(s, "CVE-") || len(s) < 13 || s[8] != '-' || !allDigits(s[4:8]) {
		return false
	}
	n := s[9:]
	return allDigits(n) && len(n) >= 4 && (len(n) == 4 || n[0] != '0')
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sdo builds an SDO/SRO spec.
func sdo(cat category, required []string, check func(*checker, map[string]any, *path), kv ...any) *spec {
	return &spec{cat: cat, props: props([]map[string]*prop{sdoCommon}, kv...),
		required: append(append([]string{}, sdoRequired...), required...), check: check}
}

// sco builds an SCO spec.
func sco(required []string, exts map[string]*spec, check func(*checker, map[string]any, *path), kv ...any) *spec {
	s := &spec{cat: catSCO, props: props([]map[string]*prop{scoCommon}, kv...), required: required, check: check}
	if exts != nil {
		s.props["extensions"] = &prop{kind: kExtensions, exts: exts}
	}
	return s
}

// ext builds a predefined-extension spec.
func ext(required []string, check func(*checker, map[string]any, *path), kv ...any) *spec {
	return &spec{props: props(nil, kv...), required: required, check: check}
}

func seen(first, last string) func(*checker, map[string]any, *path) {
	return func(c *checker, m map[string]any, at *path) { c.order(m, at, first, last, false) }
}

// customSpec picks the common-property spec for an object of a type the
// specification does not define: SCO rules when it declares a new-sco
// extension or has no created timestamp, SDO rules otherwise.
func customSpec(m map[string]any) *spec {
	if exts, ok := m["extensions"].(map[string]any); ok {
		for k, v := range exts {
			if !strings.HasPrefix(k, "extension-definition--") {
				continue
			}
			if e, ok := v.(map[string]any); ok {
				switch e["extension_type"] {
				case "new-sco":
					return customSCO
				case "new-sdo", "new-sro":
					return customSDO
				}
			}
		}
	}
	if _, ok := m["created"]; ok {
		return customSDO
	}
	return customSCO
}

var (
	customSDO = &spec{cat: catSDO, props: sdoCommon, required: sdoRequired}
	customSCO = &spec{cat: catSCO, props: scoCommon}
)

// types maps every predefined type to its spec.
var types = buildTypes()

func buildTypes() map[string]*spec {
	t := map[string]*spec{}
	nameReq := []string{"name"}

	// SDOs (section 4).
	t["attack-pattern"] = sdo(catSDO, nameReq, nil,
		"name", pStr(), "description", pStr(), "aliases", pStrs(), "kill_chain_phases", pKillChain())
	t["campaign"] = sdo(catSDO, nameReq, seen("first_seen", "last_seen"),
		"name", pStr(), "description", pStr(), "aliases", pStrs(),
		"first_seen", pTS(), "last_seen", pTS(), "objective", pStr())
	t["course-of-action"] = sdo(catSDO, nameReq, nil, "name", pStr(), "description", pStr())
	t["grouping"] = sdo(catSDO, []string{"context", "object_refs"}, nil,
		"name", pStr(), "description", pStr(), "context", pStr(), "object_refs", pRefs(nil))
	t["identity"] = sdo(catSDO, nameReq, nil,
		"name", pStr(), "description", pStr(), "roles", pStrs(), "identity_class", pStr(),
		"sectors", pStrs(), "contact_information", pStr())
	t["incident"] = sdo(catSDO, nameReq, nil,
		"name", pStr(), "description", pStr(), "kill_chain_phases", pKillChain())
	t["indicator"] = sdo(catSDO, []string{"pattern", "pattern_type", "valid_from"},
		func(c *checker, m map[string]any, at *path) {
			c.order(m, at, "valid_from", "valid_until", true)
			checkPattern(c, m, at)
		},
		"name", pStr(), "description", pStr(), "indicator_types", pStrs(), "pattern", pStr(),
		"pattern_type", pStr(), "pattern_version", pStr(), "valid_from", pTS(), "valid_until", pTS(),
		"kill_chain_phases", pKillChain())
	t["infrastructure"] = sdo(catSDO, nameReq, seen("first_seen", "last_seen"),
		"name", pStr(), "description", pStr(), "infrastructure_types", pStrs(), "aliases", pStrs(),
		"kill_chain_phases", pKillChain(), "first_seen", pTS(), "last_seen", pTS())
	t["intrusion-set"] = sdo(catSDO, nameReq, seen("first_seen", "last_seen"),
		"name", pStr(), "description", pStr(), "aliases", pStrs(), "first_seen", pTS(), "last_seen", pTS(),
		"goals", pStrs(), "resource_level", pStr(), "primary_motivation", pStr(), "secondary_motivations", pStrs())
	t["location"] = sdo(catSDO, nil, checkLocation,
		"name", pStr(), "description", pStr(), "latitude", pNumRange(-90, 90), "longitude", pNumRange(-180, 180),
		"precision", pNum(), "region", pStr(), "country", pStr(), "administrative_area", pStr(), "city", pStr(),
		"street_address", pStr(), "postal_code", pStr())
	t["malware"] = sdo(catSDO, []string{"is_family"},
		func(c *checker, m map[string]any, at *path) {
			c.order(m, at, "first_seen", "last_seen", false)
			if fam, _ := m["is_family"].(bool); fam {
				if _, ok := m["name"]; !ok {
					c.errf(at.key("name"), "required when is_family is true")
				}
			}
		},
		"name", pStr(), "description", pStr(), "malware_types", pStrs(), "is_family", pBool(),
		"aliases", pStrs(), "kill_chain_phases", pKillChain(), "first_seen", pTS(), "last_seen", pTS(),
		"operating_system_refs", pRefs(to("software")), "architecture_execution_envs", pStrs(),
		"implementation_languages", pStrs(), "capabilities", pStrs(), "sample_refs", pRefs(to("file", "artifact")))
	t["malware-analysis"] = sdo(catSDO, []string{"product"},
		func(c *checker, m map[string]any, at *path) {
			c.atLeastOne(m, at, "result", "analysis_sco_refs")
		},
		"product", pStr(), "version", pStr(), "host_vm_ref", pRef(to("software")),
		"operating_system_ref", pRef(to("software")), "installed_software_refs", pRefs(to("software")),
		"configuration_version", pStr(), "modules", pStrs(), "analysis_engine_version", pStr(),
		"analysis_definition_version", pStr(), "submitted", pTS(), "analysis_started", pTS(),
		"analysis_ended", pTS(), "result_name", pStr(), "result", pStr(),
		"analysis_sco_refs", pRefs(refSCO), "sample_ref", pRef(to("file", "network-traffic", "artifact")))
	t["note"] = sdo(catSDO, []string{"content", "object_refs"}, nil,
		"abstract", pStr(), "content", pStr(), "authors", pStrs(), "object_refs", pRefs(nil))
	t["observed-data"] = sdo(catSDO, []string{"first_observed", "last_observed", "number_observed"},
		func(c *checker, m map[string]any, at *path) {
			c.order(m, at, "first_observed", "last_observed", false)
			if c.exclusive(m, at, "object_refs", "objects") {
				c.atLeastOne(m, at, "object_refs", "objects")
			}
		},
		"first_observed", pTS(), "last_observed", pTS(), "number_observed", pIntRange(1, 999999999),
		"objects", &prop{kind: kObservedObjects}, "object_refs", pRefs(refSCOorSRO))
	t["opinion"] = sdo(catSDO, []string{"opinion", "object_refs"}, nil,
		"explanation", pStr(), "authors", pStrs(),
		"opinion", pEnum("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"),
		"object_refs", pRefs(nil))
	t["report"] = sdo(catSDO, []string{"name", "published", "object_refs"}, nil,
		"name", pStr(), "description", pStr(), "report_types", pStrs(), "published", pTS(),
		"object_refs", pRefs(nil))
	t["threat-actor"] = sdo(catSDO, nameReq, seen("first_seen", "last_seen"),
		"name", pStr(), "description", pStr(), "threat_actor_types", pStrs(), "aliases", pStrs(),
		"first_seen", pTS(), "last_seen", pTS(), "roles", pStrs(), "goals", pStrs(),
		"sophistication", pStr(), "resource_level", pStr(), "primary_motivation", pStr(),
		"secondary_motivations", pStrs(), "personal_motivations", pStrs())
	t["tool"] = sdo(catSDO, nameReq, nil,
		"name", pStr(), "description", pStr(), "tool_types", pStrs(), "aliases", pStrs(),
		"kill_chain_phases", pKillChain(), "tool_version", pStr())
	t["vulnerability"] = sdo(catSDO, nameReq, nil, "name", pStr(), "description", pStr())

	// SROs (section 5).
	t["relationship"] = sdo(catSRO, []string{"relationship_type", "source_ref", "target_ref"},
		func(c *checker, m map[string]any, at *path) {
			c.order(m, at, "start_time", "stop_time", true)
			if rt, ok := m["relationship_type"].(string); ok && !validRelType(rt) {
				c.errf(at.key("relationship_type"), "%q: only a-z, 0-9 and hyphen allowed", rt)
			}
		},
		"relationship_type", pStr(), "description", pStr(), "source_ref", pRef(refRelEnd),
		"target_ref", pRef(refRelEnd), "start_time", pTS(), "stop_time", pTS())
	t["sighting"] = sdo(catSRO, []string{"sighting_of_ref"}, seen("first_seen", "last_seen"),
		"description", pStr(), "first_seen", pTS(), "last_seen", pTS(), "count", pIntRange(0, 999999999),
		"sighting_of_ref", pRef(refSDO), "observed_data_refs", pRefs(to("observed-data")),
		"where_sighted_refs", pRefs(to("identity", "location")), "summary", pBool())

	// Meta objects (section 7) and bundle (section 8).
	t["marking-definition"] = &spec{cat: catMeta, props: props(nil,
		"type", &prop{kind: kSpecial}, "id", &prop{kind: kSpecial}, "spec_version", &prop{kind: kSpecial},
		"created_by_ref", pRef(refIdentity), "created", &prop{kind: kTimestampMs},
		"external_references", &prop{kind: kExtRefs}, "object_marking_refs", pRefs(refMarking),
		"granular_markings", &prop{kind: kGranular}, "name", pStr(), "definition_type", pStr(),
		"definition", &prop{kind: kObject, sub: &spec{}}, "extensions", &prop{kind: kExtensions}),
		required: []string{"spec_version", "created"}, check: checkMarking}
	t["language-content"] = sdo(catMeta, []string{"object_ref", "contents"}, checkContents,
		"object_ref", pRef(refContent), "object_modified", &prop{kind: kTimestampMs}, "contents", &prop{kind: kAny})
	t["extension-definition"] = sdo(catMeta, []string{"created_by_ref", "name", "schema", "version", "extension_types"},
		func(c *checker, m map[string]any, at *path) {
			if _, ok := m["extension_properties"]; !ok {
				return
			}
			l, _ := m["extension_types"].([]any)
			for _, e := range l {
				if e == "toplevel-property-extension" {
					return
				}
			}
			c.errf(at.key("extension_properties"), "only allowed with extension type toplevel-property-extension")
		},
		"name", pStr(), "description", pStr(), "schema", pStr(), "version", pStr(),
		"extension_types", pEnumList(extensionTypes...), "extension_properties", pStrs())
	t["bundle"] = &spec{cat: catBundle}

	buildSCOs(t)
	return t
}

func validRelType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func checkLocation(c *checker, m map[string]any, at *path) {
	_, lat := m["latitude"]
	_, lon := m["longitude"]
	if lat != lon {
		c.errf(at.key("latitude"), "latitude and longitude must be present together")
	}
	if _, ok := m["precision"]; ok && !(lat && lon) {
		c.errf(at.key("precision"), "requires latitude and longitude")
	}
	_, region := m["region"]
	_, country := m["country"]
	if !region && !country && !(lat && lon) {
		c.errf(at, "at least one of region, country, or latitude and longitude must be present")
	}
}

// tlpMarkings are the four TLP 1.0 marking definitions of section 7.2.1.4.
var tlpMarkings = map[string][2]string{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": {"white", "TLP:WHITE"},
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": {"green", "TLP:GREEN"},
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": {"amber", "TLP:AMBER"},
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": {"red", "TLP:RED"},
}

func checkMarking(c *checker, m map[string]any, at *path) {
	dt, hasType := m["definition_type"]
	def, hasDef := m["definition"].(map[string]any)
	if _, ok := m["extensions"]; !ok {
		if !hasType {
			c.errf(at.key("definition_type"), "required property missing (no extensions given)")
		}
		if _, ok := m["definition"]; !ok {
			c.errf(at.key("definition"), "required property missing (no extensions given)")
		}
	}
	if hasType && !hasDef {
		if _, ok := m["definition"]; !ok {
			c.errf(at.key("definition"), "required when definition_type is present")
		}
	}
	switch dt {
	case "statement":
		if hasDef {
			if _, ok := def["statement"].(string); !ok {
				c.errf(at.key("definition").key("statement"), "a statement marking needs a string statement")
			}
		}
	case "tlp":
		id, _ := m["id"].(string)
		want, ok := tlpMarkings[id]
		if !ok {
			c.errf(at.key("id"), "a tlp marking-definition must be one of the four predefined TLP markings")
			return
		}
		if hasDef && def["tlp"] != want[0] {
			c.errf(at.key("definition").key("tlp"), "must be %q for %s", want[0], id)
		}
		if n, ok := m["name"]; ok && n != want[1] {
			c.errf(at.key("name"), "must be %q for %s", want[1], id)
		}
		if cr, ok := m["created"]; ok && cr != "2017-01-20T00:00:00.000Z" {
			c.errf(at.key("created"), "must be 2017-01-20T00:00:00.000Z for the predefined TLP markings")
		}
	}
}

func checkContents(c *checker, m map[string]any, at *path) {
	v, ok := m["contents"]
	if !ok {
		return
	}
	cat := at.key("contents")
	cm, ok := v.(map[string]any)
	if !ok {
		c.errf(cat, "must be a dictionary keyed by language")
		return
	}
	if len(cm) == 0 {
		c.errf(cat, "must not be empty")
	}
	for lang, tv := range cm {
		if !validLangTag(lang) {
			c.errf(cat.key(lang), "key must be an RFC 5646 language tag")
		}
		tm, ok := tv.(map[string]any)
		if !ok {
			c.errf(cat.key(lang), "must be a dictionary of translated properties")
			continue
		}
		if len(tm) == 0 {
			c.errf(cat.key(lang), "must not be empty")
		}
		for k := range tm {
			if !ValidPropertyName(k) {
				c.errf(cat.key(lang).key(k), "must name a property of the object")
			}
		}
	}
}

func buildSCOs(t map[string]*spec) {
	t["artifact"] = sco(nil, nil,
		func(c *checker, m map[string]any, at *path) {
			_, bin := m["payload_bin"]
			_, u := m["url"]
			switch {
			case bin && u:
				c.errf(at.key("url"), "must not be present together with payload_bin")
			case !bin && !u:
				c.errf(at, "one of payload_bin or url must be present")
			case u:
				if _, ok := m["hashes"]; !ok {
					c.errf(at.key("hashes"), "required when url is present")
				}
			}
			if _, ok := m["decryption_key"]; ok {
				if _, ok := m["encryption_algorithm"]; !ok {
					c.errf(at.key("decryption_key"), "requires encryption_algorithm")
				}
			}
		},
		"mime_type", pStr(), "payload_bin", pBin(), "url", pURL(), "hashes", pHashes(),
		"encryption_algorithm", pEnum("AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"),
		"decryption_key", pStr())
	t["autonomous-system"] = sco([]string{"number"}, nil, nil, "number", pInt(), "name", pStr(), "rir", pStr())
	t["directory"] = sco([]string{"path"}, nil, nil,
		"path", pStr(), "path_enc", pStr(), "ctime", pTS(), "mtime", pTS(), "atime", pTS(),
		"contains_refs", pRefs(to("file", "directory")))
	t["domain-name"] = sco([]string{"value"}, nil, nil,
		"value", pStr(), "resolves_to_refs", pRefs(to("ipv4-addr", "ipv6-addr", "domain-name")))
	t["email-addr"] = sco([]string{"value"}, nil,
		func(c *checker, m map[string]any, at *path) {
			if v, ok := m["value"].(string); ok && !validEmail(v) {
				c.errf(at.key("value"), "%q is not an email address (addr-spec)", v)
			}
		},
		"value", pStr(), "display_name", pStr(), "belongs_to_ref", pRef(to("user-account")))
	mimePart := &spec{props: props(nil, "body", pStr(), "body_raw_ref", pRef(to("artifact", "file")),
		"content_type", pStr(), "content_disposition", pStr()),
		check: func(c *checker, m map[string]any, at *path) {
			if c.exclusive(m, at, "body", "body_raw_ref") {
				c.atLeastOne(m, at, "body", "body_raw_ref")
			}
		}}
	emailAddr := to("email-addr")
	t["email-message"] = sco([]string{"is_multipart"}, nil,
		func(c *checker, m map[string]any, at *path) {
			multi, ok := m["is_multipart"].(bool)
			if !ok {
				return
			}
			if _, has := m["body"]; has && multi {
				c.errf(at.key("body"), "not allowed when is_multipart is true")
			}
			if _, has := m["body_multipart"]; has && !multi {
				c.errf(at.key("body_multipart"), "not allowed when is_multipart is false")
			}
			if h, ok := m["additional_header_fields"].(map[string]any); ok {
				for k, v := range h {
					switch v.(type) {
					case string:
					case []any:
						for i, e := range v.([]any) {
							if _, ok := e.(string); !ok {
								c.errf(at.key("additional_header_fields").key(k).at(i), "must be a string")
							}
						}
					default:
						c.errf(at.key("additional_header_fields").key(k), "must be a string or list of strings")
					}
				}
			}
		},
		"is_multipart", pBool(), "date", pTS(), "content_type", pStr(), "from_ref", pRef(emailAddr),
		"sender_ref", pRef(emailAddr), "to_refs", pRefs(emailAddr), "cc_refs", pRefs(emailAddr),
		"bcc_refs", pRefs(emailAddr), "message_id", pStr(), "subject", pStr(), "received_lines", pStrs(),
		"additional_header_fields", pDict(), "body", pStr(), "body_multipart", pObjs(mimePart),
		"raw_email_ref", pRef(to("artifact")))

	peSection := &spec{props: props(nil, "name", pStr(), "size", pIntMin(0), "entropy", pNum(), "hashes", pHashes()),
		required: []string{"name"}}
	peOptional := &spec{props: props(nil,
		"magic_hex", pHex(), "major_linker_version", pInt(), "minor_linker_version", pInt(),
		"size_of_code", pIntMin(0), "size_of_initialized_data", pIntMin(0), "size_of_uninitialized_data", pIntMin(0),
		"address_of_entry_point", pInt(), "base_of_code", pInt(), "base_of_data", pInt(), "image_base", pInt(),
		"section_alignment", pInt(), "file_alignment", pInt(), "major_os_version", pInt(), "minor_os_version", pInt(),
		"major_image_version", pInt(), "minor_image_version", pInt(), "major_subsystem_version", pInt(),
		"minor_subsystem_version", pInt(), "win32_version_value_hex", pHex(), "size_of_image", pIntMin(0),
		"size_of_headers", pIntMin(0), "checksum_hex", pHex(), "subsystem_hex", pHex(), "dll_characteristics_hex", pHex(),
		"size_of_stack_reserve", pIntMin(0), "size_of_stack_commit", pIntMin(0), "size_of_heap_reserve", pIntMin(0),
		"size_of_heap_commit", pIntMin(0), "loader_flags_hex", pHex(), "number_of_rva_and_sizes", pInt(),
		"hashes", pHashes())}
	fileExts := map[string]*spec{
		"archive-ext": ext([]string{"contains_refs"}, nil,
			"contains_refs", pRefs(to("file", "directory")), "comment", pStr()),
		"ntfs-ext": ext(nil, nil, "sid", pStr(), "alternate_data_streams", pObjs(&spec{
			props: props(nil, "name", pStr(), "hashes", pHashes(), "size", pIntMin(0)), required: []string{"name"}})),
		"pdf-ext": ext(nil, nil, "version", pStr(), "is_optimized", pBool(), "document_info_dict", pDict(),
			"pdfid0", pStr(), "pdfid1", pStr()),
		"raster-image-ext": ext(nil, nil, "image_height", pInt(), "image_width", pInt(), "bits_per_pixel", pInt(),
			"exif_tags", pDict()),
		"windows-pebinary-ext": ext([]string{"pe_type"}, nil, "pe_type", pStr(), "imphash", pStr(),
			"machine_hex", pHex(), "number_of_sections", pIntMin(0), "time_date_stamp", pTS(),
			"pointer_to_symbol_table_hex", pHex(), "number_of_symbols", pIntMin(0),
			"size_of_optional_header", pIntMin(0), "characteristics_hex", pHex(), "file_header_hashes", pHashes(),
			"optional_header", pObj(peOptional), "sections", pObjs(peSection)),
	}
	t["file"] = sco(nil, fileExts,
		func(c *checker, m map[string]any, at *path) { c.atLeastOne(m, at, "hashes", "name") },
		"hashes", pHashes(), "size", pIntMin(0), "name", pStr(), "name_enc", pStr(), "magic_number_hex", pHex(),
		"mime_type", pStr(), "ctime", pTS(), "mtime", pTS(), "atime", pTS(),
		"parent_directory_ref", pRef(to("directory")), "contains_refs", pRefs(refSCO), "content_ref", pRef(to("artifact")))
	t["ipv4-addr"] = sco([]string{"value"}, nil, checkIPAddr(false),
		"value", pStr(), "resolves_to_refs", pRefs(to("mac-addr")), "belongs_to_refs", pRefs(to("autonomous-system")))
	t["ipv6-addr"] = sco([]string{"value"}, nil, checkIPAddr(true),
		"value", pStr(), "resolves_to_refs", pRefs(to("mac-addr")), "belongs_to_refs", pRefs(to("autonomous-system")))
	t["mac-addr"] = sco([]string{"value"}, nil,
		func(c *checker, m map[string]any, at *path) {
			if s, ok := m["value"].(string); ok && !validMAC(s) {
				c.errf(at.key("value"), "%q: want a lowercase colon-delimited MAC-48 address", s)
			}
		}, "value", pStr())
	t["mutex"] = sco([]string{"name"}, nil, nil, "name", pStr())

	ntExts := map[string]*spec{
		"http-request-ext": ext([]string{"request_method", "request_value"}, nil,
			"request_method", pStr(), "request_value", pStr(), "request_version", pStr(),
			"request_header", pDict(), "message_body_length", pIntMin(0),
			"message_body_data_ref", pRef(to("artifact"))),
		"icmp-ext": ext([]string{"icmp_type_hex", "icmp_code_hex"}, nil,
			"icmp_type_hex", pHex(), "icmp_code_hex", pHex()),
		"socket-ext": ext([]string{"address_family"}, nil,
			"address_family", pEnum("AF_UNSPEC", "AF_INET", "AF_IPX", "AF_APPLETALK", "AF_NETBIOS", "AF_INET6", "AF_IRDA", "AF_BTH"),
			"is_blocking", pBool(), "is_listening", pBool(), "options", pDict(),
			"socket_type", pEnum("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET"),
			"socket_descriptor", pIntMin(0), "socket_handle", pInt()),
		"tcp-ext": ext(nil, nil, "src_flags_hex", pHex(), "dst_flags_hex", pHex()),
	}
	t["network-traffic"] = sco([]string{"protocols"}, ntExts,
		func(c *checker, m map[string]any, at *path) {
			c.atLeastOne(m, at, "src_ref", "dst_ref")
			if active, _ := m["is_active"].(bool); active {
				if _, ok := m["end"]; ok {
					c.errf(at.key("end"), "not allowed when is_active is true")
				}
			}
			c.order(m, at, "start", "end", false)
		},
		"start", pTS(), "end", pTS(), "is_active", pBool(), "src_ref", pRef(refAddr), "dst_ref", pRef(refAddr),
		"src_port", pIntRange(0, 65535), "dst_port", pIntRange(0, 65535), "protocols", pStrs(),
		"src_byte_count", pIntMin(0), "dst_byte_count", pIntMin(0), "src_packets", pIntMin(0),
		"dst_packets", pIntMin(0), "ipfix", pDict(), "src_payload_ref", pRef(to("artifact")),
		"dst_payload_ref", pRef(to("artifact")), "encapsulates_refs", pRefs(to("network-traffic")),
		"encapsulated_by_ref", pRef(to("network-traffic")))

	procExts := map[string]*spec{
		"windows-process-ext": ext(nil, nil, "aslr_enabled", pBool(), "dep_enabled", pBool(), "priority", pStr(),
			"owner_sid", pStr(), "window_title", pStr(), "startup_info", pDict(),
			"integrity_level", pEnum("low", "medium", "high", "system")),
		"windows-service-ext": ext(nil, nil, "service_name", pStr(), "descriptions", pStrs(),
			"display_name", pStr(), "group_name", pStr(),
			"start_type", pEnum("SERVICE_AUTO_START", "SERVICE_BOOT_START", "SERVICE_DEMAND_START", "SERVICE_DISABLED", "SERVICE_SYSTEM_ALERT"),
			"service_dll_refs", pRefs(to("file")),
			"service_type", pEnum("SERVICE_KERNEL_DRIVER", "SERVICE_FILE_SYSTEM_DRIVER", "SERVICE_WIN32_OWN_PROCESS", "SERVICE_WIN32_SHARE_PROCESS"),
			"service_status", pEnum("SERVICE_CONTINUE_PENDING", "SERVICE_PAUSE_PENDING", "SERVICE_PAUSED", "SERVICE_RUNNING",
				"SERVICE_START_PENDING", "SERVICE_STOP_PENDING", "SERVICE_STOPPED")),
	}
	t["process"] = sco(nil, procExts, atLeastOneOwn,
		"is_hidden", pBool(), "pid", pInt(), "created_time", pTS(), "cwd", pStr(), "command_line", pStr(),
		"environment_variables", pDict(), "opened_connection_refs", pRefs(to("network-traffic")),
		"creator_user_ref", pRef(to("user-account")), "image_ref", pRef(to("file")),
		"parent_ref", pRef(to("process")), "child_refs", pRefs(to("process")))
	t["software"] = sco([]string{"name"}, nil,
		func(c *checker, m map[string]any, at *path) {
			if v, ok := m["cpe"].(string); ok && !validCPE(v) {
				c.errf(at.key("cpe"), "%q is not a CPE 2.3 formatted string", v)
			}
		},
		"name", pStr(), "cpe", pStr(), "swid", pStr(), "languages", pStrs(), "vendor", pStr(), "version", pStr())
	t["url"] = sco([]string{"value"}, nil, nil, "value", pURL())
	t["user-account"] = sco(nil, map[string]*spec{
		"unix-account-ext": ext(nil, nil, "gid", pInt(), "groups", pStrs(), "home_dir", pStr(), "shell", pStr()),
	}, atLeastOneOwn,
		"user_id", pStr(), "credential", pStr(), "account_login", pStr(), "account_type", pStr(),
		"display_name", pStr(), "is_service_account", pBool(), "is_privileged", pBool(),
		"can_escalate_privs", pBool(), "is_disabled", pBool(), "account_created", pTS(),
		"account_expires", pTS(), "credential_last_changed", pTS(), "account_first_login", pTS(),
		"account_last_login", pTS())
	regValue := &spec{props: props(nil, "name", pStr(), "data", pStr(),
		"data_type", pEnum("REG_NONE", "REG_SZ", "REG_EXPAND_SZ", "REG_BINARY", "REG_DWORD", "REG_DWORD_BIG_ENDIAN",
			"REG_DWORD_LITTLE_ENDIAN", "REG_LINK", "REG_MULTI_SZ", "REG_RESOURCE_LIST", "REG_FULL_RESOURCE_DESCRIPTION",
			"REG_RESOURCE_REQUIREMENTS_LIST", "REG_QWORD", "REG_INVALID_TYPE"))}
	t["windows-registry-key"] = sco(nil, nil,
		func(c *checker, m map[string]any, at *path) {
			atLeastOneOwn(c, m, at)
			if k, ok := m["key"].(string); ok && abbreviatedHive(k) {
				c.errf(at.key("key"), "%q: the hive must be spelled out (HKEY_LOCAL_MACHINE, not HKLM)", k)
			}
		},
		"key", pStr(), "values", pObjs(regValue), "modified_time", pTS(),
		"creator_user_ref", pRef(to("user-account")), "number_of_subkeys", pIntMin(0))
	x509Ext := &spec{props: props(nil, "basic_constraints", pStr(), "name_constraints", pStr(),
		"policy_constraints", pStr(), "key_usage", pStr(), "extended_key_usage", pStr(),
		"subject_key_identifier", pStr(), "authority_key_identifier", pStr(), "subject_alternative_name", pStr(),
		"issuer_alternative_name", pStr(), "subject_directory_attributes", pStr(), "crl_distribution_points", pStr(),
		"inhibit_any_policy", pStr(), "private_key_usage_period_not_before", pTS(),
		"private_key_usage_period_not_after", pTS(), "certificate_policies", pStr(), "policy_mappings", pStr())}
	t["x509-certificate"] = sco(nil, nil,
		func(c *checker, m map[string]any, at *path) {
			atLeastOneOwn(c, m, at)
			c.order(m, at, "validity_not_before", "validity_not_after", false)
		},
		"is_self_signed", pBool(), "hashes", pHashes(), "version", pStr(), "serial_number", pStr(),
		"signature_algorithm", pStr(), "issuer", pStr(), "validity_not_before", pTS(), "validity_not_after", pTS(),
		"subject", pStr(), "subject_public_key_algorithm", pStr(), "subject_public_key_modulus", pStr(),
		"subject_public_key_exponent", pInt(), "x509_v3_extensions", pObj(x509Ext))
}

// atLeastOneOwn requires an SCO to carry at least one property beyond the
// common ones (process, user-account, windows-registry-key, x509-certificate).
func atLeastOneOwn(c *checker, m map[string]any, at *path) {
	for k := range m {
		if _, common := scoCommon[k]; !common || k == "extensions" {
			return
		}
	}
	c.errf(at, "at least one property specific to the object type must be present")
}

func validMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func abbreviatedHive(k string) bool {
	hive, _, _ := strings.Cut(k, `\`)
	switch strings.ToUpper(hive) {
	case "HKLM", "HKCC", "HKCR", "HKCU", "HKU":
		return true
	}
	return false
}

// validEmail checks an addr-spec: a local part and a domain without
// display names, angle brackets or white space.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ', c == '<', c == '>', c == '(', c == ')', c == ',', c == ';', c == 0x7f:
			return false
		}
	}
	return true
}

// validCPE checks the CPE 2.3 formatted-string binding: "cpe:2.3:" and
// eleven further colon-separated components (backslash escapes allowed),
// the part being a, h, o, * or -.
func validCPE(s string) bool {
	rest, ok := strings.CutPrefix(s, "cpe:2.3:")
	if !ok || rest == "" {
		return false
	}
	switch rest[0] {
	case 'a', 'h', 'o', '*', '-':
	default:
		return false
	}
	n := 1
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case ':':
			n++
		}
	}
	return n == 11
}

// idContrib lists the ID-contributing properties of the predefined SCOs
// (STIX 2.1 section 6); process has none.
var idContrib = map[string][]string{
	"artifact":             {"hashes", "payload_bin"},
	"autonomous-system":    {"number"},
	"directory":            {"path"},
	"domain-name":          {"value"},
	"email-addr":           {"value"},
	"email-message":        {"from_ref", "subject", "body"},
	"file":                 {"hashes", "name", "extensions", "parent_directory_ref"},
	"ipv4-addr":            {"value"},
	"ipv6-addr":            {"value"},
	"mac-addr":             {"value"},
	"mutex":                {"name"},
	"network-traffic":      {"start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"},
	"process":              {},
	"software":             {"name", "cpe", "swid", "vendor", "version"},
	"url":                  {"value"},
	"user-account":         {"account_type", "user_id", "account_login"},
	"windows-registry-key": {"key", "values"},
	"x509-certificate":     {"hashes", "serial_number"},
}
