package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestRefusal(t *testing.T) {
	for _, tc := range []struct {
		addr, want string // want: a prefix of the reason, "" for allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"}, // IPv4-mapped
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"169.254.169.254", "link-local (cloud metadata)"},
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"ff01::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"100.100.100.200", "shared address space"},
		{"fec0::1", "site-local"},
		{"198.18.0.1", "reserved"},
		{"240.0.0.1", "reserved"},
		{"64:ff9b::a9fe:a9fe", "link-local (cloud metadata) (IPv4 169.254.169.254 embedded)"}, // NAT64
		{"::7f00:1", "loopback"},                                     // IPv4-compatible 127.0.0.1
		{"2002:c0a8:0101::1", "private (IPv4 192.168.1.1 embedded)"}, // 6to4
		// Public addresses are allowed.
		{"93.184.215.14", ""},
		{"8.8.8.8", ""},
		{"172.32.0.1", ""},  // just outside 172.16/12
		{"192.169.0.1", ""}, // just outside 192.168/16
		{"169.255.0.1", ""}, // just outside 169.254/16
		{"100.128.0.1", ""}, // just outside 100.64/10
		{"2606:4700::1111", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", ""},
	} {
		got := Refusal(netip.MustParseAddr(tc.addr))
		if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
			t.Errorf("Refusal(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if Refusal(netip.Addr{}) == "" {
		t.Error("the zero address is allowed")
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want string // a substring of the error, "" for accepted
	}{
		{"https://soc.example/hook", ""},
		{"https://93.184.215.14/hook", ""},
		{"https://[2606:4700::1111]:8443/hook", ""},
		{"http://127.0.0.1:9/hook", `"http://127.0.0.1:9/hook": address 127.0.0.1 is loopback`},
		{"http://[::1]/x", "address ::1 is loopback"},
		{"http://[::ffff:10.0.0.1]/x", "address 10.0.0.1 is private"},
		{"http://169.254.169.254/latest/meta-data/", "cloud metadata"},
		{"http://[fe80::1%25eth0]/x", "address fe80::1 is link-local"},
		{"http://0.0.0.0:80/", "unspecified"},
		{"http://localhost:8080/", "localhost is loopback"},
		{"http://api.LOCALHOST./", "api.localhost is loopback"},
		{"https://user:pw@192.168.0.1/", `"https://user:xxxxx@192.168.0.1/"`}, // credentials redacted
		{"http://%zz/", "webhook URL"},
	} {
		err := CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want accepted", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errkind.Invalid)):
			t.Errorf("CheckURL(%q) = %v, want an Invalid error with %q", tc.url, err, tc.want)
		}
	}
}

func TestControl(t *testing.T) {
	err := Control("tcp4", "127.0.0.1:8080", nil)
	r, ok := IsRefused(err)
	if !ok || r.Addr != netip.MustParseAddr("127.0.0.1") || r.Reason != "loopback" || !strings.Contains(err.Error(), "127.0.0.1 is loopback") {
		t.Errorf("loopback: %v", err)
	}
	if err := Control("tcp6", "[::ffff:169.254.169.254]:80", nil); err == nil || !strings.Contains(err.Error(), "169.254.169.254") {
		t.Errorf("mapped metadata address: %v", err)
	}
	if err := Control("tcp4", "93.184.215.14:443", nil); err != nil {
		t.Errorf("public address: %v", err)
	}
	if err := Control("tcp", "nonsense", nil); err == nil {
		t.Error("an unparsable address passed")
	}
}
