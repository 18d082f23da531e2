package version

import "testing"

func TestRelease(t *testing.T) {
	for _, c := range []struct{ in, distro, release string }{
		{"Debian:12", "debian", "12"},
		{"debian-12", "debian", "12"},
		{"debian-12.4", "debian", "12"},
		{"bookworm", "debian", "12"},
		{"debian-bookworm", "debian", "12"},
		{"Ubuntu:22.04:LTS", "ubuntu", "22.04"},
		{"Ubuntu:Pro:18.04:LTS", "ubuntu", "18.04"},
		{"ubuntu-22.04", "ubuntu", "22.04"},
		{"jammy", "ubuntu", "22.04"},
		{"Alpine:v3.18", "alpine", "3.18"},
		{"alpine-3.18.4", "alpine", "3.18"},
		{"Rocky Linux:9", "rocky", "9"},
		{"rocky-9.2", "rocky", "9"},
		{"AlmaLinux:8", "almalinux", "8"},
		{"rhel-9.2", "rhel", "9"},
		{"fedora-38", "fedora", "38"},
		{"Debian", "", ""},
		{"PyPI", "", ""},
		{"debian-", "", ""},
		{"debian-x1", "", ""},
		{"alpine-3", "", ""},
		{"Red Hat:enterprise_linux:9", "", ""},
		{"", "", ""},
	} {
		d, r := Release(c.in)
		if d != c.distro || r != c.release {
			t.Errorf("Release(%q) = %q, %q; want %q, %q", c.in, d, r, c.distro, c.release)
		}
	}
}

