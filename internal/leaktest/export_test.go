package leaktest

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/store"
)

// exporter runs `kizuna export`: the real CLI binary, built while the
// objects are being submitted. The CLI's run function lives in package
// main, which a test here cannot import; the binary is the command users
// run, so it is the better witness anyway.
type exporter struct {
	bin  string
	done chan struct{}
	err  error
	out  []byte
	// unreadable adds exports from collections the user may not read.
	unreadable bool
}

func startExportBuild(t *testing.T) *exporter {
	t.Helper()
	x := &exporter{bin: filepath.Join(t.TempDir(), "kizuna"), done: make(chan struct{})}
	goBin, err := exec.LookPath("go")
	if err != nil {
		x.err = err
		close(x.done)
		return x
	}
	go func() {
		defer close(x.done)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		x.out, x.err = exec.CommandContext(ctx, goBin, "build", "-o", x.bin, "github.com/kizuna-cti/kizuna/cmd/kizuna").CombinedOutput()
	}()
	t.Cleanup(func() { <-x.done })
	return x
}

// exportCase is one export: as a user (name set) or as an organisation's
// member or the local operator (synthetic users without an id, as the CLI
// builds them).
type exportCase struct {
	u      *user
	org    string // --org ("" for the operator)
	user   string // --user
	coll   *collection
	latest bool
}

// check exports as every user (default collection, all versions), as some
// users with --latest and from the other collections, as organisations
// without --user and as the operator, and compares with the oracle.
// Docs (kizuna export --help): "With --org (and --user) it is exactly what
// that organisation (user) may read over TAXII".
func (x *exporter) check(t *testing.T, e *env) {
	<-x.done
	rng := rand.New(rand.NewPCG(e.p.seed, 2<<32))
	var cases []exportCase
	for _, u := range e.users {
		cases = append(cases, exportCase{u: u, org: u.org.name, user: u.name, coll: e.colls[0]})
		if rng.IntN(3) == 0 {
			cases = append(cases, exportCase{u: u, org: u.org.name, user: u.name, coll: e.colls[0], latest: true})
		}
		if rng.IntN(3) == 0 {
			if c := pick(rng, e.colls[1:]); c.canRead(u) || x.unreadable {
				cases = append(cases, exportCase{u: u, org: u.org.name, user: u.name, coll: c, latest: rng.IntN(2) == 0})
			}
		}
	}
	for _, o := range []*org{e.orgs[1], e.orgs[3], e.orgs[6]} {
		cases = append(cases, exportCase{u: &user{name: "(member)", role: "member", org: o}, org: o.name, coll: e.colls[0]})
	}
	for _, c := range e.colls {
		cases = append(cases, exportCase{u: &user{name: "(operator)", role: "hub-admin", org: e.hub}, coll: c})
	}
	if x.err != nil {
		t.Logf("building cmd/kizuna failed (%v): %s", x.err, x.out)
		t.Logf("covering export by its code path instead: store Query with the principal's Access, paged like cmd/kizuna/export.go")
	}
	start := time.Now()
	for _, ec := range cases {
		c := &checker{env: e, t: t, u: ec.u}
		what := "kizuna export --collection " + ec.coll.title + " --org " + ec.org + " --user " + ec.user
		if ec.latest {
			what += " --latest"
		}
		var raws []json.RawMessage
		if x.err == nil {
			raws = x.run(t, e, ec, what)
		} else {
			raws = exportViaStore(t, e, ec)
		}
		// A collection the principal may not read exports nothing (or
		// fails): TAXII answers 404 or 403 for it.
		var want []*version
		if ec.coll.canRead(ec.u) {
			want = c.visible(ec.coll)
		}
		if ec.latest {
			want = pickVersions(want, "last")
		}
		c.compareRaw(what, ec.coll, raws, want)
	}
	t.Logf("%d exports in %s", len(cases), time.Since(start).Round(time.Millisecond))
}

func (x *exporter) run(t *testing.T, e *env, ec exportCase, what string) []json.RawMessage {
	t.Helper()
	args := []string{"export", "--data", e.dir, "--collection", ec.coll.id}
	if ec.org != "" {
		args = append(args, "--org", ec.org)
	}
	if ec.user != "" {
		args = append(args, "--user", ec.user)
	}
	if ec.latest {
		args = append(args, "--latest")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(x.bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ec.coll.canRead(ec.u) {
			t.Errorf("%s: %v: %s", what, err, stderr.Bytes())
		}
		return nil
	}
	var b struct {
		Type    string            `json:"type"`
		Objects []json.RawMessage `json:"objects"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &b); err != nil || b.Type != "bundle" {
		t.Errorf("%s: not a bundle: %v: %.200s", what, err, stdout.Bytes())
	}
	return b.Objects
}

// exportViaStore is what cmd/kizuna/export.go does, for when the binary
// cannot be built: the principal's Access predicate pushed into paged store
// queries. (The expectation still comes from the oracle.)
func exportViaStore(t *testing.T, e *env, ec exportCase) []json.RawMessage {
	t.Helper()
	pr := sharing.Principal{OrgID: ec.u.org.id, UserID: ec.u.id, Role: sharing.Role(ec.u.role)}
	f := store.Filter{Collection: ec.coll.id, Versions: []string{"all"}, Limit: 1000,
		Access: sharing.NewPolicy(sharing.TLPNone).Access(pr)}
	if ec.latest {
		f.Versions = []string{"last"}
	}
	var out []json.RawMessage
	for {
		page, err := e.st.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range page.Entries {
			out = append(out, en.Raw)
		}
		if !page.More {
			return out
		}
		f.Next = page.Next
	}
}
