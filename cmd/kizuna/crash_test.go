package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
)

// childEnv makes the test binary act as the kizuna CLI with the arguments
// it holds, separated by \x1f (see TestCrashChildCLI).
const childEnv = "KIZUNA_TEST_CLI_ARGS"

// TestCrashChildCLI is not a test: when the crash test re-executes the test
// binary with childEnv set, it runs the CLI with those arguments and exits.
func TestCrashChildCLI(t *testing.T) {
	args := os.Getenv(childEnv)
	if args == "" {
		t.Skip("helper for TestImportCrashSafety")
	}
	os.Exit(run(context.Background(), strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr))
}

// crashIndicator is the n-th object of the generated input.
func crashIndicator(n int) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"generated %d","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
		n, n, n>>16&255, n>>8&255, n&255)
}

var progressLine = regexp.MustCompile(`^imported (\d+) objects \((\d+) failed\)$`)

// startImport starts the CLI in a child process and returns it with a
// scanner over its stderr.
func startImport(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildCLI$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stderr)
}

// TestImportCrashSafety kills `kizuna import` with SIGKILL in the middle of a
// large import and checks that everything it reported as committed survived,
// that the database is intact, and that re-running completes without
// duplicates.
func TestImportCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	const total = 120_000
	const batch = 2000
	tmp := t.TempDir()
	input := filepath.Join(tmp, "big.json")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[`)
	for i := range total {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(crashIndicator(i))
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir := filepath.Join(tmp, "data")

	// Run, read committed-progress lines, SIGKILL after a few.
	cmd, sc := startImport(t, "import", "--data", dir, "--batch", strconv.Itoa(batch), input)
	committed := 0
	lines := 0
	for sc.Scan() {
		m := progressLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		committed, _ = strconv.Atoi(m[1])
		lines++
		if lines == 5 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	err = cmd.Wait()
	if committed == 0 {
		t.Fatalf("no progress line before the child ended (%v)", err)
	}
	if committed >= total {
		t.Skipf("import finished (%d objects) before it could be killed", committed)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v", cmd.ProcessState)
	}
	t.Logf("killed after %d committed objects", committed)

	// Integrity, on a read-only connection of its own.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	db.Close()

	// Every committed object is there, in input order, with unique and
	// strictly increasing date_added.
	stored := storedIDs(t, dir)
	if len(stored) < committed {
		t.Fatalf("%d objects stored, %d reported committed", len(stored), committed)
	}
	for i := 0; i < committed; i++ {
		if want := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i); stored[i] != want {
			t.Fatalf("object %d: stored %s, want %s", i, stored[i], want)
		}
	}

	// Re-running completes, with no duplicates.
	cmd, sc = startImport(t, "import", "--data", dir, "--batch", strconv.Itoa(batch), input)
	last := ""
	for sc.Scan() {
		last = sc.Text()
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("re-run: %v (last line %q)", err, last)
	}
	if want := fmt.Sprintf("imported %d objects (0 failed)", total); last != want {
		t.Errorf("re-run last line %q, want %q", last, want)
	}
	stored = storedIDs(t, dir)
	if len(stored) != total {
		t.Fatalf("after re-run %d versions stored, want %d", len(stored), total)
	}
	seen := map[string]bool{}
	for _, id := range stored {
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
	}
}

// storedIDs returns every stored version's id in date_added order, checking
// that date_added is strictly increasing.
func storedIDs(t *testing.T, dir string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The local operator's view: the import was made without an
	// organisation, unmarked, so it is visible to hub administrators.
	f := store.Filter{Collection: store.DefaultCollectionID, Versions: []string{"all"}, Limit: 5000,
		Access: sharing.NewPolicy(sharing.TLPNone).Access(localOperator)}
	var ids []string
	var prev time.Time
	for {
		page, err := st.Manifest(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if !e.DateAdded.After(prev) {
				t.Fatalf("date_added %v of %s not after %v", e.DateAdded, e.ID, prev)
			}
			prev = e.DateAdded
			ids = append(ids, e.ID)
		}
		if !page.More {
			return ids
		}
		f.Next = page.Next
	}
}
