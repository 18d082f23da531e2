package match

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

func rng(events ...string) vuln.Range {
	r := vuln.Range{Type: "ECOSYSTEM"}
	for _, e := range events {
		k, v, _ := strings.Cut(e, "=")
		switch k {
		case "i":
			r.Events = append(r.Events, version.Event{Introduced: v})
		case "f":
			r.Events = append(r.Events, version.Event{Fixed: v})
		case "l":
			r.Events = append(r.Events, version.Event{LastAffected: v})
		}
	}
	return r
}

func pkgAffected(eco, name string, r ...vuln.Range) vuln.Affected {
	a := vuln.Affected{Package: vuln.Package{Ecosystem: eco, Name: name}, Ranges: r}
	for _, x := range r {
		for _, e := range x.Events {
			if e.Fixed != "" {
				a.Fixed = append(a.Fixed, e.Fixed)
			}
		}
	}
	return a
}

// testVulns covers the ecosystems and the rules of the matcher.
func testVulns() []*vuln.Vulnerability {
	return []*vuln.Vulnerability{
		{ID: "GO-1", Aliases: []string{"CVE-2021-0001"}, Affected: []vuln.Affected{pkgAffected("Go", "golang.org/x/net", rng("i=0", "f=0.0.0-20210520170846-37e1c6afe023"))},
			Severity: []vuln.Severity{{Type: "CVSS_V3", Score: 7.5, Vector: "CVSS:3.1/AV:N"}}},
		{ID: "PYSEC-1", Aliases: []string{"CVE-2022-22818"}, Affected: []vuln.Affected{pkgAffected("PyPI", "Django", rng("i=2.2", "f=2.2.27", "i=3.2", "f=3.2.12", "i=4.0", "f=4.0.2"))},
			KEV: &vuln.KEV{DateAdded: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{ID: "PYSEC-PRE", Affected: []vuln.Affected{pkgAffected("PyPI", "requests", rng("i=0", "f=2.31.0"))}},
		{ID: "MVN-1", Affected: []vuln.Affected{pkgAffected("Maven", "org.apache.logging.log4j:log4j-core", rng("i=2.0-beta9", "f=2.15.0"), rng("i=2.13.0", "l=2.14.1"))}},
		{ID: "DEB-1", Affected: []vuln.Affected{pkgAffected("Debian:11", "openssl", rng("i=0", "f=1.1.1n-0+deb11u4"))}},
		{ID: "DEB-EPOCH", Affected: []vuln.Affected{pkgAffected("Debian:11", "bash", rng("i=0", "f=1:5.0-1"))}},
		{ID: "RHSA-1/CVE-2023-28486", Aliases: []string{"CVE-2023-28486"}, Affected: []vuln.Affected{
			{Package: vuln.Package{Ecosystem: "RPM", Name: "sudo"}, Ranges: []vuln.Range{rng("i=0", "f=1.9.5p2-7.el9_0.4")}, Fixed: []string{"1.9.5p2-7.el9_0.4"}, Status: vuln.StatusFixed}}},
		{ID: "NPM-WITHDRAWN", Withdrawn: time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0"))}},
		{ID: "NPM-1", Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=4.0.0", "f=4.17.3"))}},
		{ID: "CVE-2022-1576", Affected: []vuln.Affected{{CPE: `cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:*:*:*:*:*:wordpress:*:*`, Ranges: []vuln.Range{rng("i=0", "f=2.4.5")}, Fixed: []string{"2.4.5"}}}},
		{ID: "CVE-TOMCAT", Affected: []vuln.Affected{{CPE: "cpe:2.3:a:apache:tomcat:9.0.40:*:*:*:*:*:*:*"}}},
		{ID: "CVE-WILD", Affected: []vuln.Affected{{CPE: "cpe:2.3:a:*:tomc?t:*:*:*:*:*:*:*:*", Ranges: []vuln.Range{rng("i=9.0.0", "f=9.0.41")}}}},
		{ID: "VEX-1/CVE-2021-44228", Aliases: []string{"CVE-2021-44228"}, Affected: []vuln.Affected{
			{Package: vuln.Package{Name: "ABC"}, Versions: []string{"4.2"}, Status: vuln.StatusNotAffected},
			{Package: vuln.Package{Name: "ABC"}, Versions: []string{"4.1", "4.2"}, Status: vuln.StatusAffected}}},
		{ID: "INV-1", Affected: []vuln.Affected{{Package: vuln.Package{Name: "ABC"}, Status: vuln.StatusUnderInvestigation}}},
		{ID: "CVE-2020-25649", Affected: []vuln.Affected{pkgAffected("Maven", "com.fasterxml.jackson.core:jackson-databind", rng("i=2.10.0", "f=2.10.5.1"))}},
	}
}

func comp(ref, purl, cpeName, name, ver string) sbom.Component {
	c := sbom.Component{Ref: ref, PURL: purl, CPE: cpeName, Name: name, Version: ver}
	if purl != "" {
		p, v, err := vuln.ParsePURL(purl)
		if err != nil {
			panic(err)
		}
		c.Ecosystem, c.Name, c.Version = p.Ecosystem, p.Name, v
	}
	return c
}

func TestMatch(t *testing.T) {
	db := NewDB()
	for _, v := range testVulns() {
		db.Add(v)
	}
	for _, tc := range []struct {
		name string
		c    sbom.Component
		vex  []sbom.VEXStatement
		want []string // vuln id[:status]
	}{
		{"go pseudo-version before fix", comp("a", "pkg:golang/golang.org/x/net@v0.0.0-20210226172049-e18ecbb05110", "", "", ""), nil, []string{"GO-1"}},
		{"go pseudo-version at fix", comp("a", "pkg:golang/golang.org/x/net@v0.0.0-20210520170846-37e1c6afe023", "", "", ""), nil, nil},
		{"go tagged after fix", comp("a", "pkg:golang/golang.org/x/net@v0.1.0", "", "", ""), nil, nil},
		{"pypi second range, name folding", comp("a", "pkg:pypi/django@3.2.5", "", "", ""), nil, []string{"PYSEC-1"}},
		{"pypi gap between ranges", comp("a", "pkg:pypi/django@3.0", "", "", ""), nil, nil},
		{"pypi pre-release of fix", comp("a", "pkg:pypi/requests@2.31.0rc1", "", "", ""), nil, []string{"PYSEC-PRE"}},
		{"pypi post-release of fix", comp("a", "pkg:pypi/requests@2.31.0.post1", "", "", ""), nil, nil},
		{"maven beta inside", comp("a", "pkg:maven/org.apache.logging.log4j/log4j-core@2.0-rc1", "", "", ""), nil, []string{"MVN-1"}},
		{"maven before beta9", comp("a", "pkg:maven/org.apache.logging.log4j/log4j-core@2.0-beta8", "", "", ""), nil, nil},
		{"maven fixed", comp("a", "pkg:maven/org.apache.logging.log4j/log4j-core@2.15.0", "", "", ""), nil, nil},
		{"debian revision below fix", comp("a", "pkg:deb/debian/openssl@1.1.1n-0%2Bdeb11u3?distro=debian-11", "", "", ""), nil, []string{"DEB-1"}},
		{"debian epoch beats upstream", comp("a", "pkg:deb/debian/bash@5.1-2", "", "", ""), nil, []string{"DEB-EPOCH"}},
		{"debian epoch qualifier", comp("a", "pkg:deb/debian/bash@5.1-2?epoch=1", "", "", ""), nil, nil},
		{"rpm release below fix", comp("a", "pkg:rpm/redhat/sudo@1.9.5p2-1.el9?arch=x86_64", "", "", ""), nil, []string{"RHSA-1/CVE-2023-28486"}},
		{"rpm fixed release", comp("a", "pkg:rpm/redhat/sudo@1.9.5p2-7.el9_0.4?arch=x86_64", "", "", ""), nil, nil},
		{"withdrawn ignored", comp("a", "pkg:npm/express@4.17.1", "", "", ""), nil, []string{"NPM-1"}},
		{"npm prerelease below introduced", comp("a", "pkg:npm/express@4.0.0-rc4", "", "", ""), nil, nil},
		{"cpe range", comp("a", "", `cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:wordpress:*:*`, "", ""), nil, []string{"CVE-2022-1576"}},
		{"cpe range fixed", comp("a", "", `cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.5:*:*:*:*:wordpress:*:*`, "", ""), nil, nil},
		{"cpe target_sw differs", comp("a", "", `cpe:2.3:a:themeisle:wp_maintenance_mode_\&_coming_soon:2.4.4:*:*:*:*:joomla:*:*`, "", ""), nil, nil},
		{"cpe exact version and wildcard", comp("a", "", "cpe:2.3:a:apache:tomcat:9.0.40:*:*:*:*:*:*:*", "", ""), nil, []string{"CVE-TOMCAT", "CVE-WILD"}},
		{"cpe any version uses installed", comp("a", "", "cpe:2.3:a:apache:tomcat:*:*:*:*:*:*:*:*", "tomcat", "9.0.40"), nil, []string{"CVE-TOMCAT", "CVE-WILD"}},
		{"cpe other version", comp("a", "", "cpe:2.3:a:apache:tomcat:9.0.41:*:*:*:*:*:*:*", "", ""), nil, nil},
		{"csaf known_not_affected suppresses", comp("a", "", "", "ABC", "4.2"), nil, []string{"INV-1:under_investigation"}},
		{"csaf known_affected other version", comp("a", "", "", "ABC", "4.1"), nil, []string{"VEX-1/CVE-2021-44228", "INV-1:under_investigation"}},
		{"sbom VEX suppresses by alias", comp("a", "", "", "ABC", "4.1"), []sbom.VEXStatement{{VulnID: "CVE-2021-44228", Ref: "a", Status: vuln.StatusNotAffected}}, []string{"INV-1:under_investigation"}},
		{"sbom VEX for another ref", comp("b", "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0", "", "", ""), []sbom.VEXStatement{{VulnID: "CVE-2020-25649", Ref: "a", Status: vuln.StatusNotAffected}}, []string{"CVE-2020-25649"}},
		{"no version, ranged entry", comp("a", "pkg:npm/express", "", "", ""), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := &sbom.Document{Components: []sbom.Component{tc.c}, VEX: tc.vex}
			var got []string
			for _, f := range db.Match("s1", doc) {
				s := f.VulnID
				if f.Status != vuln.StatusAffected {
					s += ":" + string(f.Status)
				}
				got = append(got, s)
				if f.SBOM != "s1" || f.Ref != tc.c.Ref {
					t.Errorf("finding names sbom %q ref %q", f.SBOM, f.Ref)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			// The inventory must find the same, one vulnerability at a time.
			inv := NewInventory()
			inv.Add("s1", doc)
			var again []string
			for _, v := range testVulns() {
				for _, f := range inv.MatchVulnerability(v) {
					s := f.VulnID
					if f.Status != vuln.StatusAffected {
						s += ":" + string(f.Status)
					}
					again = append(again, s)
				}
			}
			if !slices.Equal(again, tc.want) {
				t.Errorf("inventory findings %v, want %v", again, tc.want)
			}
		})
	}
}

func TestFindingDetails(t *testing.T) {
	db := NewDB()
	for _, v := range testVulns() {
		db.Add(v)
	}
	doc := &sbom.Document{Components: []sbom.Component{comp("d", "pkg:pypi/django@4.0.1", "", "", ""), comp("g", "pkg:golang/golang.org/x/net@v0.0.0-20210226172049-e18ecbb05110", "", "", "")}}
	fs := db.Match("s", doc)
	if len(fs) != 2 {
		t.Fatalf("%+v", fs)
	}
	d, g := fs[0], fs[1]
	if !d.KEV || !slices.Equal(d.Fixed, []string{"2.2.27", "3.2.12", "4.0.2"}) || d.Installed != "4.0.1" || d.PURL != "pkg:pypi/django@4.0.1" || !slices.Equal(d.Aliases, []string{"CVE-2022-22818"}) {
		t.Errorf("django finding %+v", d)
	}
	if g.KEV || g.Severity.Score != 7.5 || g.Name != "golang.org/x/net" {
		t.Errorf("x/net finding %+v", g)
	}
}

func TestDBReplaceAndWithdraw(t *testing.T) {
	db := NewDB()
	doc := &sbom.Document{Components: []sbom.Component{comp("e", "pkg:npm/express@4.17.1", "", "", "")}}
	db.Add(&vuln.Vulnerability{ID: "X", Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0", "f=4.17.2"))}})
	if n := len(db.Match("s", doc)); n != 1 {
		t.Fatalf("%d findings before update", n)
	}
	db.Add(&vuln.Vulnerability{ID: "X", Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0", "f=4.0.0"))}})
	if n := len(db.Match("s", doc)); n != 0 || db.Len() != 1 {
		t.Errorf("%d findings after narrowing the range, %d records", n, db.Len())
	}
	db.Add(&vuln.Vulnerability{ID: "X", Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0"))}})
	db.Add(&vuln.Vulnerability{ID: "X", Withdrawn: time.Now(), Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0"))}})
	if n := len(db.Match("s", doc)); n != 0 || db.Len() != 0 {
		t.Errorf("%d findings after withdrawal, %d records", n, db.Len())
	}
}

func TestInventoryReplaceRemove(t *testing.T) {
	v := &vuln.Vulnerability{ID: "X", Affected: []vuln.Affected{pkgAffected("npm", "express", rng("i=0", "f=5.0.0"))}}
	inv := NewInventory()
	for i := range 3 {
		inv.Add(fmt.Sprintf("s%d", i), &sbom.Document{Components: []sbom.Component{comp("e", "pkg:npm/express@4.17.1", "", "", "")}})
	}
	inv.Add("s1", &sbom.Document{Components: []sbom.Component{comp("e", "pkg:npm/express@5.0.0", "", "", "")}})
	inv.Remove("s2")
	var got []string
	for _, f := range inv.MatchVulnerability(v) {
		got = append(got, f.SBOM)
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"s0"}) {
		t.Errorf("findings in %v, want [s0]", got)
	}
	db := NewDB()
	db.Add(v)
	if n := len(inv.MatchAll(db)); n != 1 {
		t.Errorf("MatchAll: %d findings", n)
	}
}

// TestDistroReleases checks that a distribution's record entries apply
// only to packages built for that release (the purl distro qualifier, as
// code name or number), with dpkg, rpm and apk ordering inside it.
func TestDistroReleases(t *testing.T) {
	db := NewDB()
	for _, v := range []*vuln.Vulnerability{
		{ID: "DSA-11", Affected: []vuln.Affected{pkgAffected("Debian:11", "openssl", rng("i=0", "f=3.0.12-1~deb11u1"))}},
		{ID: "DSA-12", Affected: []vuln.Affected{pkgAffected("Debian:12", "openssl", rng("i=0", "f=3.0.11-1~deb12u2"))}},
		{ID: "USN-22", Affected: []vuln.Affected{pkgAffected("Ubuntu:22.04:LTS", "openssl", rng("i=0", "f=3.0.2-0ubuntu1.12"))}},
		{ID: "ALPINE-318", Affected: []vuln.Affected{pkgAffected("Alpine:v3.18", "openssl", rng("i=0", "f=3.1.4-r1"))}},
		{ID: "RLSA-9", Affected: []vuln.Affected{pkgAffected("Rocky Linux:9", "openssl", rng("i=0", "f=1:3.0.7-24.el9"))}},
	} {
		db.Add(v)
	}
	for _, tc := range []struct {
		name, purl string
		want       []string
	}{
		{"bookworm, fixed there, not by bullseye's fix", "pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=bookworm", nil},
		{"debian-12 below the fix (tilde)", "pkg:deb/debian/openssl@3.0.11-1~deb12u1?distro=debian-12", []string{"DSA-12"}},
		{"bullseye package", "pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=debian-11", []string{"DSA-11"}},
		{"no distro: every release's entry applies", "pkg:deb/debian/openssl@3.0.11-1~deb12u2", []string{"DSA-11"}},
		{"ubuntu jammy", "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?distro=jammy", []string{"USN-22"}},
		{"ubuntu noble", "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?distro=ubuntu-24.04", nil},
		{"alpine 3.18 point release", "pkg:apk/alpine/openssl@3.1.4-r0?distro=alpine-3.18.4", []string{"ALPINE-318"}},
		{"alpine 3.18 fixed", "pkg:apk/alpine/openssl@3.1.4-r1?distro=alpine-3.18.4", nil},
		{"alpine 3.19", "pkg:apk/alpine/openssl@3.1.4-r0?distro=alpine-3.19.0", nil},
		{"rocky 9 epoch qualifier, below", "pkg:rpm/rocky/openssl@3.0.7-18.el9?epoch=1&distro=rocky-9.2", []string{"RLSA-9"}},
		{"rocky 9 epoch qualifier, fixed", "pkg:rpm/rocky/openssl@3.0.7-24.el9?epoch=1&distro=rocky-9.2", nil},
		{"rocky 9 without epoch is older", "pkg:rpm/rocky/openssl@3.0.7-24.el9?distro=rocky-9.2", []string{"RLSA-9"}},
		{"rocky 8", "pkg:rpm/rocky/openssl@3.0.7-18.el8?epoch=1&distro=rocky-8.8", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := &sbom.Document{Components: []sbom.Component{comp("a", tc.purl, "", "", "")}}
			var got []string
			for _, f := range db.Match("s1", doc) {
				got = append(got, f.VulnID)
			}
			sort.Strings(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}
