// Package realdata locates the public data sets that tests and benchmarks
// read from ../shared/data, beside the repository. A user's clone does not
// have them, so Path skips the calling test when they are absent; small
// fixtures every test needs live in the repository's testdata folders
// instead.
package realdata

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root: the nearest directory above the
// calling test's package directory that holds go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// Path returns ../shared/data/rel beside the repository root ("" for the
// data directory itself), skipping the test with a message when it is
// absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(RepoRoot(tb), "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("real data %s absent (a clone without ../shared): %v", p, err)
	}
	return p
}
