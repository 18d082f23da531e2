package route

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestParseResource(t *testing.T) {
	tests := []struct {
		in   string
		want string
		kind Kind
	}{
		{"192.0.2.0/24", "192.0.2.0/24", KindPrefix},
		{" 192.0.2.77/24 ", "192.0.2.0/24", KindPrefix},
		{"192.0.2.7", "192.0.2.7/32", KindPrefix},
		{"2001:DB8::/32", "2001:db8::/32", KindPrefix},
		{"2001:db8:0:0:1::1/64", "2001:db8::/64", KindPrefix},
		{"2001:db8::1", "2001:db8::1/128", KindPrefix},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24", KindPrefix},
		{"::ffff:192.0.2.9", "192.0.2.9/32", KindPrefix},
		{"0.0.0.0/0", "0.0.0.0/0", KindPrefix},
		{"AS64500", "AS64500", KindASN},
		{"as64500", "AS64500", KindASN},
		{"ASN64500", "AS64500", KindASN},
		{"AS4294967295", "AS4294967295", KindASN},
		{"Example.ORG.", "example.org", KindDomain},
		{"bücher.example", "xn--bcher-kva.example", KindDomain},
		{"BÜCHER.example", "xn--bcher-kva.example", KindDomain},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example", KindDomain},
		{"пример.рф", "xn--e1afmkfd.xn--p1ai", KindDomain},
		{"日本.jp", "xn--wgv71a.jp", KindDomain},
		{"faß.de", "xn--fa-hia.de", KindDomain}, // non-transitional: ß kept
		{"_dmarc.example.org", "_dmarc.example.org", KindDomain},
		{"as1.example", "as1.example", KindDomain},
		{"asia.example", "asia.example", KindDomain},
		{"jp", "jp", KindDomain},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseResource(tt.in)
			if err != nil {
				t.Fatalf("ParseResource(%q): %v", tt.in, err)
			}
			if r.String() != tt.want || r.Kind != tt.kind {
				t.Fatalf("ParseResource(%q) = %s %s, want %s %s", tt.in, r.Kind, r, tt.kind, tt.want)
			}
			again, err := ParseResource(r.String())
			if err != nil || again != r {
				t.Fatalf("round trip of %s: %v %v", r, again, err)
			}
		})
	}
}

func TestParseResourceErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", "empty"},
		{"192.0.2.0/33", "not a CIDR block"},
		{"192.0.2/24", "not a CIDR block"},
		{"256.1.1.1", "not an IP address"},
		{"1.2.3", "not an IP address"},
		{"fe80::1%eth0", "zone"},
		{"AS0", "reserved"},
		{"AS4294967296", "out of range"},
		{"AS1.10", "asdot"},
		{"*.example.org", "wildcards"},
		{"exa mple.org", "not allowed"},
		{"example..org", "empty label"},
		{strings.Repeat("a", 64) + ".example", "label longer"},
		{strings.Repeat("abcdefghi.", 26) + "example", "longer than 253"},
		{"xn--zz-.example", "internationalised"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseResource(tt.in)
			if err == nil {
				t.Fatalf("ParseResource(%q) succeeded", tt.in)
			}
			if !errors.Is(err, errkind.Invalid) {
				t.Errorf("error %v is not errkind.Invalid", err)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "resource \""+tt.in+"\"") {
				t.Errorf("error %q does not name the resource and %q", err, tt.msg)
			}
		})
	}
}

func TestParseObservation(t *testing.T) {
	tests := []struct {
		in   string
		kind KindObs
		want string
	}{
		{"192.0.2.7", ObsAddr, "192.0.2.7"},
		{" 192.0.2.7\t", ObsAddr, "192.0.2.7"},
		{"::ffff:192.0.2.7", ObsAddr, "192.0.2.7"},
		{"2001:db8::1", ObsAddr, "2001:db8::1"},
		{"fe80::1%eth0", ObsAddr, "fe80::1"},
		{"[2001:db8::1]", ObsAddr, "2001:db8::1"},
		{"[2001:db8::1]:443", ObsAddr, "2001:db8::1"},
		{"192.0.2.7:23", ObsAddr, "192.0.2.7"},
		{"192.0.2.0/24", ObsPrefix, "192.0.2.0/24"},
		{"192.0.2.9/24", ObsPrefix, "192.0.2.0/24"},
		{"2001:db8::/48", ObsPrefix, "2001:db8::/48"},
		{"Example.ORG", ObsDomain, "example.org"},
		{"www.example.org.", ObsDomain, "www.example.org"},
		{"example.org:443", ObsDomain, "example.org"},
		{"https://user:pw@WWW.Bücher.example:8443/a/b?c=d#e", ObsDomain, "www.xn--bcher-kva.example"},
		{"http://192.0.2.7/index.html", ObsAddr, "192.0.2.7"},
		{"http://[2001:db8::2]:8080/", ObsAddr, "2001:db8::2"},
		{"hxxp://evil.example/x", ObsDomain, "evil.example"},
		{"ftp://files.example.org", ObsDomain, "files.example.org"},
		{"example.org/path/to", ObsDomain, "example.org"},
		{"admin@example.org", ObsDomain, "example.org"},
		{"\"A B\"@sub.example.org", ObsDomain, "sub.example.org"},
		{"postmaster@[192.0.2.1]", ObsAddr, "192.0.2.1"},
		{"user@пример.рф", ObsDomain, "xn--e1afmkfd.xn--p1ai"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			o, err := ParseObservation(tt.in)
			if err != nil {
				t.Fatalf("ParseObservation(%q): %v", tt.in, err)
			}
			if o.Kind != tt.kind || o.String() != tt.want {
				t.Fatalf("ParseObservation(%q) = %d %s, want %d %s", tt.in, o.Kind, o, tt.kind, tt.want)
			}
		})
	}
}

func TestParseObservationErrors(t *testing.T) {
	for _, in := range []string{
		"", "   ", "not a value", "1.2.3.4.5", "999.1.1.1", "[2001:db8::1", "[2001:db8::1]x",
		"[nope]:1", "example.org:http", "example.org:", "https://", "user@", "a..b", "http://exa mple.org/",
	} {
		t.Run(in, func(t *testing.T) {
			o, err := ParseObservation(in)
			if err == nil {
				t.Fatalf("ParseObservation(%q) = %s, want error", in, o)
			}
			if !errors.Is(err, errkind.Invalid) || !strings.Contains(err.Error(), "observation ") {
				t.Errorf("error %q: want errkind.Invalid naming the observation", err)
			}
		})
	}
}

func TestCanonPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:10.1.0.0/112": "10.1.0.0/16",
		"::ffff:0:0/95":       "::fffe:0:0/95", // wider than the mapped range: kept IPv6
		"10.1.2.3/8":          "10.0.0.0/8",
	} {
		if got := canonPrefix(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("canonPrefix(%s) = %s, want %s", in, got, want)
		}
	}
}
