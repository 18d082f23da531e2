package stix

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Valid base objects; the rule tests mutate copies of them.
var bases = map[string]string{
	"attack-pattern":  `{"type":"attack-pattern","spec_version":"2.1","id":"attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061","created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","created":"2016-05-12T08:17:27.000Z","modified":"2016-05-12T08:17:27.000Z","name":"Spear Phishing","external_references":[{"source_name":"capec","external_id":"CAPEC-163"},{"source_name":"mitre-attack","url":"https://attack.mitre.org/techniques/T1566","hashes":{"SHA-256":"6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b"}}],"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}],"object_marking_refs":["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"],"x_mitre_version":"1.0"}`,
	"indicator":       `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","indicator_types":["malicious-activity"],"pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.1']","valid_from":"2016-04-06T20:03:48Z","valid_until":"2017-04-06T20:03:48Z","confidence":80,"lang":"en"}`,
	"malware":         `{"type":"malware","spec_version":"2.1","id":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b","created":"2016-04-06T20:07:09.000Z","modified":"2016-04-06T20:07:09.000Z","name":"Poison Ivy","is_family":true,"first_seen":"2016-01-01T00:00:00Z","last_seen":"2016-02-01T00:00:00Z","sample_refs":["file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"]}`,
	"relationship":    `{"type":"relationship","spec_version":"2.1","id":"relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad","created":"2016-04-06T20:06:37.000Z","modified":"2016-04-06T20:06:37.000Z","relationship_type":"indicates","source_ref":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","target_ref":"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}`,
	"sighting":        `{"type":"sighting","spec_version":"2.1","id":"sighting--ee20065d-2555-424f-ad9e-0f8428623c75","created":"2016-04-06T20:08:31.000Z","modified":"2016-04-06T20:08:31.000Z","sighting_of_ref":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","where_sighted_refs":["identity--b67d30ff-02ac-498a-92f9-32f845f448ff"],"count":3}`,
	"location":        `{"type":"location","spec_version":"2.1","id":"location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64","created":"2016-04-06T20:03:00.000Z","modified":"2016-04-06T20:03:00.000Z","latitude":48.8566,"longitude":2.3522,"precision":1000}`,
	"observed-data":   `{"type":"observed-data","spec_version":"2.1","id":"observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf","created":"2016-04-06T19:58:16.000Z","modified":"2016-04-06T19:58:16.000Z","first_observed":"2015-12-21T19:00:00Z","last_observed":"2015-12-21T19:00:00Z","number_observed":50,"object_refs":["ipv4-addr--efcd5e80-570d-4131-b213-62cb18eaa6a8"]}`,
	"marking":         `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da","created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:GREEN","definition":{"tlp":"green"}}`,
	"statement":       `{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f","created":"2017-04-14T13:07:49.812Z","definition_type":"statement","definition":{"statement":"Copyright (c) Example Corp."}}`,
	"file":            `{"type":"file","spec_version":"2.1","id":"file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d","hashes":{"MD5":"1717b7fff97d37a1e1a0029d83492de1"},"name":"resume.pdf","size":1024,"extensions":{"archive-ext":{"contains_refs":["file--ff1e0780-358c-5808-a8c7-d0fca4ef6ef4"]},"windows-pebinary-ext":{"pe_type":"exe","sections":[{"name":".text","entropy":7.1}]}}}`,
	"network-traffic": `{"type":"network-traffic","spec_version":"2.1","id":"network-traffic--2568d22a-8998-58eb-99ec-3c8ca74f527d","src_ref":"ipv4-addr--4d22aae0-2bf9-5427-8819-e4f6abf20a53","dst_port":443,"protocols":["ipv4","tcp"],"start":"2016-01-01T00:00:00Z","end":"2016-01-01T00:05:00Z","extensions":{"socket-ext":{"address_family":"AF_INET","socket_type":"SOCK_STREAM"}}}`,
	"ipv4-addr":       `{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4","value":"198.51.100.3"}`,
	"email-message":   `{"type":"email-message","spec_version":"2.1","id":"email-message--cf9b4b7f-14c8-5955-8065-020e0316b559","is_multipart":true,"subject":"Hi","body_multipart":[{"content_type":"text/plain","body":"hello"},{"body_raw_ref":"artifact--4cce66f8-6eaa-53cb-85d5-3a85fca3a6c5"}],"to_refs":["email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3"]}`,
	"process":         `{"type":"process","spec_version":"2.1","id":"process--f52a906a-0dfc-40bd-92f1-e7778ead38a9","pid":1221,"extensions":{"windows-process-ext":{"integrity_level":"high"}}}`,
	"language":        `{"type":"language-content","spec_version":"2.1","id":"language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d","created":"2017-02-08T21:31:22.007Z","modified":"2017-02-08T21:31:22.007Z","object_ref":"campaign--12a111f0-b824-4baa-a82b-b6ee2f4f1db4","object_modified":"2017-02-08T21:31:22.007Z","contents":{"de":{"name":"Bank Angriff 1","description":"Weitere Informationen"}}}`,
	"extdef":          `{"type":"extension-definition","spec_version":"2.1","id":"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e","created_by_ref":"identity--11b76a96-5d2b-45e0-8a5a-f6994f370731","created":"2014-02-20T09:16:08.989Z","modified":"2014-02-20T09:16:08.989Z","name":"New SDO","schema":"https://www.example.com/schema","version":"1.2.1","extension_types":["new-sdo"]}`,
	"bundle":          `{"type":"bundle","id":"bundle--44af6c39-c09b-49c5-9de2-394224b04982","objects":[{"type":"identity","spec_version":"2.1","id":"identity--8ae20dde-83d4-4218-88fd-41ef0dabf9d1","created":"2016-08-22T14:09:00.123Z","modified":"2016-08-22T14:09:00.123Z","name":"mitre.org"}]}`,
	"custom":          `{"type":"x-acme-widget","spec_version":"2.1","id":"x-acme-widget--4527e5de-8572-446a-a57a-706f15467461","created":"2021-02-20T09:16:08.989Z","modified":"2021-02-20T09:16:08.989Z","extensions":{"extension-definition--1bba6c39-7ac1-40a2-819a-f33f8ea81a25":{"extension_type":"new-sdo"}},"widget_size":3}`,
}

