package sharing

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// The fixture: a producer organisation P (with the producing user, a
// colleague and an org-admin), an organisation N the producer names, another
// organisation O (one of whose members, ru, the producer names for RED), and
// the hub organisation H with an analyst and an admin.
const (
	orgP = "identity--00000000-0000-4000-8000-00000000000p"
	orgN = "identity--00000000-0000-4000-8000-00000000000n"
	orgO = "identity--00000000-0000-4000-8000-00000000000o"
	orgH = "identity--00000000-0000-4000-8000-00000000000h"
)

var principals = map[string]Principal{
	"producer-user":   {OrgID: orgP, UserID: "user--pu", User: "pu", Role: RoleMember},
	"producer-member": {OrgID: orgP, UserID: "user--pm", User: "pm", Role: RoleMember},
	"named-org":       {OrgID: orgN, UserID: "user--nm", User: "nm", Role: RoleMember},
	"other-org":       {OrgID: orgO, UserID: "user--om", User: "om", Role: RoleMember},
	"named-red-user":  {OrgID: orgO, UserID: "user--ru", User: "ru", Role: RoleMember},
	"hub-analyst":     {OrgID: orgH, UserID: "user--ha", User: "ha", Role: RoleAnalyst},
	"hub-admin":       {OrgID: orgH, UserID: "user--hadm", User: "hadm", Role: RoleHubAdmin},
	"public":          {Public: true},
}

// principalOrder lists the principals' names in a stable order.
var principalOrder = []string{"producer-user", "producer-member", "named-org", "other-org",
	"named-red-user", "hub-analyst", "hub-admin", "public"}

func labelAt(t TLP) Label {
	return Label{TLP: t, ProducerOrg: orgP, ProducerUser: "user--pu", Orgs: []string{orgN}, Users: []string{"user--ru"}}
}

// seers returns the names of the fixture principals that see l.
func seers(p *Policy, l Label) []string {
	var out []string
	for _, name := range principalOrder {
		if p.CanSee(principals[name], l) {
			out = append(out, name)
		}
	}
	return out
}

// want per level, from DESIGN.md's conventions.
var wantSeers = map[TLP][]string{
	TLPClear:       principalOrder,
	TLPGreen:       {"producer-user", "producer-member", "named-org", "other-org", "named-red-user", "hub-analyst", "hub-admin"},
	TLPAmber:       {"producer-user", "producer-member", "named-org", "hub-analyst", "hub-admin"},
	TLPAmberStrict: {"producer-user", "producer-member", "named-org"},
	TLPRed:         {"producer-user", "named-red-user"},
	TLPUnknown:     {"producer-user", "producer-member", "hub-analyst", "hub-admin"},
}

func TestAccessPerLevelAndPrincipal(t *testing.T) {
	p := NewPolicy(TLPNone)
	for _, lvl := range []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed, TLPUnknown} {
		l := labelAt(lvl)
		for _, name := range principalOrder {
			want := slices.Contains(wantSeers[lvl], name)
			t.Run(lvl.String()+"/"+name, func(t *testing.T) {
				if got := p.CanSee(principals[name], l); got != want {
					t.Errorf("CanSee(%s, %s) = %v, want %v", name, lvl, got, want)
				}
			})
		}
	}
}

func TestUnmarkedTakesConfiguredDefault(t *testing.T) {
	for _, def := range []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed} {
		t.Run(def.String(), func(t *testing.T) {
			p := NewPolicy(def)
			got := seers(p, labelAt(TLPNone))
			if !slices.Equal(got, wantSeers[def]) {
				t.Errorf("unmarked under default %s seen by %v, want %v", def, got, wantSeers[def])
			}
			// Explicitly marked data is unaffected by the default.
			for _, lvl := range []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed, TLPUnknown} {
				if got := seers(p, labelAt(lvl)); !slices.Equal(got, wantSeers[lvl]) {
					t.Errorf("%s under default %s seen by %v, want %v", lvl, def, got, wantSeers[lvl])
				}
			}
		})
	}
	for name, p := range map[string]*Policy{"zero": {}, "none": NewPolicy(TLPNone), "unknown": NewPolicy(TLPUnknown), "nil": nil} {
		t.Run("default-is-amber/"+name, func(t *testing.T) {
			if got := seers(p, labelAt(TLPNone)); !slices.Equal(got, wantSeers[TLPAmber]) {
				t.Errorf("unmarked seen by %v, want AMBER audience %v", got, wantSeers[TLPAmber])
			}
		})
	}
}

