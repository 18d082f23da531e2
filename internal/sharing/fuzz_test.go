package sharing

import (
	"testing"

	"github.com/kizuna-cti/kizuna/internal/stix"
)

// FuzzClassify checks that Classify never panics and fails closed: an
// object carrying a marking reference Kizuna does not know is never
// classified as anything but unknown or RED.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		`{"type":"indicator","id":"indicator--1","object_marking_refs":["` + TLP2Green + `"]}`,
		`{"type":"indicator","id":"indicator--1","granular_markings":[{"marking_ref":"` + TLP2Red + `","selectors":["name"]}]}`,
		`{"type":"indicator","id":"indicator--1","extensions":{"` + DistributionExtension + `":{"organizations":["identity--x"]}}}`,
		`{"type":"marking-definition","id":"marking-definition--1","object_marking_refs":[1]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	p := NewPolicy(TLPNone)
	pr := Principal{OrgID: "identity--p", UserID: "user--p"}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := stix.Parse(data)
		if err != nil {
			return
		}
		l := p.Classify(o, pr, nil, false)
		if l.TLP > TLPUnknown {
			t.Fatalf("level %d out of range", l.TLP)
		}
		// Add an unknown marking: the result must fail closed.
		refs, _ := o.Props["object_marking_refs"].([]any)
		o.Props["object_marking_refs"] = append(refs, "marking-definition--00000000-0000-4000-8000-00000000dead")
		if l := p.Classify(o, pr, nil, false); l.TLP != TLPUnknown && l.TLP != TLPRed && !(o.Type == "marking-definition" && tlpByMarking[o.ID] != TLPNone) {
			t.Fatalf("object with an unknown marking classified %s", l.TLP)
		}
	})
}
