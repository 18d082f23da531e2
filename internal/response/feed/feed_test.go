package feed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/response/route"
)

func testTable(t testing.TB) *route.Table {
	t.Helper()
	f, err := os.Open("../testdata/asn.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	asn, _, err := route.ParseASNCSV(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var regs []route.Registration
	for _, p := range []string{
		"isp 192.0.2.0/24", "campus 192.0.2.0/28", "asother AS64502",
		"books bücher.example", "corp example.net",
	} {
		owner, res, _ := strings.Cut(p, " ")
		r, err := route.ParseResource(res)
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, route.Registration{Owner: route.Owner(owner), Resource: r})
	}
	tab, err := route.New(regs, route.Options{ASN: asn})
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// summary renders notifications as "line owner field=value" lines.
func summary(ns []Notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%d %s %s=%s", n.Line, n.Owner, n.Field, n.Observation)
		if n.Time != "" {
			fmt.Fprintf(&b, " t=%s", n.Time)
		}
		for _, e := range n.Extra {
			fmt.Fprintf(&b, " %s=%s", e.Name, e.Value)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestRouteFixtures(t *testing.T) {
	jsonMap := Mapping{Format: JSONLines, Values: []string{"ip", "src.ip", "hostname"}, Time: "timestamp", Extra: []string{"port", "tag"}}
	tests := []struct {
		file      string
		mapping   Mapping
		want      string
		malformed []int
		stats     Stats // Lines, Records, Routed, Notifications checked
	}{
		{
			file:    "scan.csv",
			mapping: ShadowserverScan,
			want: `2 campus ip=192.0.2.10 t=2026-11-20 03:14:07 port=23 asn=64500 tag=telnet,iot device_vendor=ExampleCam
2 books hostname=cam1.xn--bcher-kva.example t=2026-11-20 03:14:07 port=23 asn=64500 tag=telnet,iot device_vendor=ExampleCam
3 asother ip=198.51.100.200 t=2026-11-20 03:15:00 port=8080 asn=64502 tag=http device_vendor=RouterCo
4 asother ip=2001:db8:bad::7 t=2026-11-20 03:16:30 port=443 asn=64502 tag=vpn device_vendor=VPNCo
4 corp hostname=vpn.example.net t=2026-11-20 03:16:30 port=443 asn=64502 tag=vpn device_vendor=VPNCo
`,
			malformed: []int{5, 6},
			stats:     Stats{Lines: 7, Records: 5, Routed: 3, Notifications: 5},
		},
		{
			file:    "scan.jsonl",
			mapping: jsonMap,
			want: `1 campus ip=192.0.2.10 t=2026-11-20T03:14:07Z port=23 tag=telnet
1 books hostname=cam1.xn--bcher-kva.example t=2026-11-20T03:14:07Z port=23 tag=telnet
2 asother ip=198.51.100.200 t=2026-11-20T03:15:00Z port=8080 tag=http
3 asother src.ip=2001:db8:bad::7 t=2026-11-20T03:16:30Z tag=vpn
3 corp hostname=vpn.example.net t=2026-11-20T03:16:30Z tag=vpn
`,
			malformed: []int{4, 5},
			stats:     Stats{Lines: 6, Records: 4, Routed: 3, Notifications: 5},
		},
		{
			file:    "observations.txt",
			mapping: Mapping{Format: Lines},
			want: `2 campus value=192.0.2.10
3 books value=cam1.xn--bcher-kva.example
4 corp value=vpn.example.net
5 asother value=2001:db8:bad::7
`,
			malformed: []int{7, 8},
			stats:     Stats{Lines: 8, Records: 6, Routed: 4, Notifications: 4},
		},
	}
	tab := testTable(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open("../testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var ns []Notification
			var logs bytes.Buffer
			st, err := Route(context.Background(), f, tab, Config{Mapping: tt.mapping, Source: tt.file, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
				func(n Notification) error { ns = append(ns, n); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(ns); got != tt.want {
				t.Errorf("notifications:\n%s\nwant:\n%s", got, tt.want)
			}
			for _, n := range ns {
				if n.Source != tt.file {
					t.Errorf("source %q", n.Source)
				}
				if !slices.Contains(tab.Route(n.Value), n.Owner) {
					t.Errorf("notification of %s about %q, which it does not own", n.Owner, n.Value)
				}
			}
			var lines []int
			for _, e := range st.Errors {
				lines = append(lines, e.Line)
				if !strings.Contains(logs.String(), fmt.Sprintf("line=%d ", e.Line)) {
					t.Errorf("line %d not logged: %s", e.Line, logs.String())
				}
			}
			if !slices.Equal(slices.Compact(lines), tt.malformed) || st.Malformed != len(tt.malformed) {
				t.Errorf("malformed lines %v (%d): %v, want %v", lines, st.Malformed, st.Errors, tt.malformed)
			}
			if st.Lines != tt.stats.Lines || st.Records != tt.stats.Records || st.Routed != tt.stats.Routed || st.Notifications != tt.stats.Notifications {
				t.Errorf("stats %+v, want %+v", st, tt.stats)
			}
		})
	}
}

func TestCSVBrokenQuotesAndSeparator(t *testing.T) {
	in := "ip;note\n192.0.2.1;ok\n192.0.2.2;bad \"quote\n192.0.2.3;ok\n"
	var got []string
	st, err := Records(context.Background(), strings.NewReader(in), Mapping{Format: CSV, Values: []string{"ip"}, Comma: ';'},
		func(r Record) error { got = append(got, fmt.Sprint(r.Line, r.Values[0].Value)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"2192.0.2.1", "4192.0.2.3"}) || st.Malformed != 1 || st.Errors[0].Line != 3 {
		t.Fatalf("records %v, stats %+v", got, st)
	}
}

func TestMappingErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		m    Mapping
		msg  string
	}{
		{"no format", "", Mapping{Values: []string{"ip"}}, "unknown format"},
		{"no values", "", Mapping{Format: CSV}, "no value field"},
		{"missing column", "ip,port\n", Mapping{Format: CSV, Values: []string{"host"}}, `no value column "host"`},
		{"missing extra", "ip,port\n", Mapping{Format: CSV, Values: []string{"ip"}, Extra: []string{"tag"}}, `no extra column "tag"`},
		{"missing time", "ip,port\n", Mapping{Format: CSV, Values: []string{"ip"}, Time: "ts"}, `no time column "ts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Records(context.Background(), strings.NewReader(tt.in), tt.m, func(Record) error { return nil })
			if !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v, want errkind.Invalid with %q", err, tt.msg)
			}
		})
	}
}

func TestLongLinesAndEnds(t *testing.T) {
	in := "192.0.2.1\r\n" + strings.Repeat("x", 300) + "\n\n# comment\n192.0.2.3"
	var got []string
	st, err := Records(context.Background(), strings.NewReader(in), Mapping{Format: Lines, MaxLine: 100},
		func(r Record) error { got = append(got, fmt.Sprint(r.Line, " ", r.Values[0].Value)); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"1 192.0.2.1", "5 192.0.2.3"}) || st.Malformed != 1 || st.Errors[0].Line != 2 || st.Lines != 5 {
		t.Fatalf("records %q, stats %+v", got, st)
	}
}

func TestEmitErrorAndCancel(t *testing.T) {
	tab := testTable(t)
	stop := errors.New("stop")
	_, err := Route(context.Background(), strings.NewReader("192.0.2.1\n192.0.2.2\n"), tab, Config{Mapping: Mapping{Format: Lines}},
		func(Notification) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("emit error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, m := range []Mapping{{Format: Lines}, {Format: CSV, Values: []string{"ip"}}} {
		_, err = Records(ctx, strings.NewReader("ip\n192.0.2.1\n"), m, func(Record) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: cancelled read: %v", m.Format, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"csv": CSV, "JSONL": JSONLines, "ndjson": JSONLines, "lines": Lines} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); !errors.Is(err, errkind.Invalid) {
		t.Errorf("ParseFormat(xml): %v", err)
	}
}
