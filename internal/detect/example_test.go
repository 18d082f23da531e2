package detect_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/kizuna-cti/kizuna/internal/detect"
	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

// Example indexes three indicators and matches a Zeek DNS log against
// them.
func Example() {
	x := detect.New(detect.Options{})
	for _, ind := range []detect.Indicator{
		{ID: "indicator--1", Modified: "2026-01-01T00:00:00Z",
			Pattern: "[domain-name:value = 'evil.example' OR domain-name:value LIKE '%.evil.example']"},
		{ID: "indicator--2", Modified: "2026-01-01T00:00:00Z",
			Pattern: "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"},
		{ID: "indicator--3", Modified: "2026-01-01T00:00:00Z",
			Pattern: "[network-traffic:dst_ref.value = '198.51.100.7' AND network-traffic:dst_port = 449]"},
	} {
		if err := x.Add(ind); err != nil {
			fmt.Println(err)
			return
		}
	}
	log := "#separator \\x09\n#path\tdns\n" +
		"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tvector[string]\n" +
		"1541117142.680642\tC1\t10.0.0.5\t53000\t10.0.0.1\t53\tudp\tc2.EVIL.example\t203.0.113.9\n" +
		"1541117143.000000\tC2\t10.0.0.5\t49200\t198.51.100.7\t449\ttcp\t-\t-\n" +
		"1541117144.000000\tC3\t10.0.0.5\t49201\n"
	r, err := telemetry.Open(strings.NewReader(log), "dns.log", telemetry.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, h := range x.Match(ev) {
			fmt.Printf("%s:%d %s %s=%s\n", ev.Source, ev.Line, h.IndicatorID, h.Field, h.Value)
		}
	}
	st := r.Stats()
	fmt.Printf("%d events, %d malformed: %v\n", st.Events, st.Malformed, st.Errors)
	// Output:
	// dns.log:5 indicator--1 query=c2.evil.example
	// dns.log:5 indicator--2 answers=203.0.113.9
	// dns.log:6 indicator--3 id.resp_h=198.51.100.7
	// 2 events, 1 malformed: [line 7: 4 fields, the #fields header names 9]
}
