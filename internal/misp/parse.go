package misp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

var (
	strType  = reflect.TypeFor[Str]()
	boolType = reflect.TypeFor[Bool]()
)

// MaxEventSize bounds one MISP input file (bytes) accepted by the parser.
const MaxEventSize = 256 << 20

// eventMembers are the event members Kizuna maps (or deliberately
// ignores because MISP recomputes them); anything else non-empty is
// reported as loss.
var eventMembers = map[string]bool{
	"uuid": true, "info": true, "date": true, "threat_level_id": true, "analysis": true,
	"distribution": true, "sharing_group_id": true, "published": true, "timestamp": true,
	"publish_timestamp": true, "extends_uuid": true, "Orgc": true, "Org": true, "Tag": true,
	"Attribute": true, "Object": true, "Galaxy": true,
	// Derived by every MISP instance; meaningless elsewhere.
	"id": true, "org_id": true, "orgc_id": true, "attribute_count": true, "RelatedEvent": true,
	"locked": true, "proposal_email_lock": true, "disable_correlation": true,
}

// ParseEvents decodes the MISP events in data: one event ({"Event": {...}}
// or a bare event object), a MISP API response ({"response": [{"Event":
// ...}, ...]}) or a JSON array of either. name identifies the input in
// errors. Input that is valid JSON except for trailing commas (as some
// hand-edited published events are) is accepted and the repair reported in
// loss.
func ParseEvents(name string, data []byte, loss *Loss) ([]*Event, error) {
	if len(data) > MaxEventSize {
		return nil, fmt.Errorf("%w: %s: MISP input larger than %d bytes", errkind.TooLarge, name, MaxEventSize)
	}
	var top json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		fixed, ok := stripTrailingCommas(data)
		if !ok || json.Unmarshal(fixed, &top) != nil {
			return nil, fmt.Errorf("%w: %s: not JSON: %v", errkind.Invalid, name, err)
		}
		loss.Add("input repaired: trailing commas removed before parsing", name)
	}
	var raws []json.RawMessage
	top = bytes.TrimSpace(top)
	switch {
	case len(top) > 0 && top[0] == '[':
		if err := json.Unmarshal(top, &raws); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errkind.Invalid, name, err)
		}
	case len(top) > 0 && top[0] == '{':
		var wrap struct {
			Response json.RawMessage `json:"response"`
		}
		if err := json.Unmarshal(top, &wrap); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errkind.Invalid, name, err)
		}
		if len(wrap.Response) > 0 && !bytes.Equal(wrap.Response, []byte("null")) {
			if err := json.Unmarshal(wrap.Response, &raws); err != nil {
				return nil, fmt.Errorf("%w: %s: member response: want a list of events: %v", errkind.Invalid, name, err)
			}
		} else {
			raws = []json.RawMessage{top}
		}
	default:
		return nil, fmt.Errorf("%w: %s: want a MISP event object, a list of events or an API response", errkind.Invalid, name)
	}
	out := make([]*Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseEvent(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", name, i, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// parseEvent decodes {"Event": {...}} or a bare event and checks what the
// conversion relies on: uuids and attribute types and values.
func parseEvent(raw json.RawMessage) (*Event, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, fmt.Errorf("%w: want a JSON object: %v", errkind.Invalid, err)
	}
	if inner, ok := members["Event"]; ok {
		raw = inner
		members = nil
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, fmt.Errorf("%w: member Event: want a JSON object: %v", errkind.Invalid, err)
		}
	}
	ev := &Event{}
	if err := json.Unmarshal(raw, ev); err != nil {
		return nil, fmt.Errorf("%w: event %v: %v", errkind.Invalid, members["uuid"], err)
	}
	if !validUUID(ev.UUID) {
		return nil, fmt.Errorf("%w: event %q: uuid: missing or not a UUID", errkind.Invalid, ev.UUID)
	}
	for k, v := range members {
		if eventMembers[k] || isEmptyJSON(v) {
			continue
		}
		ev.Unmapped = append(ev.Unmapped, k)
	}
	check := func(a *Attribute, where string) error {
		if !validUUID(a.UUID) {
			return fmt.Errorf("%w: event %s: %s: uuid %q: missing or not a UUID", errkind.Invalid, ev.UUID, where, a.UUID)
		}
		if a.Type == "" {
			return fmt.Errorf("%w: event %s: attribute %s: type: missing", errkind.Invalid, ev.UUID, a.UUID)
		}
		return nil
	}
	for i := range ev.Attribute {
		if err := check(&ev.Attribute[i], fmt.Sprintf("attribute %d", i)); err != nil {
			return nil, err
		}
	}
	for i := range ev.Object {
		o := &ev.Object[i]
		if !validUUID(o.UUID) {
			return nil, fmt.Errorf("%w: event %s: object %d: uuid %q: missing or not a UUID", errkind.Invalid, ev.UUID, i, o.UUID)
		}
		if o.Name == "" {
			return nil, fmt.Errorf("%w: event %s: object %s: name: missing", errkind.Invalid, ev.UUID, o.UUID)
		}
		for j := range o.Attribute {
			if err := check(&o.Attribute[j], fmt.Sprintf("object %s attribute %d", o.UUID, j)); err != nil {
				return nil, err
			}
		}
	}
	return ev, nil
}

func isEmptyJSON(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "", "null", "[]", "{}", `""`, "0", `"0"`, "false":
		return true
	}
	return false
}

// validUUID reports whether s is a UUID in the 8-4-4-4-12 hex form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// stripTrailingCommas removes commas that directly precede a closing
// bracket or brace (outside strings). ok is false when there were none.
func stripTrailingCommas(data []byte) ([]byte, bool) {
	out := make([]byte, 0, len(data))
	inStr, esc, changed := false, false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inStr {
			out = append(out, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		}
		if c == ',' {
			j := i + 1
			for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
				j++
			}
			if j < len(data) && (data[j] == ']' || data[j] == '}') {
				changed = true
				continue
			}
		}
		out = append(out, c)
	}
	return out, changed
}

// ParseManifest decodes a MISP feed's manifest.json: event uuid → summary.
func ParseManifest(name string, data []byte) (map[string]ManifestEntry, error) {
	var m map[string]ManifestEntry
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: MISP feed manifest: %v", errkind.Invalid, name, err)
	}
	for id := range m {
		if !validUUID(id) {
			return nil, fmt.Errorf("%w: %s: MISP feed manifest: key %q is not an event uuid", errkind.Invalid, name, id)
		}
	}
	return m, nil
}
