package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// DefaultBatchSize is the number of objects stored per transaction by Import.
const DefaultBatchSize = 2000

// Source is one input of a bulk import: a STIX bundle, TAXII envelope, JSON
// array of objects or single object, optionally gzip-compressed (detected
// from the content, not the name).
type Source struct {
	// Name identifies the input in reports (a path, or "-" for stdin).
	Name string
	// Size is the input's size in bytes as read (0 when unknown).
	Size int64
	// Open opens the input; Import closes it.
	Open func() (io.ReadCloser, error)
}

// Sources expands command-line arguments into import sources: "-" is stdin,
// a directory contributes every *.json and *.json.gz file below it (in
// lexical order), anything else is a file.
func Sources(args []string, stdin io.Reader) ([]Source, error) {
	var out []Source
	for _, a := range args {
		if a == "-" {
			out = append(out, Source{Name: "-", Open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }})
			continue
		}
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errkind.NotFound, err)
		}
		if !fi.IsDir() {
			out = append(out, fileSource(a, fi.Size()))
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".json.gz")) {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, fileSource(path, info.Size()))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading directory %s: %w", a, err)
		}
	}
	return out, nil
}

func fileSource(path string, size int64) Source {
	return Source{Name: path, Size: size, Open: func() (io.ReadCloser, error) { return os.Open(path) }}
}

// ImportOptions tunes Import. The zero value is usable.
type ImportOptions struct {
	// BatchSize is the number of objects per transaction (0: DefaultBatchSize).
	BatchSize int
	// Workers is the number of goroutines parsing and validating
	// (0: GOMAXPROCS).
	Workers int
	// OnCommit, if set, is called after every committed transaction with
	// the running totals; everything it counts as committed is durable.
	OnCommit func(Progress)
	// OnFailure, if set, is called for every object that was not stored
	// (and for every input that could not be read), in input order.
	OnFailure func(Failure)
}

// Progress is the running total of an Import.
type Progress struct {
	// Committed counts objects stored (or found already stored, identical).
	Committed int64
	// Failed counts objects refused, plus unreadable inputs.
	Failed int64
	// Bytes counts input bytes read so far (compressed bytes for gzip).
	Bytes int64
}

// Failure describes one object (or input) that was not stored.
type Failure struct {
	File string
	// Index is the object's zero-based position in its file (-1 when the
	// whole input failed).
	Index  int
	ID     string
	Reason string
}

// Error formats the failure as "FILE: object INDEX (ID): REASON".
func (f Failure) Error() string {
	if f.Index < 0 {
		return f.File + ": " + f.Reason
	}
	id := f.ID
	if id == "" {
		id = "no id"
	}
	return fmt.Sprintf("%s: object %d (%s): %s", f.File, f.Index, id, f.Reason)
}

// item is one raw object and where it came from.
type item struct {
	file string
	idx  int
	raw  json.RawMessage
}

// batch travels through the import stages.
type batch struct {
	items []item
	preps []prepared
	// inputFailures are unreadable inputs, reported after the items.
	inputFailures []Failure
}

// Import streams every source through the pipeline: a reader splits the
// inputs into batches, a preparer parses, validates and classifies a batch
// on all workers while the writer commits the previous one in a single
// transaction. Invalid objects are reported through opts.OnFailure and
// counted; they do not stop the import. The error is non-nil only when the
// store failed or ctx was cancelled; the returned Progress then still states
// what was committed.
func (p *Pipeline) Import(ctx context.Context, sub Submission, srcs []Source, opts ImportOptions) (Progress, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	sub.StatusID = ""
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var bytesRead atomic.Int64
	readCh := make(chan *batch, 1)
	prepCh := make(chan *batch, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(readCh)
		readErr <- p.readAll(ctx, srcs, opts.BatchSize, &bytesRead, readCh)
	}()
	go func() {
		defer close(prepCh)
		mk := newMarkings(p.Store)
		for b := range readCh {
			raws := make([]json.RawMessage, len(b.items))
			for i := range b.items {
				raws[i] = b.items[i].raw
			}
			b.preps = p.prepare(ctx, sub, raws, mk, opts.Workers)
			select {
			case prepCh <- b:
			case <-ctx.Done():
				return
			}
		}
	}()

	var prog Progress
	var storeErr error
	for b := range prepCh {
		if storeErr != nil {
			continue // drain
		}
		if err := p.commit(ctx, sub, b, &prog, opts); err != nil {
			storeErr = err
			cancel(err)
			continue
		}
		prog.Bytes = bytesRead.Load()
		if opts.OnCommit != nil {
			opts.OnCommit(prog)
		}
	}
	rerr := <-readErr
	switch {
	case storeErr != nil:
		return prog, storeErr
	case rerr != nil:
		return prog, rerr
	}
	return prog, context.Cause(ctx)
}

