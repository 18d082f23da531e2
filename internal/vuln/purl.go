package vuln

import (
	"fmt"

	"github.com/package-url/packageurl-go"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// purlEcosystems maps purl types to OSV ecosystem names.
var purlEcosystems = map[string]string{
	"golang": "Go", "npm": "npm", "pypi": "PyPI", "maven": "Maven", "deb": "Debian",
	"rpm": "RPM", "cargo": "crates.io", "nuget": "NuGet", "gem": "RubyGems",
	"composer": "Packagist", "apk": "Alpine", "hex": "Hex", "pub": "Pub",
	"swift": "SwiftURL", "cocoapods": "CocoaPods", "conan": "ConanCenter",
}

// ParsePURL reads a package URL into a Package (ecosystem and
// ecosystem-style name) and the version it names, if any. Unknown purl
// types keep the type as ecosystem.
func ParsePURL(s string) (Package, string, error) {
	p, err := packageurl.FromString(s)
	if err != nil {
		return Package{}, "", fmt.Errorf("purl %q: %w: %w", s, err, errkind.Invalid)
	}
	eco, ok := purlEcosystems[p.Type]
	if !ok {
		eco = p.Type
	}
	name := p.Name
	switch p.Type {
	case "maven":
		if p.Namespace != "" {
			name = p.Namespace + ":" + p.Name
		}
	case "golang", "npm", "composer", "swift":
		if p.Namespace != "" {
			name = p.Namespace + "/" + p.Name
		}
	case "deb", "rpm", "apk":
		// The namespace is the vendor/distribution (debian, redhat,
		// alpine); it is not part of the package name.
	default:
		if p.Namespace != "" {
			name = p.Namespace + "/" + p.Name
		}
	}
	var distro string
	if p.Type == "rpm" || p.Type == "deb" || p.Type == "apk" {
		for _, q := range p.Qualifiers {
			switch {
			case q.Key == "epoch" && q.Value != "" && p.Version != "" && p.Type != "apk":
				p.Version = q.Value + ":" + p.Version
			case q.Key == "distro":
				distro = q.Value
			}
		}
	}
	return Package{Ecosystem: eco, Name: name, PURL: s, Distro: distro}, p.Version, nil
}
