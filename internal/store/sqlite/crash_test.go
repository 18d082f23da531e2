package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// crashEnv names the data directory when the test binary runs as the
// writer child of TestCrashSafety.
const crashEnv = "KIZUNA_SQLITE_CRASH_CHILD_DIR"

// TestCrashChild is the child process: it adds batches forever and prints
// "committed N" after each Add returns. It does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashSafety")
	}
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	for n := 0; ; n++ {
		var recs []store.Record
		for i := range 200 {
			id := fmt.Sprintf("indicator--%08d-0000-4000-8000-%012d", n, i)
			o, err := stix.Parse([]byte(`{"type":"indicator","spec_version":"2.1","id":"` + id + `","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","pattern":"[x:y = 'z']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}`))
			if err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
			recs = append(recs, store.Record{Object: o, Label: sharing.Label{TLP: sharing.TLPGreen}})
		}
		if _, err := s.Add(ctx, store.DefaultCollectionID, recs, ""); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("committed %d\n", n)
	}
}

// TestCrashSafety kills a writing process with SIGKILL and checks that
// every batch it reported committed survived and the database is intact.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := -1
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
		if v, ok := strings.CutPrefix(line, "committed "); ok {
			committed, _ = strconv.Atoi(v)
			if committed >= 15 {
				break
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if committed < 15 {
		t.Fatalf("child reported only %d commits before exiting", committed)
	}
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer s.Close()
	var check string
	if err := s.DB().QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	acc := sharing.Access{Clauses: []sharing.Clause{{TLPs: []sharing.TLP{sharing.TLPGreen}}}}
	for n := 0; n <= committed; n++ {
		id := fmt.Sprintf("indicator--%08d-0000-4000-8000-%012d", n, 199)
		p, err := s.Manifest(ctx, store.Filter{Collection: store.DefaultCollectionID, Access: acc, IDs: []string{id}})
		if err != nil || len(p.Entries) != 1 {
			t.Errorf("batch %d reported committed but %s is missing (%v)", n, id, err)
		}
	}
	var rows int
	if err := s.DB().QueryRow(`SELECT count(*) FROM objects`).Scan(&rows); err != nil || rows%200 != 0 || rows < 200*(committed+1) {
		t.Errorf("%d rows after crash, %v; want whole batches, at least %d", rows, err, 200*(committed+1))
	}
}