func TestEmptyIdentifiersNeverMatch(t *testing.T) {
	p := NewPolicy(TLPNone)
	// A label without producer (e.g. from a partner feed) and a principal
	// without organisation or user: empty must not equal empty.
	bare := Principal{Role: RoleMember}
	for _, lvl := range []TLP{TLPAmber, TLPAmberStrict, TLPRed, TLPUnknown} {
		l := Label{TLP: lvl}
		if p.CanSee(bare, l) {
			t.Errorf("principal without org/user sees producer-less %s", lvl)
		}
		if p.CanSee(principals["other-org"], l) {
			t.Errorf("other org sees producer-less %s", lvl)
		}
	}
	if !p.CanSee(principals["hub-analyst"], Label{TLP: TLPAmber}) {
		t.Errorf("hub analyst does not see producer-less AMBER")
	}
}

func TestAccessZeroAllowsNothing(t *testing.T) {
	if (Access{}).Allows(Label{TLP: TLPClear}) {
		t.Fatal("zero Access allows TLP:CLEAR")
	}
}

func TestParseTLPAndRole(t *testing.T) {
	tests := []struct {
		in   string
		want TLP
		ok   bool
	}{
		{"clear", TLPClear, true}, {"TLP:WHITE", TLPClear, true}, {" green ", TLPGreen, true},
		{"Amber", TLPAmber, true}, {"amber+strict", TLPAmberStrict, true}, {"TLP:AMBER-STRICT", TLPAmberStrict, true},
		{"red", TLPRed, true}, {"purple", TLPUnknown, false}, {"", TLPUnknown, false},
	}
	for _, tt := range tests {
		got, err := ParseTLP(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseTLP(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for _, r := range []string{"hub-admin", "analyst", "org-admin", "member"} {
		if got, err := ParseRole(r); err != nil || string(got) != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParseRole("root"); err == nil || !strings.Contains(err.Error(), `"root"`) {
		t.Errorf("ParseRole(root) error = %v, want one naming the role", err)
	}
	for _, lvl := range []TLP{TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed} {
		if got := tlpByMarking[MarkingID(lvl)]; got != lvl {
			t.Errorf("MarkingID(%s) maps back to %s", lvl, got)
		}
	}
	if MarkingID(TLPNone) != "" || MarkingID(TLPUnknown) != "" {
		t.Error("MarkingID of none/unknown is not empty")
	}
}

// obj builds a STIX indicator with extra properties (JSON fragments).
func obj(t *testing.T, typ string, extra string) *stix.Object {
	t.Helper()
	id := typ + "--6b9a3f5e-6f0a-4d5a-9a43-2f6c1a7b9d02"
	s := fmt.Sprintf(`{"type":%q,"spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z"%s}`, typ, id, extra)
	o, err := stix.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return o
}

func refs(ids ...string) string {
	q := make([]string, len(ids))
	for i, id := range ids {
		q[i] = fmt.Sprintf("%q", id)
	}
	return `,"object_marking_refs":[` + strings.Join(q, ",") + `]`
}

const customMarking = "marking-definition--a1b2c3d4-0000-4000-8000-000000000001"

func dist(body string) string {
	return `,"extensions":{"` + DistributionExtension + `":` + body + `}`
}

func TestClassify(t *testing.T) {
	known := func(id string) MarkingKind {
		if id == customMarking {
			return MarkingStatement
		}
		return MarkingUnknown
	}
	tests := []struct {
		name      string
		typ       string
		extra     string
		resolve   MarkingResolver
		want      TLP
		wantOrgs  []string
		wantUsers []string
	}{
		{name: "unmarked", extra: "", want: TLPNone},
		{name: "empty refs", extra: `,"object_marking_refs":[]`, want: TLPNone},
		{name: "clear", extra: refs(TLP2Clear), want: TLPClear},
		{name: "green", extra: refs(TLP2Green), want: TLPGreen},
		{name: "amber", extra: refs(TLP2Amber), want: TLPAmber},
		{name: "amber+strict", extra: refs(TLP2AmberStrict), want: TLPAmberStrict},
		{name: "red", extra: refs(TLP2Red), want: TLPRed},
		{name: "tlp1 white", extra: refs(TLP1White), want: TLPClear},
		{name: "tlp1 green", extra: refs(TLP1Green), want: TLPGreen},
		{name: "tlp1 amber", extra: refs(TLP1Amber), want: TLPAmber},
		{name: "tlp1 red", extra: refs(TLP1Red), want: TLPRed},
		{name: "green and amber", extra: refs(TLP2Green, TLP2Amber), want: TLPAmber},
		{name: "amber and strict", extra: refs(TLP2AmberStrict, TLP2Amber), want: TLPAmberStrict},
		{name: "clear and red", extra: refs(TLP2Red, TLP2Clear), want: TLPRed},
		{name: "tlp1 white and tlp2 green", extra: refs(TLP1White, TLP2Green), want: TLPGreen},
		{name: "known statement marking alone", extra: refs(customMarking), resolve: known, want: TLPNone},
		{name: "known statement with green", extra: refs(customMarking, TLP2Green), resolve: known, want: TLPGreen},
		{name: "unknown marking", extra: refs(customMarking), resolve: func(string) MarkingKind { return MarkingUnknown }, want: TLPUnknown},
		{name: "no resolver", extra: refs(customMarking), want: TLPUnknown},
		{name: "unknown with clear", extra: refs(TLP2Clear, customMarking), want: TLPUnknown},
		{name: "unknown with amber+strict", extra: refs(customMarking, TLP2AmberStrict), want: TLPUnknown},
		{name: "unknown with red stays red", extra: refs(customMarking, TLP2Red), want: TLPRed},
		{name: "refs not an array", extra: `,"object_marking_refs":"` + TLP2Green + `"`, want: TLPUnknown},
		{name: "refs with a number", extra: `,"object_marking_refs":["` + TLP2Green + `",5]`, want: TLPUnknown},
		{name: "refs with a number and red", extra: `,"object_marking_refs":[5,"` + TLP2Red + `"]`, want: TLPRed},
		{name: "granular red over object green",
			extra: refs(TLP2Green) + `,"granular_markings":[{"marking_ref":"` + TLP2Red + `","selectors":["description"]}]`, want: TLPRed},
		{name: "granular amber alone",
			extra: `,"granular_markings":[{"marking_ref":"` + TLP2Amber + `","selectors":["name"]}]`, want: TLPAmber},
		{name: "granular lang only", extra: `,"granular_markings":[{"lang":"en","selectors":["name"]}]`, want: TLPNone},
		{name: "granular unknown ref", extra: `,"granular_markings":[{"marking_ref":"` + customMarking + `","selectors":["name"]}]`, want: TLPUnknown},
		{name: "granular ref not a string", extra: `,"granular_markings":[{"marking_ref":7,"lang":"en","selectors":["name"]}]`, want: TLPUnknown},
		{name: "granular neither ref nor lang", extra: `,"granular_markings":[{"selectors":["name"]}]`, want: TLPUnknown},
		{name: "granular lang not a string", extra: `,"granular_markings":[{"lang":1,"selectors":["name"]}]`, want: TLPUnknown},
		{name: "granular entry not an object", extra: `,"granular_markings":["x"]`, want: TLPUnknown},
		{name: "granular not an array", extra: `,"granular_markings":{}`, want: TLPUnknown},
		{name: "distribution", extra: refs(TLP2Amber) + dist(`{"extension_type":"property-extension","organizations":["`+orgN+`","`+orgO+`","`+orgN+`"],"users":["user--ru"]}`),
			want: TLPAmber, wantOrgs: []string{orgN, orgO}, wantUsers: []string{"user--ru"}},
		{name: "distribution without extension_type", extra: refs(TLP2Red) + dist(`{"users":["user--ru"]}`),
			want: TLPRed, wantUsers: []string{"user--ru"}},
		{name: "distribution not an object", extra: refs(TLP2Amber) + dist(`["`+orgN+`"]`), want: TLPUnknown},
		{name: "distribution orgs not an array", extra: refs(TLP2Amber) + dist(`{"organizations":"`+orgN+`"}`), want: TLPUnknown},
		{name: "distribution users with a number", extra: refs(TLP2Red) + dist(`{"users":["user--ru",3]}`), want: TLPRed},
		{name: "distribution empty org id", extra: refs(TLP2AmberStrict) + dist(`{"organizations":[""]}`), want: TLPUnknown},
		{name: "distribution wrong extension_type", extra: refs(TLP2Amber) + dist(`{"extension_type":"new-sdo","organizations":["`+orgN+`"]}`), want: TLPUnknown},
		{name: "distribution unknown property", extra: refs(TLP2Amber) + dist(`{"organizations":["`+orgN+`"],"expires":"2030-01-01"}`), want: TLPUnknown},
		{name: "distribution on green keeps level", extra: refs(TLP2Green) + dist(`{"organizations":["`+orgN+`"]}`), want: TLPGreen, wantOrgs: []string{orgN}},
		{name: "other extension ignored", extra: refs(TLP2Green) + `,"extensions":{"extension-definition--00000000-0000-4000-8000-000000000009":{"extension_type":"property-extension"}}`, want: TLPGreen},
		{name: "custom marking-definition unmarked is clear", typ: "marking-definition", extra: `,"name":"copyright","extensions":{}`, want: TLPClear},
		{name: "custom marking-definition marked red", typ: "marking-definition", extra: refs(TLP2Red), want: TLPRed},
		{name: "custom marking-definition marked green", typ: "marking-definition", extra: refs(TLP2Green), want: TLPGreen},
		{name: "marking-definition with unknown marking", typ: "marking-definition", extra: refs(customMarking), want: TLPUnknown},
	}
	p := NewPolicy(TLPNone)
	producer := principals["producer-user"]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ := tt.typ
			if typ == "" {
				typ = "indicator"
			}
			l := p.Classify(obj(t, typ, tt.extra), producer, tt.resolve, false)
			if l.TLP != tt.want {
				t.Errorf("TLP = %s, want %s", l.TLP, tt.want)
			}
			if l.TLP != TLPUnknown && (!slices.Equal(l.Orgs, tt.wantOrgs) || !slices.Equal(l.Users, tt.wantUsers)) {
				t.Errorf("orgs, users = %v, %v; want %v, %v", l.Orgs, l.Users, tt.wantOrgs, tt.wantUsers)
			}
			if l.ProducerOrg != orgP || l.ProducerUser != "user--pu" || l.Anonymous {
				t.Errorf("producer = %q/%q anonymous=%v", l.ProducerOrg, l.ProducerUser, l.Anonymous)
			}
		})
	}
}

func TestClassifyOfficialMarkingDefinitions(t *testing.T) {
	p := NewPolicy(TLPRed)
	for id := range tlpByMarking {
		s := fmt.Sprintf(`{"type":"marking-definition","spec_version":"2.1","id":%q,"created":"2022-10-01T00:00:00.000Z","definition_type":"tlp","definition":{"tlp":"red"}}`, id)
		o, err := stix.Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		if l := p.Classify(o, principals["other-org"], nil, true); l.TLP != TLPClear || !l.Anonymous {
			t.Errorf("%s classified %s (anonymous=%v), want TLP:CLEAR", id, l.TLP, l.Anonymous)
		}
	}
	// An indicator that merely claims an official marking id is not a
	// marking-definition.
	o := obj(t, "indicator", "")
	o.ID = TLP2Clear
	if l := p.Classify(o, principals["other-org"], nil, false); l.TLP != TLPNone {
		t.Errorf("non marking-definition with official id classified %s", l.TLP)
	}
}

func TestClassifyThenSee(t *testing.T) {
	p := NewPolicy(TLPNone)
	producer := principals["producer-user"]
	tests := []struct {
		name  string
		extra string
		want  []string
	}{
		{"tlp1 amber reaches hub analysts", refs(TLP1Amber) + dist(`{"organizations":["`+orgN+`"]}`), wantSeers[TLPAmber]},
		{"red to a named user", refs(TLP2Red) + dist(`{"users":["user--ru"]}`), wantSeers[TLPRed]},
		{"malformed distribution fails closed", refs(TLP2Amber) + dist(`{"organizations":"`+orgN+`"}`),
			[]string{"producer-user", "producer-member", "hub-analyst", "hub-admin"}},
		{"red with malformed distribution reaches only the producer", refs(TLP2Red) + dist(`{"users":"user--ru"}`), []string{"producer-user"}},
		{"unmarked is amber without named orgs", "", []string{"producer-user", "producer-member", "hub-analyst", "hub-admin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := p.Classify(obj(t, "indicator", tt.extra), producer, nil, false)
			if got := seers(p, l); !slices.Equal(got, tt.want) {
				t.Errorf("seen by %v, want %v (label %+v)", got, tt.want, l)
			}
		})
	}
}
