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
// (an introduction at v comes before a fix at the same v, so
// "introduced X, fixed X" is empty).
func (e Event) value() (string, int) {
	switch {
	case e.Introduced != "":
		return e.Introduced, 0
	case e.Fixed != "":
		return e.Fixed, 1
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
	eco = Normalize(string(eco))
	if len(events) == 2 && events[0].Introduced != "" && (events[1].Fixed != "" || events[1].LastAffected != "") {
		// The common single interval needs no sorting.
		return inInterval(eco, events[0], events[1], v)
	}
	return inRangeSorted(eco, events, v)
}

// inRangeSorted is the general evaluation of InRange.
func inRangeSorted(eco Ecosystem, events []Event, v string) bool {
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

// inInterval evaluates the range [introduced, fixed) or [introduced,
// last_affected]. An interval whose end lies below its start is evaluated
// as OSV would (the end closes nothing that was opened).
func inInterval(eco Ecosystem, start, end Event, v string) bool {
	if start.Introduced != "0" && Compare(eco, v, start.Introduced) < 0 {
		return false
	}
	endV := end.Fixed
	if endV == "" {
		endV = end.LastAffected
	}
	if compareEventVersions(eco, endV, start.Introduced) < 0 {
		return true // sorted first, the end event closes nothing
	}
	if end.Fixed != "" {
		return Compare(eco, v, end.Fixed) < 0
	}
	return Compare(eco, v, end.LastAffected) <= 0
}
