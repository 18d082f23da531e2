package detect

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/detect/telemetry"
)

// trailCounts counts how Maltrail trails were converted.
type trailCounts struct {
	ip, cidr, ipPort, domain, url, pathOnly int
}

// maltrailIndicators converts the Maltrail static trails to indicators:
// an address gives "[ipv4-addr:value = ip]", a CIDR block an ISSUBSET, an
// address with a port "[network-traffic:dst_ref.value = ip AND
// network-traffic:dst_port = port]", a domain name itself and its
// subdomains (as Maltrail matches them), a "host/path" trail a URL. Trails
// that are only a path ("/gate.php") are skipped.
func maltrailIndicators(tb testing.TB, path string) ([]Indicator, trailCounts) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var inds []Indicator
	var n trailCounts
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".txt") || !strings.Contains(h.Name, "trails/static/") {
			continue
		}
		family := strings.TrimSuffix(filepath.Base(h.Name), ".txt")
		sc := bufio.NewScanner(tr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		line := 0
		for sc.Scan() {
			line++
			s := sc.Text()
			if i := strings.IndexByte(s, '#'); i >= 0 {
				s = s[:i]
			}
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			var p string
			switch {
			case strings.HasPrefix(s, "/"):
				n.pathOnly++
				continue
			case isAddr(s):
				p, n.ip = "[ipv4-addr:value = "+quote(s)+"]", n.ip+1
			case isPrefix(s):
				p, n.cidr = "[ipv4-addr:value ISSUBSET "+quote(s)+"]", n.cidr+1
			case isAddrPort(s):
				ip, port, _ := strings.Cut(s, ":")
				p = fmt.Sprintf("[network-traffic:dst_ref.value = %s AND network-traffic:dst_port = %s]", quote(ip), port)
				n.ipPort++
			case strings.Contains(s, "/"):
				p, n.url = "[url:value = "+quote("http://"+s)+"]", n.url+1
			default:
				p = fmt.Sprintf("[domain-name:value = %s OR domain-name:value LIKE %s]", quote(s), quote("%."+s))
				n.domain++
			}
			inds = append(inds, Indicator{
				ID:       fmt.Sprintf("indicator--maltrail-%s-%d", family, line),
				Modified: "2026-01-01T00:00:00Z",
				Pattern:  p,
			})
		}
		if err := sc.Err(); err != nil {
			tb.Fatalf("%s: %v", h.Name, err)
		}
	}
	return inds, n
}

func isAddr(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

func isPrefix(s string) bool { _, err := netip.ParsePrefix(s); return err == nil }

func isAddrPort(s string) bool { _, err := netip.ParseAddrPort(s); return err == nil }

// ipsumIndicators converts IPsum lines "ip<TAB>count" to indicators.
func ipsumIndicators(tb testing.TB, path string) []Indicator {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var inds []Indicator
	for s := range strings.Lines(string(data)) {
		if strings.HasPrefix(s, "#") {
			continue
		}
		ip, _, _ := strings.Cut(strings.TrimSpace(s), "\t")
		if ip == "" {
			continue
		}
		inds = append(inds, Indicator{ID: "indicator--ipsum-" + ip, Modified: "2026-08-22T01:00:29Z",
			Pattern: "[ipv4-addr:value = " + quote(ip) + "]"})
	}
	return inds
}

// TestTrickbotAgainstMaltrailAndIPsum matches the Zeek logs of a real
// Trickbot infection against the Maltrail trails and IPsum. The expected
// hits were found by hand:
//
//   - Maltrail malware/trickbot.txt lists 182.253.20.66:449; conn.log has 93
//     connections to 182.253.20.66 port 449 (awk '$5=="182.253.20.66"');
//   - Maltrail suspicious/ipinfo.txt lists ipecho.net (49 queries in
//     dns.log) and myexternalip.com (38 queries for www.myexternalip.com,
//     a subdomain);
//   - IPsum lists 190.145.74.84, a Trickbot C2 on port 449 in conn.log.
func TestTrickbotAgainstMaltrailAndIPsum(t *testing.T) {
	data := realdata.Path(t, "")
	if testing.Short() {
		t.Skip("loads 1.6M indicators: skipped in -short mode")
	}
	inds, n := maltrailIndicators(t, filepath.Join(data, "ioc", "maltrail.tar.gz"))
	t.Logf("maltrail: %d indicators (%+v)", len(inds), n)
	inds = append(inds, ipsumIndicators(t, filepath.Join(data, "ioc", "ipsum", "ipsum.txt"))...)
	x := New(Options{})
	errs := x.AddBatch(inds)
	if len(errs) > len(inds)/1000 {
		t.Fatalf("%d of %d indicators rejected, first: %v", len(errs), len(inds), errs[0])
	}
	t.Logf("index: %d indicators, %d rejected (first: %v)", x.Len(), len(errs), firstErr(errs))

	type key struct{ log, value, indicator string }
	counts := map[key]int{}
	perLog := map[string]int{}
	logs, _ := filepath.Glob(filepath.Join(data, "telemetry", "trickbot-zeek", "zeek", "*.log"))
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := telemetry.Open(f, path, telemetry.Options{})
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range x.Match(ev) {
				counts[key{base, h.Value, h.IndicatorID}]++
				perLog[base]++
			}
		}
		f.Close()
		if st := r.Stats(); st.Malformed != 0 {
			t.Errorf("%s: %d malformed lines: %v", base, st.Malformed, st.Errors)
		}
	}
	t.Logf("hits per log: %v", perLog)
	sum := func(log, value, prefix string) int {
		total := 0
		for k, c := range counts {
			if k.log == log && k.value == value && strings.HasPrefix(k.indicator, prefix) {
				total += c
			}
		}
		return total
	}
	for _, c := range []struct {
		log, value, prefix string
		want               int
	}{
		{"conn.log", "182.253.20.66", "indicator--maltrail-trickbot-", 93},
		{"dns.log", "ipecho.net", "indicator--maltrail-ipinfo-", 49},
		{"dns.log", "www.myexternalip.com", "indicator--maltrail-ipinfo-", 38},
		{"conn.log", "190.145.74.84", "indicator--ipsum-", -1},
	} {
		got := sum(c.log, c.value, c.prefix)
		if c.want < 0 && got == 0 || c.want >= 0 && got != c.want {
			t.Errorf("%s: %s hit %s* %d times, want %d (-1: some)", c.log, c.value, c.prefix, got, c.want)
		}
	}
}

func firstErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
