package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// randomZeekLog writes a Zeek DNS log with the oddities FilterRaw must
// treat as Next does: malformed lines, blank lines, CRLF, unreadable
// timestamps, escapes, sets, unset and empty fields, over-long lines, and
// sometimes a second header block in the middle and a #close line.
func randomZeekLog(r *rand.Rand, lines int) []byte {
	var b bytes.Buffer
	head := "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\n"
	b.WriteString(head)
	names := []string{"a.example", "B.Example.", "x\\x41y.example", "c.example:8080", "-", "(empty)", "", "d.example"}
	ips := []string{"10.0.0.1", "2001:db8::1", "203.0.113.9", "fe80::1%eth0", "-"}
	for i := range lines {
		switch r.IntN(60) {
		case 0:
			b.WriteString("1.0\tC\t10.0.0.1\n") // malformed
			continue
		case 1:
			b.WriteString("\n")
			continue
		case 2:
			b.WriteString(strings.Repeat("z", 300) + "\n") // over-long with MaxLineBytes 200
			continue
		case 3:
			if r.IntN(4) == 0 {
				b.WriteString(head)
				continue
			}
		}
		ts := fmt.Sprintf("%d.%06d", 1521911720+i, r.IntN(1000000))
		if r.IntN(20) == 0 {
			ts = "XXXXXXXXXX.XXXXXX"
		}
		ans := names[r.IntN(len(names))] + "," + ips[r.IntN(len(ips))]
		fmt.Fprintf(&b, "%s\tC%d\t%s\t%d\t%s\t53\tudp\t%s\t%s", ts, i, ips[r.IntN(len(ips))], 1024+i,
			ips[r.IntN(len(ips))], names[r.IntN(len(names))], ans)
		if r.IntN(10) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	if r.IntN(2) == 0 {
		b.WriteString("#close\t2024-01-01-00-00-00\n")
	}
	if r.IntN(2) == 0 { // a last line without its newline
		b.WriteString("1.0\tCz\t10.0.0.1\t1\t10.0.0.2\t53\tudp\ta.example\t-")
	}
	return b.Bytes()
}

// keepA keeps the records one of whose raw cells contains an "a".
type keepA struct{ in bool }

func (k *keepA) Begin() { k.in = true }
func (k *keepA) End()   { k.in = false }
func (k *keepA) Keep(fields []RawField, _ string) bool {
	if !k.in {
		panic("Keep outside Begin/End")
	}
	for _, f := range fields {
		if bytes.IndexByte(f.Value, 'a') >= 0 {
			return true
		}
	}
	return false
}

// TestFilterRawAgreesWithNext checks that FilterRaw, with blocks small
// enough to cut the logs in many places, keeps the same events (line
// numbers, times, observables) and counts the same statistics as reading
// the records one by one.
func TestFilterRawAgreesWithNext(t *testing.T) {
	defer func(n int) { parBlock = n }(parBlock)
	r := rand.New(rand.NewPCG(3, 4))
	opts := Options{MaxLineBytes: 200}
	for iter := range 60 {
		log := randomZeekLog(r, 1+r.IntN(400))
		// reference: NextRaw and Event one record at a time
		ref, err := Open(bytes.NewReader(log), "dns.log", opts)
		if err != nil {
			t.Fatal(err)
		}
		var want []*Event
		k := &keepA{}
		for {
			fields, err := ref.(RawReader).NextRaw()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			k.Begin()
			ok := k.Keep(fields, ",")
			k.End()
			if ok {
				want = append(want, ref.(RawReader).Event())
			}
		}
		// and Next counts the same statistics
		nx, _ := Open(bytes.NewReader(log), "dns.log", opts)
		for _, err := nx.Next(); err == nil; _, err = nx.Next() {
		}
		if !reflect.DeepEqual(ref.Stats(), nx.Stats()) {
			t.Fatalf("iter %d: NextRaw stats %+v, Next stats %+v", iter, ref.Stats(), nx.Stats())
		}
		for _, block := range []int{64, 200, 1000, 1 << 20} {
			parBlock = block
			for _, workers := range []int{2, 3} {
				pr, _ := Open(bytes.NewReader(log), "dns.log", opts)
				var got []*Event
				err := pr.(ParallelRawReader).FilterRaw(workers, func() RawFilter { return &keepA{} }, func(ev *Event) error {
					got = append(got, ev)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("iter %d, block %d, %d workers: %d events, want %d (first: %+v / %+v)", iter, block, workers, len(got), len(want), first(got), first(want))
				}
				if !reflect.DeepEqual(pr.Stats(), ref.Stats()) {
					t.Fatalf("iter %d, block %d, %d workers: stats %+v, want %+v", iter, block, workers, pr.Stats(), ref.Stats())
				}
			}
		}
	}
}

func first(evs []*Event) *Event {
	if len(evs) == 0 {
		return nil
	}
	return evs[0]
}

// TestFilterRawStops checks that an error of fn ends FilterRaw with it.
func TestFilterRawStops(t *testing.T) {
	defer func(n int) { parBlock = n }(parBlock)
	parBlock = 128
	log := randomZeekLog(rand.New(rand.NewPCG(5, 6)), 500)
	pr, _ := Open(bytes.NewReader(log), "dns.log", Options{})
	stop := errors.New("stop")
	n := 0
	err := pr.(ParallelRawReader).FilterRaw(2, func() RawFilter { return &keepA{} }, func(*Event) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d events, want stop after 3", err, n)
	}
}
