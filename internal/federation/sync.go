package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/taxii/client"
)

// Defaults of a Syncer.
const (
	DefaultPageSize  = 1000
	DefaultBatchSize = 5000
	DefaultPushBatch = 500
)

// maxPage caps one partner response (a page of up to 1,000 objects).
const maxPage = 32 << 20

// Syncer runs feeds of one data directory.
type Syncer struct {
	Store    store.Store
	Policy   *sharing.Policy
	Pipeline *ingest.Pipeline
	Feeds    *Registry
	Log      *slog.Logger
	// Now is the clock for health timestamps (default time.Now).
	Now func() time.Time
	// PageSize is the limit asked of the partner per page (0:
	// DefaultPageSize); BatchSize is how many pulled objects are stored per
	// transaction (0: DefaultBatchSize); PushBatch is how many objects are
	// POSTed per request (0: DefaultPushBatch).
	PageSize, BatchSize, PushBatch int
	// ClientOptions adjusts the TAXII client of a feed (tests set HTTP,
	// Retries, Backoff and Sleep here); nil keeps the defaults.
	ClientOptions func(*client.Options)
	// StatusPoll is the status polling interval after a push (0: 1 s).
	StatusPoll time.Duration
}

// Report is the outcome of one run.
type Report struct {
	Feed string
	// Pulled counts versions the local store accepted and Pushed versions
	// the partner accepted (both including versions already held, which
	// are stored once), Rejected versions refused on either side, Withheld
	// AMBER+STRICT or RED versions the partner sent and that were dropped,
	// Skipped local versions push held back (policy or loop prevention).
	Pulled, Pushed, Rejected, Withheld, Skipped int64
	// Elapsed is the run's duration.
	Elapsed time.Duration
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Syncer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Run synchronises one feed now (pull, then push, as its direction says)
// and records its health. The error is the run's failure, if any (Run
// logs successes; reporting failures is the caller's).
func (s *Syncer) Run(ctx context.Context, name string) (Report, error) {
	rep := Report{Feed: name}
	st, err := s.Feeds.Get(ctx, name)
	if err != nil {
		return rep, err
	}
	start := s.now()
	if err := s.Feeds.begin(ctx, name, start); err != nil {
		return rep, err
	}
	runErr := s.run(ctx, st.Feed, &rep)
	rep.Elapsed = s.now().Sub(start)
	if err := s.Feeds.finish(context.WithoutCancel(ctx), name, s.now(), runErr); err != nil {
		return rep, errors.Join(runErr, err)
	}
	if runErr == nil {
		s.log().InfoContext(ctx, "feed run", "feed", name, "pulled", rep.Pulled, "pushed", rep.Pushed,
			"rejected", rep.Rejected, "withheld", rep.Withheld, "skipped", rep.Skipped, "ms", rep.Elapsed.Milliseconds())
	}
	return rep, runErr
}

func (s *Syncer) run(ctx context.Context, f Feed, rep *Report) error {
	org, err := s.Store.Org(ctx, f.OrgID)
	if err != nil {
		return fmt.Errorf("feed %s: partner organisation %s: %w", f.Name, f.OrgID, err)
	}
	opt := client.Options{APIRoot: f.URL, Token: f.Token, InsecureSkipVerify: f.InsecureSkipVerify, Log: s.Log,
		UserAgent: "kizuna-federation", MaxResponse: maxPage}
	if s.ClientOptions != nil {
		s.ClientOptions(&opt)
	}
	c, err := client.New(opt)
	if err != nil {
		return fmt.Errorf("feed %s: %w", f.Name, err)
	}
	pr := partnerPrincipal(org)
	if f.Direction.pulls() {
		if err := s.pull(ctx, f, c, pr, rep); err != nil {
			return fmt.Errorf("feed %s: pull: %w", f.Name, err)
		}
	}
	if f.Direction.pushes() {
		if err := s.push(ctx, f, c, pr, rep); err != nil {
			return fmt.Errorf("feed %s: push: %w", f.Name, err)
		}
	}
	return nil
}

// partnerPrincipal is the principal of a partner organisation: a member
// without a user id (so no TLP:RED clause can ever match it).
func partnerPrincipal(o store.Org) sharing.Principal {
	return sharing.Principal{OrgID: o.ID, OrgName: o.Name, Role: sharing.RoleMember}
}

// page is a fetched page (or the fetch error).
type page struct {
	objs []json.RawMessage
	last time.Time
	err  error
}

// pull fetches pages in the background while batches are stored.
func (s *Syncer) pull(ctx context.Context, f Feed, c *client.Client, pr sharing.Principal, rep *Report) error {
	st, err := s.Feeds.Get(ctx, f.Name)
	if err != nil {
		return err
	}
	coll, err := s.Store.Collection(ctx, store.DefaultAPIRoot, f.LocalCollection)
	if err != nil {
		return fmt.Errorf("local collection %s: %w", f.LocalCollection, err)
	}
	if !s.Policy.CanWrite(pr, coll.WriteOrgs) {
		return fmt.Errorf("%w: partner organisation %s may not write to local collection %s", errkind.Forbidden, pr.OrgName, coll.ID)
	}
	pageSize, batch := s.PageSize, s.BatchSize
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Keep fetching while a batch is stored; at most 8 pages of at most
	// maxPage bytes wait in memory.
	pages := make(chan page, 8)
	go func() {
		defer close(pages)
		q := client.Query{AddedAfter: st.PullMark, Limit: pageSize, Versions: []string{"all"}}
		for {
			p, err := c.GetObjects(ctx, f.Collection, q)
			if err != nil {
				select {
				case pages <- page{err: err}:
				case <-ctx.Done():
				}
				return
			}
			if len(p.Objects) > 0 && p.DateAddedLast.IsZero() {
				select {
				case pages <- page{err: fmt.Errorf("%w: the partner sent no %s header; cannot resume safely", errkind.Unprocessable, client.HeaderDateAddedLast)}:
				case <-ctx.Done():
				}
				return
			}
			select {
			case pages <- page{objs: p.Objects, last: p.DateAddedLast}:
			case <-ctx.Done():
				return
			}
			if !p.More || p.Next == "" || len(p.Objects) == 0 {
				return
			}
			q.Next = p.Next
		}
	}()
	sub := ingest.Submission{Collection: f.LocalCollection, Principal: pr}
	// Up to two batches are stored at once, so that one is parsed and
	// validated while the other is written; marks are recorded strictly in
	// page order, so the stored mark never passes a batch not yet committed.
	type stored struct {
		seq      int
		mark     time.Time
		res      ingest.Result
		withheld int64
		err      error
	}
	const inFlight = 2
	done := make(chan stored, inFlight)
	waiting := map[int]stored{}
	started, recorded := 0, 0
	var failed error
	record := func(r stored) {
		waiting[r.seq] = r
		for {
			r, ok := waiting[recorded]
			if !ok {
				return
			}
			delete(waiting, recorded)
			recorded++
			if failed != nil {
				continue
			}
			if r.err != nil {
				failed = r.err
				cancel() // stop fetching; later batches may still commit (harmless)
				continue
			}
			for _, fl := range r.res.Failures {
				s.log().WarnContext(ctx, "pulled object refused", "feed", f.Name, "id", fl.ID, "version", fl.Version, "err", fl.Message)
			}
			n, rejected := int64(len(r.res.Successes)), int64(len(r.res.Failures))
			if err := s.Feeds.advancePull(context.WithoutCancel(ctx), f.Name, r.mark, n, rejected, r.withheld); err != nil {
				failed = err
				cancel()
				continue
			}
			rep.Pulled += n
			rep.Rejected += rejected
			rep.Withheld += r.withheld
		}
	}
	submit := func(objs []json.RawMessage, mark time.Time) {
		if started-recorded-len(waiting) >= inFlight {
			record(<-done)
		}
		seq := started
		started++
		go func() {
			keep, withheld := s.screen(objs)
			res, err := s.Pipeline.Submit(ctx, sub, keep)
			if err != nil {
				err = fmt.Errorf("storing %d objects: %w", len(keep), err)
			}
			done <- stored{seq: seq, mark: mark, res: res, withheld: withheld, err: err}
		}()
	}
	var objs []json.RawMessage
	var mark time.Time
	var fetchErr error
	for p := range pages {
		if p.err != nil {
			fetchErr = p.err
			break
		}
		if failed != nil {
			break
		}
		objs = append(objs, p.objs...)
		mark = p.last
		// Store when the batch is full, or when no further page is ready
		// yet (keeps latency low on small feeds).
		if len(objs) >= batch || len(pages) == 0 {
			submit(objs, mark)
			objs = nil
		}
	}
	if len(objs) > 0 && failed == nil && ctx.Err() == nil {
		submit(objs, mark)
	}
	for recorded < started {
		record(<-done)
	}
	if failed != nil {
		return failed
	}
	return fetchErr
}

// Official TLP marking ids whose objects never leave their hub.
var neverShared = [][]byte{
	[]byte(sharing.TLP2AmberStrict), []byte(sharing.TLP2Red), []byte(sharing.TLP1Red),
}

// screen drops pulled objects marked AMBER+STRICT or RED. Only objects
// whose text mentions one of those marking ids, or has a JSON \u escape
// (which could spell one), are parsed and classified.
func (s *Syncer) screen(objs []json.RawMessage) (keep []json.RawMessage, withheld int64) {
	keep = objs[:0:0]
	for _, raw := range objs {
		suspect := bytes.Contains(raw, []byte(`\u`))
		for _, id := range neverShared {
			if bytes.Contains(raw, id) {
				suspect = true
				break
			}
		}
		if suspect {
			if o, err := stix.Parse(raw); err == nil {
				t := s.Policy.Classify(o, sharing.Principal{}, nil, false).TLP
				// A never-shared marking beside an unknown one classifies
				// as unknown: still never shared.
				if t == sharing.TLPAmberStrict || t == sharing.TLPRed || (t == sharing.TLPUnknown && neverSharedRef(o)) {
					withheld++
					continue
				}
			}
		}
		keep = append(keep, raw)
	}
	return keep, withheld
}

// neverSharedRef reports whether an object's markings (object or granular)
// reference TLP:AMBER+STRICT or TLP:RED.
func neverSharedRef(o *stix.Object) bool {
	is := func(v any) bool {
		s, ok := v.(string)
		return ok && (s == sharing.TLP2AmberStrict || s == sharing.TLP2Red || s == sharing.TLP1Red)
	}
	if refs, ok := o.Props["object_marking_refs"].([]any); ok {
		for _, r := range refs {
			if is(r) {
				return true
			}
		}
	}
	if gms, ok := o.Props["granular_markings"].([]any); ok {
		for _, g := range gms {
			if m, ok := g.(map[string]any); ok && is(m["marking_ref"]) {
				return true
			}
		}
	}
	return false
}

// pushable reports whether a visible local version may be sent to the
// partner: never AMBER+STRICT, RED or unknown markings (whatever the
// predicate allows), never what the partner itself produced.
func (s *Syncer) pushable(l sharing.Label, partnerOrg string) bool {
	if l.ProducerOrg == partnerOrg {
		return false
	}
	switch s.Policy.Effective(l) {
	case sharing.TLPClear, sharing.TLPGreen, sharing.TLPAmber:
		return true
	}
	return false
}

// push sends what the partner may see, from the push mark on.
func (s *Syncer) push(ctx context.Context, f Feed, c *client.Client, pr sharing.Principal, rep *Report) error {
	st, err := s.Feeds.Get(ctx, f.Name)
	if err != nil {
		return err
	}
	coll, err := s.Store.Collection(ctx, store.DefaultAPIRoot, f.LocalCollection)
	if err != nil {
		return fmt.Errorf("local collection %s: %w", f.LocalCollection, err)
	}
	if !s.Policy.CanRead(pr, coll.ReadOrgs) {
		return fmt.Errorf("%w: partner organisation %s may not read local collection %s", errkind.Forbidden, pr.OrgName, coll.ID)
	}
	maxBody := int64(0)
	if root, err := c.APIRoot(ctx); err == nil && root.MaxContentLength > 0 {
		maxBody = root.MaxContentLength - 1024
	}
	pageSize, batch := s.PageSize, s.PushBatch
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	if batch <= 0 {
		batch = DefaultPushBatch
	}
	filter := store.Filter{
		Collection: coll.ID, Access: s.Policy.Access(pr), AddedAfter: st.PushMark,
		Limit: pageSize, Versions: []string{"all"},
	}
	for {
		p, err := s.Store.Query(ctx, filter)
		if err != nil {
			return fmt.Errorf("reading local collection %s: %w", coll.ID, err)
		}
		if len(p.Entries) == 0 {
			return nil
		}
		var out []json.RawMessage
		var size int64
		send := func() error {
			if len(out) == 0 {
				return nil
			}
			status, err := c.AddObjects(ctx, f.Collection, out)
			if err != nil {
				return err
			}
			status, err = c.WaitStatus(ctx, status, s.StatusPoll)
			if err != nil {
				return err
			}
			for _, fl := range status.Failures {
				s.log().WarnContext(ctx, "pushed object refused by partner", "feed", f.Name, "id", fl.ID, "version", fl.Version, "err", fl.Message)
			}
			rep.Pushed += int64(status.SuccessCount)
			rep.Rejected += int64(status.FailureCount)
			if err := s.Feeds.advancePush(ctx, f.Name, time.Time{}, int64(status.SuccessCount), int64(status.FailureCount)); err != nil {
				return err
			}
			out, size = out[:0], 0
			return nil
		}
		for _, e := range p.Entries {
			if !s.pushable(e.Label, pr.OrgID) {
				rep.Skipped++
				continue
			}
			if (len(out) >= batch) || (maxBody > 0 && size+int64(len(e.Raw))+1 > maxBody && len(out) > 0) {
				if err := send(); err != nil {
					return err
				}
			}
			out = append(out, e.Raw)
			size += int64(len(e.Raw)) + 1
		}
		if err := send(); err != nil {
			return err
		}
		// The whole page is done (sent or held back): advance the mark.
		if err := s.Feeds.advancePush(ctx, f.Name, p.Entries[len(p.Entries)-1].DateAdded, 0, 0); err != nil {
			return err
		}
		if !p.More || p.Next == "" {
			return nil
		}
		filter.Next = p.Next
	}
}
