package stix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The OASIS STIX 2.1 JSON schemas (../shared/schemas/schemas) as a second
// oracle: every real object Kizuna accepts must satisfy its type's schema,
// and mutated objects both must reject.

// schemaOracle compiles one schema per predefined type.
type schemaOracle struct {
	byType map[string]*jsonschema.Schema
}

func loadSchemaOracle(t *testing.T) *schemaOracle {
	t.Helper()
	dir := filepath.Join(sharedDir(t, "schemas"), "schemas")
	c := jsonschema.NewCompiler()
	files := map[string]string{} // type -> $id
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return err
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			return err
		}
		typ := strings.TrimSuffix(filepath.Base(p), ".json")
		switch filepath.Base(filepath.Dir(p)) {
		case "sdos", "sros", "observables":
			files[typ] = id
		case "common":
			switch typ {
			case "marking-definition", "language-content", "extension-definition", "bundle":
				files[typ] = id
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	o := &schemaOracle{byType: map[string]*jsonschema.Schema{}}
	for typ, id := range files {
		s, err := c.Compile(id)
		if err != nil {
			t.Fatalf("compiling the %s schema: %v", typ, err)
		}
		o.byType[typ] = s
	}
	return o
}

// valid reports the verdict of the schema for typ (the object's own type
// when empty), or ok=false for types without schema.
func (o *schemaOracle) valid(typ string, raw []byte) (valid, ok bool, err error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return false, true, err
	}
	if typ == "" {
		typ, _ = inst.(map[string]any)["type"].(string)
	}
	s := o.byType[typ]
	if s == nil {
		return false, false, nil
	}
	err = s.Validate(inst)
	return err == nil, true, err
}

func TestSchemaOracleAgreesOnRealData(t *testing.T) {
	oracle := loadSchemaOracle(t)
	checked, noSchema := 0, 0
	for _, file := range realFiles(t) {
		for _, raw := range readAll(t, file) {
			o, err := Parse(raw)
			if err != nil || len(Validate(o)) > 0 {
				continue // TestRealDataValid reports these
			}
			ok, has, err := oracle.valid("", raw)
			if !has {
				noSchema++
				continue
			}
			checked++
			if !ok {
				t.Errorf("%s: %s: Kizuna accepts, the OASIS schema rejects: %v", filepath.Base(file), o.ID, err)
			}
		}
	}
	t.Logf("%d objects checked against the OASIS schemas (%d of custom types without schema)", checked, noSchema)
	if checked < 1000 {
		t.Errorf("only %d objects checked", checked)
	}
}

// schemaMutations break a valid object in ways both validators must catch.
var schemaMutations = []struct {
	name  string
	types []string // object types the mutation applies to ("*" = all)
	fn    func(m map[string]any)
}{
	{"drop id", []string{"*"}, func(m map[string]any) { delete(m, "id") }},
	{"malformed id", []string{"*"}, func(m map[string]any) { m["id"] = m["type"].(string) + "--1234" }},
	{"type not a string", []string{"*"}, func(m map[string]any) { m["type"] = 7 }},
	{"created without zone", []string{"attack-pattern", "malware", "relationship", "identity", "course-of-action", "intrusion-set", "tool", "indicator", "campaign"},
		func(m map[string]any) { m["created"] = "2016-04-06T20:03:48.000" }},
	{"created without milliseconds", []string{"attack-pattern", "malware", "relationship", "identity", "course-of-action", "intrusion-set", "tool", "indicator", "campaign"},
		func(m map[string]any) { m["created"] = "2016-04-06T20:03:48Z" }},
	{"confidence 101", []string{"attack-pattern", "malware", "relationship", "identity", "indicator"}, func(m map[string]any) { m["confidence"] = 101 }},
	{"revoked as string", []string{"attack-pattern", "malware", "relationship", "tool"}, func(m map[string]any) { m["revoked"] = "false" }},
	{"empty labels", []string{"attack-pattern", "malware", "relationship", "indicator"}, func(m map[string]any) { m["labels"] = []any{} }},
	{"drop name", []string{"attack-pattern", "campaign", "course-of-action", "identity", "intrusion-set", "tool", "threat-actor", "vulnerability", "infrastructure"},
		func(m map[string]any) { delete(m, "name") }},
	{"kill chain phase without phase_name", []string{"attack-pattern", "indicator", "tool"}, func(m map[string]any) {
		m["kill_chain_phases"] = []any{map[string]any{"kill_chain_name": "mitre-attack"}}
	}},
	{"external reference without source_name", []string{"attack-pattern", "malware", "intrusion-set"}, func(m map[string]any) {
		m["external_references"] = []any{map[string]any{"external_id": "T1"}}
	}},
	{"relationship to bundle", []string{"relationship"}, func(m map[string]any) {
		m["target_ref"] = "bundle--44af6c39-c09b-49c5-9de2-394224b04982"
	}},
	{"relationship type with spaces", []string{"relationship"}, func(m map[string]any) { m["relationship_type"] = "related to" }},
	{"indicator without pattern", []string{"indicator"}, func(m map[string]any) { delete(m, "pattern") }},
	{"malware without is_family", []string{"malware"}, func(m map[string]any) { delete(m, "is_family") }},
	{"observed-data number_observed 0", []string{"observed-data"}, func(m map[string]any) { m["number_observed"] = 0 }},
	{"object_marking_refs not identifiers", []string{"attack-pattern", "malware", "identity"}, func(m map[string]any) {
		m["object_marking_refs"] = []any{"tlp-green"}
	}},
	{"statement marking without statement", []string{"marking-definition"}, func(m map[string]any) {
		if m["definition_type"] == "statement" {
			m["definition"] = map[string]any{}
		} else {
			delete(m, "created")
		}
	}},
}

func TestSchemaOracleAgreesOnMutations(t *testing.T) {
	oracle := loadSchemaOracle(t)
	byType := map[string][][]byte{}
	for _, file := range realFiles(t) {
		for _, raw := range readAll(t, file) {
			var m struct{ Type string }
			_ = json.Unmarshal(raw, &m)
			if len(byType[m.Type]) < 3 {
				byType[m.Type] = append(byType[m.Type], raw)
			}
		}
	}
	cases := 0
	for _, mu := range schemaMutations {
		for typ, raws := range byType {
			if oracle.byType[typ] == nil || (mu.types[0] != "*" && !containsStr(mu.types, typ)) {
				continue
			}
			for _, raw := range raws {
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatal(err)
				}
				id, _ := m["id"].(string)
				mu.fn(m)
				mutated, _ := json.Marshal(m)
				cases++
				schemaOK, _, _ := oracle.valid(typ, mutated)
				kizunaOK := true
				o, err := Parse(mutated)
				if err != nil || len(Validate(o)) > 0 {
					kizunaOK = false
				}
				if schemaOK || kizunaOK {
					t.Errorf("%s on %s: schema valid=%v, kizuna valid=%v; both should reject", mu.name, id, schemaOK, kizunaOK)
				}
			}
		}
	}
	t.Logf("%d mutated objects rejected by both validators", cases)
	if cases < 50 {
		t.Errorf("only %d mutation cases", cases)
	}
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
