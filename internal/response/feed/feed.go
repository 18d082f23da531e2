// Package feed reads third-party reports of exposed or compromised hosts —
// CSV or JSON-lines feeds such as scan results listing vulnerable devices —
// and turns each row into notifications for the owners of what it names.
//
// A Mapping says which fields hold the values to route (an IP column, a
// hostname column), which holds the time and which extra fields to pass
// on. Malformed lines are counted and reported with their line numbers,
// never fatal: one bad row must not hold back a whole report.
package feed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/route"
)

// Format is the syntax of a feed.
type Format uint8

// The feed formats.
const (
	// CSV has a header row naming the columns; Mapping names columns.
	CSV Format = iota + 1
	// JSONLines has one JSON object a line; Mapping names members, with
	// dots for nested ones ("src.ip").
	JSONLines
	// Lines has one value a line, or a JSON object whose Values members
	// (by default "value") hold it; blank lines and lines starting with
	// '#' are skipped. It is the input of `kizuna route`.
	Lines
)

// String returns "csv", "jsonl" or "lines".
func (f Format) String() string {
	switch f {
	case CSV:
		return "csv"
	case JSONLines:
		return "jsonl"
	case Lines:
		return "lines"
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat parses "csv", "jsonl" (or "json") and "lines".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "csv":
		return CSV, nil
	case "jsonl", "json", "ndjson":
		return JSONLines, nil
	case "lines", "text":
		return Lines, nil
	}
	return 0, fmt.Errorf("feed format %q: %w: want csv, jsonl or lines", s, errkind.Invalid)
}

// Mapping says where the interesting fields of a feed are.
type Mapping struct {
	Format Format
	// Values name the fields to route, for instance "ip" and "hostname";
	// each non-empty one is routed. Lines defaults to "value".
	Values []string
	// Time names the field with the time of the observation (optional,
	// passed on as written).
	Time string
	// Extra name fields passed on to every owner notified of the row.
	Extra []string
	// Comma is the CSV separator (default ',').
	Comma rune
	// MaxLine bounds a line of JSONLines and Lines input (default 1 MiB);
	// longer lines are malformed.
	MaxLine int
}

// ShadowserverScan is the mapping of a Shadowserver-style scan report:
// CSV with "ip" and "hostname" columns, "timestamp", and the port, ASN,
// tag and device fields passed on.
var ShadowserverScan = Mapping{
	Format: CSV,
	Values: []string{"ip", "hostname"},
	Time:   "timestamp",
	Extra:  []string{"port", "asn", "tag", "device_vendor"},
}

// Field is a named value of a row.
type Field struct {
	Name, Value string
}

// Record is a row of a feed with its mapped fields.
type Record struct {
	// Line is the 1-based line the row starts on.
	Line int
	// Values are the non-empty value fields, in Mapping order.
	Values []Field
	Time   string
	// Extra are the mapped extra fields present in the row.
	Extra []Field
}

// Stats counts what a read saw.
type Stats struct {
	// Lines read; Records are rows with at least one value.
	Lines, Records int
	// Routed are records with at least one owner; Notifications the
	// notifications emitted.
	Routed, Notifications int
	// Malformed counts the lines with an error; Errors holds the first
	// route.MaxLineErrors of the errors, with line numbers.
	Malformed int
	Errors    []route.LineError
}

func (s *Stats) bad(line int, err error) {
	if len(s.Errors) == 0 || s.Errors[len(s.Errors)-1].Line != line {
		s.Malformed++
	}
	if len(s.Errors) < route.MaxLineErrors {
		s.Errors = append(s.Errors, route.LineError{Line: line, Err: err})
	}
}

func (m *Mapping) check() error {
	if m.Format < CSV || m.Format > Lines {
		return fmt.Errorf("feed mapping: %w: unknown format %d", errkind.Invalid, m.Format)
	}
	if len(m.Values) == 0 {
		if m.Format != Lines {
			return fmt.Errorf("feed mapping: %w: no value field", errkind.Invalid)
		}
		m.Values = []string{"value"}
	}
	if m.Comma == 0 {
		m.Comma = ','
	}
	if m.MaxLine <= 0 {
		m.MaxLine = 1 << 20
	}
	return nil
}

