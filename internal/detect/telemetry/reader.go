// Package telemetry reads network and host telemetry into Events whose
// observable values are named by STIX object paths, ready for the indicator
// index of package detect.
//
// Open detects the format of its input: Zeek logs in TSV (with #fields
// headers) or JSON lines, Suricata EVE JSON, ArcSight Common Event Format
// (CEF), and generic JSON lines or CSV read through a field Mapping.
// gzip-compressed input is decompressed transparently, and any io.Reader
// (a file, os.Stdin, a network stream) can be read.
//
// Malformed lines never stop a reader: they are counted, and the first
// of them are kept with their line numbers in Stats.
package telemetry

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// Format is a telemetry format.
type Format string

// The formats Open reads.
const (
	FormatAuto      Format = ""
	FormatZeekTSV   Format = "zeek-tsv"
	FormatZeekJSON  Format = "zeek-json"
	FormatEVE       Format = "eve"
	FormatJSONLines Format = "json"
	FormatCSV       Format = "csv"
	FormatCEF       Format = "cef"
)

// Default limits.
const (
	DefaultMaxLineBytes = 1 << 20
	DefaultMaxErrors    = 100
)

// Options configure Open. The zero value detects the format and uses the
// default limits.
type Options struct {
	// Format forces a format; FormatAuto detects it from the first line.
	Format Format
	// Mapping maps the fields of generic JSON lines and CSV records to
	// observable kinds. It is required for FormatJSONLines and FormatCSV
	// and used by auto-detection for JSON lines that are neither Zeek nor
	// Suricata records.
	Mapping *Mapping
	// MaxLineBytes bounds a line (DefaultMaxLineBytes when 0); longer
	// lines are skipped and counted as malformed.
	MaxLineBytes int
	// MaxErrors bounds the line errors kept in Stats.Errors
	// (DefaultMaxErrors when 0; Stats.Malformed still counts them all).
	MaxErrors int
}

// LineError is a malformed line.
type LineError struct {
	Line int
	Err  string
}

// Error renders "line N: reason".
func (e LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Err) }

// Stats counts what a reader has read so far.
type Stats struct {
	// Lines counts every line read, headers and blank lines included.
	Lines int
	// Events counts the events returned.
	Events int
	// Malformed counts the lines skipped as malformed.
	Malformed int
	// BadTime counts the events returned whose timestamp could not be
	// read (their Time is zero), such as the masked times of Zeek's test
	// baselines.
	BadTime int
	// Errors holds the first Options.MaxErrors malformed lines.
	Errors []LineError
}

// Reader reads events.
type Reader interface {
	// Next returns the next event, or io.EOF at the end of the input.
	// Malformed lines are skipped and recorded in Stats; other errors
	// (failing I/O, corrupt gzip data) end the reading.
	Next() (*Event, error)
	// Stats returns the counts so far.
	Stats() Stats
	// Format returns the format being read.
	Format() Format
}

