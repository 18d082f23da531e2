// Package schedule runs periodic background work (the partner feed and
// vulnerability source schedulers).
package schedule

import (
	"context"
	"time"
)

// Loop calls fn, then again each time tick has passed after the previous
// call returned, until ctx ends. tick <= 0 uses def. after makes the
// timer channel (nil: time.After); tests replace it.
func Loop(ctx context.Context, tick, def time.Duration, after func(time.Duration) <-chan time.Time, fn func(context.Context)) {
	if tick <= 0 {
		tick = def
	}
	if after == nil {
		after = time.After
	}
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-after(tick):
		}
	}
}