// commit stores the valid objects of one prepared batch in one transaction
// and reports the rest.
func (p *Pipeline) commit(ctx context.Context, sub Submission, b *batch, prog *Progress, opts ImportOptions) error {
	recs := make([]store.Record, 0, len(b.preps))
	for _, pr := range b.preps {
		if pr.failure == nil {
			recs = append(recs, pr.rec)
		}
	}
	var results []store.AddResult
	if len(recs) > 0 {
		var err error
		results, err = p.add(ctx, sub, recs)
		if err != nil {
			return fmt.Errorf("storing %d objects from %s: %w", len(recs), b.items[0].file, err)
		}
		if len(results) != len(recs) {
			return fmt.Errorf("store returned %d results for %d objects", len(results), len(recs))
		}
	}
	fail := func(f Failure) {
		prog.Failed++
		if opts.OnFailure != nil {
			opts.OnFailure(f)
		}
	}
	r := 0
	for i, pr := range b.preps {
		it := b.items[i]
		if pr.failure != nil {
			fail(Failure{File: it.file, Index: it.idx, ID: pr.failure.ID, Reason: pr.failure.Message})
			continue
		}
		res := results[r]
		r++
		if res.Err != nil {
			fail(Failure{File: it.file, Index: it.idx, ID: res.ID, Reason: res.Err.Error()})
			continue
		}
		prog.Committed++
	}
	for _, f := range b.inputFailures {
		fail(f)
	}
	return nil
}

// readAll splits the sources into batches of n objects. An unreadable or
// malformed input is reported as a failure of that input (objects read
// before the fault are kept) and reading goes on with the next source.
func (p *Pipeline) readAll(ctx context.Context, srcs []Source, n int, bytesRead *atomic.Int64, out chan<- *batch) error {
	cur := &batch{items: make([]item, 0, n)}
	send := func() error {
		select {
		case out <- cur:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		cur = &batch{items: make([]item, 0, n)}
		return nil
	}
	for _, src := range srcs {
		err := readSource(ctx, src, bytesRead, func(i int, raw json.RawMessage) error {
			cur.items = append(cur.items, item{file: src.Name, idx: i, raw: raw})
			if len(cur.items) == n {
				return send()
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			cur.inputFailures = append(cur.inputFailures, Failure{File: src.Name, Index: -1, Reason: err.Error()})
		}
	}
	if len(cur.items) > 0 || len(cur.inputFailures) > 0 {
		return send()
	}
	return nil
}

// readSource opens one source, unwraps gzip and streams its objects.
func readSource(ctx context.Context, src Source, bytesRead *atomic.Int64, fn func(int, json.RawMessage) error) error {
	rc, err := src.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(&countingReader{r: rc, n: bytesRead}, 256<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", errkind.Invalid, err)
		}
		defer zr.Close()
		r = bufio.NewReaderSize(zr, 256<<10)
	}
	err = stix.ReadObjects(r, func(i int, raw json.RawMessage) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(i, raw)
	})
	if err != nil && errors.Is(err, stix.ErrInvalidInput) {
		return fmt.Errorf("%w: %w", errkind.Invalid, err)
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