// Records reads r and calls fn for each row with a value. Malformed lines
// are counted in the Stats; the error is from reading r, from ctx, from fn,
// or a Mapping that does not fit the feed (a CSV header without a mapped
// column), wrapping errkind.Invalid.
func Records(ctx context.Context, r io.Reader, m Mapping, fn func(Record) error) (Stats, error) {
	var st Stats
	err := records(ctx, r, m, &st, fn)
	return st, err
}

func records(ctx context.Context, r io.Reader, m Mapping, st *Stats, fn func(Record) error) error {
	if err := m.check(); err != nil {
		return err
	}
	if m.Format == CSV {
		return readCSV(ctx, r, m, st, fn)
	}
	return readLines(ctx, r, m, st, fn)
}

func readCSV(ctx context.Context, r io.Reader, m Mapping, st *Stats, fn func(Record) error) error {
	cr := csv.NewReader(r)
	cr.Comma = m.Comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("feed header: %w: %w", errkind.Invalid, err)
	}
	st.Lines = 1
	cols := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := cols[h]; !dup {
			cols[h] = i
		}
	}
	index := func(names []string, what string) ([]int, error) {
		var out []int
		for _, n := range names {
			i, ok := cols[n]
			if !ok {
				return nil, fmt.Errorf("feed header: %w: no %s column %q (columns: %s)", errkind.Invalid, what, n, strings.Join(header, ","))
			}
			out = append(out, i)
		}
		return out, nil
	}
	vals, err := index(m.Values, "value")
	if err != nil {
		return err
	}
	extra, err := index(m.Extra, "extra")
	if err != nil {
		return err
	}
	timeCol := -1
	if m.Time != "" {
		t, err := index([]string{m.Time}, "time")
		if err != nil {
			return err
		}
		timeCol = t[0]
	}
	ncols := len(header)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("feed, line %d: %w", st.Lines, err)
		}
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				st.Lines = max(st.Lines, pe.Line)
				st.bad(pe.StartLine, fmt.Errorf("csv: %w", pe.Err))
				continue
			}
			return fmt.Errorf("feed, line %d: %w", st.Lines, err)
		}
		line, _ := cr.FieldPos(0)
		st.Lines = max(st.Lines, line)
		if len(rec) != ncols {
			st.bad(line, fmt.Errorf("%d fields, the header has %d", len(rec), ncols))
			continue
		}
		out := Record{Line: line}
		for k, i := range vals {
			if v := strings.TrimSpace(rec[i]); v != "" {
				out.Values = append(out.Values, Field{Name: m.Values[k], Value: v})
			}
		}
		if len(out.Values) == 0 {
			continue
		}
		if timeCol >= 0 {
			out.Time = rec[timeCol]
		}
		for k, i := range extra {
			out.Extra = append(out.Extra, Field{Name: m.Extra[k], Value: rec[i]})
		}
		st.Records++
		if err := fn(out); err != nil {
			return err
		}
	}
}

var errTooLong = errors.New("line too long")

func readLines(ctx context.Context, r io.Reader, m Mapping, st *Stats, fn func(Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		if st.Lines%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("feed, line %d: %w", st.Lines, err)
			}
		}
		line, err := readLine(br, &buf, m.MaxLine)
		if err == io.EOF {
			return nil
		}
		st.Lines++
		if err == errTooLong {
			st.bad(st.Lines, fmt.Errorf("longer than %d bytes", m.MaxLine))
			continue
		}
		if err != nil {
			return fmt.Errorf("feed, line %d: %w", st.Lines, err)
		}
		if st.Lines == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || m.Format == Lines && line[0] == '#' {
			continue
		}
		rec := Record{Line: st.Lines}
		if m.Format == Lines && line[0] != '{' {
			rec.Values = []Field{{Name: m.Values[0], Value: string(line)}}
		} else if err := jsonRecord(line, m, &rec); err != nil {
			st.bad(st.Lines, err)
			continue
		}
		if len(rec.Values) == 0 {
			continue
		}
		st.Records++
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// readLine returns the next line without its end, reading into *buf; a
// line longer than max is consumed and reported as errTooLong.
func readLine(br *bufio.Reader, buf *[]byte, max int) ([]byte, error) {
	*buf = (*buf)[:0]
	tooLong := false
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(*buf)+len(chunk) > max+2 { // +2: the line end
				tooLong = true
			} else {
				*buf = append(*buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(chunk) > 0 || len(*buf) > 0 || tooLong):
			// a last line without end
		case err != nil:
			return nil, err
		}
		if tooLong {
			return nil, errTooLong
		}
		return bytes.TrimRight(*buf, "\r\n"), nil
	}
}

