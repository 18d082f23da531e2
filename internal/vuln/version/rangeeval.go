package version

import (
	"slices"
)

// Event is one OSV range event. Exactly one field is set; Introduced "0"
// means "from the beginning".
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// value returns the event's version and its kind's rank for ordering ties
// (a fix at v takes effect before an introduction at the same v).
func (e Event) value() (string, int) {
	switch {
	case e.Introduced != "":
		return e.Introduced, 1
	case e.Fixed != "":
		return e.Fixed, 0
	case e.LastAffected != "":
		return e.LastAffected, 2
	case e.Limit != "":
		return e.Limit, 3
	}
	return "", 4
}

// InRange reports whether v lies in the range the events describe, with
// the OSV evaluation: events sorted by version; an introduced event at or
// below v opens the range, a fixed event at or below v (or last_affected
// strictly below v) closes it. Limit events, when present, bound the range
// from above: v must be below one of them. Events with an empty value are
// ignored.
func InRange(eco Ecosystem, events []Event, v string) bool {
	sorted := make([]Event, 0, len(events))
	var limits []string
	for _, e := range events {
		if val, _ := e.value(); val == "" {
			continue
		}
		if e.Limit != "" {
			limits = append(limits, e.Limit)
			continue
		}
		sorted = append(sorted, e)
	}
	if len(limits) > 0 {
		below := false
		for _, l := range limits {
			if l == "*" || Compare(eco, v, l) < 0 {
				below = true
				break
			}
		}
		if !below {
			return false
		}
	}
	slices.SortStableFunc(sorted, func(a, b Event) int {
		va, ra := a.value()
		vb, rb := b.value()
		if c := compareEventVersions(eco, va, vb); c != 0 {
			return c
		}
		return cmpInt(ra, rb)
	})
	affected := false
	for _, e := range sorted {
		switch {
		case e.Introduced != "":
			if e.Introduced == "0" || Compare(eco, v, e.Introduced) >= 0 {
				affected = true
			}
		case e.Fixed != "":
			if Compare(eco, v, e.Fixed) >= 0 {
				affected = false
			}
		case e.LastAffected != "":
			if Compare(eco, v, e.LastAffected) > 0 {
				affected = false
			}
		}
	}
	return affected
}

// compareEventVersions orders event versions with "0" (the beginning)
// below everything.
func compareEventVersions(eco Ecosystem, a, b string) int {
	switch {
	case a == "0" && b == "0":
		return 0
	case a == "0":
		return -1
	case b == "0":
		return 1
	}
	return Compare(eco, a, b)
}
