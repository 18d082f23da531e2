package cpe

import (
	"errors"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"cpe:2.3:a:themeisle:wp_maintenance_mode_\\&_coming_soon:*:*:*:*:*:wordpress:*:*", "cpe:2.3:a:themeisle:wp_maintenance_mode_\\&_coming_soon:*:*:*:*:*:wordpress:*:*", false},
		{"cpe:2.3:o:Linux:Linux_Kernel:5.10:-:*:*:*:*:*:*", "cpe:2.3:o:linux:linux_kernel:5.10:-:*:*:*:*:*:*", false},
		{"cpe:/o:redhat:rhel_eus:8.6::baseos", "cpe:2.3:o:redhat:rhel_eus:8\\.6:*:baseos:*:*:*:*:*", false},
		{"cpe:/a:apache:http_server:2.4.1", "cpe:2.3:a:apache:http_server:2\\.4\\.1:*:*:*:*:*:*:*", false},
		{"cpe:/a:vendor:product:1.0:-:~~~android~~", "cpe:2.3:a:vendor:product:1\\.0:-:*:*:*:android:*:*", false},
		{"cpe:2.3:a:vendor:product:1.0:*:*:*:*:*:*", "", true},   // ten attributes
		{"cpe:2.3:x:vendor:product:1.0:*:*:*:*:*:*:*", "", true}, // bad part
		{"cpe:2.3:a:ven dor:product:1:*:*:*:*:*:*:*", "", true},  // space
		{"cpe:2.3:a:vendor:pro*duct:1:*:*:*:*:*:*:*", "", true},  // embedded star
		{"cpe:2.3:a:vendor::1:*:*:*:*:*:*:*", "", true},          // empty
		{"cpe:2.3:a:vendor:product:1:*:*:*:*:*:*:\\", "", true},  // trailing backslash
		{"pkg:npm/left-pad", "", true},
	} {
		n, err := Parse(tc.in)
		if tc.wantErr {
			if err == nil || !errors.Is(err, errkind.Invalid) {
				t.Errorf("Parse(%q) error = %v, want invalid", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := n.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		src, tgt    string
		skipVersion bool
		want        bool
	}{
		{"cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.15.0:*:*:*:*:*:*:*", false, false},
		{"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.15.0:*:*:*:*:*:*:*", true, true},
		{"cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:*", false, false},
		{"cpe:2.3:a:apache:log4j:2.14.*:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:log4j:2.1?:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.14:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:log4j:2.1?:*:*:*:*:*:*:*", "cpe:2.3:a:apache:log4j:2.141:*:*:*:*:*:*:*", false, false},
		{"cpe:2.3:a:apache:*:*:*:*:*:*:*:*:*", "cpe:2.3:a:apache:tomcat:9:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:tomcat:9:-:*:*:*:*:*:*", "cpe:2.3:a:apache:tomcat:9:*:*:*:*:*:*:*", false, false},
		{"cpe:2.3:a:apache:tomcat:9:-:*:*:*:*:*:*", "cpe:2.3:a:apache:tomcat:9:-:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:apache:tomcat:9:*:*:*:*:*:*:*", "cpe:2.3:a:apache:tomcat:9:-:*:*:*:*:*:*", false, true},
		{"cpe:2.3:a:x:y\\*:*:*:*:*:*:*:*:*", "cpe:2.3:a:x:yz:*:*:*:*:*:*:*:*", false, false},
		{"cpe:2.3:a:x:y\\*:*:*:*:*:*:*:*:*", "cpe:2.3:a:x:y\\*:*:*:*:*:*:*:*:*", false, true},
		{"cpe:2.3:o:apache:tomcat:*:*:*:*:*:*:*:*", "cpe:2.3:a:apache:tomcat:9:*:*:*:*:*:*:*", false, false},
	} {
		src, err := Parse(tc.src)
		if err != nil {
			t.Fatal(err)
		}
		tgt, err := Parse(tc.tgt)
		if err != nil {
			t.Fatal(err)
		}
		if got := src.Match(tgt, tc.skipVersion); got != tc.want {
			t.Errorf("%s matches %s (skip version %v) = %v, want %v", tc.src, tc.tgt, tc.skipVersion, got, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	if got := Unescape(`wp_maintenance_mode_\&_coming_soon`); got != "wp_maintenance_mode_&_coming_soon" {
		t.Errorf("Unescape = %q", got)
	}
}

// FuzzParse checks that Parse never panics and that a parsed name's
// formatted string parses back to the same name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"cpe:2.3:a:themeisle:wp_maintenance_mode_\\&_coming_soon:*:*:*:*:*:wordpress:*:*",
		"cpe:/o:redhat:rhel_eus:8.6::baseos", "cpe:/a:vendor:product:1.0:-:~~~android~~",
		"cpe:2.3:a:apache:log4j:2.1?:*:*:*:*:*:*:*", "cpe:/a:%41%3a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(n.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %s, which does not parse: %v", s, n, err)
		}
		if back != n {
			t.Fatalf("round trip %q: %s != %s", s, n, back)
		}
		if !n.Match(n, false) {
			t.Fatalf("%s does not match itself", n)
		}
	})
}
