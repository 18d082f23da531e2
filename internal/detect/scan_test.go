package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

var (
	scanNames = []string{"a.example", "B.Example.", "x\\x41y.example", "c.example:8080", "www.d.example", "d.example", "-", "(empty)", "e.example"}
	scanIPs   = []string{"10.0.0.1", "10.0.0.200", "2001:db8::1", "2001:DB8::2", "203.0.113.9", "fe80::1%eth0", "::ffff:10.0.0.3", "-"}
)

// scanLog writes a Zeek DNS log of n records (with a malformed line now
// and then) whose values come from scanNames and scanIPs.
func scanLog(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	b.WriteString("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\n")
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	for i := range n {
		if r.IntN(100) == 0 {
			b.WriteString("1.0\tC\n")
			continue
		}
		fmt.Fprintf(&b, "%d.5\tC%d\t%s\t%d\t%s\t53\tudp\t%s\t%s,%s,%s\n", 1521911720+i, i, pick(scanIPs), 1024+i%60000,
			pick(scanIPs), pick(scanNames), pick(scanNames), pick(scanIPs), pick(scanNames))
	}
	b.WriteString("#close\t2024-01-01-00-00-00\n")
	return b.Bytes()
}

type scanHit struct {
	line               int
	id, field, value   string
	pattern, eventType string
}

// referenceHits matches every event with Match.
func referenceHits(t *testing.T, x *Index, log []byte) ([]scanHit, telemetry.Stats) {
	t.Helper()
	r, err := telemetry.Open(bytes.NewReader(log), "dns.log", telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []scanHit
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Stats()
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range x.Match(ev) {
			out = append(out, scanHit{ev.Line, h.IndicatorID, h.Field, h.Value, h.Pattern, ev.Type})
		}
	}
}

// TestMatchReaderAgreesWithMatch checks that MatchReader, on the raw path
// (sequential and parallel) and on the event path, finds exactly the hits
// of Match on every event, on random logs (upper case, trailing dots,
// escapes, ports, IPv6, zones, mapped addresses) against random plain
// lists and STIX indicators (addresses, blocks, domains, subdomain rules,
// and sometimes a URL, which the raw path cannot look up).
func TestMatchReaderAgreesWithMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	plainPool := []string{"a.example", "b.example", "xay.example", "c.example", "d.example", "10.0.0.1", "10.0.0.0/24",
		"2001:db8::2", "203.0.113.0/30", "zzz.example", "::ffff:10.0.0.3", "fe80::1"}
	stixPool := []string{
		"[domain-name:value LIKE '%.d.example']",
		"[network-traffic:dst_ref.value = '203.0.113.9']",
		"[network-traffic:src_ref.value ISSUBSET '10.0.0.128/25']",
		"[domain-name:value = 'e.example']",
		"[network-traffic:dst_ref.value = '10.0.0.1' AND network-traffic:dst_port = 53]",
	}
	hits := 0
	for iter := range 12 {
		n := 300
		if iter < 2 {
			n = 15000 // over a MiB: several blocks for the parallel filter
		}
		log := scanLog(r, n)
		var list strings.Builder
		for _, v := range plainPool {
			if r.IntN(3) == 0 {
				list.WriteString(v + "\n")
			}
		}
		var inds []Indicator
		for i, p := range stixPool {
			if r.IntN(2) == 0 {
				inds = append(inds, Indicator{ID: fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", i), Modified: "2018-01-01T00:00:00Z", Pattern: p})
			}
		}
		if iter%4 == 3 {
			inds = append(inds, Indicator{ID: "indicator--url", Modified: "2018-01-01T00:00:00Z", Pattern: "[url:value = 'http://a.example/']"})
		}
		for _, workers := range []int{1, 2} {
			x := New(Options{Workers: workers})
			if _, err := ReadPlainList(strings.NewReader(list.String()), x); err != nil {
				t.Fatal(err)
			}
			if errs := x.AddBatch(inds); len(errs) > 0 {
				t.Fatal(errs)
			}
			want, wantStats := referenceHits(t, x, log)
			rd, err := telemetry.Open(bytes.NewReader(log), "dns.log", telemetry.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []scanHit
			err = x.MatchReader(context.Background(), rd, func(ev *telemetry.Event, hs []Hit) error {
				for _, h := range hs {
					got = append(got, scanHit{ev.Line, h.IndicatorID, h.Field, h.Value, h.Pattern, ev.Type})
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("iter %d, %d workers (raw path %v): %d hits, want %d\nlist %q\ninds %v", iter, workers, x.rawCapable(), len(got), len(want), list.String(), inds)
			}
			if !reflect.DeepEqual(rd.Stats(), wantStats) {
				t.Fatalf("iter %d, %d workers: stats %+v, want %+v", iter, workers, rd.Stats(), wantStats)
			}
			hits += len(want)
		}
	}
	if hits == 0 {
		t.Fatal("no hit at all: the test proves nothing")
	}
}

// TestMatchReaderContext checks that a cancelled context ends MatchReader
// with its error.
func TestMatchReaderContext(t *testing.T) {
	x := New(Options{Workers: 2})
	if _, err := x.AddPlain("a.example"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rd, _ := telemetry.Open(bytes.NewReader(scanLog(rand.New(rand.NewPCG(1, 1)), 20000)), "dns.log", telemetry.Options{})
	err := x.MatchReader(ctx, rd, func(*telemetry.Event, []Hit) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
