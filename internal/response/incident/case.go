package incident

import (
	"fmt"
	"slices"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
)

// State is a case's state.
type State string

// The case states, in their usual order.
const (
	StateNew         State = "new"
	StateTriage      State = "triage"
	StateAnalysis    State = "analysis"
	StateContainment State = "containment"
	StateResolved    State = "resolved"
	StateClosed      State = "closed"
)

// transitions lists the allowed moves: a new case is triaged (or closed as
// spam), then analysed and contained in either order, resolved and closed;
// a resolved case may be reopened for analysis and a closed one for triage.
var transitions = map[State][]State{
	StateNew:         {StateTriage, StateClosed},
	StateTriage:      {StateAnalysis, StateContainment, StateResolved, StateClosed},
	StateAnalysis:    {StateContainment, StateResolved, StateClosed},
	StateContainment: {StateAnalysis, StateResolved, StateClosed},
	StateResolved:    {StateClosed, StateAnalysis},
	StateClosed:      {StateTriage},
}

// ParseState validates a state name.
func ParseState(s string) (State, error) {
	if _, ok := transitions[State(s)]; ok {
		return State(s), nil
	}
	return "", fmt.Errorf("%w: field \"state\": %q is not a case state (new, triage, analysis, containment, resolved, closed)", errkind.Invalid, clip(s))
}

// CanTransition reports whether a case may move from one state to another.
func CanTransition(from, to State) bool { return slices.Contains(transitions[from], to) }

// Case is an incident report as hub analysts handle it.
type Case struct {
	ID     string `json:"id"`
	Report Report `json:"report"`
	// ReporterOrg and ReporterUser identify the source; they are shown to
	// hub analysts and to the reporter's organisation only.
	ReporterOrg  string `json:"reporter_org,omitempty"`
	ReporterUser string `json:"reporter_user,omitempty"`
	// Anonymous: the report is published with the hub as its source.
	Anonymous bool   `json:"anonymous"`
	Sector    string `json:"sector,omitempty"`
	State     State  `json:"state"`
	// Assignee is the hub analyst's user id.
	Assignee string `json:"assignee,omitempty"`
	// Affected are the organisations (identity ids) asked to acknowledge.
	Affected []string  `json:"affected_organizations"`
	Links    []Link    `json:"links"`
	Comments []Comment `json:"comments"`
	Acks     []Ack     `json:"acknowledgements"`
	Timeline []Event   `json:"timeline"`
	// MergedInto names the surviving case of a merged duplicate; Merged
	// lists the duplicates merged into this one.
	MergedInto string    `json:"merged_into,omitempty"`
	Merged     []string  `json:"merged,omitempty"`
	Reported   time.Time `json:"reported"`
	// IncidentID and ReportID are the STIX ids of the export.
	IncidentID string `json:"incident_id,omitempty"`
	ReportID   string `json:"report_id,omitempty"`
	// Exported is the version (modified) of the latest export.
	Exported string `json:"exported,omitempty"`
}

// Link kinds.
const (
	// LinkRelated: a STIX object related to the case.
	LinkRelated = "related"
	// LinkAttached: an object attached to the report by the reporter.
	LinkAttached = "attached"
	// LinkAdvisory: an advisory (report) published about the case; the
	// first one stops the time to advisory.
	LinkAdvisory = "advisory"
	// LinkIncident: the case's own STIX incident.
	LinkIncident = "incident"
)

// Link ties a case to a STIX object.
type Link struct {
	ObjectID string    `json:"object_id"`
	Kind     string    `json:"kind"`
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`
}

// Comment is a note on a case. Internal comments are for hub analysts only.
type Comment struct {
	At       time.Time `json:"at"`
	By       string    `json:"by"`
	Text     string    `json:"text"`
	Internal bool      `json:"internal,omitempty"`
}

// Ack is an affected organisation's acknowledgement.
type Ack struct {
	Org  string    `json:"org"`
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Event is one entry of a case's timeline.
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor,omitempty"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// Action is something a principal does to a case.
type Action string

// The actions Authorize decides.
const (
	ActView       Action = "view"
	ActTransition Action = "transition"
	ActAssign     Action = "assign"
	ActComment    Action = "comment"
	ActLink       Action = "link"
	ActMerge      Action = "merge"
	ActExport     Action = "export"
	ActAck        Action = "acknowledge"
)

// Authorize decides whether p may do act on c. Hub analysts may do
// everything but acknowledge; members of the reporting organisation may
// view and comment; members of an affected organisation may acknowledge.
// A caller who may not even view the case gets errkind.NotFound (the case's
// existence is not revealed), one who may view but not act errkind.Forbidden.
func Authorize(p sharing.Principal, c *Case, act Action) error {
	if p.Public || p.OrgID == "" {
		return fmt.Errorf("%w: case %s", errkind.NotFound, c.ID)
	}
	analyst := p.HubAnalyst()
	own := c.ReporterOrg == p.OrgID
	affected := slices.Contains(c.Affected, p.OrgID)
	if act == ActAck {
		if affected {
			return nil
		}
		if analyst || own {
			return fmt.Errorf("%w: case %s: only members of an affected organisation acknowledge", errkind.Forbidden, c.ID)
		}
		return fmt.Errorf("%w: case %s", errkind.NotFound, c.ID)
	}
	if !analyst && !own {
		return fmt.Errorf("%w: case %s", errkind.NotFound, c.ID)
	}
	switch act {
	case ActView, ActComment:
		return nil
	}
	if !analyst {
		return fmt.Errorf("%w: case %s: only hub analysts may %s cases", errkind.Forbidden, c.ID, act)
	}
	return nil
}

// View returns the case as p may see it: internal comments only for hub
// analysts. The caller must have checked Authorize(p, c, ActView).
func (c *Case) View(p sharing.Principal) Case {
	v := *c
	if p.HubAnalyst() {
		return v
	}
	v.Comments = nil
	for _, cm := range c.Comments {
		if !cm.Internal {
			v.Comments = append(v.Comments, cm)
		}
	}
	v.Timeline = nil
	for _, e := range c.Timeline {
		if e.Kind != "comment-internal" {
			v.Timeline = append(v.Timeline, e)
		}
	}
	return v
}

func (c *Case) event(at time.Time, actor, kind, detail string) {
	c.Timeline = append(c.Timeline, Event{At: at, Actor: actor, Kind: kind, Detail: detail})
}

func (c *Case) hasLink(id string) bool {
	return slices.ContainsFunc(c.Links, func(l Link) bool { return l.ObjectID == id })
}
