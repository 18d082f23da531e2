package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/kizuna-cti/kizuna/internal/ingest"
	"github.com/kizuna-cti/kizuna/internal/misp"
)

// Stats counts what an import converted, and what STIX could not express.
type Stats struct {
	mu         sync.Mutex // guards the following
	Events     int
	Attributes int // event and object attributes
	Objects    int
	Loss       misp.Loss
}

// File is one MISP input: a name for reports and a way to read it.
type File struct {
	Name string
	Read func() ([]byte, error)
}

// OSFile is the File of a path.
func OSFile(path string) File {
	return File{Name: path, Read: func() ([]byte, error) { return os.ReadFile(path) }}
}

// converted is one file's STIX objects as a JSON array, or its error.
type converted struct {
	json []byte
	err  error
}

// Sources returns one ingest source per file. Conversion (parse, MISP→STIX)
// runs ahead of the importer on up to GOMAXPROCS goroutines, at most
// 2×GOMAXPROCS files ahead, and each source yields its file's STIX objects
// as a JSON array. The importer opens sources in order; stats is complete
// once every source has been opened. Cancelling ctx stops the conversion
// of files not yet converted (their sources then fail with ctx's error).
func Sources(ctx context.Context, files []File, stats *Stats) []ingest.Source {
	workers := runtime.GOMAXPROCS(0)
	results := make([]chan converted, len(files))
	for i := range results {
		results[i] = make(chan converted, 1)
	}
	sem := make(chan struct{}, 2*workers)
	jobs := make(chan int)
	for range workers {
		go func() {
			for i := range jobs {
				if err := ctx.Err(); err != nil {
					results[i] <- converted{nil, err}
					continue
				}
				b, err := convertFile(files[i], stats)
				results[i] <- converted{b, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range files {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				// Unblock the remaining sources.
				for j := i; j < len(files); j++ {
					results[j] <- converted{nil, ctx.Err()}
				}
				return
			}
			jobs <- i
		}
	}()
	srcs := make([]ingest.Source, len(files))
	for i, f := range files {
		srcs[i] = ingest.Source{Name: f.Name, Open: func() (io.ReadCloser, error) {
			r := <-results[i]
			select {
			case <-sem:
			default:
			}
			if r.err != nil {
				return nil, r.err
			}
			return io.NopCloser(bytes.NewReader(r.json)), nil
		}}
		if fi, err := os.Stat(f.Name); err == nil {
			srcs[i].Size = fi.Size()
		}
	}
	return srcs
}

// convertFile parses one MISP file and converts its events.
func convertFile(f File, stats *Stats) ([]byte, error) {
	data, err := f.Read()
	if err != nil {
		return nil, err
	}
	var loss misp.Loss
	evs, err := misp.ParseEvents("MISP input", data, &loss)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(data) * 2)
	b.WriteByte('[')
	n, attrs, objs := 0, 0, 0
	for _, ev := range evs {
		raws, err := misp.ToSTIX(ev, &loss)
		if err != nil {
			return nil, fmt.Errorf("MISP input: %w", err)
		}
		attrs += len(ev.Attribute)
		objs += len(ev.Object)
		for _, o := range ev.Object {
			attrs += len(o.Attribute)
		}
		for _, r := range raws {
			if n > 0 {
				b.WriteByte(',')
			}
			b.Write(r)
			n++
		}
	}
	b.WriteByte(']')
	stats.mu.Lock()
	stats.Events += len(evs)
	stats.Attributes += attrs
	stats.Objects += objs
	stats.Loss.Merge(&loss)
	stats.mu.Unlock()
	return b.Bytes(), nil
}
