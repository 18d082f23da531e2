package schedule

import (
	"context"
	"testing"
	"time"
)

// TestLoop: fn runs at once, then once per tick, and the loop ends with
// its context.
func TestLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	var asked []time.Duration
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(ctx, 0, 7*time.Second, func(d time.Duration) <-chan time.Time { asked = append(asked, d); return ticks }, func(context.Context) {
			calls++
		})
	}()
	ticks <- time.Time{}
	ticks <- time.Time{}
	cancel()
	<-done
	if calls != 3 || len(asked) != 3 || asked[0] != 7*time.Second {
		t.Errorf("calls %d, timers %v", calls, asked)
	}
}
