package vulndb

import (
	"archive/tar"
	"compress/gzip"
	"github.com/kizuna-cti/kizuna/internal/realdata"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln"
)

// roundTrip checks that decodeRecord(encodeRecord(v)) equals v and returns
// the encoded size.
func roundTrip(t *testing.T, v *vuln.Vulnerability) int {
	t.Helper()
	b, err := encodeRecord(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(v.ID, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) {
		t.Fatalf("%s: round trip differs:\n%+v\n%+v", v.ID, got, v)
	}
	return len(b)
}

func TestCodecGroups(t *testing.T) {
	versions := []string{"1.0", "1.1", "1.2"}
	base := vuln.Affected{Product: "acme router", Versions: versions, Fixed: []string{"2.0"}}
	v := &vuln.Vulnerability{ID: "CVE-2099-0003", Summary: "s"}
	v.Affected = append(v.Affected, vuln.Affected{Package: vuln.Package{Ecosystem: "PyPI", Name: "x"}, Versions: []string{"1"}})
	for _, c := range []string{"cpe:2.3:h:acme:r1:*:*:*:*:*:*:*:*", "cpe:2.3:h:acme:r2:*:*:*:*:*:*:*:*", "cpe:2.3:h:acme:r3:*:*:*:*:*:*:*:*"} {
		e := base
		e.CPE = c
		v.Affected = append(v.Affected, e)
	}
	// Equal content in a different slice: its own group.
	e := base
	e.Versions = []string{"1.0", "1.1", "1.2"}
	e.CPE = "cpe:2.3:h:acme:r4:*:*:*:*:*:*:*:*"
	v.Affected = append(v.Affected, e)
	roundTrip(t, v)
	b, _ := encodeRecord(v)
	if n := strings.Count(string(b), `"1.1"`); n != 2 {
		t.Errorf("versions written %d times, want 2 (one per group): %s", n, b)
	}
	roundTrip(t, &vuln.Vulnerability{ID: "CVE-2099-0004"})
}

// TestCodecVulnrichment round-trips the CVE 5 records with the most CPE
// entries in vulnrichment (CVE-2024-20433 lists 2,434 CPEs × 2,434 Cisco
// IOS versions).
func TestCodecVulnrichment(t *testing.T) {
	f, err := os.Open(realdata.Path(t, "vuln/vulnrichment/vulnrichment-b0ed758.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	found := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(h.Name, "/CVE-2024-20433.json") && !strings.HasSuffix(h.Name, "/CVE-2024-20311.json") {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(h.Name, data)
		if err != nil {
			t.Fatal(err)
		}
		n := roundTrip(t, p.Vulns[0])
		t.Logf("%s: %d entries, %d bytes stored (source %d bytes)", p.Vulns[0].ID, len(p.Vulns[0].Affected), n, len(data))
		if n > 2*len(data) {
			t.Errorf("%s: stored %d bytes for a %d-byte record", p.Vulns[0].ID, n, len(data))
		}
		found++
	}
	if found != 2 {
		t.Errorf("found %d of the 2 records", found)
	}
}
