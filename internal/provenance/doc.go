// Package provenance holds what Kizuna's provenance sub-packages share and
// describes how they fit together:
//
//   - package sign: organisation signing keys (Ed25519, and a hybrid of
//     Ed25519 with ML-DSA-65, FIPS 204), key files, a keyring, and detached
//     signatures over the RFC 8785 canonical JSON of an object or bundle;
//   - package translog: an append-only Merkle log in the RFC 6962 / RFC 9162
//     structure (computed with golang.org/x/mod/sumdb/tlog) of every
//     accepted object version, signed tree heads in the C2SP
//     tlog-checkpoint note format, inclusion and consistency proofs that a
//     client checks offline, and an audit that finds objects edited or
//     removed behind the hub's back;
//   - package translog/sqlitelog: the SQLite storage for the log.
//
// Every check that fails because data or a signature does not verify
// returns an error wrapping ErrVerification; malformed input (an envelope
// or proof that cannot be parsed) wraps errkind.Invalid instead.
package provenance

import "github.com/kizuna-cti/kizuna/internal/errkind"

// ErrVerification marks a signature, proof or tree head that does not
// verify, and an audit that found a discrepancy. It unwraps to
// errkind.Unprocessable, so the server answers 422 for a submission whose
// signature is bad; check for it with errors.Is.
var ErrVerification error = verificationError{}

type verificationError struct{}

func (verificationError) Error() string { return "verification failed" }
func (verificationError) Unwrap() error { return errkind.Unprocessable }
