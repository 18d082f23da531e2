package version

import (
	"testing"
)

// orderCases lists versions in strictly ascending order per ecosystem;
// every pair is checked both ways.
var orderCases = []struct {
	eco      Ecosystem
	versions []string
}{
	{SemVer, []string{"0.0.1", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}},
	{NPM, []string{"1.2.3-0", "1.2.3-1", "1.2.3-a", "1.2.3", "1.2.4", "18446744073709551617.0.0"}},
	{Go, []string{"0.0.0-20190101000000-abcdefabcdef", "0.0.0-20200101000000-abcdefabcdef", "v0.1.0", "1.4.3", "v1.5.0-rc.1", "v1.5.0", "v1.5.1-0.20210101000000-abcdefabcdef", "v1.5.1", "v2.0.0+incompatible", "v2.1.0+incompatible"}},
	{PyPI, []string{"1!0.1", "1.0.dev0", "1.0a1.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0+local.b", "1.0+local.1", "1.0+local.2", "1.0.post1.dev0", "1.0.post1", "1.1"}[1:]},
	{PyPI, []string{"0.9", "1.0.dev1", "1.0c2", "1.0rc3", "1.0", "1.0-1", "1.0post2", "2!0.1"}},
	{Maven, []string{"1-alpha-1", "1-alpha-2", "1.0-beta", "1.0-m1", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp", "1.0-foo", "1.0-1", "1.0.1", "1.1", "2.0"}},
	{Maven, []string{"1.0-alpha1", "1.0-beta1", "1.0-cr2", "1.0-rc3", "1.0.Final", "1.0.1.RELEASE", "1.10"}},
	{Debian, []string{"1.0~rc1", "1.0", "1.0-1", "1.0-1+deb10u1", "1.0a", "1.0.1", "1.2", "1.10", "1:0.1", "1:0.1-1", "2:0"}},
	{RPM, []string{"1.0~rc1-1", "1.0-1", "1.0^git1-1", "1.0a-1", "1.0.1-1", "1.1-1.el8", "1.1-2.el8", "1.1-10.el8", "1.9.5p2-1.el8_6", "1.9.5p2-7.el9_0.4", "1:0.1-1"}},
	{RubyGems, []string{"1.0.a", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.1"}},
	{Generic, []string{"1", "1.0", "1.0.0", "1.1", "1.10", "2"}},
}

func TestCompareOrder(t *testing.T) {
	for _, tc := range orderCases {
		t.Run(string(tc.eco), func(t *testing.T) {
			for i, a := range tc.versions {
				for j, b := range tc.versions {
					want := cmpInt(i, j)
					if got := sign(Compare(tc.eco, a, b)); got != want {
						t.Errorf("Compare(%s, %q, %q) = %d, want %d", tc.eco, a, b, got, want)
					}
				}
			}
		})
	}
}

func sign(c int) int { return cmpInt(c, 0) }

func TestCompareEqual(t *testing.T) {
	for _, tc := range []struct {
		eco  Ecosystem
		a, b string
	}{
		{SemVer, "1.0.0+build.1", "1.0.0+build.2"},
		{SemVer, "v1.2", "1.2.0"},
		{Go, "v2.0.0+incompatible", "2.0.0"},
		{PyPI, "1.0", "1.0.0"},
		{PyPI, "1.0.0alpha1", "1.0a1"},
		{PyPI, "1.0-rev3", "1.0.post3"},
		{PyPI, "0!1.0", "v1.0"},
		{PyPI, "1.0-dev", "1.0.dev0"},
		{Maven, "1.0", "1.0.0"},
		{Maven, "1.0-ga", "1"},
		{Maven, "1.0.FINAL", "1"},
		{Maven, "1-a1", "1-alpha-1"},
		{Debian, "0:1.0-1", "1.0-1"},
		{Debian, "1.0-01", "1.0-1"},
		{RPM, "0:1.2-3", "1.2-3"},
		{RPM, "1.2", "1.2-3"}, // no release on one side: release ignored
		{RPM, "1.01", "1.1"},
		{RubyGems, "1.0.0", "1"},
	} {
		if c := Compare(tc.eco, tc.a, tc.b); c != 0 {
			t.Errorf("Compare(%s, %q, %q) = %d, want 0", tc.eco, tc.a, tc.b, c)
		}
		if c := Compare(tc.eco, tc.b, tc.a); c != 0 {
			t.Errorf("Compare(%s, %q, %q) = %d, want 0", tc.eco, tc.b, tc.a, c)
		}
	}
}

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		eco  Ecosystem
		v    string
		want bool
	}{
		{SemVer, "1.2.3-rc.1+b", true},
		{SemVer, "1.2.3-01", false},
		{SemVer, "01.2.3", false},
		{SemVer, "1.2.3.4", false},
		{Go, "v0.0.0-20210101000000-abcdefabcdef", true},
		{Go, "v1.2.3.4", false},
		{PyPI, "1!2.0rc1.post2.dev3+ubuntu.1", true},
		{PyPI, "1.0-beta_2", true},
		{PyPI, "not a version", false},
		{Maven, "1.0-SNAPSHOT", true},
		{Debian, "", false},
	} {
		if got := Valid(tc.eco, tc.v); got != tc.want {
			t.Errorf("Valid(%s, %q) = %v, want %v", tc.eco, tc.v, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]Ecosystem{
		"Debian:12": Debian, "Ubuntu:22.04:LTS": Debian, "deb": Debian, "Red Hat": RPM, "rpm": RPM,
		"golang": Go, "Go": Go, "pypi": PyPI, "maven": Maven, "crates.io": Cargo, "gem": RubyGems,
		"Alpine:v3.18": Alpine, "Hex": Ecosystem("Hex"), "": Generic,
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInRange(t *testing.T) {
	ev := func(kind, v string) Event {
		switch kind {
		case "i":
			return Event{Introduced: v}
		case "f":
			return Event{Fixed: v}
		case "l":
			return Event{LastAffected: v}
		}
		return Event{Limit: v}
	}
	twoRanges := []Event{ev("i", "2.2"), ev("f", "2.2.27"), ev("i", "3.2"), ev("f", "3.2.12"), ev("i", "4.0"), ev("f", "4.0.2")}
	for _, tc := range []struct {
		name   string
		eco    Ecosystem
		events []Event
		v      string
		want   bool
	}{
		{"from zero below fix", SemVer, []Event{ev("i", "0"), ev("f", "1.4.3")}, "1.4.2", true},
		{"at fix", SemVer, []Event{ev("i", "0"), ev("f", "1.4.3")}, "1.4.3", false},
		{"prerelease of fix is affected", SemVer, []Event{ev("i", "0"), ev("f", "2.0.0")}, "2.0.0-rc.1", true},
		{"below introduced", SemVer, []Event{ev("i", "1.0.0"), ev("f", "2.0.0")}, "0.9.9", false},
		{"no fix", SemVer, []Event{ev("i", "1.0.0")}, "99.0.0", true},
		{"last_affected inclusive", SemVer, []Event{ev("i", "0"), ev("l", "1.9.3")}, "1.9.3", true},
		{"after last_affected", SemVer, []Event{ev("i", "0"), ev("l", "1.9.3")}, "1.9.4", false},
		{"several ranges middle", PyPI, twoRanges, "3.2.5", true},
		{"several ranges gap", PyPI, twoRanges, "3.0", false},
		{"several ranges after all", PyPI, twoRanges, "4.1", false},
		{"several ranges unsorted", PyPI, []Event{ev("f", "4.0.2"), ev("i", "4.0"), ev("f", "2.2.27"), ev("i", "2.2")}, "4.0.1", true},
		{"pep440 pre-release below fix", PyPI, []Event{ev("i", "0"), ev("f", "2.0")}, "2.0rc1", true},
		{"pep440 post of fix", PyPI, []Event{ev("i", "0"), ev("f", "2.0")}, "2.0.post1", false},
		{"pep440 epoch beats release", PyPI, []Event{ev("i", "0"), ev("f", "5.0")}, "1!1.0", false},
		{"go pseudo-version before fix", Go, []Event{ev("i", "0"), ev("f", "0.0.0-20200101000000-abcdefabcdef")}, "v0.0.0-20190101000000-abcdefabcdef", true},
		{"go incompatible", Go, []Event{ev("i", "2.0.0+incompatible"), ev("f", "2.3.0+incompatible")}, "v2.2.0+incompatible", true},
		{"debian epoch", Debian, []Event{ev("i", "0"), ev("f", "1:1.0-1")}, "2.0-1", true},
		{"debian tilde", Debian, []Event{ev("i", "0"), ev("f", "1.0")}, "1.0~rc1", true},
		{"rpm release fix", RPM, []Event{ev("i", "0"), ev("f", "1.9.5p2-7.el9_0.4")}, "1.9.5p2-1.el9", true},
		{"rpm fixed exactly", RPM, []Event{ev("i", "0"), ev("f", "1.9.5p2-7.el9_0.4")}, "1.9.5p2-7.el9_0.4", false},
		{"maven qualifier", Maven, []Event{ev("i", "0"), ev("f", "2.0")}, "2.0-rc1", true},
		{"maven sp after fix", Maven, []Event{ev("i", "0"), ev("f", "2.0")}, "2.0-sp1", false},
		{"limit bounds", SemVer, []Event{ev("i", "0"), ev("x", "1.5.0")}, "1.6.0", false},
		{"limit below", SemVer, []Event{ev("i", "0"), ev("x", "1.5.0")}, "1.4.0", true},
		{"empty events", SemVer, nil, "1.0.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := InRange(tc.eco, tc.events, tc.v); got != tc.want {
				t.Errorf("InRange(%s, %v, %q) = %v, want %v", tc.eco, tc.events, tc.v, got, tc.want)
			}
		})
	}
}

// FuzzCompare checks that every ordering is antisymmetric and reflexive
// and never panics on any text.
func FuzzCompare(f *testing.F) {
	for _, tc := range orderCases {
		for i := 1; i < len(tc.versions); i++ {
			f.Add(string(tc.eco), tc.versions[i-1], tc.versions[i])
		}
	}
	f.Add("Debian", "1:~~a", "1:~")
	f.Add("RPM", "^~1", "~^")
	f.Fuzz(func(t *testing.T, eco, a, b string) {
		e := Ecosystem(eco)
		ab, ba := sign(Compare(e, a, b)), sign(Compare(e, b, a))
		if ab != -ba {
			t.Fatalf("Compare(%s, %q, %q) = %d but reverse = %d", eco, a, b, ab, ba)
		}
		if c := Compare(e, a, a); c != 0 {
			t.Fatalf("Compare(%s, %q, %q) = %d, want 0", eco, a, a, c)
		}
	})
}

func BenchmarkCompare(b *testing.B) {
	for _, tc := range orderCases {
		b.Run(string(tc.eco), func(b *testing.B) {
			n := len(tc.versions)
			for i := 0; b.Loop(); i++ {
				Compare(tc.eco, tc.versions[i%n], tc.versions[(i+1)%n])
			}
		})
	}
}

// FuzzInRange checks the single-interval fast path of InRange against the
// general sorted evaluation.
func FuzzInRange(f *testing.F) {
	f.Add("SemVer", "1.0.0", "2.0.0", "1.5.0", true)
	f.Add("PyPI", "0", "2.0rc1", "2.0a1", false)
	f.Add("Debian", "1:1.0", "1.0", "1.0", true)
	f.Add("Maven", "1.0", "1.0", "1.0", true)
	f.Fuzz(func(t *testing.T, eco, lo, hi, v string, fixed bool) {
		if lo == "" || hi == "" {
			return
		}
		end := Event{LastAffected: hi}
		if fixed {
			end = Event{Fixed: hi}
		}
		ev := []Event{{Introduced: lo}, end}
		e := Ecosystem(eco)
		if got, want := InRange(e, ev, v), inRangeSorted(Normalize(eco), ev, v); got != want {
			t.Fatalf("InRange(%s, %v, %q) = %v, general evaluation %v", eco, ev, v, got, want)
		}
	})
}
