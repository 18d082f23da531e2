package match_test

import (
	"fmt"

	"github.com/kizuna-cti/kizuna/internal/vuln/intake"
	"github.com/kizuna-cti/kizuna/internal/vuln/match"
	"github.com/kizuna-cti/kizuna/internal/vuln/sbom"
)

// Example parses an OSV advisory, the KEV catalogue and an inventory, and
// prints the findings.
func Example() {
	osv := []byte(`{
	  "id": "PYSEC-2022-19", "aliases": ["CVE-2022-22818"],
	  "affected": [{"package": {"ecosystem": "PyPI", "name": "django"},
	    "ranges": [{"type": "ECOSYSTEM", "events": [
	      {"introduced": "3.2"}, {"fixed": "3.2.12"},
	      {"introduced": "4.0"}, {"fixed": "4.0.2"}]}]}]}`)
	kev := []byte(`{"vulnerabilities": [{"cveID": "CVE-2022-22818", "dateAdded": "2024-01-01"}]}`)
	inventory := []byte("pkg:pypi/Django@3.2.5\npkg:pypi/django@4.0.2\npkg:npm/lodash@4.17.20\n")

	v, err := intake.ParseOSV("PYSEC-2022-19.json", osv)
	if err != nil {
		panic(err)
	}
	catalogue, err := intake.ParseKEV("kev.json", kev)
	if err != nil {
		panic(err)
	}
	catalogue.Apply(v)
	db := match.NewDB()
	db.Add(v)

	doc, err := sbom.Parse("inventory.txt", inventory)
	if err != nil {
		panic(err)
	}
	for _, f := range db.Match("web-shop", doc) {
		fmt.Printf("%s %v: %s %s in %s (%s), fixed in %v, KEV %v\n",
			f.VulnID, f.Aliases, f.Name, f.Installed, f.SBOM, f.Ref, f.Fixed, f.KEV)
	}
	// Output:
	// PYSEC-2022-19 [CVE-2022-22818]: django 3.2.5 in web-shop (line-1), fixed in [3.2.12 4.0.2], KEV true
}