func TestSameRelease(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"Debian:12", "debian-12", true},
		{"Debian:12", "bookworm", true},
		{"Debian:11", "debian-12", false},
		{"Debian:11", "bookworm", false},
		{"Ubuntu:22.04:LTS", "jammy", true},
		{"Ubuntu:20.04:LTS", "jammy", false},
		{"Alpine:v3.18", "alpine-3.19.1", false},
		{"Alpine:v3.18", "alpine-3.18.4", true},
		{"Debian", "debian-12", true},        // the record names no release
		{"Debian:12", "", true},              // the package names none
		{"Debian:12", "ubuntu-22.04", false}, // Ubuntu has its own versions
		{"Debian:12", "rhel-9", false},
		{"Rocky Linux:8", "rocky-9.2", false}, // Red Hat family by major version
		{"Rocky Linux:9", "rocky-9.2", true},
	} {
		if got := SameRelease(c.a, c.b); got != c.want {
			t.Errorf("SameRelease(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestDistroSpecPairs are orderings the specifications state: Debian
// Policy 5.6.12 (epoch, upstream, revision; "~" before everything, even
// the end; letters before non-letters) and rpm's rpmvercmp ("~" sorts
// before, "^" after the end of the version; digits newer than letters).
func TestDistroSpecPairs(t *testing.T) {
	for _, c := range []struct {
		eco  Ecosystem
		a, b string
		want int
	}{
		{Debian, "1.0~~", "1.0~~a", -1},
		{Debian, "1.0~~a", "1.0~", -1},
		{Debian, "1.0~", "1.0", -1},
		{Debian, "1.0", "1.0a", -1},
		{Debian, "1.0a", "1.0+", -1}, // letters before non-letters
		{Debian, "1.0", "1.0+", -1},
		{Debian, "1:1.0", "2.0", 1},    // epoch first
		{Debian, "0:2.0", "2.0", 0},    // epoch 0 is no epoch
		{Debian, "2.30-1", "2.4-1", 1}, // numeric runs compare as numbers
		{Debian, "1.0-1", "1.0-2", -1},
		{Debian, "1.0-1", "1.0.1-1", -1},
		{Debian, "1.0-1~bpo1", "1.0-1", -1},
		{Debian, "1.0-0+deb11u1", "1.0-0+deb12u1", -1},
		{Debian, "007", "7", 0},
		{RPM, "1.0", "2.0", -1},
		{RPM, "2.0.1", "2.0", 1},
		{RPM, "2.0.1a", "2.0.1", 1},
		{RPM, "5.5p1", "5.5p2", -1},
		{RPM, "5.5p10", "5.5p1", 1},
		{RPM, "10xyz", "10.1xyz", -1},
		{RPM, "xyz10", "xyz10.1", -1},
		{RPM, "xyz.4", "8", -1}, // digits are newer than letters
		{RPM, "6.0.rc1", "6.0", 1},
		{RPM, "10b2", "10a1", 1},
		{RPM, "1.0aa", "1.0aaa", -1},
		{RPM, "1.0~rc1", "1.0", -1},
		{RPM, "1.0~rc1", "1.0~rc2", -1},
		{RPM, "1.0~rc1~git123", "1.0~rc1", -1},
		{RPM, "1.0^", "1.0", 1},
		{RPM, "1.0^git1", "1.0", 1},
		{RPM, "1.0^git1", "1.01", -1},
		{RPM, "1.0^20160101", "1.0.1", -1},
		{RPM, "1.0^20160101^git1", "1.0^20160101", 1},
		{RPM, "1.0~rc1^git1", "1.0~rc1", 1},
		{RPM, "1.0^git1~pre", "1.0^git1", -1},
		{RPM, "1:1.0-1", "2.0-1", 1},
		{RPM, "1.0-1.el9", "1.0-1.el9_0.1", -1},
	} {
		if got := sign(Compare(c.eco, c.a, c.b)); got != c.want {
			t.Errorf("Compare(%s, %q, %q) = %d, want %d", c.eco, c.a, c.b, got, c.want)
		}
		if got := sign(Compare(c.eco, c.b, c.a)); got != -c.want {
			t.Errorf("Compare(%s, %q, %q) = %d, want %d", c.eco, c.b, c.a, got, -c.want)
		}
	}
}

// FuzzCompareTotalOrder checks on random triples that every ordering is a
// total order: antisymmetric, and transitive both for "at most" and for
// equality (so sorting and range evaluation are well defined).
func FuzzCompareTotalOrder(f *testing.F) {
	for _, s := range [][4]string{
		{"Debian", "1.0~rc1", "1.0", "1:0.1"},
		{"Debian", "1.0a", "1.0+", "1.0"},
		{"RPM", "1.0^git1", "1.01", "1.0~rc1^git1"},
		{"RPM", "1:1.0-1", "1.0-1.el9", "01.0"},
		{"Alpine", "3.1.4-r0", "3.1.4-r1", "3.1.4_rc1-r0"},
		{"PyPI", "1.0rc1", "1.0.post1", "1!0.1"},
		{"SemVer", "1.0.0-alpha", "1.0.0", "1.0.0+build"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, eco, a, b, c string) {
		e := Ecosystem(eco)
		ab, bc, ac := sign(Compare(e, a, b)), sign(Compare(e, b, c)), sign(Compare(e, a, c))
		if ab != -sign(Compare(e, b, a)) {
			t.Fatalf("%s: not antisymmetric on %q, %q", eco, a, b)
		}
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("%s: %q <= %q <= %q but %q > %q", eco, a, b, c, a, c)
		}
		if ab == 0 && bc == 0 && ac != 0 {
			t.Fatalf("%s: %q == %q == %q but Compare(%q, %q) = %d", eco, a, b, c, a, c, ac)
		}
	})
}

// FuzzRelease checks that Release never panics and returns a distribution
// and a release together or neither, and that SameRelease is symmetric.
func FuzzRelease(f *testing.F) {
	for _, s := range []string{"Debian:12", "bookworm", "ubuntu-22.04", "Ubuntu:Pro:18.04:LTS", "alpine-3.18.4", "rocky-9.2", "debian-"} {
		f.Add(s, "debian-12")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		d, r := Release(a)
		if (d == "") != (r == "") {
			t.Fatalf("Release(%q) = %q, %q", a, d, r)
		}
		if SameRelease(a, b) != SameRelease(b, a) {
			t.Fatalf("SameRelease(%q, %q) is not symmetric", a, b)
		}
	})
}
