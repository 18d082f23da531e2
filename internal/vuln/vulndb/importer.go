package vulndb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// Importer reads vulnerability files into a DB and hands the STIX objects
// of what changed to Emit (the ingest pipeline, in the hub).
type Importer struct {
	DB *DB
	// Emit, when set, receives the STIX vulnerability objects of each
	// batch of changes, after the batch is stored in the DB.
	Emit func(ctx context.Context, objs []json.RawMessage) error
	// CreatedBy and Markings go into every STIX object (see STIX).
	CreatedBy string
	Markings  []string
	// Distribution, when set, restricts every imported record (a TLP:AMBER
	// or RED advisory): only the organisations the sharing policy lets
	// see it get findings, and its STIX objects name the recipients.
	Distribution *vuln.Distribution
	// BatchSize is the number of records per transaction (default 2000).
	BatchSize int
	// Workers parse files in parallel (default GOMAXPROCS).
	Workers int
	// OnFailure, when set, is told about each file that failed.
	OnFailure func(name string, err error)
}

// FormatCount is the summary of one format.
type FormatCount struct {
	Files, Records, Failed int
}

// Summary is the outcome of an import.
type Summary struct {
	// Formats counts files and records per format (FormatUnknown: files
	// that could not be read or parsed).
	Formats map[Format]*FormatCount
	// Skipped counts files in directories and archives whose format is
	// not a vulnerability format (README.json, indexes).
	Skipped int
	// Failed counts files that failed.
	Failed int
	PutResult
	// STIX counts the objects handed to Emit.
	STIX int
}

type parsedDoc struct {
	doc Doc
	p   Parsed
	err error
}

// Import reads the paths (see Walk), parses every document and stores the
// records and KEV catalogues. A file that fails is reported to OnFailure
// and counted; the others are imported. The error is non-nil only when the
// database or Emit failed or ctx was cancelled.
func (im *Importer) Import(ctx context.Context, paths []string) (Summary, error) {
	return im.importFrom(ctx, func(ctx context.Context, fn func(Doc) error) error { return Walk(ctx, paths, fn) })
}

// ImportDocs is Import for documents already in memory (downloaded ones:
// Name is their URL, used in messages and given to OnFailure). A document
// in no vulnerability format is a failure when Explicit is set, else
// skipped.
func (im *Importer) ImportDocs(ctx context.Context, docs []Doc) (Summary, error) {
	return im.importFrom(ctx, func(ctx context.Context, fn func(Doc) error) error {
		for _, d := range docs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	})
}

// importFrom imports the documents walk hands to its callback.
func (im *Importer) importFrom(ctx context.Context, walk func(context.Context, func(Doc) error) error) (Summary, error) {
	sum := Summary{Formats: map[Format]*FormatCount{}}
	batch := im.BatchSize
	if batch <= 0 {
		batch = 2000
	}
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	docs := make(chan Doc, 4*workers)
	out := make(chan parsedDoc, 4*workers)
	walkErr := make(chan error, 1)
	go func() {
		defer close(docs)
		walkErr <- walk(ctx, func(d Doc) error {
			select {
			case docs <- d:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range docs {
				r := parsedDoc{doc: d, err: d.Err}
				if r.err == nil {
					r.p, r.err = Parse(d.Name, d.Data)
				}
				select {
				case out <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(out) }()

	var pending []*vuln.Vulnerability
	var kevs []vuln.KEVCatalog
	var storeErr error
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		res, err := im.DB.PutVulns(ctx, pending)
		pending = pending[:0]
		if err != nil {
			return err
		}
		return im.account(ctx, &sum, res)
	}
	for r := range out {
		if storeErr != nil {
			continue // drain
		}
		f := r.p.Format
		if r.err != nil {
			if f == FormatUnknown && !r.doc.Explicit && r.doc.Err == nil {
				sum.Skipped++
				continue
			}
			if f == "" {
				f = FormatUnknown
			}
			im.count(&sum, f).Failed++
			sum.Failed++
			if im.OnFailure != nil {
				im.OnFailure(r.doc.Name, r.err)
			}
			continue
		}
		c := im.count(&sum, f)
		c.Files++
		if r.p.KEV != nil {
			c.Records += len(r.p.KEV)
			kevs = append(kevs, r.p.KEV)
			continue
		}
		c.Records += len(r.p.Vulns)
		if im.Distribution != nil {
			for _, v := range r.p.Vulns {
				v.Distribution = im.Distribution
			}
		}
		pending = append(pending, r.p.Vulns...)
		if len(pending) >= batch {
			if err := flush(); err != nil {
				storeErr = err
				cancel(err)
			}
		}
	}
	if storeErr == nil {
		storeErr = flush()
	}
	// KEV catalogues last: their flags then reach the records of this
	// import too (records stored earlier get them from the catalogue
	// stored before).
	for _, k := range kevs {
		if storeErr != nil {
			break
		}
		res, err := im.DB.PutKEV(ctx, k)
		if err == nil {
			err = im.account(ctx, &sum, res)
		}
		storeErr = err
	}
	werr := <-walkErr
	switch {
	case storeErr != nil:
		return sum, storeErr
	case werr != nil && !errors.Is(werr, context.Canceled):
		return sum, werr
	}
	return sum, context.Cause(ctx)
}

func (im *Importer) count(sum *Summary, f Format) *FormatCount {
	c := sum.Formats[f]
	if c == nil {
		c = &FormatCount{}
		sum.Formats[f] = c
	}
	return c
}

// account adds res to the summary and emits the STIX objects of its
// changes.
func (im *Importer) account(ctx context.Context, sum *Summary, res PutResult) error {
	sum.Added += res.Added
	sum.Updated += res.Updated
	sum.Unchanged += res.Unchanged
	sum.Stale += res.Stale
	sum.NewFindings += res.NewFindings
	if im.Emit == nil || len(res.Changes) == 0 {
		return nil
	}
	objs := make([]json.RawMessage, 0, len(res.Changes))
	for _, ch := range res.Changes {
		if ch.Vuln.IsWithdrawn() && !ch.Replaced {
			continue
		}
		o, err := STIX(ch, im.CreatedBy, im.Markings)
		if err != nil {
			return err
		}
		objs = append(objs, o)
	}
	if err := im.Emit(ctx, objs); err != nil {
		return fmt.Errorf("vulndb: submitting %d STIX objects: %w", len(objs), err)
	}
	sum.STIX += len(objs)
	return nil
}

// ImportAdvisory imports one published advisory file like Import and,
// when a record was added or updated, hands Emit the advisory's STIX
// report (see Report; a.CreatedBy, Markings and Distribution are taken
// from the Importer), counted in STIX.
func (im *Importer) ImportAdvisory(ctx context.Context, path string, a Advisory) (Summary, error) {
	sum, err := im.Import(ctx, []string{path})
	if err != nil || im.Emit == nil || sum.Added+sum.Updated == 0 {
		return sum, err
	}
	a.CreatedBy, a.Markings, a.Distribution = im.CreatedBy, im.Markings, im.Distribution
	rep, err := AdvisoryReport(path, a)
	if err != nil || rep == nil {
		return sum, err
	}
	if err := im.Emit(ctx, []json.RawMessage{rep}); err != nil {
		return sum, fmt.Errorf("vulndb: submitting the report of %s: %w", a.TrackingID, err)
	}
	sum.STIX++
	return sum, nil
}
