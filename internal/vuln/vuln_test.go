package vuln

import (
	"errors"
	"slices"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

func TestPackageKey(t *testing.T) {
	for _, tc := range []struct{ eco, name, want string }{
		{"PyPI", "Django_REST.framework", "PyPI/django-rest-framework"},
		{"pypi", "zope..interface", "PyPI/zope-interface"},
		{"Go", "github.com/BurntSushi/toml", "Go/github.com/BurntSushi/toml"},
		{"npm", "@Babel/Core", "npm/@babel/core"},
		{"Debian:12", "OpenSSL", "Debian/openssl"},
		{"Red Hat", "sudo", "RPM/sudo"},
		{"", "ABC", "Generic/ABC"},
	} {
		if got := PackageKey(tc.eco, tc.name); got != tc.want {
			t.Errorf("PackageKey(%q, %q) = %q, want %q", tc.eco, tc.name, got, tc.want)
		}
	}
}

func TestParsePURL(t *testing.T) {
	for _, tc := range []struct{ purl, key, ver string }{
		{"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar", "Maven/org.apache.logging.log4j:log4j-core", "2.14.1"},
		{"pkg:golang/github.com/gin-gonic/gin@v1.6.0", "Go/github.com/gin-gonic/gin", "v1.6.0"},
		{"pkg:npm/%40babel/core@7.0.0", "npm/@babel/core", "7.0.0"},
		{"pkg:rpm/redhat/sudo@1.9.5p2-1.el8_6?arch=src&epoch=1", "RPM/sudo", "1:1.9.5p2-1.el8_6"},
		{"pkg:deb/debian/bash@5.1-2", "Debian/bash", "5.1-2"},
		{"pkg:pypi/Django", "PyPI/django", ""},
	} {
		p, v, err := ParsePURL(tc.purl)
		if err != nil {
			t.Errorf("%s: %v", tc.purl, err)
			continue
		}
		if p.Key() != tc.key || v != tc.ver {
			t.Errorf("%s: key %q version %q, want %q %q", tc.purl, p.Key(), v, tc.key, tc.ver)
		}
	}
	if _, _, err := ParsePURL("npm/left-pad"); !errors.Is(err, errkind.Invalid) {
		t.Errorf("error %v, want invalid", err)
	}
}

func TestCVEsAndScore(t *testing.T) {
	v := &Vulnerability{ID: "RHSA-2024:0811/CVE-2023-28486", Aliases: []string{"CVE-2023-28486", "GHSA-x", "CVE-2023-28487"},
		Severity: []Severity{{Type: "TEXT", Rating: "Important"}, {Type: "CVSS_V3", Score: 5.3}, {Type: "CVSS_V2", Score: 7.1}}}
	if got := v.CVEs(); !slices.Equal(got, []string{"CVE-2023-28486", "CVE-2023-28487"}) {
		t.Errorf("CVEs = %v", got)
	}
	if s, ok := v.MaxScore(); !ok || s.Score != 7.1 {
		t.Errorf("MaxScore = %+v %v", s, ok)
	}
	v.Severity = v.Severity[:1]
	if s, ok := v.MaxScore(); !ok || s.Rating != "Important" {
		t.Errorf("MaxScore without numbers = %+v %v", s, ok)
	}
}

func TestAffectedContains(t *testing.T) {
	a := Affected{Ranges: []Range{{Type: "ECOSYSTEM", Events: []version.Event{{Introduced: "1.0"}, {LastAffected: "2.0"}}}},
		Unaffected: []string{"1.0"}, Versions: []string{"3.0"}}
	for v, want := range map[string]bool{"1.0": false, "1.5": true, "2.0": true, "2.1": false, "3.0": true} {
		if got := a.Contains(version.Generic, v); got != want {
			t.Errorf("Contains(%s) = %v, want %v", v, got, want)
		}
	}
	git := Affected{Ranges: []Range{{Type: "GIT", Events: []version.Event{{Introduced: "0"}}}}}
	if git.Contains(version.Generic, "1.0") {
		t.Error("a GIT range matched a version")
	}
	if all := (Affected{}); !all.Contains(version.Generic, "9") {
		t.Error("an entry without ranges did not match every version")
	}
}
