package federation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// FuzzScreen feeds arbitrary objects, as a partner might send them, to the
// pull screen: whatever it keeps must not classify as TLP:AMBER+STRICT or
// TLP:RED, however the markings are spelled (JSON escapes included).
func FuzzScreen(f *testing.F) {
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1, marking(sharing.TLP2Green)))
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1, marking(sharing.TLP2AmberStrict)))
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1, marking(sharing.TLP2Red, sharing.TLP2Clear)))
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1,
		marking(strings.ReplaceAll(sharing.TLP2AmberStrict, "-", `\u002d`))))
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1,
		`,"granular_markings":[{"marking_ref":"`+sharing.TLP1Red+`","selectors":["name"]}]`))
	f.Add(indicator("indicator--00000000-0000-4000-8000-000000000001", v1,
		marking(sharing.TLP2AmberStrict, "marking-definition--0badc0de-0000-4000-8000-000000000000")))
	s := &Syncer{Policy: sharing.NewPolicy(sharing.TLPAmber)}
	f.Fuzz(func(t *testing.T, raw string) {
		keep, withheld := s.screen([]json.RawMessage{json.RawMessage(raw)})
		if len(keep)+int(withheld) != 1 {
			t.Fatalf("kept %d and withheld %d of one object", len(keep), withheld)
		}
		if len(keep) == 0 {
			return
		}
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			return // the pipeline refuses it
		}
		if tl := s.Policy.Classify(o, sharing.Principal{}, nil, false).TLP; tl == sharing.TLPAmberStrict || tl == sharing.TLPRed || neverSharedRef(o) {
			t.Fatalf("screen kept a %s object: %s", tl, raw)
		}
	})
}

// TestScreenKeepsEscapedText checks that JSON escapes alone (common from
// encoders that escape non-ASCII text) do not get an object withheld, even
// with an unknown marking.
func TestScreenKeepsEscapedText(t *testing.T) {
	s := &Syncer{Policy: sharing.NewPolicy(sharing.TLPAmber)}
	raw := strings.Replace(indicator("indicator--00000000-0000-4000-8000-000000000001", v1,
		marking("marking-definition--0badc0de-0000-4000-8000-000000000000")), `"name":"test"`, `"name":"\u7d46"`, 1)
	if keep, withheld := s.screen([]json.RawMessage{json.RawMessage(raw)}); len(keep) != 1 || withheld != 0 {
		t.Fatalf("kept %d, withheld %d", len(keep), withheld)
	}
}
