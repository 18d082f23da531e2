// Package misp converts MISP events (the MISP core format, single files,
// API responses and MISP feeds) to STIX 2.1 and back, following the MISP
// project's own MISP↔STIX 2.1 mapping conventions (misp-stix), and writes
// MISP feeds (manifest.json, hashes.csv, one file per event).
//
// The package is pure: it reads and writes bytes and never touches the
// store or the network. Conversion reports what the other model cannot
// express in a Loss report instead of dropping it silently.
package misp

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Str is a MISP scalar that producers write as a JSON string, number or
// null ("distribution": "5" or 5). It decodes to its text ("" for null) and
// always encodes as a JSON string, as MISP itself does.
type Str string

// UnmarshalJSON accepts a string, number, boolean or null.
func (s *Str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Str(v)
	case string(b) == "null":
		*s = ""
	case len(b) > 0 && (b[0] == '{' || b[0] == '['):
		return &json.UnmarshalTypeError{Value: "object or array", Type: strType}
	default:
		*s = Str(b)
	}
	return nil
}

// Bool is a MISP boolean that producers write as true/false, 0/1 or "0"/"1".
type Bool bool

// UnmarshalJSON accepts booleans, numbers, numeric or boolean strings, null.
func (v *Bool) UnmarshalJSON(b []byte) error {
	var s Str
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	switch s {
	case "true", "True", "1":
		*v = true
	case "", "false", "False", "0":
		*v = false
	default:
		n, err := strconv.ParseFloat(string(s), 64)
		if err != nil {
			return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(string(s)), Type: boolType}
		}
		*v = n != 0
	}
	return nil
}

// Event is one MISP event with the parts Kizuna maps.
type Event struct {
	UUID             string      `json:"uuid"`
	Info             string      `json:"info"`
	Date             string      `json:"date,omitempty"`
	ThreatLevelID    Str         `json:"threat_level_id,omitempty"`
	Analysis         Str         `json:"analysis,omitempty"`
	Distribution     Str         `json:"distribution,omitempty"`
	SharingGroupID   Str         `json:"sharing_group_id,omitempty"`
	Published        Bool        `json:"published"`
	Timestamp        Str         `json:"timestamp,omitempty"`
	PublishTimestamp Str         `json:"publish_timestamp,omitempty"`
	ExtendsUUID      string      `json:"extends_uuid,omitempty"`
	Orgc             *Org        `json:"Orgc,omitempty"`
	Org              *Org        `json:"Org,omitempty"`
	Tag              []Tag       `json:"Tag,omitempty"`
	Attribute        []Attribute `json:"Attribute,omitempty"`
	Object           []Object    `json:"Object,omitempty"`
	Galaxy           []Galaxy    `json:"Galaxy,omitempty"`

	// Members MISP events carry that STIX cannot hold; decoded only so
	// that the parser can report them (FromSTIX never sets them).
	EventReport       json.RawMessage `json:"EventReport,omitempty"`
	CryptographicKey  json.RawMessage `json:"CryptographicKey,omitempty"`
	ShadowAttribute   json.RawMessage `json:"ShadowAttribute,omitempty"`
	Sighting          json.RawMessage `json:"Sighting,omitempty"`
	EventCreatorEmail json.RawMessage `json:"event_creator_email,omitempty"`
	Protected         json.RawMessage `json:"protected,omitempty"`

	// Unmapped names the members above present in the input; filled by
	// the parser and reported as loss.
	Unmapped []string `json:"-"`
}

// Org is a MISP organisation reference.
type Org struct {
	UUID string `json:"uuid,omitempty"`
	Name string `json:"name,omitempty"`
}

// Tag is a MISP tag.
type Tag struct {
	Name   string `json:"name"`
	Colour string `json:"colour,omitempty"`
}

