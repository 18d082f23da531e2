// Package taxii implements the server side of TAXII 2.1 (OASIS Standard,
// 10 June 2021): discovery, API roots, collections, objects, manifests,
// object versions and status resources, with the filtering and pagination
// of section 3.4 and the media types of section 1.6.
//
// The package does no authentication and no error rendering: its handlers
// receive the caller's sharing.Principal and return errors wrapping errkind
// sentinels, which the server package maps to HTTP status codes and TAXII
// error messages in one place. Every object read passes the sharing policy's
// Access predicate down into the store query, so paging never sees objects
// the caller may not read.
package taxii
