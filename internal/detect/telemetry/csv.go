package telemetry

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

var errInvalid = errkind.Invalid

// csvReader reads CSV records through a Mapping. Each line is one record:
// quoted fields may not span lines (telemetry exports do not need them,
// and it keeps line numbers exact and one bad line from swallowing the
// rest).
type csvReader struct {
	*lines
	name   string
	m      *Mapping
	header map[string]int
}

func newCSV(l *lines, name string, m *Mapping) *csvReader {
	c := &csvReader{lines: l, name: name, m: m}
	if len(m.Header) > 0 {
		c.setHeader(m.Header)
	}
	return c
}

func (c *csvReader) setHeader(cols []string) {
	c.header = make(map[string]int, len(cols))
	for i, h := range cols {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := c.header[h]; !dup {
			c.header[h] = i
		}
	}
}

func (c *csvReader) Format() Format { return FormatCSV }

func (c *csvReader) Next() (*Event, error) {
	for {
		line, err := c.next()
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(line))) == 0 || line[0] == '#' {
			continue
		}
		cr := csv.NewReader(strings.NewReader(string(line)))
		if c.m.Comma != 0 {
			cr.Comma = c.m.Comma
		}
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			msg := err.Error()
			if errors.As(err, &pe) {
				msg = pe.Err.Error()
			}
			c.malformed(c.n, "invalid CSV: "+msg)
			continue
		}
		if c.header == nil {
			c.setHeader(rec)
			continue
		}
		if len(rec) < len(c.header) {
			c.malformed(c.n, fmt.Sprintf("%d fields, the header names %d", len(rec), len(c.header)))
			continue
		}
		ev := &Event{Source: c.name, Line: c.n, Type: c.m.Type}
		if ev.Type == "" {
			ev.Type = "csv"
		}
		msg := mapped(ev, c.m, func(f string) (any, bool) {
			i, ok := c.header[f]
			if !ok || i >= len(rec) {
				return nil, false
			}
			return rec[i], true
		})
		if msg != "" {
			c.malformed(c.n, msg)
			continue
		}
		c.stats.Events++
		return ev, nil
	}
}
