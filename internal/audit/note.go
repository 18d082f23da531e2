package audit

import (
	"context"
	"sync"
)

// Note is what a handler tells the audit about a request: the collection
// and the objects it served, accepted or deleted, and the action when the
// method alone does not say it. It is safe for concurrent use.
type Note struct {
	mu         sync.Mutex // guards the following
	collection string
	objects    []string
	count      int
	action     Action
}

type noteKey struct{}

// WithNote returns ctx carrying a fresh Note for handlers to annotate.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// Annotate records in the request's Note (if ctx carries one) that the
// request concerned the objects ids of collection (empty when none). It
// keeps the first MaxObjectIDs ids and counts them all; calls add up.
func Annotate(ctx context.Context, collection string, ids ...string) {
	n, _ := ctx.Value(noteKey{}).(*Note)
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if collection != "" {
		n.collection = collection
	}
	n.count += len(ids)
	if room := MaxObjectIDs - len(n.objects); room > 0 {
		n.objects = append(n.objects, ids[:min(room, len(ids))]...)
	}
}

// AnnotateMore adds n objects to the request's count without naming them
// (those beyond the first MaxObjectIDs of a list).
func AnnotateMore(ctx context.Context, n int) {
	if nt, _ := ctx.Value(noteKey{}).(*Note); nt != nil {
		nt.mu.Lock()
		nt.count += n
		nt.mu.Unlock()
	}
}

// SetAction overrides the action the method implies (for instance Admin
// for administration endpoints) in the request's Note, if any.
func SetAction(ctx context.Context, a Action) {
	if n, _ := ctx.Value(noteKey{}).(*Note); n != nil {
		n.mu.Lock()
		n.action = a
		n.mu.Unlock()
	}
}

// Apply copies the note into r: collection, objects, count and, when set,
// the action.
func (n *Note) Apply(r *Record) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.collection != "" {
		r.Collection = n.collection
	}
	r.Objects, r.Count = n.objects, n.count
	if n.action != "" {
		r.Action = n.action
	}
}
