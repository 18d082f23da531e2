package events

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/bus"
	"github.com/kizuna-cti/kizuna/internal/response/alert"
)

// capture is a bus.Publisher that keeps what it is given.
type capture struct{ ms []bus.Message }

func (c *capture) Publish(_ context.Context, ms ...bus.Message) error {
	c.ms = append(c.ms, ms...)
	return nil
}

// TestWireGrouping: consecutive reference events of one kind share a bus
// message (at most refsPerMessage each); payload events and a change of
// kind start a new message; Decode returns every event, in order, with
// its reference.
func TestWireGrouping(t *testing.T) {
	ref := func(i int) wire {
		id := fmt.Sprintf("indicator--%d", i)
		return wire{Event: alert.Event{ID: id + "@v", Kind: alert.ObjectAdded, Type: "indicator", Confidence: -1}, Ref: &Ref{Collection: "c", ID: id, Version: "v"}}
	}
	var ws []wire
	for i := range refsPerMessage + 3 {
		ws = append(ws, ref(i))
	}
	ws = append(ws, wire{Event: alert.Event{ID: "s@v", Kind: alert.Sighting, Type: "sighting"}, Ref: &Ref{Collection: "c", ID: "s", Version: "v"}})
	ws = append(ws, wire{Event: alert.Event{ID: "f1", Kind: alert.Finding, Object: []byte(`{"type":"finding"}`)}})
	ws = append(ws, ref(1000))
	c := &capture{}
	p := NewPublisher(c, nil, nil)
	if err := p.publishWires(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	wantSizes := []int{refsPerMessage, 3, 1, 1, 1}
	if len(c.ms) != len(wantSizes) {
		t.Fatalf("%d messages, want %d", len(c.ms), len(wantSizes))
	}
	var got []string
	ids := map[string]bool{}
	for i, m := range c.ms {
		es, refs, err := Decode(m)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(es) != wantSizes[i] {
			t.Errorf("message %d (%s) carries %d events, want %d", i, m.Topic, len(es), wantSizes[i])
		}
		if ids[m.ID] {
			t.Errorf("message id %q used twice", m.ID)
		}
		ids[m.ID] = true
		for j, e := range es {
			if string(e.Kind) != m.Topic {
				t.Errorf("event %s of kind %s in a %s message", e.ID, e.Kind, m.Topic)
			}
			if (refs[j] == nil) != (e.Kind == alert.Finding) || (refs[j] != nil && refs[j].ID+"@v" != e.ID) {
				t.Errorf("event %s has ref %+v", e.ID, refs[j])
			}
			if e.Time.IsZero() {
				t.Errorf("event %s has no time", e.ID)
			}
			got = append(got, e.ID)
		}
	}
	if len(got) != len(ws) {
		t.Fatalf("decoded %d events, want %d", len(got), len(ws))
	}
	for i, w := range ws {
		if got[i] != w.ID {
			t.Fatalf("event %d is %s, want %s", i, got[i], w.ID)
		}
	}
}
