package route

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// ASNTable maps announced prefixes to their origin AS, like a routing
// table: an address belongs to the AS of the most specific prefix that
// covers it. Build one with ParseASNCSV, ParseASNDump or Add; it must not
// be changed once handed to New.
type ASNTable struct {
	t bart.Table[uint32]
}

// Add records that p is originated by asn (a later Add of the same prefix
// replaces the earlier one). p is masked.
func (a *ASNTable) Add(p netip.Prefix, asn uint32) {
	a.t.Insert(canonPrefix(p), asn)
}

// Len returns the number of prefixes.
func (a *ASNTable) Len() int {
	if a == nil {
		return 0
	}
	return a.t.Size()
}

// Origin returns the origin AS of addr and the announced prefix it falls
// in; ok is false when no prefix covers addr.
func (a *ASNTable) Origin(addr netip.Addr) (asn uint32, p netip.Prefix, ok bool) {
	if a == nil {
		return 0, netip.Prefix{}, false
	}
	p, asn, ok = a.t.LookupPrefixLPM(netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
	return asn, p, ok
}

// All iterates over the prefixes and their origin AS.
func (a *ASNTable) All() iter.Seq2[netip.Prefix, uint32] {
	if a == nil {
		return func(func(netip.Prefix, uint32) bool) {}
	}
	return a.t.All()
}

// LineError is a malformed line of a table or feed; parsing goes on.
type LineError struct {
	Line int
	Err  error
}

// Error returns "line N: ...".
func (e LineError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e LineError) Unwrap() error { return e.Err }

// MaxLineErrors bounds the LineErrors a parser keeps (it still counts the
// others).
const MaxLineErrors = 100

// ASNParseResult reports what a table parser skipped.
type ASNParseResult struct {
	// Lines is the number of lines read, Entries the prefixes added.
	Lines, Entries int
	// Malformed counts the malformed lines; Errors holds the first
	// MaxLineErrors of them, with line numbers.
	Malformed int
	Errors    []LineError
}

// ParseASNCSV reads a CSV prefix-to-ASN table: lines "prefix,asn" where asn
// is a number or "AS<number>". Blank lines, lines starting with '#' and a
// header line whose first field is not a prefix ("prefix,asn") are
// skipped; further fields are ignored. Malformed lines are counted and
// reported with their number, never fatal; only a read error or ctx's end
// is returned as an error.
func ParseASNCSV(ctx context.Context, r io.Reader) (*ASNTable, ASNParseResult, error) {
	return parseASNTable(ctx, r, func(line string) []string { return strings.Split(line, ",") }, true)
}

// ParseASNDump reads a routing-table dump in the pyasn "ipasn" format:
// lines "prefix<TAB>asn" (any run of spaces or tabs separates). An origin
// written as an AS set "{64500,64501}" or a multi-origin "64500_64501" takes
// its first AS. Comments (';' or '#') and blank lines are skipped;
// malformed lines are reported as by ParseASNCSV.
func ParseASNDump(ctx context.Context, r io.Reader) (*ASNTable, ASNParseResult, error) {
	return parseASNTable(ctx, r, strings.Fields, false)
}

func parseASNTable(ctx context.Context, r io.Reader, split func(string) []string, header bool) (*ASNTable, ASNParseResult, error) {
	t := new(ASNTable)
	var res ASNParseResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	bad := func(err error) {
		res.Malformed++
		if len(res.Errors) < MaxLineErrors {
			res.Errors = append(res.Errors, LineError{Line: res.Lines, Err: err})
		}
	}
	for sc.Scan() {
		res.Lines++
		if res.Lines%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, res, fmt.Errorf("prefix-to-ASN table, line %d: %w", res.Lines, err)
			}
		}
		line := sc.Bytes()
		if res.Lines == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		f := split(s)
		if len(f) < 2 {
			bad(errors.New("want a prefix and an AS number"))
			continue
		}
		ps, as := strings.TrimSpace(f[0]), strings.TrimSpace(f[1])
		p, err := netip.ParsePrefix(ps)
		if err != nil {
			if header && res.Entries == 0 && res.Malformed == 0 && strings.EqualFold(ps, "prefix") {
				continue
			}
			bad(fmt.Errorf("bad prefix %q", ps))
			continue
		}
		n, err := parseOrigin(as)
		if err != nil {
			bad(fmt.Errorf("bad AS number %q: %w", as, err))
			continue
		}
		t.Add(p, n)
		res.Entries++
	}
	if err := sc.Err(); err != nil {
		return nil, res, fmt.Errorf("prefix-to-ASN table, after line %d: %w", res.Lines, err)
	}
	return t, res, nil
}

// parseOrigin parses "64500", "AS64500", "{64500,64501}" or "64500_64501".
func parseOrigin(s string) (uint32, error) {
	s = strings.TrimPrefix(s, "{")
	if i := strings.IndexAny(s, ",_}"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 2 && strings.EqualFold(s[:2], "as") {
		s = s[2:]
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: not a number 0..4294967295", errkind.Invalid)
	}
	return uint32(v), nil
}
