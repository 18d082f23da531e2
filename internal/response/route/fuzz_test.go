package route

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// seedLines adds every line of the fixtures to f, and the whole files to
// whole if not nil.
func seedLines(f *testing.F, whole func([]byte)) {
	f.Helper()
	files, err := filepath.Glob("../testdata/*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if whole != nil {
			whole(b)
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f.Add(sc.Text())
		}
	}
}

// FuzzParseObservation checks that parsing never panics and that the
// canonical form of an observation parses back to itself.
func FuzzParseObservation(f *testing.F) {
	seedLines(f, nil)
	for _, s := range []string{"https://u@[2001:db8::1]:1/", "a@b@c.example", "bücher.example:1", "::ffff:1.2.3.4/120"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseObservation(s)
		if err != nil {
			return
		}
		again, err := ParseObservation(o.String())
		if err != nil || again != o {
			t.Fatalf("ParseObservation(%q) = %s, which parses as %s, %v", s, o, again, err)
		}
	})
}

// FuzzParseResource checks ParseResource(r.String()) == r.
func FuzzParseResource(f *testing.F) {
	seedLines(f, nil)
	for _, s := range []string{"AS64500", "пример.рф", "2001:db8::/32", "xn--bcher-kva.example."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResource(s)
		if err != nil {
			return
		}
		if err := r.valid(); err != nil {
			t.Fatalf("ParseResource(%q) = %s, not valid: %v", s, r, err)
		}
		again, err := ParseResource(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseResource(%q) = %s, which parses as %s, %v", s, r, again, err)
		}
	})
}

// FuzzParseASN feeds both table parsers and checks their accounting: every
// line is counted once, errors come in line order.
func FuzzParseASN(f *testing.F) {
	seedLines(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func(context.Context, *bytes.Reader) (*ASNTable, ASNParseResult, error){
			func(ctx context.Context, r *bytes.Reader) (*ASNTable, ASNParseResult, error) {
				return ParseASNCSV(ctx, r)
			},
			func(ctx context.Context, r *bytes.Reader) (*ASNTable, ASNParseResult, error) {
				return ParseASNDump(ctx, r)
			},
		} {
			a, res, err := parse(context.Background(), bytes.NewReader(b))
			if err != nil {
				return // a line over the scanner's limit
			}
			if res.Entries+res.Malformed > res.Lines || a.Len() > res.Entries {
				t.Fatalf("accounting: %+v, table %d", res, a.Len())
			}
			for i, e := range res.Errors {
				if e.Line < 1 || e.Line > res.Lines || i > 0 && e.Line <= res.Errors[i-1].Line {
					t.Fatalf("error lines out of order: %v", res.Errors)
				}
			}
		}
	})
}
