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
}

// Submission describes who submits into which collection.
type Submission struct {
	Collection string
	Principal  sharing.Principal
	// Anonymous hides the submitting organisation from other recipients.
	Anonymous bool
	// StatusID, when set, names the TAXII status resource to update.
	StatusID string
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
	bundleMarkings := map[string]bool{}
	preps := p.prepare(ctx, sub, raws, bundleMarkings)
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
	out, err := p.Store.Add(ctx, sub.Collection, recs, sub.StatusID)
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

// prepare parses, validates and classifies in parallel, keeping order.
func (p *Pipeline) prepare(ctx context.Context, sub Submission, raws []json.RawMessage, _ map[string]bool) []prepared {
	out := make([]prepared, len(raws))
	objs := make([]*stix.Object, len(raws))
	// Marking-definitions in the same batch resolve references.
	inBatch := map[string]bool{}
	var mu sync.Mutex
	parallel(len(raws), func(i int) {
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
			mu.Lock()
			inBatch[o.ID] = true
			mu.Unlock()
		}
	})
	known := map[string]bool{}
	resolve := func(id string) sharing.MarkingKind {
		if inBatch[id] {
			return sharing.MarkingStatement
		}
		k, seen := known[id]
		if !seen {
			ok, err := p.Store.MarkingKnown(ctx, id)
			k = err == nil && ok
			known[id] = k
		}
		if k {
			return sharing.MarkingStatement
		}
		return sharing.MarkingUnknown
	}
	anon := sub.Anonymous
	for i, o := range objs {
		if o == nil {
			continue
		}
		if anon && o.CreatedByRef != "" && o.CreatedByRef == sub.Principal.OrgID {
			if err := p.hideProducer(o); err != nil {
				out[i].failure = &store.StatusDetail{ID: o.ID, Version: o.Version(), Message: err.Error()}
				continue
			}
		}
		label := p.Policy.Classify(o, sub.Principal, resolve, anon)
		out[i].rec = store.Record{Object: o, Label: label}
	}
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
		return fmt.Errorf("%w: re-encoding anonymous object: %v", errkind.Invalid, err)
	}
	o.Raw = raw
	o.CreatedByRef = p.HubOrgID
	return nil
}

// parallel runs fn(0..n-1) on all CPUs.
func parallel(n int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 64 || workers == 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
