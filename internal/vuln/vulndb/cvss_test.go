package vulndb

import (
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// Expected scores follow the CVSS v3.1 specification formulas (9.8, 6.1,
// 5.5, 5.9 and 9.9 are the published scores of well-known CVEs).
func TestCVSS3BaseScore(t *testing.T) {
	for _, c := range []struct {
		vector string
		want   float64
		ok     bool
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, true},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5, true},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, true},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9, true},
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:L/I:N/A:N", 4.1, true},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0, true},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U", 9.8, true}, // temporal metrics ignored
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H", 0, false},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", 0, false},
		{"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 0, false},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 0, false},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 0, false},
	} {
		got, ok := cvss3BaseScore(c.vector)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %v %v, want %v %v", c.vector, got, ok, c.want, c.ok)
		}
	}
	v := &vuln.Vulnerability{Severity: []vuln.Severity{
		{Type: "CVSS_V3", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"},
		{Type: "CVSS_V3", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 7.0},
		{Type: "CVSS_V2", Vector: "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
		{Type: "CVSS_V4", Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
	}}
	scoreVectors(v)
	if v.Severity[0].Score != 6.1 || v.Severity[1].Score != 7.0 || v.Severity[2].Score != 7.5 || v.Severity[3].Score != 0 {
		t.Errorf("scoreVectors: %+v", v.Severity)
	}
}
