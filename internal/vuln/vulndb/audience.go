package vulndb

import (
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// audiencePolicy decides who belongs to a record's distribution. Its
// default level (for unmarked data) plays no part: a distribution always
// names its level.
var audiencePolicy = sharing.NewPolicy(sharing.TLPNone)

// label is the sharing label of a restricted record (an unknown level
// fails closed: TLPUnknown).
func label(d *vuln.Distribution) sharing.Label {
	t, err := sharing.ParseTLP(d.TLP)
	if err != nil {
		t = sharing.TLPUnknown
	}
	return sharing.Label{TLP: t, ProducerOrg: d.ProducerOrg, ProducerUser: d.ProducerUser, Orgs: d.Orgs, Users: d.Users}
}

// mayReceive reports whether organisation org may see a record with this
// distribution, and so its findings: every organisation for a public
// record (nil); for a restricted one, what the sharing policy allows the
// organisation as a whole (no user: TLP:RED reaches no organisation's
// findings, only the named people through the STIX object).
func mayReceive(org string, d *vuln.Distribution) bool {
	return d == nil || audiencePolicy.CanSee(sharing.Principal{OrgID: org}, label(d))
}

// deliverable drops, in place, the findings whose record the finding's
// organisation may not see; dist returns a record's distribution by id.
func deliverable(fs []Finding, dist func(id string) *vuln.Distribution) []Finding {
	out := fs[:0]
	for _, f := range fs {
		if mayReceive(f.Org, dist(f.Vulnerability)) {
			out = append(out, f)
		}
	}
	return out
}

// stixDistribution returns the distribution extension of a restricted
// record's STIX object (nil when it names nobody).
func stixDistribution(d *vuln.Distribution) map[string]any {
	if d == nil || (len(d.Orgs) == 0 && len(d.Users) == 0) {
		return nil
	}
	ext := map[string]any{"extension_type": "property-extension"}
	if len(d.Orgs) > 0 {
		ext["organizations"] = d.Orgs
	}
	if len(d.Users) > 0 {
		ext["users"] = d.Users
	}
	return map[string]any{sharing.DistributionExtension: ext}
}

// Restriction returns the distribution of the records of a hub advisory
// with TLP level t and the producer and recipients of l: nil (public to
// the hub's organisations) for CLEAR and GREEN, restricted otherwise.
func Restriction(t sharing.TLP, l sharing.Label) *vuln.Distribution {
	if t == sharing.TLPClear || t == sharing.TLPGreen {
		return nil
	}
	return &vuln.Distribution{TLP: t.String(), ProducerOrg: l.ProducerOrg, ProducerUser: l.ProducerUser, Orgs: l.Orgs, Users: l.Users}
}
