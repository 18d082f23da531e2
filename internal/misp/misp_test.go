package misp

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

func loadFixture(t testing.TB, name string) []*Event {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ParseEvents(name, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func convert(t testing.TB, ev *Event, loss *Loss) map[string]*stix.Object {
	t.Helper()
	raws, err := ToSTIX(ev, loss)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*stix.Object{}
	for _, r := range raws {
		o, err := stix.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		if errs := stix.Validate(o); len(errs) > 0 {
			t.Fatalf("%s: %v", o.ID, errs)
		}
		if out[o.ID] != nil {
			t.Fatalf("duplicate object %s", o.ID)
		}
		out[o.ID] = o
	}
	return out
}

func values(m map[string]*stix.Object) []*stix.Object {
	out := make([]*stix.Object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

// TestSyntheticMapping checks the mapping conventions one by one on the
// synthetic event.
func TestSyntheticMapping(t *testing.T) {
	ev := loadFixture(t, "synthetic.json")[0]
	loss := &Loss{}
	objs := convert(t, ev, loss)
	byAttr := func(uuid, typ string) *stix.Object {
		t.Helper()
		o := objs[stixID(typ, uuid)]
		if o == nil {
			t.Fatalf("attribute %s: no %s", uuid, typ)
		}
		return o
	}
	marking := func(o *stix.Object) string {
		if len(o.ObjectMarkingRefs) != 1 {
			return strings.Join(o.ObjectMarkingRefs, ",")
		}
		return o.ObjectMarkingRefs[0]
	}
	rep := objs[ReportID(ev.UUID)]
	if rep == nil {
		t.Fatal("no report")
	}
	if got := marking(rep); got != sharing.TLP2Green {
		t.Errorf("report marking %q, want TLP:GREEN from tag tlp:green", got)
	}
	if l := strList(rep.Props["labels"]); !slices.Equal(l, []string{`kizuna:test="synthetic"`}) {
		t.Errorf("report labels %q: want the non-TLP tag only", l)
	}
	if n := len(strList(rep.Props["object_refs"])); n != len(objs)-1 {
		t.Errorf("report refers to %d objects, want all %d others", n, len(objs)-1)
	}
	ind := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000001", "indicator")
	if p := ind.Props["pattern"]; p != "[ipv4-addr:value = '198.51.100.7']" {
		t.Errorf("ip-dst pattern %q", p)
	}
	if l := strList(ind.Props["labels"]); !slices.Contains(l, `misp:to_ids="True"`) || !slices.Contains(l, `misp:type="ip-dst"`) {
		t.Errorf("indicator labels %q", l)
	}
	od := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000002", "observed-data")
	if v, ok := valueFromObservables("domain|ip", obj(od.Props["objects"])); !ok || v != "c2.example.net|2001:db8::7" {
		t.Errorf("domain|ip observed-data gives %q %v", v, ok)
	}
	fh := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000003", "indicator")
	if p := fh.Props["pattern"]; p != `[file:name = 'dropper \'x\'.exe' AND file:hashes.'SHA-256' = '0f3ad7e0f2b8c1b0d0c5f8a5a1b6a8b7e1c2d3f4a5b6c7d8e9f0a1b2c3d4e5f6']` {
		t.Errorf("filename|sha256 pattern %q", p)
	}
	port := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000004", "indicator")
	if got := marking(port); got != sharing.TLP2Red {
		t.Errorf("attribute tagged tlp:red has marking %q", got)
	}
	url := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000006", "indicator")
	if got := marking(url); got != sharing.TLP2AmberStrict {
		t.Errorf("attribute with distribution 0 has marking %q, want AMBER+STRICT", got)
	}
	if byAttr("0b3a9d2e-3333-4c1a-8f00-000000000005", "x-misp-attribute").Props["x_misp_value"] != "free text that STIX has no observable for" {
		t.Error("text attribute value not kept")
	}
	if v := byAttr("0b3a9d2e-3333-4c1a-8f00-000000000007", "vulnerability"); v.Props["name"] != "CVE-2024-3094" {
		t.Errorf("vulnerability %v", v.Props)
	}
	var sightings, malware, actors, rels int
	for _, o := range objs {
		switch o.Type {
		case "sighting":
			sightings++
			if o.Props["sighting_of_ref"] != ind.ID {
				t.Errorf("sighting of %v", o.Props["sighting_of_ref"])
			}
		case "malware":
			malware++
		case "threat-actor":
			actors++
		case "relationship":
			rels++
		}
	}
	if sightings != 1 || malware != 1 || actors != 1 || rels != 2 {
		t.Errorf("sightings %d malware %d threat-actors %d relationships %d, want 1 1 1 2", sightings, malware, actors, rels)
	}
	if !strings.Contains(loss.String(), "EventReport") {
		t.Errorf("loss report does not mention EventReport:\n%s", loss)
	}

	// And back.
	back := FromSTIX(values(objs), ExportOptions{}, nil)
	if len(back) != 1 {
		t.Fatalf("%d events back", len(back))
	}
	if want, got := eventKey(ev), eventKey(back[0]); !slices.Equal(want, got) {
		t.Errorf("round trip differs:\n%s", diff(want, got))
	}
}

// TestUnmarkedWithoutTLP: an event without tlp tag (distribution 3) is left
// unmarked so that the hub's default applies.
func TestUnmarkedWithoutTLP(t *testing.T) {
	ev := loadFixture(t, "eset-sednit-2019-05-23_Zebrocy.json")[0]
	for _, o := range convert(t, ev, nil) {
		if len(o.ObjectMarkingRefs) > 0 {
			t.Fatalf("%s has markings %v; the event has no tlp tag", o.ID, o.ObjectMarkingRefs)
		}
	}
}

// TestDeterministic: converting the same event twice gives byte-identical
// objects (re-imports are idempotent).
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"synthetic.json", "eset-cloudmensis.misp.json", "feed/57e27c3d-17a8-4c3b-8195-493e950d210f.json"} {
		ev := loadFixture(t, name)[0]
		a, err := ToSTIX(ev, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := ToSTIX(ev, nil)
		if len(a) != len(b) {
			t.Fatalf("%s: %d then %d objects", name, len(a), len(b))
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("%s: object %d differs:\n%s\n%s", name, i, a[i], b[i])
			}
		}
	}
}

// TestFixtureRoundTrips runs the round trip on the committed fixtures, so
// it runs without the shared data too.
func TestFixtureRoundTrips(t *testing.T) {
	for _, name := range []string{"eset-sednit-2019-05-23_Zebrocy.json", "eset-cloudmensis.misp.json", "feed/57e27c3d-17a8-4c3b-8195-493e950d210f.json"} {
		ev := loadFixture(t, name)[0]
		back := FromSTIX(values(convert(t, ev, nil)), ExportOptions{}, nil)
		if len(back) != 1 {
			t.Fatalf("%s: %d events back", name, len(back))
		}
		if want, got := eventKey(ev), eventKey(back[0]); !slices.Equal(want, got) {
			t.Errorf("%s: round trip differs:\n%s", name, diff(want, got))
		}
		if name == "eset-cloudmensis.misp.json" && len(back[0].Object) != 8 {
			t.Errorf("cloudmensis: %d objects back, want 8", len(back[0].Object))
		}
	}
}

// TestHiddenAttributesDropped: objects missing from FromSTIX's input (not
// visible) are left out of the event, and the rest stays.
func TestHiddenAttributesDropped(t *testing.T) {
	ev := loadFixture(t, "synthetic.json")[0]
	objs := convert(t, ev, nil)
	red := stixID("indicator", "0b3a9d2e-3333-4c1a-8f00-000000000004")
	delete(objs, red)
	back := FromSTIX(values(objs), ExportOptions{}, nil)[0]
	if len(back.Attribute) != len(ev.Attribute)-1 {
		t.Fatalf("%d attributes, want %d", len(back.Attribute), len(ev.Attribute)-1)
	}
	for _, a := range back.Attribute {
		if a.UUID == "0b3a9d2e-3333-4c1a-8f00-000000000004" {
			t.Fatal("hidden attribute exported")
		}
	}
}

// TestNativeIndicators: indicators that did not come from MISP become
// attributes when their pattern is a single value; others are reported.
func TestNativeIndicators(t *testing.T) {
	mk := func(id, pattern string) *stix.Object {
		raw, _ := json.Marshal(map[string]any{"type": "indicator", "spec_version": "2.1", "id": id,
			"created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
			"pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"})
		o, err := stix.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	loss := &Loss{}
	evs := FromSTIX([]*stix.Object{
		mk("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "[domain-name:value = 'evil.example']"),
		mk("indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']"),
		mk("indicator--ae2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "[process:name = 'x'] FOLLOWEDBY [process:name = 'y']"),
	}, ExportOptions{Unreferenced: true}, loss)
	if len(evs) != 1 || evs[0].UUID != UnreferencedEventUUID {
		t.Fatalf("events %v", evs)
	}
	var got []string
	for _, a := range evs[0].Attribute {
		got = append(got, a.Type+"="+a.Value)
	}
	slices.Sort(got)
	if want := []string{"domain=evil.example", "md5=d41d8cd98f00b204e9800998ecf8427e"}; !slices.Equal(got, want) {
		t.Errorf("attributes %q, want %q", got, want)
	}
	if loss.Total() != 1 {
		t.Errorf("loss report:\n%s\nwant the FOLLOWEDBY pattern reported", loss)
	}
}

func TestParseForms(t *testing.T) {
	ev := `{"uuid":"0b3a9d2e-1111-4c1a-8f00-000000000001","info":"x","Attribute":[{"uuid":"0b3a9d2e-3333-4c1a-8f00-000000000001","type":"domain","category":"Network activity","to_ids":1,"value":"a.example","distribution":5}]}`
	for name, in := range map[string]string{
		"bare": ev, "wrapped": `{"Event":` + ev + `}`, "response": `{"response":[{"Event":` + ev + `}]}`,
		"list": `[` + ev + `]`, "trailing comma": `{"Event":` + strings.Replace(ev, `}]}`, `},]}`, 1) + `}`,
	} {
		evs, err := ParseEvents(name, []byte(in), nil)
		if err != nil || len(evs) != 1 || !bool(evs[0].Attribute[0].ToIDs) || evs[0].Attribute[0].Distribution != "5" {
			t.Errorf("%s: %v %+v", name, err, evs)
		}
	}
	for name, in := range map[string]string{
		"no uuid":        `{"Event":{"info":"x"}}`,
		"attribute uuid": `{"Event":{"uuid":"0b3a9d2e-1111-4c1a-8f00-000000000001","Attribute":[{"type":"ip-dst","value":"x"}]}}`,
		"not json":       `{"Event":`,
		"scalar":         `42`,
	} {
		if _, err := ParseEvents(name, []byte(in), nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the input", name, err)
		}
	}
}

func TestFeedFiles(t *testing.T) {
	files, err := FeedFiles("testdata/feed")
	if err != nil || len(files) != 1 || !strings.HasSuffix(files[0], "57e27c3d-17a8-4c3b-8195-493e950d210f.json") {
		t.Fatalf("%v %v", files, err)
	}
	if _, err := FeedFiles("testdata"); err == nil {
		t.Error("a directory without manifest.json is accepted as a feed")
	}
	broken := t.TempDir()
	if err := os.WriteFile(broken+"/manifest.json", []byte(`{"0b3a9d2e-1111-4c1a-8f00-000000000001":{"info":"x"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FeedFiles(broken); err == nil || !strings.Contains(err.Error(), "0b3a9d2e-1111-4c1a-8f00-000000000001") {
		t.Errorf("feed whose manifest names a missing event file: %v", err)
	}
	evs := loadFixture(t, "synthetic.json")
	var b bytes.Buffer
	if err := WriteHashes(&b, evs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// 7 attributes (3 composite: two lines each) + 2 object attributes.
	if len(lines) != 12 {
		t.Errorf("%d hash lines, want 12:\n%s", len(lines), b.String())
	}
	if want := fmt.Sprintf("%x,%s", md5.Sum([]byte("198.51.100.7")), evs[0].UUID); lines[0] != want {
		t.Errorf("line %q, want %q", lines[0], want)
	}
	if want := fmt.Sprintf("%x,%s", md5.Sum([]byte("2001:db8::7")), evs[0].UUID); lines[2] != want {
		t.Errorf("second part of domain|ip: line %q, want %q", lines[2], want)
	}
	m := Manifest(evs)
	if m[evs[0].UUID].Info != evs[0].Info {
		t.Errorf("manifest %v", m)
	}
}

func TestPatternQuoting(t *testing.T) {
	for _, v := range []string{`plain`, `it's`, `back\slash`, `both\'`, `a = 'b' AND c`} {
		p, ok := buildPattern(attrFields["filename"], []string{v})
		if !ok {
			t.Fatal(v)
		}
		cmp, ok := parsePattern(p)
		if !ok || cmp["file:name"] != v {
			t.Errorf("%q → %s → %q %v", v, p, cmp, ok)
		}
	}
}

// BenchmarkConvert measures parsing and conversion alone (no store) on the
// committed fixtures; metric attributes/s.
func BenchmarkConvert(b *testing.B) {
	var inputs [][]byte
	attrs := 0
	for _, name := range []string{"synthetic.json", "eset-cloudmensis.misp.json", "eset-sednit-2019-05-23_Zebrocy.json"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			b.Fatal(err)
		}
		inputs = append(inputs, data)
		for _, ev := range loadFixture(b, name) {
			attrs += len(ev.Attribute)
			for _, o := range ev.Object {
				attrs += len(o.Attribute)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		for _, data := range inputs {
			evs, err := ParseEvents("bench", data, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, ev := range evs {
				if _, err := ToSTIX(ev, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(attrs)*float64(b.N)/b.Elapsed().Seconds(), "attributes/s")
}
