package source

import (
	"context"
	"time"

	"github.com/kizuna-cti/kizuna/internal/schedule"
)

// DefaultTick is how often a Scheduler looks for due sources.
const DefaultTick = 5 * time.Second

// Scheduler runs every source that has an interval (Source.Every) when it
// is due: when its last attempt is at least Every ago (failed runs are
// retried at the same pace).
type Scheduler struct {
	Runner *Runner
	// Tick is how often due sources are looked for (0: DefaultTick).
	Tick time.Duration
	// After returns a channel that fires after d (default time.After);
	// tests replace it.
	After func(d time.Duration) <-chan time.Time
}

// Run runs due sources, one at a time, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	schedule.Loop(ctx, s.Tick, DefaultTick, s.After, func(ctx context.Context) { s.RunDue(ctx) })
}

// RunDue runs each source that is due now and returns how many it ran.
func (s *Scheduler) RunDue(ctx context.Context) int {
	r := s.Runner
	sources, err := r.Registry.List(ctx)
	if err != nil {
		r.log().ErrorContext(ctx, "listing vulnerability sources", "err", err)
		return 0
	}
	n := 0
	for _, src := range sources {
		if ctx.Err() != nil {
			return n
		}
		if src.Every <= 0 || (!src.LastAttempt.IsZero() && r.now().Sub(src.LastAttempt) < src.Every) {
			continue
		}
		n++
		// Run records the outcome in the source's health.
		res, err := r.Run(ctx, src.Name)
		if err != nil && ctx.Err() == nil {
			r.log().WarnContext(ctx, "vulnerability source run failed", "source", src.Name, "fetched", res.Fetched, "failed", res.Failed, "err", err)
		} else if err == nil {
			r.log().InfoContext(ctx, "vulnerability source run", "source", src.Name, "fetched", res.Fetched,
				"added", res.Added, "updated", res.Updated, "withheld", res.Withheld)
		}
	}
	return n
}
