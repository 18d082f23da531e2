//go:build unix

package events

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockOwner creates path and holds an exclusive flock on it for as long
// as the returned file is open: the owner is alive while it is held, in
// this process or another.
func lockOwner(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// ownerAlive reports whether the owner of the lock file path still holds
// its lock (a missing file: the owner closed or was never there).
func ownerAlive(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close() // releases a lock taken here
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}
