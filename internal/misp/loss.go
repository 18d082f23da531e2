package misp

import (
	"fmt"
	"sort"
	"strings"
)

// Loss reports what a conversion could not express in the target model:
// one item per reason, with a count and the first example (an event,
// attribute or object uuid, or a member name). The zero value is ready
// to use; a nil *Loss discards everything.
type Loss struct {
	items map[string]*LossItem
}

// LossItem is one reason for loss.
type LossItem struct {
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
	Example string `json:"example,omitempty"`
}

// Add records one occurrence of reason, with example naming where.
func (l *Loss) Add(reason, example string) {
	if l == nil {
		return
	}
	if l.items == nil {
		l.items = map[string]*LossItem{}
	}
	it := l.items[reason]
	if it == nil {
		it = &LossItem{Reason: reason, Example: example}
		l.items[reason] = it
	}
	it.Count++
}

// Merge adds every item of o to l.
func (l *Loss) Merge(o *Loss) {
	if l == nil || o == nil {
		return
	}
	for _, it := range o.items {
		for range it.Count {
			l.Add(it.Reason, it.Example)
		}
	}
}

// Items returns the reasons, most frequent first.
func (l *Loss) Items() []LossItem {
	if l == nil {
		return nil
	}
	out := make([]LossItem, 0, len(l.items))
	for _, it := range l.items {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out
}

// Total is the number of occurrences over all reasons.
func (l *Loss) Total() int {
	n := 0
	for _, it := range l.Items() {
		n += it.Count
	}
	return n
}

// String lists the items one per line ("COUNT× REASON (e.g. EXAMPLE)").
func (l *Loss) String() string {
	var b strings.Builder
	for _, it := range l.Items() {
		fmt.Fprintf(&b, "%d× %s", it.Count, it.Reason)
		if it.Example != "" {
			fmt.Fprintf(&b, " (e.g. %s)", it.Example)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
