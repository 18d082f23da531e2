// Package sharing is Kizuna's single access-decision point: organisations'
// principals, TLP 2.0 classification of objects and the visibility rules that
// every read path applies. The rules are expressed as an Access predicate that
// store backends translate into their queries (so pagination and counts stay
// correct) and that Go code evaluates with Access.Allows; both come from the
// same Policy.Access method, so preview and enforcement cannot disagree.
package sharing

// TLP is the traffic-light level that decides who may see an object.
// The numeric values are stored; do not renumber.
type TLP uint8

// TLP levels. TLPNone marks an object without any TLP marking (the policy's
// configured default applies); TLPUnknown marks an object whose markings are
// unknown or malformed (visible to its producer and hub analysts only).
const (
	TLPNone        TLP = 0
	TLPClear       TLP = 1
	TLPGreen       TLP = 2
	TLPAmber       TLP = 3
	TLPAmberStrict TLP = 4
	TLPRed         TLP = 5
	TLPUnknown     TLP = 6
)

// String returns the TLP 2.0 name of the level.
func (t TLP) String() string {
	switch t {
	case TLPNone:
		return "unmarked"
	case TLPClear:
		return "TLP:CLEAR"
	case TLPGreen:
		return "TLP:GREEN"
	case TLPAmber:
		return "TLP:AMBER"
	case TLPAmberStrict:
		return "TLP:AMBER+STRICT"
	case TLPRed:
		return "TLP:RED"
	default:
		return "unknown"
	}
}

// Label is what the policy needs to know about one stored object version:
// its TLP, who produced it and to whom the producer distributed it. It is
// computed once at ingest (Policy.Classify) and stored beside the object.
type Label struct {
	TLP TLP
	// ProducerOrg is the id (STIX identity id) of the submitting organisation.
	ProducerOrg string
	// ProducerUser is the id of the submitting user.
	ProducerUser string
	// Orgs are the organisations (identity ids) the producer named as
	// recipients (meaningful for AMBER and AMBER+STRICT).
	Orgs []string
	// Users are the users (user ids) the producer named (meaningful for RED).
	Users []string
	// Anonymous is set when the producer published anonymously: others see
	// the hub as the source (ingest rewrites the object's created_by_ref to
	// the hub's identity, or removes it). ProducerOrg and ProducerUser still
	// record the real producer, so its rights are unchanged; never show them
	// to anyone else.
	Anonymous bool
}

// Clause is one conjunctive condition of an Access predicate. Empty fields
// do not constrain; an empty TLPs list matches every level (only the policy
// may build such clauses).
type Clause struct {
	TLPs         []TLP
	ProducerOrg  string
	ProducerUser string
	// DistOrg requires the organisation to be among Label.Orgs.
	DistOrg string
	// DistUser requires the user to be among Label.Users.
	DistUser string
}

// Access is a visibility predicate: an object version is visible when any
// clause matches its Label. The zero Access allows nothing.
type Access struct {
	Clauses []Clause
}

// Allows reports whether a label is visible under the predicate.
func (a Access) Allows(l Label) bool {
	for _, c := range a.Clauses {
		if c.matches(l) {
			return true
		}
	}
	return false
}

func (c Clause) matches(l Label) bool {
	if len(c.TLPs) > 0 && !containsTLP(c.TLPs, l.TLP) {
		return false
	}
	if c.ProducerOrg != "" && c.ProducerOrg != l.ProducerOrg {
		return false
	}
	if c.ProducerUser != "" && c.ProducerUser != l.ProducerUser {
		return false
	}
	if c.DistOrg != "" && !containsString(l.Orgs, c.DistOrg) {
		return false
	}
	if c.DistUser != "" && !containsString(l.Users, c.DistUser) {
		return false
	}
	return true
}

func containsTLP(list []TLP, t TLP) bool {
	for _, x := range list {
		if x == t {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
