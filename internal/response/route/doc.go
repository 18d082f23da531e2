// Package route implements constituency routing: organisations register
// the resources they own — IPv4/IPv6 netblocks, autonomous system numbers
// and domain names — and every observation (an address, a block, a domain,
// a URL, an e-mail address, host:port) is routed to its owner(s).
//
// Addresses are matched by longest prefix (github.com/gaissmai/bart),
// domain names by label suffix (a registration of example.org covers
// www.example.org, not badexample.org). An organisation that registers only
// its ASN receives what concerns its addresses through a loadable
// prefix-to-ASN table (see ASNTable): an address belongs to the origin AS
// of the most specific announced prefix that covers it.
//
// A Table is an immutable snapshot built from the registrations; readers
// share it without locks and Live swaps in a rebuilt one atomically.
//
// The package is pure: no network, no database. It never resolves names:
// a domain is routed by its name, an address by its number.
package route
