package match

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// The synthetic corpus is shaped like the real records: OSV entries with
// one or two affected packages of one or two ranges each (go-vulndb and
// PyPA average 1.4 and 1.1 ranges), a fifth NVD-style CPE records with
// version ranges, across ecosystems in roughly the proportions of OSV.
var benchEcos = []struct {
	eco, purlType string
	share         int
}{{"npm", "npm", 35}, {"PyPI", "pypi", 20}, {"Maven", "maven", 20}, {"Go", "golang", 15}, {"Debian:12", "deb", 10}}

func benchEnv(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

func pickEco(r *rand.Rand) int {
	x := r.IntN(100)
	for i, e := range benchEcos {
		if x < e.share {
			return i
		}
		x -= e.share
	}
	return 0
}

func pkgName(eco, i int) string {
	switch benchEcos[eco].eco {
	case "Maven":
		return fmt.Sprintf("org.example%d:artifact-%d", i%500, i)
	case "Go":
		return fmt.Sprintf("github.com/example%d/mod%d", i%500, i)
	}
	return fmt.Sprintf("package-%d", i)
}

func purlFor(eco, i int, ver string) string {
	name := pkgName(eco, i)
	switch benchEcos[eco].eco {
	case "Maven":
		g, a, _ := cut(name, ":")
		return "pkg:maven/" + g + "/" + a + "@" + ver
	case "Go":
		return "pkg:golang/" + name + "@v" + ver
	case "Debian:12":
		return "pkg:deb/debian/" + name + "@" + ver + "-1"
	}
	return "pkg:" + benchEcos[eco].purlType + "/" + name + "@" + ver
}

func cut(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

func ver(r *rand.Rand) string {
	return fmt.Sprintf("%d.%d.%d", r.IntN(5), r.IntN(20), r.IntN(30))
}

// zipfPackage draws package numbers with a long tail for SBOM components:
// a few packages are in most SBOMs, as lodash or jackson-databind are.
// Advisories pick their packages uniformly (about four per package).
func zipfPackage(z *rand.Zipf) int { return int(z.Uint64()) }

// benchPackages is the number of package names per ecosystem: 60,000
// packages with about four advisories each, as in OSV.
const benchPackages = 12000

func synthVuln(r *rand.Rand, z *rand.Zipf, id int) *vuln.Vulnerability {
	v := &vuln.Vulnerability{ID: fmt.Sprintf("SYN-%d", id), Aliases: []string{fmt.Sprintf("CVE-2099-%d", id)},
		Severity: []vuln.Severity{{Type: "CVSS_V3", Score: float64(r.IntN(100)) / 10}}}
	if r.IntN(5) == 0 {
		// NVD-style CPE record.
		p := r.IntN(benchPackages)
		v.Affected = []vuln.Affected{{CPE: fmt.Sprintf("cpe:2.3:a:vendor%d:product%d:*:*:*:*:*:*:*:*", p%700, p),
			Ranges: []vuln.Range{rng("i=0", "f="+ver(r))}}}
		return v
	}
	for range 1 + r.IntN(2) {
		e := pickEco(r)
		a := vuln.Affected{Package: vuln.Package{Ecosystem: benchEcos[e].eco, Name: pkgName(e, r.IntN(benchPackages))}}
		for range 1 + r.IntN(2) {
			lo, hi := ver(r), ver(r)
			if version.Compare(version.SemVer, lo, hi) > 0 {
				lo, hi = hi, lo
			}
			a.Ranges = append(a.Ranges, rng("i="+lo, "f="+hi))
			a.Fixed = append(a.Fixed, hi)
		}
		v.Affected = append(v.Affected, a)
	}
	return v
}

func synthSBOM(r *rand.Rand, z *rand.Zipf, n int) *sbom.Document {
	doc := &sbom.Document{Format: "cyclonedx-json"}
	for i := range n {
		if r.IntN(20) == 0 {
			p := zipfPackage(z)
			doc.Components = append(doc.Components, sbom.Component{Ref: strconv.Itoa(i), Name: fmt.Sprintf("product%d", p),
				CPE: fmt.Sprintf("cpe:2.3:a:vendor%d:product%d:%s:*:*:*:*:*:*:*", p%700, p, ver(r))})
			continue
		}
		e := pickEco(r)
		purl := purlFor(e, zipfPackage(z), ver(r))
		p, v, err := vuln.ParsePURL(purl)
		if err != nil {
			panic(err)
		}
		doc.Components = append(doc.Components, sbom.Component{Ref: strconv.Itoa(i), Name: p.Name, Version: v, PURL: purl, Ecosystem: p.Ecosystem})
	}
	return doc
}

type benchWorld struct {
	db   *DB
	inv  *Inventory
	docs []*sbom.Document
	r    *rand.Rand
	z    *rand.Zipf
}

var cachedWorld *benchWorld

// world builds (once per process) KIZUNA_BENCH_VULNS vulnerabilities
// (default 250,000) and KIZUNA_BENCH_SBOMS SBOMs (default 1,000) of 500
// components.
func world(b *testing.B) *benchWorld {
	b.Helper()
	if cachedWorld != nil {
		return cachedWorld
	}
	nv := benchEnv("KIZUNA_BENCH_VULNS", 250000)
	ns := benchEnv("KIZUNA_BENCH_SBOMS", 1000)
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.2, 10, benchPackages-1)
	w := &benchWorld{db: NewDB(), inv: NewInventory(), r: r, z: z}
	for i := range nv {
		w.db.Add(synthVuln(r, z, i))
	}
	for i := range ns {
		d := synthSBOM(r, z, 500)
		w.docs = append(w.docs, d)
		w.inv.Add(fmt.Sprintf("sbom-%d", i), d)
	}
	cachedWorld = w
	return w
}

// BenchmarkMatchAll matches every SBOM of the inventory against the whole
// DB (1,000 × 500 components against 250,000 records by default).
func BenchmarkMatchAll(b *testing.B) {
	w := world(b)
	var n int
	for b.Loop() {
		n = len(w.inv.MatchAll(w.db))
	}
	b.ReportMetric(float64(n), "findings")
}

// BenchmarkMatchAllParallel does the same with one goroutine per core.
func BenchmarkMatchAllParallel(b *testing.B) {
	w := world(b)
	var n int
	for b.Loop() {
		n = len(w.inv.MatchAllParallel(w.db, 0))
	}
	b.ReportMetric(float64(n), "findings")
}

// BenchmarkMatchSBOM matches one 500-component SBOM (purl parsing and
// keying included).
func BenchmarkMatchSBOM(b *testing.B) {
	w := world(b)
	i := 0
	for b.Loop() {
		w.db.Match("s", w.docs[i%len(w.docs)])
		i++
	}
}

// BenchmarkRematchOne re-matches one new vulnerability across every SBOM
// of the inventory; the record hits one of the most common packages, the
// worst case for the index.
func BenchmarkRematchOne(b *testing.B) {
	w := world(b)
	v := &vuln.Vulnerability{ID: "NEW-1", Affected: []vuln.Affected{
		{Package: vuln.Package{Ecosystem: "npm", Name: pkgName(0, 1)}, Ranges: []vuln.Range{rng("i=0", "f=3.0.0")}},
		{Package: vuln.Package{Ecosystem: "PyPI", Name: pkgName(1, 1)}, Ranges: []vuln.Range{rng("i=1.0.0", "f=2.5.0")}},
		{CPE: "cpe:2.3:a:vendor1:product1:*:*:*:*:*:*:*:*", Ranges: []vuln.Range{rng("i=0", "f=2.0.0")}},
	}}
	var n int
	for b.Loop() {
		n = len(w.inv.MatchVulnerability(v))
	}
	b.ReportMetric(float64(n), "findings")
}
