// Package audit is the hub's audit trail: who (organisation, user, token)
// read or wrote what, when, over which interface.
//
// Every record is stored append-only in DIR/audit.db (SQLite) and its
// RFC 8785 canonical hash is appended to a transparency log of its own
// (package translog, RFC 6962 structure, tree heads signed with the hub's
// log key under the origin "<hub origin>/audit"), kept in the same file.
// Record i of the trail is record i of that log, so an exported record can
// be proven, and Verify finds any record edited or removed behind the
// hub's back (see docs/audit.md).
//
// The server records at its single access-control choke point (every
// authenticated request, every failed authentication, every public read)
// through the asynchronous batched Trail.Record; handlers annotate the
// request context with the objects they served or accepted (Annotate). The
// CLI records with Trail.Write.
package audit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
)

// Interface names the way a request reached the hub.
type Interface string

// The interfaces.
const (
	TAXII    Interface = "taxii"
	API      Interface = "api"
	MISPFeed Interface = "misp-feed"
	CSAF     Interface = "csaf"
	Public   Interface = "public"
	CLI      Interface = "cli"
)

// Action classifies what a request did.
type Action string

// The actions.
const (
	Read        Action = "read"
	Write       Action = "write"
	Delete      Action = "delete"
	Admin       Action = "admin"
	AuthFailure Action = "auth-failure"
)

// MaxObjectIDs is how many object ids a record keeps. Single-object reads,
// deletes and submissions name every object they touched up to this cap;
// a list read (a TAXII page, a feed) keeps its first MaxObjectIDs ids and
// the total in Count. 100 is the TAXII default page size, so a default
// page is recorded in full, while a 1,000-object page costs 100 ids
// (about 5 KB) instead of 50 KB per request.
const MaxObjectIDs = 100

// maxField bounds every text field of a record (paths, names).
const maxField = 2048

// TimeFormat is how records spell their time (UTC, microseconds): fixed
// width, so text order is time order.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Record is one audited event. It never holds a secret: a token is named
// by its id, query strings are kept (the hub takes no credentials in
// them), bodies are not kept.
type Record struct {
	// Time is when the request arrived (UTC, microsecond precision).
	Time time.Time `json:"time"`
	// OrgID and Org are the caller's organisation id and name.
	OrgID string `json:"org_id,omitempty"`
	Org   string `json:"org,omitempty"`
	// UserID and User are the caller's user id and name (for the CLI: the
	// operating-system user).
	UserID string `json:"user_id,omitempty"`
	User   string `json:"user,omitempty"`
	// TokenID is the id of the API token used (never the token).
	TokenID string `json:"token_id,omitempty"`
	// Role is the caller's role.
	Role string `json:"role,omitempty"`
	// Interface is how the request arrived.
	Interface Interface `json:"interface"`
	// Action is what it did.
	Action Action `json:"action"`
	// Method and Path are the HTTP method and the path with its query
	// string (for the CLI: the command, without flag values).
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Collection is the TAXII collection concerned, if any.
	Collection string `json:"collection,omitempty"`
	// Objects are the ids of the objects read, written or deleted (at most
	// MaxObjectIDs); Count is their total number.
	Objects []string `json:"objects,omitempty"`
	Count   int      `json:"count,omitempty"`
	// Status is the HTTP status answered (for the CLI: 0 success, 1 failure).
	Status int `json:"status"`
	// Client is the client's address (for the CLI: the host name).
	Client string `json:"client,omitempty"`
}

// normalise truncates the time to microseconds in UTC and caps text
// fields and object ids, so that a record stored and read back hashes the
// same.
func (r *Record) normalise() {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	for _, f := range []*string{&r.OrgID, &r.Org, &r.UserID, &r.User, &r.TokenID, &r.Role, &r.Method, &r.Path, &r.Collection, &r.Client} {
		if len(*f) > maxField {
			*f = (*f)[:maxField]
		}
	}
	if r.Count < len(r.Objects) {
		r.Count = len(r.Objects)
	}
	if len(r.Objects) > MaxObjectIDs {
		r.Objects = r.Objects[:MaxObjectIDs]
	}
	if len(r.Objects) == 0 {
		r.Objects = nil
	}
}

// hashed is the form of a record its hash covers: every field, with its
// index in the trail, as text.
type hashed struct {
	Index      string   `json:"index"`
	Time       string   `json:"time"`
	OrgID      string   `json:"org_id"`
	Org        string   `json:"org"`
	UserID     string   `json:"user_id"`
	User       string   `json:"user"`
	TokenID    string   `json:"token_id"`
	Role       string   `json:"role"`
	Interface  string   `json:"interface"`
	Action     string   `json:"action"`
	Method     string   `json:"method"`
	Path       string   `json:"path"`
	Collection string   `json:"collection"`
	Objects    []string `json:"objects"`
	Count      string   `json:"count"`
	Status     string   `json:"status"`
	Client     string   `json:"client"`
}

// Hash returns the SHA-256 of the RFC 8785 canonical JSON of record r at
// index (every field as a JSON string, objects as an array of strings):
// the object hash of its transparency log entry.
func Hash(index int64, r *Record) ([32]byte, error) {
	objs := r.Objects
	if objs == nil {
		objs = []string{}
	}
	b, err := json.Marshal(hashed{
		Index: strconv.FormatInt(index, 10), Time: r.Time.UTC().Format(TimeFormat),
		OrgID: r.OrgID, Org: r.Org, UserID: r.UserID, User: r.User, TokenID: r.TokenID, Role: r.Role,
		Interface: string(r.Interface), Action: string(r.Action), Method: r.Method, Path: r.Path,
		Collection: r.Collection, Objects: objs, Count: strconv.Itoa(r.Count),
		Status: strconv.Itoa(r.Status), Client: r.Client,
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: audit record %d: %v", errkind.Invalid, index, err)
	}
	h, err := sign.Digest(b)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: audit record %d: %v", errkind.Invalid, index, err)
	}
	return h, nil
}