// Attribute is a MISP attribute (of the event or of an object).
type Attribute struct {
	UUID               string          `json:"uuid"`
	Type               string          `json:"type"`
	Category           string          `json:"category"`
	ToIDs              Bool            `json:"to_ids"`
	Value              string          `json:"value"`
	Comment            string          `json:"comment,omitempty"`
	Distribution       Str             `json:"distribution,omitempty"`
	SharingGroupID     Str             `json:"sharing_group_id,omitempty"`
	Timestamp          Str             `json:"timestamp,omitempty"`
	FirstSeen          Str             `json:"first_seen,omitempty"`
	LastSeen           Str             `json:"last_seen,omitempty"`
	DisableCorrelation Bool            `json:"disable_correlation"`
	Deleted            Bool            `json:"deleted"`
	ObjectRelation     Str             `json:"object_relation,omitempty"`
	Data               string          `json:"data,omitempty"`
	Tag                []Tag           `json:"Tag,omitempty"`
	Galaxy             []Galaxy        `json:"Galaxy,omitempty"`
	Sighting           []Sighting      `json:"Sighting,omitempty"`
	ShadowAttribute    json.RawMessage `json:"ShadowAttribute,omitempty"`
}

// Object is a MISP object: a template instance grouping attributes.
type Object struct {
	UUID            string            `json:"uuid"`
	Name            string            `json:"name"`
	MetaCategory    string            `json:"meta-category,omitempty"`
	Description     string            `json:"description,omitempty"`
	TemplateUUID    string            `json:"template_uuid,omitempty"`
	TemplateVersion Str               `json:"template_version,omitempty"`
	Timestamp       Str               `json:"timestamp,omitempty"`
	Distribution    Str               `json:"distribution,omitempty"`
	SharingGroupID  Str               `json:"sharing_group_id,omitempty"`
	Comment         string            `json:"comment,omitempty"`
	Deleted         Bool              `json:"deleted"`
	FirstSeen       Str               `json:"first_seen,omitempty"`
	LastSeen        Str               `json:"last_seen,omitempty"`
	ObjectReference []ObjectReference `json:"ObjectReference,omitempty"`
	Attribute       []Attribute       `json:"Attribute,omitempty"`
}

// ObjectReference relates a MISP object to another object or attribute.
type ObjectReference struct {
	UUID             string `json:"uuid"`
	Timestamp        Str    `json:"timestamp,omitempty"`
	ObjectUUID       string `json:"object_uuid,omitempty"`
	ReferencedUUID   string `json:"referenced_uuid"`
	RelationshipType string `json:"relationship_type"`
	Comment          string `json:"comment,omitempty"`
	Deleted          Bool   `json:"deleted"`
}

// Galaxy is a MISP galaxy with the clusters attached to an event or
// attribute.
type Galaxy struct {
	UUID          string    `json:"uuid"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	Description   string    `json:"description,omitempty"`
	Version       Str       `json:"version,omitempty"`
	Namespace     string    `json:"namespace,omitempty"`
	GalaxyCluster []Cluster `json:"GalaxyCluster,omitempty"`
}

// Cluster is a MISP galaxy cluster (a threat actor, an ATT&CK technique, a
// malware family, ...).
type Cluster struct {
	UUID           string          `json:"uuid"`
	Type           string          `json:"type"`
	Value          string          `json:"value"`
	TagName        string          `json:"tag_name,omitempty"`
	Description    string          `json:"description,omitempty"`
	Source         string          `json:"source,omitempty"`
	Authors        []string        `json:"authors,omitempty"`
	Version        Str             `json:"version,omitempty"`
	CollectionUUID string          `json:"collection_uuid,omitempty"`
	Meta           json.RawMessage `json:"meta,omitempty"`
}

// Sighting is a MISP sighting of an attribute.
type Sighting struct {
	UUID         string `json:"uuid"`
	Type         Str    `json:"type,omitempty"`
	DateSighting Str    `json:"date_sighting,omitempty"`
	Source       string `json:"source,omitempty"`
	Organisation *Org   `json:"Organisation,omitempty"`
}

// ManifestEntry is one event's summary in a MISP feed's manifest.json.
type ManifestEntry struct {
	Info          string `json:"info"`
	Orgc          *Org   `json:"Orgc,omitempty"`
	Analysis      Str    `json:"analysis,omitempty"`
	Tag           []Tag  `json:"Tag,omitempty"`
	Timestamp     Str    `json:"timestamp,omitempty"`
	Date          string `json:"date,omitempty"`
	ThreatLevelID Str    `json:"threat_level_id,omitempty"`
}
