//go:build !unix

package events

import "os"

// lockOwner creates path. Without flock, owners cannot tell whether
// another process is alive: one publishing process at a time is assumed.
func lockOwner(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}

// ownerAlive reports false: every other owner is taken for dead.
func ownerAlive(string) bool { return false }
