package version

import "strings"

// mavenItem is one element of a Maven ComparableVersion: an integer, a
// qualifier string or a nested list (started by '-' or a digit/letter
// transition).
type mavenItem struct {
	kind  int // mInt, mStr, mList
	num   string
	str   string
	items []mavenItem
}

const (
	mInt = iota
	mStr
	mList
)

// mavenQualifiers in ascending order; "" is the release.
var mavenQualifiers = []string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

const mavenReleaseIndex = "5"

// comparableQualifier gives the sort key of a qualifier: its index among
// the known ones, or "7-<text>" for unknown qualifiers, which sort after
// every known one and among themselves as text.
func comparableQualifier(q string) string {
	for i, k := range mavenQualifiers {
		if q == k {
			return string(rune('0' + i))
		}
	}
	return "7-" + q
}

func newMavenString(s string, followedByDigit bool) mavenItem {
	if followedByDigit && len(s) == 1 {
		switch s {
		case "a":
			s = "alpha"
		case "b":
			s = "beta"
		case "m":
			s = "milestone"
		}
	}
	switch s {
	case "ga", "final", "release":
		s = ""
	case "cr":
		s = "rc"
	}
	return mavenItem{kind: mStr, str: s}
}

func (it mavenItem) isNull() bool {
	switch it.kind {
	case mInt:
		return strings.TrimLeft(it.num, "0") == ""
	case mStr:
		return comparableQualifier(it.str) == mavenReleaseIndex
	}
	return len(it.items) == 0
}

// parseMaven builds the item tree of ComparableVersion.
func parseMaven(v string) mavenItem {
	v = strings.ToLower(v)
	root := &mavenItem{kind: mList}
	stack := []*mavenItem{root}
	list := root
	isDigitRun := false
	start := 0
	parseItem := func(digit bool, s string, followedByDigit bool) mavenItem {
		if digit {
			return mavenItem{kind: mInt, num: s}
		}
		return newMavenString(s, followedByDigit)
	}
	push := func() {
		list.items = append(list.items, mavenItem{kind: mList})
		list = &list.items[len(list.items)-1]
		stack = append(stack, list)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.':
			if i == start {
				list.items = append(list.items, mavenItem{kind: mInt, num: "0"})
			} else {
				list.items = append(list.items, parseItem(isDigitRun, v[start:i], false))
			}
			start = i + 1
		case c == '-':
			if i == start {
				list.items = append(list.items, mavenItem{kind: mInt, num: "0"})
			} else {
				list.items = append(list.items, parseItem(isDigitRun, v[start:i], false))
			}
			start = i + 1
			push()
		case isDigit(c):
			if !isDigitRun && i > start {
				list.items = append(list.items, newMavenString(v[start:i], true))
				start = i
				push()
			}
			isDigitRun = true
		default:
			if isDigitRun && i > start {
				list.items = append(list.items, parseItem(true, v[start:i], false))
				start = i
				push()
			}
			isDigitRun = false
		}
	}
	if len(v) > start {
		list.items = append(list.items, parseItem(isDigitRun, v[start:], false))
	}
	// Normalise from the innermost list outwards: pointers into parents'
	// slices stay valid because no list grows after parsing.
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return *root
}

// normalize drops trailing null items (0, release qualifiers, empty
// lists) up to the last non-list item.
func (it *mavenItem) normalize() {
	for i := len(it.items) - 1; i >= 0; i-- {
		last := it.items[i]
		if last.isNull() {
			it.items = append(it.items[:i], it.items[i+1:]...)
		} else if last.kind != mList {
			break
		}
	}
}

// compareTo follows ComparableVersion's Item.compareTo; other == nil
// compares against "nothing" (a missing item).
func (it mavenItem) compareTo(other *mavenItem) int {
	switch it.kind {
	case mInt:
		if other == nil {
			if it.isNull() {
				return 0
			}
			return 1
		}
		switch other.kind {
		case mInt:
			return cmpNumeric(it.num, other.num)
		default:
			return 1
		}
	case mStr:
		if other == nil {
			return strings.Compare(comparableQualifier(it.str), mavenReleaseIndex)
		}
		switch other.kind {
		case mInt, mList:
			return -1
		default:
			return strings.Compare(comparableQualifier(it.str), comparableQualifier(other.str))
		}
	}
	if other == nil {
		if len(it.items) == 0 {
			return 0
		}
		return it.items[0].compareTo(nil)
	}
	switch other.kind {
	case mInt:
		return -1
	case mStr:
		return 1
	}
	for i := 0; i < len(it.items) || i < len(other.items); i++ {
		var c int
		switch {
		case i >= len(it.items):
			c = -other.items[i].compareTo(nil)
		case i >= len(other.items):
			c = it.items[i].compareTo(nil)
		default:
			c = it.items[i].compareTo(&other.items[i])
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// compareMaven orders versions like Maven's ComparableVersion.
func compareMaven(a, b string) int {
	x, y := parseMaven(a), parseMaven(b)
	return x.compareTo(&y)
}
