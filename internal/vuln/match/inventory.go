package match

import (
	"runtime"
	"sync"

	"github.com/kizuna-cti/kizuna/internal/vuln"
	"github.com/kizuna-cti/kizuna/internal/vuln/cpe"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
	"github.com/kizuna-cti/kizuna/internal/vuln/version"
)

// Inventory indexes the components of many SBOMs by package key and CPE
// vendor:product, for re-matching one vulnerability across all of them
// (a new or updated record arriving from a feed). It is not safe for
// concurrent writes; concurrent reads without writes are safe.
type Inventory struct {
	docs  map[string]*indexedDoc
	byPkg map[string][]compRef
	byCPE map[string][]compRef
	// cpeComps lists every component with a CPE, for criteria whose
	// vendor or product is a wildcard.
	cpeComps []compRef
}

type indexedDoc struct {
	id    string
	comps []component
	vex   vexIndex
}

type compRef struct {
	doc *indexedDoc
	i   int32
}

// NewInventory returns an empty Inventory.
func NewInventory() *Inventory {
	return &Inventory{docs: map[string]*indexedDoc{}, byPkg: map[string][]compRef{}, byCPE: map[string][]compRef{}}
}

// Len returns the number of SBOMs held.
func (inv *Inventory) Len() int { return len(inv.docs) }

// Add indexes the SBOM under id, replacing an SBOM with the same id.
func (inv *Inventory) Add(id string, doc *sbom.Document) {
	d := &indexedDoc{id: id, comps: make([]component, len(doc.Components)), vex: newVEXIndex(doc.VEX)}
	inv.docs[id] = d // a replaced document's refs are skipped as stale
	for i := range doc.Components {
		d.comps[i] = prepare(doc.Components[i])
		c := &d.comps[i]
		ref := compRef{d, int32(i)}
		inv.byPkg[c.pkgKey] = append(inv.byPkg[c.pkgKey], ref)
		if c.hasCPE {
			k := cpeKey(c.cpe)
			inv.byCPE[k] = append(inv.byCPE[k], ref)
			inv.cpeComps = append(inv.cpeComps, ref)
		}
	}
}

// Remove forgets the SBOM with this id.
func (inv *Inventory) Remove(id string) { delete(inv.docs, id) }

// live reports whether ref points into the current version of its SBOM.
func (inv *Inventory) live(r compRef) bool { return inv.docs[r.doc.id] == r.doc }

// MatchVulnerability returns the findings of one vulnerability across
// every SBOM of the inventory (none when it is withdrawn), in the order
// the components were indexed.
func (inv *Inventory) MatchVulnerability(v *vuln.Vulnerability) []Finding {
	if v.IsWithdrawn() {
		return nil
	}
	type state struct {
		ref compRef
		e   evaluator
	}
	var per map[compRef]*state
	var order []compRef
	visit := func(refs []compRef, a *vuln.Affected, eco version.Ecosystem, n cpe.Name, byCPE bool) {
		for _, r := range refs {
			if !inv.live(r) {
				continue
			}
			h, ok := check(a, eco, n, byCPE, &r.doc.comps[r.i])
			if !ok {
				continue
			}
			if per == nil {
				per = map[compRef]*state{}
			}
			st := per[r]
			if st == nil {
				st = &state{ref: r}
				per[r] = st
				order = append(order, r)
			}
			st.e.add(h)
		}
	}
	for i := range v.Affected {
		a := &v.Affected[i]
		eco := version.Normalize(a.Package.Ecosystem)
		if key, ok := affectedPkgKey(a); ok {
			visit(inv.byPkg[key], a, eco, cpe.Name{}, false)
		}
		if a.CPE != "" {
			n, err := cpe.Parse(a.CPE)
			if err != nil {
				continue
			}
			if hasWild(n[cpe.Vendor]) || hasWild(n[cpe.Product]) {
				visit(inv.cpeComps, a, eco, n, true)
			} else {
				visit(inv.byCPE[cpeKey(n)], a, eco, n, true)
			}
		}
	}
	var out []Finding
	for _, r := range order {
		if f, ok := per[r].e.finding(v, r.doc.id, &r.doc.comps[r.i], r.doc.vex); ok {
			out = append(out, f)
		}
	}
	return out
}

// MatchAll matches every SBOM of the inventory against the DB, SBOM by
// SBOM in id order of insertion into the map (unordered); findings of one
// SBOM stay together.
func (inv *Inventory) MatchAll(db *DB) []Finding {
	var out []Finding
	for _, d := range inv.docs {
		for i := range d.comps {
			out = db.matchComponent(out, d.id, &d.comps[i], d.vex)
		}
	}
	return out
}

// MatchAllParallel is MatchAll spread over workers goroutines (GOMAXPROCS
// when workers <= 0); the DB and the inventory are only read. Findings of
// one SBOM stay together; the order of SBOMs is unspecified.
func (inv *Inventory) MatchAllParallel(db *DB, workers int) []Finding {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	docs := make([]*indexedDoc, 0, len(inv.docs))
	for _, d := range inv.docs {
		docs = append(docs, d)
	}
	results := make([][]Finding, len(docs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				d := docs[i]
				var out []Finding
				for j := range d.comps {
					out = db.matchComponent(out, d.id, &d.comps[j], d.vex)
				}
				results[i] = out
			}
		})
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []Finding
	for _, r := range results {
		out = append(out, r...)
	}
	return out
}