// Open returns a reader of r, which may be gzip-compressed; name is the
// source name put on events (a file name, or "-" for standard input) and
// helps detect the Zeek log type of JSON records without a _path.
// Errors wrap errkind.Invalid when the format cannot be detected or the
// options do not fit it.
func Open(r io.Reader, name string, opts Options) (Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: gzip: %w", name, errkind.Invalid, err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = DefaultMaxErrors
	}
	lr := &lines{r: br, max: opts.MaxLineBytes, maxErrs: opts.MaxErrors}
	format := opts.Format
	if format == FormatAuto {
		var err error
		format, err = detect(br, opts.Mapping != nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	switch format {
	case FormatZeekTSV:
		return &zeekTSV{lines: lr, name: name, path: zeekPathFromName(name)}, nil
	case FormatZeekJSON:
		return &jsonReader{lines: lr, name: name, format: format, zeekPath: zeekPathFromName(name)}, nil
	case FormatEVE:
		return &jsonReader{lines: lr, name: name, format: format}, nil
	case FormatJSONLines:
		if opts.Mapping == nil {
			return nil, fmt.Errorf("%s: %w: generic JSON lines need a field mapping", name, errkind.Invalid)
		}
		return &jsonReader{lines: lr, name: name, format: format, mapping: opts.Mapping}, nil
	case FormatCSV:
		if opts.Mapping == nil {
			return nil, fmt.Errorf("%s: %w: CSV needs a field mapping", name, errkind.Invalid)
		}
		return newCSV(lr, name, opts.Mapping), nil
	case FormatCEF:
		return &cefReader{lines: lr, name: name}, nil
	}
	return nil, fmt.Errorf("%s: %w: unknown telemetry format %q", name, errkind.Invalid, format)
}

// detect guesses the format from the first lines: a Zeek header among
// the leading comment lines, a CEF header, or the keys of a JSON object.
func detect(br *bufio.Reader, haveMapping bool) (Format, error) {
	buf, _ := br.Peek(64 << 10)
	line, rest := []byte(nil), buf
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if bytes.HasPrefix(l, []byte("#separator")) || bytes.HasPrefix(l, []byte("#fields")) ||
			bytes.HasPrefix(l, []byte("#path")) {
			return FormatZeekTSV, nil
		}
		if l[0] == '#' {
			continue // a comment before the Zeek header (btest baselines have one)
		}
		line = l
		break
	}
	switch {
	case len(line) == 0:
		return FormatZeekTSV, nil // nothing but comments: any reader yields no events
	case zeekCutHeader(line):
		return FormatZeekTSV, nil
	case bytes.Contains(line, []byte("CEF:0|")) || bytes.Contains(line, []byte("CEF:1|")):
		return FormatCEF, nil
	case line[0] == '{':
		var probe map[string]json.RawMessage
		if json.Unmarshal(line, &probe) == nil {
			if _, ok := probe["event_type"]; ok {
				return FormatEVE, nil
			}
			_, p := probe["_path"]
			_, h := probe["id.orig_h"]
			_, u := probe["uid"]
			_, f := probe["fuid"]
			_, ts := probe["ts"]
			if p || h || (ts && (u || f)) {
				return FormatZeekJSON, nil
			}
		}
		if haveMapping {
			return FormatJSONLines, nil
		}
		return "", fmt.Errorf("%w: JSON lines that are neither Zeek nor Suricata EVE records need a field mapping", errkind.Invalid)
	}
	if haveMapping {
		return FormatCSV, nil
	}
	return "", fmt.Errorf("%w: unrecognised telemetry format (not Zeek, EVE or CEF; give a field mapping for CSV)", errkind.Invalid)
}

// lines reads bounded lines and keeps the counts.
type lines struct {
	r       *bufio.Reader
	max     int
	maxErrs int
	n       int
	stats   Stats
	long    []byte
}

// next returns the next line without its line ending; the slice is valid
// until the next call. Over-long lines are skipped and recorded.
func (l *lines) next() ([]byte, error) {
	for {
		line, err := l.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// a line longer than the buffer: gather it, up to the limit
			l.long = append(l.long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = l.r.ReadSlice('\n')
				if len(l.long) <= l.max+1 {
					l.long = append(l.long, line...)
				}
			}
			line = l.long
		}
		if len(line) == 0 && err != nil {
			return nil, l.eof(err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		l.n++
		l.stats.Lines++
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > l.max {
			l.malformed(l.n, fmt.Sprintf("line longer than %d bytes", l.max))
			continue
		}
		return line, nil
	}
}

func (l *lines) eof(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return err
}

func (l *lines) malformed(line int, msg string) {
	l.stats.Malformed++
	if len(l.stats.Errors) < l.maxErrs {
		l.stats.Errors = append(l.stats.Errors, LineError{Line: line, Err: msg})
	}
}

func (l *lines) Stats() Stats {
	s := l.stats
	s.Errors = append([]LineError(nil), s.Errors...)
	return s
}

// zeekPathFromName guesses a Zeek log type from a file name such as
// "dns.log", "dns.json.gz" or "/x/conn.2018-03-24.log".
func zeekPathFromName(name string) string {
	base := name
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		return base[:i]
	}
	return ""
}

// zeekCutHeader reports whether line is the column-name line zeek-cut -c
// style tools write instead of Zeek's headers: tab-separated names among
// which ts, uid or id.orig_h.
func zeekCutHeader(line []byte) bool {
	if bytes.IndexByte(line, '\t') < 0 {
		return false
	}
	for f := range bytes.SplitSeq(line, []byte{'\t'}) {
		switch string(f) {
		case "ts", "uid", "fuid", "id.orig_h":
			return true
		}
	}
	return false
}
