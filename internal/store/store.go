// Package store defines Kizuna's storage interface: every version of every
// STIX object per collection with the sharing label computed at ingest, TAXII
// status resources, and the local administration tables (organisations,
// users, tokens). Backends live in sub-packages (store/sqlite, later
// store/postgres) and must pass the conformance suite in store/storetest.
//
// Visibility is never decided here: callers pass the sharing.Access predicate
// made by the sharing policy, and backends translate it into their queries so
// that pagination and counts only ever see visible rows.
package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

// DefaultAPIRoot is the name (URL path segment) of the API root every new
// data directory has; DefaultCollectionID is the id of its default
// collection, which every organisation may read and write.
const (
	DefaultAPIRoot      = "hub"
	DefaultCollectionID = "8e8c3e7c-0f3f-4b5e-9a43-2f6c1a7b9d01"
)

// Store is the whole storage interface. Errors wrap errkind sentinels
// (errkind.NotFound, errkind.Conflict, errkind.Invalid).
type Store interface {
	Objects
	Statuses
	Directory
	// Close releases the backend's resources.
	Close() error
}

// APIRoot is a TAXII API root.
type APIRoot struct {
	// Name is the URL path segment (e.g. "hub").
	Name             string
	Title            string
	Description      string
	MaxContentLength int64
}

// Collection is a TAXII collection and the organisations' rights on it.
type Collection struct {
	ID          string
	APIRoot     string
	Title       string
	Description string
	Alias       string
	// ReadOrgs and WriteOrgs list the organisation ids (identity ids) allowed
	// to read and to write; the single entry "*" means every organisation.
	ReadOrgs  []string
	WriteOrgs []string
}

// Record is one object version to be stored, with its sharing label.
type Record struct {
	Object *stix.Object
	Label  sharing.Label
	// Hash is stix.Hash of Object when the submitter has computed it (the
	// ingest pipeline does, once per object, for the transparency log);
	// the zero value means not computed. Backends do not use it.
	Hash [32]byte
}

// AddResult is the outcome for one Record, in input order.
type AddResult struct {
	ID      string
	Version string
	// DateAdded is set when the version was stored (or was already there:
	// an identical re-submission is a success and keeps its first date).
	DateAdded time.Time
	// Err is set when this object was refused (errkind.Conflict when a
	// different object with the same id and version exists).
	Err error
}

// Filter selects object versions in a collection. The zero Access makes
// nothing visible.
type Filter struct {
	// Collection is the collection id; "" means every collection (export).
	Collection string
	Access     sharing.Access
	// AddedAfter keeps versions added strictly after it (zero: no bound).
	AddedAfter time.Time
	// Limit caps the page size (0: backend maximum).
	Limit int
	// Next is the opaque cursor from a previous Page.
	Next string
	IDs  []string
	// Types keeps only these object types.
	Types []string
	// Versions holds "first", "last", "all" or exact version timestamps;
	// empty means "last".
	Versions []string
	// SpecVersions keeps only these spec versions; empty means the latest
	// spec version of each object.
	SpecVersions []string
}

// Entry is one object version in a page.
type Entry struct {
	ID          string
	Type        string
	Version     string
	SpecVersion string
	DateAdded   time.Time
	// Raw is the object's JSON (only from Objects.Query).
	Raw json.RawMessage
	// Label is the version's sharing label.
	Label sharing.Label
}

// Page is one page of results, ordered by DateAdded ascending.
type Page struct {
	Entries []Entry
	// More reports whether further pages exist; Next is their cursor.
	More bool
	Next string
}

// Objects stores and retrieves object versions.
type Objects interface {
	// CreateAPIRoot and CreateCollection add administration rows
	// (errkind.Conflict if they exist).
	CreateAPIRoot(ctx context.Context, r APIRoot) error
	APIRoots(ctx context.Context) ([]APIRoot, error)
	CreateCollection(ctx context.Context, c Collection) error
	Collections(ctx context.Context, apiRoot string) ([]Collection, error)
	Collection(ctx context.Context, apiRoot, id string) (Collection, error)

	// Add stores records in one transaction into a collection, assigning
	// each new version a date_added that is unique and strictly increasing
	// within the collection. If statusID is not empty, the status
	// resource's per-object outcomes are updated in the same transaction.
	Add(ctx context.Context, collection string, recs []Record, statusID string) ([]AddResult, error)
	// Query returns visible versions with their JSON.
	Query(ctx context.Context, f Filter) (Page, error)
	// Manifest returns visible versions without their JSON.
	Manifest(ctx context.Context, f Filter) (Page, error)
	// Delete removes the versions of one object (f.IDs[0]) matched by f
	// and visible under f.Access, returning how many were removed.
	Delete(ctx context.Context, f Filter) (int, error)
	// MarkingKnown reports whether a marking-definition with this id is
	// stored in any collection.
	MarkingKnown(ctx context.Context, id string) (bool, error)
}

// Status is a TAXII status resource.
type Status struct {
	ID         string
	Collection string
	// Owner is the label of the submission: only the submitting
	// organisation and hub analysts may read the status.
	OwnerOrg  string
	OwnerUser string
	Requested time.Time
	// Complete is set when no object is pending any more.
	Complete  bool
	Successes []StatusDetail
	Failures  []StatusDetail
	Pendings  []StatusDetail
}

// StatusDetail is one object's entry in a status resource.
type StatusDetail struct {
	ID      string
	Version string
	Message string
}

// Statuses stores TAXII status resources.
type Statuses interface {
	// CreateStatus stores a new status whose objects are all pending.
	CreateStatus(ctx context.Context, s Status) error
	// FailStatus records failures (objects refused before storage) and
	// marks them no longer pending.
	FailStatus(ctx context.Context, id string, failures []StatusDetail) error
	Status(ctx context.Context, id string) (Status, error)
	// FailPending marks every entry still pending, in every status, as
	// failed with message, and returns how many it marked. A server calls
	// it when it starts: a submission interrupted by a crash was rolled
	// back whole, so its pending objects will never be stored, and its
	// status must say so rather than stay pending forever.
	FailPending(ctx context.Context, message string) (int, error)
}

// Org is an organisation.
type Org struct {
	// ID is the organisation's STIX identity id.
	ID     string
	Name   string
	Sector string
	// Type is one of government, critical-infrastructure,
	// local-government, academia, sme, isac, partner-cert, hub.
	Type string
	// Anonymous makes the organisation publish anonymously by default.
	Anonymous bool
	Created   time.Time
}

// User is a user of an organisation.
type User struct {
	ID      string
	OrgID   string
	Name    string
	Role    sharing.Role
	Created time.Time
}

// Token is an API token; only its SHA-256 hash is stored.
type Token struct {
	ID      string
	UserID  string
	Hash    [32]byte
	Created time.Time
	Revoked bool
}

// Directory stores organisations, users and tokens.
type Directory interface {
	CreateOrg(ctx context.Context, o Org) error
	Org(ctx context.Context, id string) (Org, error)
	OrgByName(ctx context.Context, name string) (Org, error)
	Orgs(ctx context.Context) ([]Org, error)
	CreateUser(ctx context.Context, u User) error
	User(ctx context.Context, id string) (User, error)
	UserByName(ctx context.Context, orgID, name string) (User, error)
	Users(ctx context.Context, orgID string) ([]User, error)
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash finds a live token with its user and organisation
	// (errkind.NotFound if none or revoked).
	TokenByHash(ctx context.Context, hash [32]byte) (Token, User, Org, error)
	RevokeToken(ctx context.Context, id string) error
}
