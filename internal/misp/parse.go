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
	evs, err := decodeEvents(data)
	if err != nil {
		fixed, changed := stripTrailingCommas(data)
		if !changed {
			return nil, fmt.Errorf("%w: %s: %v", errkind.Invalid, name, err)
		}
		if evs, err = decodeEvents(fixed); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errkind.Invalid, name, err)
		}
		loss.Add("input repaired: trailing commas removed before parsing", name)
	}
	for i, ev := range evs {
		if err := checkEvent(ev); err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", name, i, err)
		}
	}
	return evs, nil
}

// entry is an event either wrapped ({"Event": {...}}) or bare.
type entry struct {
	Event
	Wrapped *Event `json:"Event"`
}

func (e *entry) event() *Event {
	if e.Wrapped != nil {
		return e.Wrapped
	}
	return &e.Event
}

// decodeEvents decodes the events of an input in one pass.
func decodeEvents(data []byte) ([]*Event, error) {
	data = bytes.TrimSpace(data)
	var entries []entry
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, fmt.Errorf("not JSON or not MISP events: %v", err)
		}
	case len(data) > 0 && data[0] == '{':
		var top struct {
			entry
			Response []entry `json:"response"`
		}
		if err := json.Unmarshal(data, &top); err != nil {
			return nil, fmt.Errorf("not JSON or not MISP events: %v", err)
		}
		entries = top.Response
		if entries == nil {
			entries = []entry{top.entry}
		}
	default:
		return nil, fmt.Errorf("not JSON: want a MISP event object, a list of events or an API response")
	}
	out := make([]*Event, len(entries))
	for i := range entries {
		out[i] = entries[i].event()
	}
	return out, nil
}

// checkEvent checks what the conversion relies on (uuids, attribute
// types) and notes the members STIX cannot hold.
func checkEvent(ev *Event) error {
	if !validUUID(ev.UUID) {
		return fmt.Errorf("%w: event %q: uuid: missing or not a UUID", errkind.Invalid, ev.UUID)
	}
	for _, m := range []struct {
		name string
		v    json.RawMessage
	}{{"EventReport", ev.EventReport}, {"CryptographicKey", ev.CryptographicKey}, {"ShadowAttribute", ev.ShadowAttribute},
		{"Sighting", ev.Sighting}, {"event_creator_email", ev.EventCreatorEmail}, {"protected", ev.Protected}} {
		if len(m.v) > 0 && !isEmptyJSON(m.v) {
			ev.Unmapped = append(ev.Unmapped, m.name)
		}
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
			return err
		}
	}
	for i := range ev.Object {
		o := &ev.Object[i]
		if !validUUID(o.UUID) {
			return fmt.Errorf("%w: event %s: object %d: uuid %q: missing or not a UUID", errkind.Invalid, ev.UUID, i, o.UUID)
		}
		if o.Name == "" {
			return fmt.Errorf("%w: event %s: object %s: name: missing", errkind.Invalid, ev.UUID, o.UUID)
		}
		for j := range o.Attribute {
			if err := check(&o.Attribute[j], fmt.Sprintf("object %s attribute %d", o.UUID, j)); err != nil {
				return err
			}
		}
	}
	return nil
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
