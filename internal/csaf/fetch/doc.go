// Package fetch is the client side of CSAF 2.0 distribution (OASIS CSAF
// 2.0, section 7): it finds a provider's provider-metadata.json from a
// domain (the well-known URL, then the CSAF fields of security.txt, then
// the DNS path, in the order of section 7.3.1) or takes its URL, validates
// it against the provider schema, loads the provider's public OpenPGP keys
// (checking their fingerprints), lists the advisories of its ROLIE feeds
// or, when it has none, of its directory distributions (changes.csv, else
// index.txt), and downloads each advisory with its hashes and detached
// signature. An advisory is handed on only when a SHA-256 or SHA-512 hash
// matches, the signature verifies against one of the provider's keys, the
// file name follows section 5.1 and the document passes csaf.Validate.
//
// Sync is incremental: State remembers the ETag/Last-Modified of each list
// and the listed update time of each advisory, so a second run downloads
// only new or changed advisories. The package does no importing: the
// caller's Sink receives the verified documents.
//
// Every request is bounded (response size, timeout, redirects) and goes
// over HTTPS; plain HTTP is accepted for loopback addresses only (tests).
// The token of access-protected distributions (TLP:GREEN, AMBER, RED) is
// sent only to the host of provider-metadata.json, and feeds and
// directories of those labels are not requested without one.
package fetch