func jsonRecord(line []byte, m Mapping, rec *Record) error {
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	if obj == nil {
		return errors.New("json: not an object")
	}
	if d.More() {
		return errors.New("json: data after the object")
	}
	for _, name := range m.Values {
		v, ok := lookup(obj, name)
		if !ok || v == nil {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return fmt.Errorf("field %q: want a string, got %s", name, jsonType(v))
		}
		if s = strings.TrimSpace(s); s != "" {
			rec.Values = append(rec.Values, Field{Name: name, Value: s})
		}
	}
	if m.Time != "" {
		if v, ok := lookup(obj, m.Time); ok {
			rec.Time = scalar(v)
		}
	}
	for _, name := range m.Extra {
		if v, ok := lookup(obj, name); ok {
			rec.Extra = append(rec.Extra, Field{Name: name, Value: scalar(v)})
		}
	}
	return nil
}

// lookup finds a member by a dotted path; a member whose name contains
// the dots itself is found first.
func lookup(obj map[string]any, path string) (any, bool) {
	if v, ok := obj[path]; ok {
		return v, true
	}
	head, rest, ok := strings.Cut(path, ".")
	if !ok {
		return nil, false
	}
	sub, isObj := obj[head].(map[string]any)
	if !isObj {
		return nil, false
	}
	return lookup(sub, rest)
}

// scalar renders a JSON value as text: strings as they are, numbers as
// written, anything else as compact JSON.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonType(v any) string {
	switch v.(type) {
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// Router is what routing needs of a table; *route.Table implements it.
type Router interface {
	AppendOwners(dst []route.Owner, o route.Observation) []route.Owner
}

// Notification tells an owner about a row of a feed that names one of
// its resources. Only the owner's own value is in Value and Observation;
// the other value fields of the row are not passed on.
type Notification struct {
	Owner route.Owner
	// Observation is the routed value in canonical form, Value as written
	// in the feed and Field the mapped field it came from.
	Observation route.Observation
	Field       string
	Value       string
	// Source names the feed; Line is the row's line in it.
	Source string
	Line   int
	// Time and Extra are the row's mapped time and extra fields.
	Time  string
	Extra []Field
}

// Config configures Route.
type Config struct {
	Mapping Mapping
	// Source names the feed in notifications (a file name, a URL).
	Source string
	// Logger receives a warning per malformed line (nil: none).
	Logger *slog.Logger
}

// Route reads a feed and calls emit with a notification for each owner of
// each row: one per (row, owner), carrying the first value of the row the
// owner owns. Values that do not parse make their line malformed, but the
// row's other values are still routed. Errors are those of Records.
func Route(ctx context.Context, r io.Reader, rt Router, cfg Config, emit func(Notification) error) (Stats, error) {
	var owners, notified []route.Owner
	var st Stats
	err := records(ctx, r, cfg.Mapping, &st, func(rec Record) error {
		notified = notified[:0]
		for _, f := range rec.Values {
			o, err := route.ParseObservation(f.Value)
			if err != nil {
				st.bad(rec.Line, fmt.Errorf("field %q: %w", f.Name, err))
				continue
			}
			owners = rt.AppendOwners(owners[:0], o)
			for _, ow := range owners {
				if slices.Contains(notified, ow) {
					continue
				}
				notified = append(notified, ow)
				st.Notifications++
				if err := emit(Notification{
					Owner: ow, Observation: o, Field: f.Name, Value: f.Value,
					Source: cfg.Source, Line: rec.Line, Time: rec.Time, Extra: rec.Extra,
				}); err != nil {
					return err
				}
			}
		}
		if len(notified) > 0 {
			st.Routed++
		}
		return nil
	})
	if cfg.Logger != nil {
		for _, e := range st.Errors {
			cfg.Logger.Warn("malformed feed line", "source", cfg.Source, "line", e.Line, "err", e.Err)
		}
		if st.Malformed > 0 {
			cfg.Logger.Info("feed read", "source", cfg.Source, "lines", st.Lines, "records", st.Records,
				"routed", st.Routed, "notifications", st.Notifications, "malformed", st.Malformed)
		}
	}
	return st, err
}
