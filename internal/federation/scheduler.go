package federation

import (
	"context"
	"time"

	"github.com/kizuna-cti/kizuna/internal/schedule"
)

// DefaultTick is how often a Scheduler looks for due feeds.
const DefaultTick = 5 * time.Second

// Scheduler runs every feed that has an interval (Feed.Every) when it is
// due: when its last attempt is at least Every ago (failed runs are retried
// at the same pace; the client's own retries handle short outages).
type Scheduler struct {
	Syncer *Syncer
	// Tick is how often due feeds are looked for (0: DefaultTick).
	Tick time.Duration
	// After returns a channel that fires after d (default time.After);
	// tests replace it.
	After func(d time.Duration) <-chan time.Time
}

// Run runs due feeds, one at a time, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	schedule.Loop(ctx, s.Tick, DefaultTick, s.After, func(ctx context.Context) { s.RunDue(ctx) })
}

// RunDue runs each feed that is due now and returns how many it ran.
func (s *Scheduler) RunDue(ctx context.Context) int {
	feeds, err := s.Syncer.Feeds.List(ctx)
	if err != nil {
		s.Syncer.log().ErrorContext(ctx, "listing feeds", "err", err)
		return 0
	}
	n := 0
	for _, f := range feeds {
		if ctx.Err() != nil {
			return n
		}
		if f.Every <= 0 || (!f.LastAttempt.IsZero() && s.Syncer.now().Sub(f.LastAttempt) < f.Every) {
			continue
		}
		n++
		// Run records the outcome in the feed's health.
		if rep, err := s.Syncer.Run(ctx, f.Name); err != nil && ctx.Err() == nil {
			s.Syncer.log().WarnContext(ctx, "feed run failed", "feed", f.Name, "pulled", rep.Pulled, "pushed", rep.Pushed, "err", err)
		}
	}
	return n
}
