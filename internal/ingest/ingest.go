// Package ingest is the pipeline every write goes through: parse, validate,
// classify under the sharing policy, store in one transaction per batch.
// TAXII, bulk import and the demo all submit through Pipeline.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// Pipeline validates, classifies and stores submitted objects.
type Pipeline struct {
	Store  store.Store
	Policy *sharing.Policy
	Log    *slog.Logger
	// HubOrgID is the hub's identity id, shown as the source of objects
	// published anonymously (empty: created_by_ref is removed instead).
	HubOrgID string
	// Recorder, when set, wraps every store transaction so that the
	// versions it commits are appended to the transparency log.
	Recorder Recorder
}

// Recorder records committed object versions in the transparency log
// (implemented by provenance/ledger.Ledger).
type Recorder interface {
	// Commit runs commit, the store transaction of a batch of recs
	// submitted into collection (signed by the organisation signer with
	// key keyID when signer is not empty), then records what it stored.
	// A record's Hash, when set, is its object's stix.Hash, computed by
	// the pipeline so that the log need not hash the object again. It
	// returns commit's results and error.
	Commit(ctx context.Context, collection string, recs []store.Record, signer, keyID string, commit func() ([]store.AddResult, error)) ([]store.AddResult, error)
}

// add stores recs in one transaction, through the Recorder when set.
func (p *Pipeline) add(ctx context.Context, sub Submission, recs []store.Record) ([]store.AddResult, error) {
	if p.Recorder == nil {
		return p.Store.Add(ctx, sub.Collection, recs, sub.StatusID)
	}
	return p.Recorder.Commit(ctx, sub.Collection, recs, sub.Signer, sub.KeyID, func() ([]store.AddResult, error) {
		return p.Store.Add(ctx, sub.Collection, recs, sub.StatusID)
	})
}

// Submission describes who submits into which collection.
type Submission struct {
	Collection string
	Principal  sharing.Principal
	// Anonymous hides the submitting organisation from other recipients.
	Anonymous bool
	// StatusID, when set, names the TAXII status resource to update.
	StatusID string
	// DefaultTLP, when not TLPNone, is the level given to objects that
	// carry no TLP marking. It is recorded in the stored label only: the
	// object's JSON is left exactly as submitted (adding a marking without
	// a new "modified" would break STIX versioning).
	DefaultTLP sharing.TLP
	// Signer and KeyID name the organisation and key whose detached
	// signature over the submission was verified (empty when unsigned);
	// they are recorded in the transparency log entries.
	Signer, KeyID string
}

// Result summarises a submission.
type Result struct {
	Successes []store.StatusDetail
	Failures  []store.StatusDetail
}

// prepared is one parsed, validated and classified object (or its failure).
type prepared struct {
	rec     store.Record
	failure *store.StatusDetail
}

// Submit ingests a batch of raw objects. Invalid objects are reported as
// failures; the valid ones are stored in one transaction. The error is
// non-nil only when the store itself failed (then nothing was stored).
func (p *Pipeline) Submit(ctx context.Context, sub Submission, raws []json.RawMessage) (Result, error) {
	if len(raws) == 0 {
		return Result{}, nil
	}
	preps := p.prepare(ctx, sub, raws, newMarkings(p.Store), runtime.GOMAXPROCS(0))
	var res Result
	var recs []store.Record
	for _, pr := range preps {
		if pr.failure != nil {
			res.Failures = append(res.Failures, *pr.failure)
			continue
		}
		recs = append(recs, pr.rec)
	}
	if sub.StatusID != "" && len(res.Failures) > 0 {
		if err := p.Store.FailStatus(ctx, sub.StatusID, res.Failures); err != nil {
			return res, fmt.Errorf("recording failures: %w", err)
		}
	}
	if len(recs) == 0 {
		return res, nil
	}
	out, err := p.add(ctx, sub, recs)
	if err != nil {
		return res, fmt.Errorf("storing %d objects: %w", len(recs), err)
	}
	for _, r := range out {
		d := store.StatusDetail{ID: r.ID, Version: r.Version}
		if r.Err != nil {
			d.Message = r.Err.Error()
			res.Failures = append(res.Failures, d)
		} else {
			res.Successes = append(res.Successes, d)
		}
	}
	return res, nil
}

