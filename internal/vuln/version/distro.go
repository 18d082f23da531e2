package version

import "strings"

// debianCodenames and ubuntuCodenames map release code names, as purl
// distro qualifiers use them ("distro=bookworm"), to release numbers.
var (
	debianCodenames = map[string]string{
		"squeeze": "6", "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10",
		"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
	}
	ubuntuCodenames = map[string]string{
		"trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "jammy": "22.04",
		"lunar": "23.04", "mantic": "23.10", "noble": "24.04", "oracular": "24.10", "plucky": "25.04",
	}
	// distroAliases gives distribution names one spelling.
	distroAliases = map[string]string{
		"debian": "debian", "ubuntu": "ubuntu", "alpine": "alpine",
		"rocky": "rocky", "rocky linux": "rocky", "rockylinux": "rocky",
		"almalinux": "almalinux", "alma": "almalinux",
		"rhel": "rhel", "red hat": "rhel", "redhat": "rhel", "centos": "centos", "fedora": "fedora",
	}
)

// Release returns the distribution and release that an OSV ecosystem
// ("Debian:12", "Ubuntu:Pro:22.04:LTS", "Alpine:v3.18", "Rocky Linux:9")
// or a purl distro qualifier ("debian-12", "bookworm", "ubuntu-22.04",
// "jammy", "alpine-3.18.4", "rhel-9.2", "fedora-38") names, normalised so
// that both spellings of one release agree: Debian, Red Hat family and
// Fedora by major version, Ubuntu and Alpine by major.minor. Both are ""
// when s names no known distribution release.
func Release(s string) (distro, release string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if c, ok := debianCodenames[s]; ok {
		return "debian", c
	}
	if c, ok := ubuntuCodenames[s]; ok {
		return "ubuntu", c
	}
	var name, rest string
	if n, r, ok := strings.Cut(s, ":"); ok {
		// OSV: "Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04:LTS", "Debian:12".
		name, rest = n, r
		if name == "ubuntu" {
			rest = strings.TrimPrefix(rest, "pro:")
			rest, _, _ = strings.Cut(rest, ":")
		}
	} else if i := strings.LastIndexByte(s, '-'); i > 0 {
		// purl qualifier: "debian-12", "rocky-9.2".
		name, rest = s[:i], s[i+1:]
	} else {
		return "", ""
	}
	distro, ok := distroAliases[name]
	if !ok {
		return "", ""
	}
	if c, ok := debianCodenames[rest]; ok && distro == "debian" {
		return distro, c
	}
	if c, ok := ubuntuCodenames[rest]; ok && distro == "ubuntu" {
		return distro, c
	}
	rest = strings.TrimPrefix(rest, "v")
	parts := strings.Split(rest, ".")
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return "", ""
		}
	}
	keep := 1
	if distro == "ubuntu" || distro == "alpine" {
		keep = 2
	}
	if len(parts) < keep {
		return "", ""
	}
	return distro, strings.Join(parts[:keep], ".")
}

// SameRelease reports whether a record entry for distribution release a
// may apply to a package of release b (each as Release reads them): true
// when either names no known release, else only for the same distribution
// and release (Debian's entries do not apply to Ubuntu's packages, nor
// bullseye's to bookworm's).
func SameRelease(a, b string) bool {
	da, ra := Release(a)
	db, rb := Release(b)
	return da == "" || db == "" || (da == db && ra == rb)
}
