package pattern

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Observation is what a pattern is matched against: one observed-data
// object (STIX 2.1 section 4.13), standing for NumberObserved sightings of
// its cyber-observable objects between FirstObserved and LastObserved.
//
// Property values are JSON values as decoded by encoding/json (maps,
// slices, strings, bools, nil, and json.Number or float64 for numbers).
type Observation struct {
	// ID is the observed-data id (for messages; may be empty).
	ID             string
	FirstObserved  time.Time
	LastObserved   time.Time
	NumberObserved int64
	// Objects are the root objects of the observation: those its
	// object_refs name (or the values of a deprecated embedded "objects").
	Objects []map[string]any
	// Refs resolves the ids in *_ref and *_refs properties.
	Refs map[string]map[string]any
}

// ObservationsFromObjects builds observations from a flat list of STIX
// objects, such as the contents of a bundle: every observed-data becomes
// one Observation whose object_refs are resolved among the given objects
// (references that do not resolve are ignored). An observed-data without
// object_refs may carry the deprecated embedded "objects" dictionary
// instead. When the list holds no observed-data at all, each object
// becomes an observation of its own (number_observed 1, no time: its first
// and last observed are the zero time), so that bare SCOs can be matched.
//
// Errors wrap errkind.Invalid and name the object id and property.
func ObservationsFromObjects(objs []map[string]any) ([]Observation, error) {
	byID := make(map[string]map[string]any, len(objs))
	haveObservedData := false
	for _, o := range objs {
		if id, ok := o["id"].(string); ok {
			byID[id] = o
		}
		if o["type"] == "observed-data" {
			haveObservedData = true
		}
	}
	var out []Observation
	if !haveObservedData {
		for _, o := range objs {
			id, _ := o["id"].(string)
			out = append(out, Observation{ID: id, NumberObserved: 1, Objects: []map[string]any{o}, Refs: byID})
		}
		return out, nil
	}
	for _, o := range objs {
		if o["type"] != "observed-data" {
			continue
		}
		obs, err := observationOf(o, byID)
		if err != nil {
			return nil, err
		}
		out = append(out, obs)
	}
	return out, nil
}

// observationOf converts one observed-data object.
func observationOf(o map[string]any, byID map[string]map[string]any) (Observation, error) {
	id, _ := o["id"].(string)
	obs := Observation{ID: id, Refs: byID}
	if id == "" {
		id = "(observed-data without id)"
	}
	bad := func(prop, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s: %s", errkind.Invalid, id, prop, fmt.Sprintf(format, args...))
	}
	for _, prop := range []string{"first_observed", "last_observed"} {
		s, ok := o[prop].(string)
		if !ok {
			return obs, bad(prop, "required timestamp missing or not a string")
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return obs, bad(prop, "invalid timestamp %q: %v", s, err)
		}
		if prop == "first_observed" {
			obs.FirstObserved = t
		} else {
			obs.LastObserved = t
		}
	}
	if obs.LastObserved.Before(obs.FirstObserved) {
		return obs, bad("last_observed", "is before first_observed")
	}
	n, ok := jsonInt(o["number_observed"])
	if !ok {
		return obs, bad("number_observed", "required integer missing or not an integer")
	}
	if n < 1 {
		return obs, bad("number_observed", "must be at least 1, got %d", n)
	}
	obs.NumberObserved = n
	if refs, ok := o["object_refs"].([]any); ok {
		for i, r := range refs {
			s, ok := r.(string)
			if !ok {
				return obs, bad(fmt.Sprintf("object_refs[%d]", i), "not a string")
			}
			if target, ok := byID[s]; ok {
				obs.Objects = append(obs.Objects, target)
			}
		}
		return obs, nil
	}
	if embedded, ok := o["objects"].(map[string]any); ok {
		refs := make(map[string]map[string]any, len(embedded))
		keys := make([]string, 0, len(embedded))
		for k, v := range embedded {
			m, ok := v.(map[string]any)
			if !ok {
				return obs, bad("objects."+k, "not an object")
			}
			refs[k] = m
			keys = append(keys, k)
		}
		sortStrings(keys)
		for _, k := range keys {
			obs.Objects = append(obs.Objects, refs[k])
		}
		obs.Refs = refs
	}
	return obs, nil
}

// jsonInt reads an integral JSON number.
func jsonInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	case int:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
