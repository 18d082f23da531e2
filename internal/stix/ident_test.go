package stix

import "testing"

func TestCheckTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		frac int
		ok   bool
	}{
		{"2016-04-06T20:03:48Z", 0, true},
		{"2016-04-06T20:03:48.123Z", 3, true},
		{"2016-04-06T20:03:48.123456789Z", 9, true},
		{"2016-12-31T23:59:60Z", 0, true}, // leap second
		{"2016-02-29T00:00:00Z", 0, true},
		{"2000-02-29T00:00:00Z", 0, true},
		{"1900-02-29T00:00:00Z", 0, false},
		{"2017-02-29T00:00:00Z", 0, false},
		{"2016-04-31T00:00:00Z", 0, false},
		{"2016-13-01T00:00:00Z", 0, false},
		{"2016-00-01T00:00:00Z", 0, false},
		{"2016-01-01T24:00:00Z", 0, false},
		{"2016-01-01T00:60:00Z", 0, false},
		{"2016-01-01T00:00:61Z", 0, false},
		{"2016-01-01T00:00:00.Z", 0, false},
		{"2016-01-01T00:00:00", 0, false},
		{"2016-01-01T00:00:00+00:00", 0, false},
		{"2016-01-01t00:00:00Z", 0, false},
		{"2016-01-01 00:00:00Z", 0, false},
		{"16-01-01T00:00:00Z", 0, false},
		{"2016-01-01T00:00:00.1a2Z", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		frac, ok := CheckTimestamp(tt.in)
		if ok != tt.ok || ok && frac != tt.frac {
			t.Errorf("CheckTimestamp(%q) = %d, %v; want %d, %v", tt.in, frac, ok, tt.frac, tt.ok)
		}
	}
}

func TestCompareTimestamps(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"2016-01-01T00:00:00Z", "2016-01-01T00:00:00.000Z", 0},
		{"2016-01-01T00:00:00.1Z", "2016-01-01T00:00:00.100000Z", 0},
		{"2016-01-01T00:00:00Z", "2016-01-01T00:00:00.001Z", -1},
		{"2016-01-01T00:00:00.01Z", "2016-01-01T00:00:00.009Z", 1},
		{"2015-12-31T23:59:59.999Z", "2016-01-01T00:00:00Z", -1},
		{"2016-01-02T00:00:00Z", "2016-01-01T23:59:59.999999Z", 1},
	}
	for _, tt := range tests {
		if got := CompareTimestamps(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareTimestamps(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareTimestamps(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareTimestamps(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestSplitID(t *testing.T) {
	tests := []struct {
		in, typ string
		ok      bool
	}{
		{"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "indicator", true},
		{"x-mitre-tactic--8E2E2D2B-17D4-4CBF-B38F-98EE46B3CD3F", "x-mitre-tactic", true},
		{"ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4", "ipv4-addr", true},
		{"indicator--8e2e2d2b-17d4-6cbf-938f-98ee46b3cd3f", "indicator", false}, // version 6
		{"indicator--8e2e2d2b-17d4-4cbf-c38f-98ee46b3cd3f", "indicator", false}, // variant 110x
		{"indicator--8e2e2d2b17d4-4cbf-938f-98ee46b3cd3f0", "indicator", false},
		{"indicator--8e2e2d2g-17d4-4cbf-938f-98ee46b3cd3f", "indicator", false},
		{"Indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "Indicator", false},
		{"ab--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "ab", false},
		{"indicator-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		typ, _, ok := SplitID(tt.in)
		if ok != tt.ok || typ != tt.typ {
			t.Errorf("SplitID(%q) = %q, %v; want %q, %v", tt.in, typ, ok, tt.typ, tt.ok)
		}
	}
}

func TestNameRules(t *testing.T) {
	types := map[string]bool{"indicator": true, "x-acme-thing": true, "abc": true, "a1-b2": true,
		"ab": false, "x--y": false, "1abc": false, "-abc": false, "X-acme": false, "x_acme": false}
	for s, want := range types {
		if got := ValidTypeName(s); got != want {
			t.Errorf("ValidTypeName(%q) = %v", s, got)
		}
	}
	props := map[string]bool{"id": true, "name": true, "x_mitre_version": true, "camelCase": true,
		"ab": false, "x-y": false, "_abc": false, "9abc": false, "nämé": false, "": false}
	for s, want := range props {
		if got := ValidPropertyName(s); got != want {
			t.Errorf("ValidPropertyName(%q) = %v", s, got)
		}
	}
}

func TestValueFormats(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"base64", validBase64, "iVBORw0KGgo=", true},
		{"base64 two pad", validBase64, "YQ==", true},
		{"base64 no pad", validBase64, "YWJj", true},
		{"base64 bad length", validBase64, "YWJ", false},
		{"base64 pad in middle", validBase64, "YQ==YQ==", false},
		{"base64 space", validBase64, "failing test", false},
		{"hex", validHex, "0aFF", true},
		{"hex odd", validHex, "abc", false},
		{"hex bad digit", validHex, "zz", false},
		{"cpe", validCPE, "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*", true},
		{"cpe escaped colon", validCPE, `cpe:2.3:a:vendor:pro\:duct:1.0:*:*:*:*:*:*:*`, true},
		{"cpe short", validCPE, "cpe:2.3:a:microsoft:word", false},
		{"cpe 2.2", validCPE, "cpe:/a:microsoft:word:2000", false},
		{"email", validEmail, "jdoe@example.com", true},
		{"email display name", validEmail, "John Doe <jdoe@example.com>", false},
		{"email no at", validEmail, "jdoe.example.com", false},
		{"mac", validMAC, "d2:fb:49:24:37:18", true},
		{"mac upper", validMAC, "D2:FB:49:24:37:18", false},
		{"mac dashes", validMAC, "d2-fb-49-24-37-18", false},
		{"lang", validLangTag, "zh-Hant-TW", true},
		{"lang underscore", validLangTag, "en_US", false},
		{"lang long subtag", validLangTag, "abcdefghi", false},
		{"selector", validSelector, "external_references.[0].source_name", true},
		{"selector index first", validSelector, "[0]", false},
		{"selector negative", validSelector, "labels.[-1]", false},
		{"selector empty step", validSelector, "labels..x", false},
		{"cve", validCVE, "CVE-2016-1234", true},
		{"cve long", validCVE, "CVE-2021-44228", true},
		{"cve leading zero", validCVE, "CVE-2016-01234", false},
		{"cve short", validCVE, "CVE-2016-123", false},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("%s: %q = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
