// Package leaktest holds Kizuna's randomised end-to-end leak test: a real
// server over a real SQLite store, many organisations, users and roles,
// thousands of objects submitted over TAXII with random TLP markings and
// distribution lists, and every read path (TAXII objects, object, versions,
// manifest, status, the public feed and `kizuna export`) checked against an
// independent oracle written from the rules of docs/sharing.md.
//
// The package has no API; run it with
//
//	go test ./internal/leaktest/
//
// KIZUNA_LEAK_SEED fixes the random seed (it is logged on every run),
// KIZUNA_LEAK_SCALE multiplies the number of objects and sampled requests
// (for instance 5 for a long run).
package leaktest