// mutate returns the base object with fn applied to its decoded form.
func mutate(t *testing.T, base string, fn func(m map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(bases[base]))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("base %s: %v", base, err)
	}
	if fn != nil {
		fn(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setP(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
func del(k ...string) func(map[string]any) {
	return func(m map[string]any) {
		for _, x := range k {
			delete(m, x)
		}
	}
}
func sub(k string, fn func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) { fn(m[k].(map[string]any)) }
}
func elem(k string, i int, fn func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) { fn(m[k].([]any)[i].(map[string]any)) }
}
func num(s string) json.Number { return json.Number(s) }

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name string
		base string
		fn   func(map[string]any)
		want []string // properties at fault; empty = valid
	}{
		// Every base object is valid.
		{name: "attack-pattern valid", base: "attack-pattern"},
		{name: "indicator valid", base: "indicator"},
		{name: "malware valid", base: "malware"},
		{name: "relationship valid", base: "relationship"},
		{name: "sighting valid", base: "sighting"},
		{name: "location valid", base: "location"},
		{name: "observed-data valid", base: "observed-data"},
		{name: "tlp marking valid", base: "marking"},
		{name: "statement marking valid", base: "statement"},
		{name: "file valid", base: "file"},
		{name: "network-traffic valid", base: "network-traffic"},
		{name: "ipv4-addr valid", base: "ipv4-addr"},
		{name: "email-message valid", base: "email-message"},
		{name: "process valid", base: "process"},
		{name: "language-content valid", base: "language"},
		{name: "extension-definition valid", base: "extdef"},
		{name: "bundle valid", base: "bundle"},
		{name: "custom object with extension valid", base: "custom"},

		// Common properties.
		{name: "missing spec_version", base: "indicator", fn: del("spec_version"), want: []string{"spec_version"}},
		{name: "spec_version 2.0", base: "indicator", fn: setP("spec_version", "2.0"), want: []string{"spec_version"}},
		{name: "missing created and modified", base: "malware", fn: del("created", "modified"), want: []string{"created", "modified"}},
		{name: "modified before created", base: "malware", fn: setP("modified", "2016-04-06T20:07:08.999Z"), want: []string{"modified"}},
		{name: "created without milliseconds", base: "malware", fn: setP("created", "2016-04-06T20:07:09Z"), want: []string{"created"}},
		{name: "microsecond precision allowed", base: "malware", fn: func(m map[string]any) {
			m["created"] = "2016-04-06T20:07:09.000001Z"
			m["modified"] = "2016-04-06T20:07:09.000001Z"
		}},
		{name: "timestamp with offset", base: "indicator", fn: setP("valid_from", "2016-04-06T20:03:48+00:00"), want: []string{"valid_from"}},
		{name: "timestamp day out of range", base: "indicator", fn: setP("valid_from", "2017-02-29T00:00:00Z"), want: []string{"valid_from"}},
		{name: "leap day allowed", base: "indicator", fn: setP("valid_from", "2016-02-29T00:00:00Z")},
		{name: "id type mismatch", base: "indicator", fn: setP("id", "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), want: []string{"id"}},
		{name: "id bad uuid variant", base: "indicator", fn: setP("id", "indicator--8e2e2d2b-17d4-4cbf-738f-98ee46b3cd3f"), want: []string{"id"}},
		{name: "id short uuid", base: "indicator", fn: setP("id", "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3"), want: []string{"id"}},
		{name: "created_by_ref not identity", base: "attack-pattern", fn: setP("created_by_ref", "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"), want: []string{"created_by_ref"}},
		{name: "object_marking_refs not marking", base: "attack-pattern", fn: setP("object_marking_refs", []any{"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"}), want: []string{"object_marking_refs[0]"}},
		{name: "two TLP markings", base: "attack-pattern", fn: setP("object_marking_refs", []any{"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"}), want: []string{"object_marking_refs[1]"}},
		{name: "empty list", base: "indicator", fn: setP("indicator_types", []any{}), want: []string{"indicator_types"}},
		{name: "open vocabulary value kept", base: "indicator", fn: setP("indicator_types", []any{"totally-new-type"})},
		{name: "confidence over 100", base: "indicator", fn: setP("confidence", num("101")), want: []string{"confidence"}},
		{name: "confidence not integer", base: "indicator", fn: setP("confidence", num("50.5")), want: []string{"confidence"}},
		{name: "confidence as string", base: "indicator", fn: setP("confidence", "50"), want: []string{"confidence"}},
		{name: "bad lang", base: "indicator", fn: setP("lang", "en_US"), want: []string{"lang"}},
		{name: "revoked not boolean", base: "indicator", fn: setP("revoked", "yes"), want: []string{"revoked"}},
		{name: "labels not strings", base: "indicator", fn: setP("labels", []any{num("1")}), want: []string{"labels[0]"}},

		// Custom properties.
		{name: "custom property kept", base: "indicator", fn: setP("x_acme_score", map[string]any{"a": []any{num("1")}})},
		{name: "custom property name with dash", base: "indicator", fn: setP("x-acme", "v"), want: []string{"x-acme"}},
		{name: "custom property name too short", base: "indicator", fn: setP("xy", "v"), want: []string{"xy"}},
		{name: "custom property name too long", base: "indicator", fn: setP(strings.Repeat("x", 251), "v"), want: []string{strings.Repeat("x", 251)}},
		{name: "custom property starting with digit", base: "indicator", fn: setP("9abc", "v"), want: []string{"9abc"}},
		{name: "custom _ref must be identifier", base: "indicator", fn: setP("x_acme_ref", "nope"), want: []string{"x_acme_ref"}},
		{name: "custom _refs list of identifiers", base: "indicator", fn: setP("x_acme_refs", []any{"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff", "bad"}), want: []string{"x_acme_refs[1]"}},
		{name: "custom _hex", base: "indicator", fn: setP("x_acme_hex", "abc"), want: []string{"x_acme_hex"}},
		{name: "reserved property", base: "indicator", fn: setP("severity", "high"), want: []string{"severity"}},

		// External references, kill chains, hashes, granular markings.
		{name: "external reference without source_name", base: "attack-pattern", fn: elem("external_references", 1, del("source_name")), want: []string{"external_references[1].source_name"}},
		{name: "external reference with only source_name", base: "attack-pattern", fn: elem("external_references", 1, del("url", "hashes")), want: []string{"external_references[1]"}},
		{name: "capec with bad id", base: "attack-pattern", fn: elem("external_references", 0, setP("external_id", "163")), want: []string{"external_references[0].external_id"}},
		{name: "cve id under other source", base: "attack-pattern", fn: elem("external_references", 0, func(m map[string]any) {
			m["source_name"] = "CVE"
			m["external_id"] = "CVE-2016-1234"
		}), want: []string{"external_references[0].source_name"}},
		{name: "bad SHA-256 in external reference", base: "attack-pattern", fn: elem("external_references", 1, setP("hashes", map[string]any{"SHA-256": "abc"})), want: []string{"external_references[1].hashes.SHA-256"}},
		{name: "custom hash algorithm kept", base: "attack-pattern", fn: elem("external_references", 1, setP("hashes", map[string]any{"x_acme_hash": "abc"}))},
		{name: "bad url", base: "attack-pattern", fn: elem("external_references", 1, setP("url", "not a url")), want: []string{"external_references[1].url"}},
		{name: "kill chain phase without phase_name", base: "attack-pattern", fn: elem("kill_chain_phases", 0, del("phase_name")), want: []string{"kill_chain_phases[0].phase_name"}},
		{name: "granular marking valid", base: "indicator", fn: setP("granular_markings", []any{map[string]any{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "selectors": []any{"pattern", "indicator_types.[0]"}}})},
		{name: "granular marking selector absent", base: "indicator", fn: setP("granular_markings", []any{map[string]any{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "selectors": []any{"description", "indicator_types.[3]"}}}), want: []string{"granular_markings[0].selectors[0]", "granular_markings[0].selectors[1]"}},
		{name: "granular marking both ref and lang", base: "indicator", fn: setP("granular_markings", []any{map[string]any{"marking_ref": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", "lang": "en", "selectors": []any{"pattern"}}}), want: []string{"granular_markings[0].lang"}},
		{name: "granular marking without selectors", base: "indicator", fn: setP("granular_markings", []any{map[string]any{"lang": "en"}}), want: []string{"granular_markings[0].selectors"}},

		// Type-specific rules.
		{name: "indicator valid_until equal valid_from", base: "indicator", fn: setP("valid_until", "2016-04-06T20:03:48.000Z"), want: []string{"valid_until"}},
		{name: "indicator bad pattern", base: "indicator", fn: setP("pattern", "ipv4-addr:value = '1'"), want: []string{"pattern"}},
		{name: "indicator non-stix pattern not parsed", base: "indicator", fn: func(m map[string]any) {
			m["pattern_type"] = "snort"
			m["pattern"] = "alert tcp any any -> any 80"
		}},
		{name: "indicator missing pattern", base: "indicator", fn: del("pattern"), want: []string{"pattern"}},
		{name: "malware family without name", base: "malware", fn: del("name"), want: []string{"name"}},
		{name: "malware instance without name", base: "malware", fn: func(m map[string]any) { m["is_family"] = false; delete(m, "name") }},
		{name: "malware last_seen before first_seen", base: "malware", fn: setP("last_seen", "2015-01-01T00:00:00Z"), want: []string{"last_seen"}},
		{name: "malware sample_refs wrong type", base: "malware", fn: setP("sample_refs", []any{"software--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"}), want: []string{"sample_refs[0]"}},
		{name: "relationship to marking", base: "relationship", fn: setP("target_ref", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"), want: []string{"target_ref"}},
		{name: "relationship to SCO allowed", base: "relationship", fn: setP("target_ref", "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4")},
		{name: "relationship type upper case", base: "relationship", fn: setP("relationship_type", "Indicates"), want: []string{"relationship_type"}},
		{name: "relationship stop before start", base: "relationship", fn: func(m map[string]any) {
			m["start_time"] = "2016-01-02T00:00:00Z"
			m["stop_time"] = "2016-01-01T00:00:00Z"
		}, want: []string{"stop_time"}},
		{name: "sighting of SCO", base: "sighting", fn: setP("sighting_of_ref", "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"), want: []string{"sighting_of_ref"}},
		{name: "sighting where_sighted malware", base: "sighting", fn: setP("where_sighted_refs", []any{"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}), want: []string{"where_sighted_refs[0]"}},
		{name: "sighting negative count", base: "sighting", fn: setP("count", num("-1")), want: []string{"count"}},
		{name: "location latitude without longitude", base: "location", fn: del("longitude"), want: []string{"", "latitude", "precision"}},
		{name: "location latitude out of range", base: "location", fn: setP("latitude", num("91")), want: []string{"latitude"}},
		{name: "location by region", base: "location", fn: func(m map[string]any) {
			delete(m, "latitude")
			delete(m, "longitude")
			delete(m, "precision")
			m["region"] = "northern-europe"
		}},
		{name: "observed-data both objects and object_refs", base: "observed-data", fn: setP("objects", map[string]any{"0": map[string]any{"type": "ipv4-addr", "value": "1.2.3.4"}}), want: []string{"objects"}},
		{name: "observed-data refs an SDO", base: "observed-data", fn: setP("object_refs", []any{"malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"}), want: []string{"object_refs[0]"}},
		{name: "observed-data number_observed 0", base: "observed-data", fn: setP("number_observed", num("0")), want: []string{"number_observed"}},
		{name: "tlp marking with wrong id", base: "marking", fn: setP("id", "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db"), want: []string{"id"}},
		{name: "tlp marking with wrong colour", base: "marking", fn: sub("definition", setP("tlp", "red")), want: []string{"definition.tlp"}},
		{name: "marking marks itself", base: "statement", fn: setP("object_marking_refs", []any{"marking-definition--d81f86b9-975b-4c0b-875e-810c5ad45a4f"}), want: []string{"object_marking_refs[0]"}},
		{name: "statement without statement", base: "statement", fn: setP("definition", map[string]any{"text": "x"}), want: []string{"definition.statement"}},
		{name: "marking without definition or extension", base: "statement", fn: del("definition", "definition_type"), want: []string{"definition", "definition_type"}},
		{name: "TLP 2.0 marking by extension", base: "statement", fn: func(m map[string]any) {
			delete(m, "definition")
			delete(m, "definition_type")
			m["extensions"] = map[string]any{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": map[string]any{"extension_type": "property-extension", "tlp_2_0": "amber+strict"}}
		}},
		{name: "language-content bad language", base: "language", fn: setP("contents", map[string]any{"de_DE": map[string]any{"name": "x"}}), want: []string{"contents.de_DE"}},
		{name: "language-content for bundle", base: "language", fn: setP("object_ref", "bundle--44af6c39-c09b-49c5-9de2-394224b04982"), want: []string{"object_ref"}},
		{name: "extension-definition bad type", base: "extdef", fn: setP("extension_types", []any{"new-thing"}), want: []string{"extension_types[0]"}},
		{name: "extension-definition without creator", base: "extdef", fn: del("created_by_ref"), want: []string{"created_by_ref"}},
		{name: "extension_properties without toplevel", base: "extdef", fn: setP("extension_properties", []any{"a_prop"}), want: []string{"extension_properties"}},
		{name: "extension without extension_type", base: "custom", fn: setP("extensions", map[string]any{"extension-definition--1bba6c39-7ac1-40a2-819a-f33f8ea81a25": map[string]any{"xyz": "y"}}), want: []string{"extensions.extension-definition--1bba6c39-7ac1-40a2-819a-f33f8ea81a25.extension_type"}},
		{name: "bad extension name", base: "custom", fn: setP("extensions", map[string]any{"foo": map[string]any{"x": "y"}}), want: []string{"extensions.foo"}},
		{name: "custom type name invalid", base: "custom", fn: func(m map[string]any) {
			m["type"] = "X-Acme"
			m["id"] = "X-Acme--4527e5de-8572-446a-a57a-706f15467461"
		}, want: []string{"id", "type"}},

		// SCOs and their extensions.
		{name: "file without hashes or name", base: "file", fn: del("hashes", "name"), want: []string{""}},
		{name: "file bad MD5", base: "file", fn: setP("hashes", map[string]any{"MD5": "xyz"}), want: []string{"hashes.MD5"}},
		{name: "file negative size", base: "file", fn: setP("size", num("-1")), want: []string{"size"}},
		{name: "archive-ext without contains_refs", base: "file", fn: sub("extensions", setP("archive-ext", map[string]any{"comment": "x"})), want: []string{"extensions.archive-ext.contains_refs"}},
		{name: "archive-ext contains process", base: "file", fn: sub("extensions", setP("archive-ext", map[string]any{"contains_refs": []any{"process--f52a906a-0dfc-40bd-92f1-e7778ead38a9"}})), want: []string{"extensions.archive-ext.contains_refs[0]"}},
		{name: "pe section without name", base: "file", fn: sub("extensions", sub("windows-pebinary-ext", elem("sections", 0, del("name")))), want: []string{"extensions.windows-pebinary-ext.sections[0].name"}},
		{name: "empty extension", base: "file", fn: sub("extensions", setP("ntfs-ext", map[string]any{})), want: []string{"extensions.ntfs-ext"}},
		{name: "custom -ext extension kept", base: "file", fn: sub("extensions", setP("x-acme-ext", map[string]any{"colour": "red"}))},
		{name: "file with spec_version 2.0", base: "file", fn: setP("spec_version", "2.0"), want: []string{"spec_version"}},
		{name: "network-traffic port out of range", base: "network-traffic", fn: setP("dst_port", num("65536")), want: []string{"dst_port"}},
		{name: "network-traffic without endpoints", base: "network-traffic", fn: del("src_ref"), want: []string{""}},
		{name: "network-traffic active with end", base: "network-traffic", fn: setP("is_active", true), want: []string{"end"}},
		{name: "network-traffic src_ref to file", base: "network-traffic", fn: setP("src_ref", "file--364fe3e5-b1f4-5ba3-b951-ee5983b3538d"), want: []string{"src_ref"}},
		{name: "socket-ext bad family", base: "network-traffic", fn: sub("extensions", sub("socket-ext", setP("address_family", "AF_FOO"))), want: []string{"extensions.socket-ext.address_family"}},
		{name: "ipv4 with CIDR", base: "ipv4-addr", fn: setP("value", "198.51.100.0/24")},
		{name: "ipv4 value is IPv6", base: "ipv4-addr", fn: setP("value", "2001:db8::1"), want: []string{"value"}},
		{name: "ipv4 value malformed", base: "ipv4-addr", fn: setP("value", "198.51.100.300"), want: []string{"value"}},
		{name: "email multipart with body", base: "email-message", fn: setP("body", "x"), want: []string{"body"}},
		{name: "mime part with body and ref", base: "email-message", fn: elem("body_multipart", 0, setP("body_raw_ref", "artifact--4cce66f8-6eaa-53cb-85d5-3a85fca3a6c5")), want: []string{"body_multipart[0].body_raw_ref"}},
		{name: "email to_refs wrong type", base: "email-message", fn: setP("to_refs", []any{"url--4cce66f8-6eaa-53cb-85d5-3a85fca3a6c5"}), want: []string{"to_refs[0]"}},
		{name: "process integrity level not in enum", base: "process", fn: sub("extensions", sub("windows-process-ext", setP("integrity_level", "extreme"))), want: []string{"extensions.windows-process-ext.integrity_level"}},
		{name: "process with uuidv5", base: "process", fn: setP("id", "process--f52a906a-0dfc-50bd-92f1-e7778ead38a9"), want: []string{"id"}},
		{name: "process without own properties", base: "process", fn: del("pid", "extensions"), want: []string{""}},

		// Bundles.
		{name: "bundle bad id", base: "bundle", fn: setP("id", "bundle--nope"), want: []string{"id"}},
		{name: "bundle object errors name the object", base: "bundle", fn: func(m map[string]any) {
			delete(m["objects"].([]any)[0].(map[string]any), "name")
		}, want: []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mutate(t, tt.base, tt.fn)
			o, err := Parse(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			errs := Validate(o)
			var got []string
			for _, e := range errs {
				got = append(got, e.Property)
				if e.ObjectID == "" || e.Message == "" {
					t.Errorf("error without object id or message: %+v", e)
				}
			}
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("properties at fault %q, want %q; errors: %v", got, want, errs)
			}
		})
	}
}

func TestValidateErrorsNameObjectAndProperty(t *testing.T) {
	o := mustParse(t, `{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","spec_version":"2.1","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","pattern_type":"stix","pattern":"[x:y = 1]","valid_from":"2016-04-06T20:03:48Z","external_references":[{"source_name":"a","url":"https://a"},{"source_name":"b","url":"https://b"},{"url":"https://c"}]}`)
	errs := Validate(o)
	if len(errs) != 1 {
		t.Fatalf("errors: %v", errs)
	}
	want := "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: external_references[2].source_name: required property missing"
	if errs[0].Error() != want {
		t.Errorf("got %q, want %q", errs[0].Error(), want)
	}
}

func TestValidateNil(t *testing.T) {
	if errs := Validate(nil); len(errs) != 1 {
		t.Errorf("Validate(nil) = %v", errs)
	}
	if errs := Validate(&Object{}); len(errs) != 1 {
		t.Errorf("Validate(empty) = %v", errs)
	}
}

func TestReadInput(t *testing.T) {
	tests := []struct {
		name, in string
		kind     string
		n        int
		err      bool
	}{
		{"bundle", `{"type":"bundle","id":"bundle--44af6c39-c09b-49c5-9de2-394224b04982","objects":[{"type":"x-a","id":"x-a--1"},{"type":"x-b","id":"x-b--2"}]}`, "bundle", 2, false},
		{"objects before type", `{"objects":[{"type":"x-a","id":"x-a--1"}],"type":"bundle","id":"bundle--44af6c39-c09b-49c5-9de2-394224b04982"}`, "bundle", 1, false},
		{"taxii envelope", `{"more":false,"objects":[{"type":"x-a","id":"x-a--1"}]}`, "envelope", 1, false},
		{"array", `[{"type":"x-a","id":"x-a--1"},{"type":"x-b","id":"x-b--2"},{"type":"x-c","id":"x-c--3"}]`, "array", 3, false},
		{"single", `{"type":"x-a","id":"x-a--1"}`, "object", 1, false},
		{"observed-data with objects dictionary", `{"type":"observed-data","id":"observed-data--1","objects":{"0":{"type":"file","name":"<a&b>"}}}`, "object", 1, false},
		{"observed-data with objects list", `{"type":"observed-data","id":"observed-data--1","objects":[{"type":"file"}]}`, "object", 1, false},
		{"scalar", `42`, "", 0, true},
		{"trailing garbage", `{"type":"x-a","id":"x-a--1"} x`, "", 1, true},
		{"truncated", `{"type":"bundle","objects":[{"type":"x-a"`, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			var raws []string
			env, err := ReadInput(strings.NewReader(tt.in), func(i int, raw json.RawMessage) error {
				if i != n {
					t.Errorf("index %d, want %d", i, n)
				}
				n++
				raws = append(raws, string(raw))
				return nil
			})
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if tt.err {
				return
			}
			if env.Kind != tt.kind || n != tt.n {
				t.Errorf("kind %q with %d objects, want %q with %d", env.Kind, n, tt.kind, tt.n)
			}
			if tt.kind == "object" {
				var c bytes.Buffer
				_ = json.Compact(&c, []byte(tt.in))
				if raws[0] != c.String() {
					t.Errorf("single object changed:\n%s\n%s", raws[0], c.String())
				}
			}
		})
	}
}

func TestParseRejectsDuplicateNames(t *testing.T) {
	for _, in := range []string{
		`{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","type":"malware"}`,
		`{"type":"x-a","id":"x-a--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","object_marking_refs":["a"],"object_marking_refs":["b"]}`,
		`{"type":"x-a","id":"x-a--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","ext":{"k":1,"k":2}}`,
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), "duplicate property name") {
			t.Errorf("Parse(%s) = %v, want a duplicate-name error", in, err)
		}
	}
}