// markings resolves non-TLP marking-definition references: ids seen in the
// submission (this batch or, during a bulk import, an earlier batch) and ids
// already stored. It is safe for concurrent use.
type markings struct {
	st store.Objects

	mu sync.Mutex // guards the following
	// known maps an id to whether it resolves to a known definition.
	known map[string]bool
}

func newMarkings(st store.Objects) *markings {
	return &markings{st: st, known: map[string]bool{}}
}

// add records a marking-definition seen in the submission.
func (m *markings) add(id string) {
	m.mu.Lock()
	m.known[id] = true
	m.mu.Unlock()
}

// resolve implements sharing.MarkingResolver.
func (m *markings) resolve(ctx context.Context, id string) sharing.MarkingKind {
	m.mu.Lock()
	k, seen := m.known[id]
	m.mu.Unlock()
	if !seen {
		ok, err := m.st.MarkingKnown(ctx, id)
		k = err == nil && ok
		m.mu.Lock()
		m.known[id] = k
		m.mu.Unlock()
	}
	if k {
		return sharing.MarkingStatement
	}
	return sharing.MarkingUnknown
}

// prepare parses, validates and classifies on up to workers goroutines,
// keeping input order. Marking-definitions are registered in mk before any
// object of the batch is classified, so references within a batch resolve.
func (p *Pipeline) prepare(ctx context.Context, sub Submission, raws []json.RawMessage, mk *markings, workers int) []prepared {
	out := make([]prepared, len(raws))
	objs := make([]*stix.Object, len(raws))
	parallel(len(raws), workers, func(i int) {
		o, err := stix.Parse(raws[i])
		if err != nil {
			id := ""
			if o != nil {
				id = o.ID
			}
			out[i].failure = &store.StatusDetail{ID: id, Message: err.Error()}
			return
		}
		if errs := stix.Validate(o); len(errs) > 0 {
			msgs := make([]string, len(errs))
			for j, e := range errs {
				msgs[j] = e.Error()
			}
			out[i].failure = &store.StatusDetail{ID: o.ID, Version: o.Version(), Message: strings.Join(msgs, "; ")}
			return
		}
		objs[i] = o
		if o.Type == "marking-definition" {
			mk.add(o.ID)
		}
	})
	resolve := func(id string) sharing.MarkingKind { return mk.resolve(ctx, id) }
	anon := sub.Anonymous
	parallel(len(objs), workers, func(i int) {
		o := objs[i]
		if o == nil {
			return
		}
		if anon && o.CreatedByRef != "" && o.CreatedByRef == sub.Principal.OrgID {
			if err := p.hideProducer(o); err != nil {
				out[i].failure = &store.StatusDetail{ID: o.ID, Version: o.Version(), Message: err.Error()}
				return
			}
		}
		label := p.Policy.Classify(o, sub.Principal, resolve, anon)
		if label.TLP == sharing.TLPNone && sub.DefaultTLP != sharing.TLPNone {
			label.TLP = sub.DefaultTLP
		}
		out[i].rec = store.Record{Object: o, Label: label}
		if p.Recorder != nil {
			// Hashed here, on every core, once: the log uses it as is.
			// An object that cannot be canonicalised is left to the log.
			out[i].rec.Hash, _ = stix.CanonicalHash(o.Raw)
		}
	})
	return out
}

// hideProducer replaces created_by_ref by the hub's identity (or removes it)
// so that recipients of an anonymous publication never learn the submitter.
func (p *Pipeline) hideProducer(o *stix.Object) error {
	if p.HubOrgID != "" {
		o.Props["created_by_ref"] = p.HubOrgID
	} else {
		delete(o.Props, "created_by_ref")
	}
	raw, err := json.Marshal(o.Props)
	if err != nil {
		return fmt.Errorf("%w: %s: re-encoding anonymous object: %v", errkind.Invalid, o.ID, err)
	}
	o.Raw = raw
	o.CreatedByRef = p.HubOrgID
	return nil
}

// parallel runs fn(0..n-1) on up to workers goroutines. Work is handed out
// in small grains so that objects of very different sizes balance out.
func parallel(n, workers int, fn func(i int)) {
	if n < 64 || workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	const grain = 16
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(grain)) - grain
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+grain, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}
