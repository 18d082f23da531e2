package telemetry

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ParallelRawReader is implemented by the readers that can filter their
// records on several goroutines (Zeek TSV).
type ParallelRawReader interface {
	RawReader
	// FilterRaw reads the rest of the input: it calls Keep of a filter
	// (one per goroutine, made by newFilter) on the raw cells of every
	// record, and fn, in input order and on the calling goroutine, with
	// the Event of every record kept. Stats are kept as with Next. Records are cut
	// into blocks of about 1 MiB handed to workers goroutines; the input
	// is read sequentially again when a header line follows data (a
	// concatenated log, a #close line), when the separator is longer
	// than one byte or a line longer than a block.
	FilterRaw(workers int, newFilter func() RawFilter, fn func(*Event) error) error
}

// RawFilter selects raw records (see ParallelRawReader).
type RawFilter interface {
	// Begin and End bracket the calls of Keep on a block of records (a
	// filter may hold a lock in between); fn is never called in between.
	Begin()
	End()
	// Keep reports whether the record of these cells is wanted.
	Keep(fields []RawField, setSep string) bool
}

// parBlock is the size of a block (a variable for the tests).
var parBlock = 1 << 20

type parLine struct {
	n    int
	line []byte
}

type parJob struct {
	buf   []byte // the block's buffer (returned to the pool)
	data  []byte // whole lines
	first int    // line number of the first line
	done  chan struct{}
	// results
	events, badTime int
	bad             []LineError
	kept            []parLine
}

// FilterRaw implements ParallelRawReader.
func (z *zeekTSV) FilterRaw(workers int, newFilter func() RawFilter, fn func(*Event) error) error {
	f := newFilter()
	keep := func(fields []RawField, setSep string) bool {
		f.Begin()
		defer f.End()
		return f.Keep(fields, setSep)
	}
	sequential := func() error {
		for {
			fields, err := z.NextRaw()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if keep(fields, z.setSep) {
				if err := fn(z.Event()); err != nil {
					return err
				}
			}
		}
	}
	// Headers first, sequentially, up to and with the first record.
	for !z.haveHead {
		fields, err := z.NextRaw()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if keep(fields, z.setSep) {
			if err := fn(z.Event()); err != nil {
				return err
			}
		}
	}
	if len(z.sep) != 1 || workers < 2 {
		return sequential()
	}

	jobs := make(chan *parJob, workers)
	pool := make(chan []byte, 2*workers+2)
	var wg sync.WaitGroup
	for range workers {
		wf := newFilter()
		wg.Go(func() {
			var cells [][]byte
			var raw []RawField
			for j := range jobs {
				wf.Begin()
				z.work(j, wf, &cells, &raw)
				wf.End()
				close(j.done)
			}
		})
	}
	var queue []*parJob
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(jobs)
			wg.Wait()
		}
	}
	defer stop()
	// finish handles the oldest job: stats, malformed lines, kept records.
	finish := func() error {
		j := queue[0]
		queue = queue[1:]
		<-j.done
		z.stats.Events += j.events
		z.stats.BadTime += j.badTime
		for _, e := range j.bad {
			z.malformed(e.Line, e.Err)
		}
		for _, k := range j.kept {
			if msg := z.split(k.line); msg != "" {
				return fmt.Errorf("zeek: line %d: %s", k.n, msg) // cannot happen: the worker split it
			}
			if err := fn(z.buildAt(k.n)); err != nil {
				return err
			}
		}
		pool <- j.buf
		return nil
	}
	var carry []byte
	for {
		var buf []byte
		select {
		case buf = <-pool:
		default:
			buf = make([]byte, parBlock)
		}
		n := copy(buf, carry)
		m, err := io.ReadFull(z.r, buf[n:])
		data := buf[:n+m]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return err
		}
		cut := len(data)
		if !eof {
			cut = bytes.LastIndexByte(data, '\n') + 1
		}
		if cut == 0 && len(data) > 0 || len(data) > 0 && (data[0] == '#' || bytes.Contains(data[:cut], []byte("\n#"))) {
			// a line longer than a block, or headers: the rest is read
			// sequentially once the blocks in flight are done
			for len(queue) > 0 {
				if err := finish(); err != nil {
					return err
				}
			}
			stop()
			z.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(data)), z.r), 64<<10)
			return sequential()
		}
		carry = append(carry[:0], data[cut:]...)
		block := data[:cut]
		if len(block) > 0 {
			lines := bytes.Count(block, []byte{'\n'})
			if block[len(block)-1] != '\n' {
				lines++
			}
			j := &parJob{buf: buf, data: block, first: z.n + 1, done: make(chan struct{})}
			z.n += lines
			z.stats.Lines += lines
			queue = append(queue, j)
			jobs <- j
		}
		for len(queue) > workers || eof && len(queue) > 0 {
			if err := finish(); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
	}
}

// work filters the lines of a block (on a worker goroutine: z is only
// read).
func (z *zeekTSV) work(j *parJob, f RawFilter, cells *[][]byte, raw *[]RawField) {
	data := j.data
	for n := j.first; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > z.max {
			j.bad = append(j.bad, LineError{Line: n, Err: fmt.Sprintf("line longer than %d bytes", z.max)})
			continue
		}
		if len(line) == 0 {
			continue
		}
		var msg string
		*cells, msg = z.splitInto((*cells)[:0], line)
		if msg != "" {
			j.bad = append(j.bad, LineError{Line: n, Err: msg})
			continue
		}
		j.events++
		if !z.timeOK(*cells) {
			j.badTime++
		}
		*raw = z.rawFields((*raw)[:0], *cells)
		if f.Keep(*raw, z.setSep) {
			j.kept = append(j.kept, parLine{n: n, line: line})
		}
	}
}
