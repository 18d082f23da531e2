package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/kizuna-cti/kizuna/internal/sharing"
	"github.com/kizuna-cti/kizuna/internal/stix"
	"github.com/kizuna-cti/kizuna/internal/store"
	"github.com/kizuna-cti/kizuna/internal/store/sqlite"
	"github.com/kizuna-cti/kizuna/internal/taxii"
)

// Load of TestCrashDuringTAXIIImport.
const (
	tcClients   = 3   // concurrent submitters
	tcPerBundle = 500 // objects per bundle, before the extra second versions
	tcPool      = 48  // bundles generated; far more than are posted before the kill
	tcKillAfter = 10  // answered POSTs before the kill is armed
	tcAttempts  = 3   // runs tried until one is killed in the middle of work
)

// tcKey is one object version; ver is the version in microseconds since the
// epoch, so that "...00Z" and "...00.000000Z" compare equal.
type tcKey struct {
	id  string
	ver int64
}

// tcObj is one generated object; version is "" for SCOs, whose version is
// their date_added.
type tcObj struct {
	id, version string
	raw         []byte
}

// tcBundle is one generated TAXII envelope. Bundles share no object id.
type tcBundle struct {
	n    int
	body []byte
	objs []tcObj
}

func (k tcKey) String() string {
	return k.id + " version " + time.UnixMicro(k.ver).UTC().Format(time.RFC3339Nano)
}

func tcVersion(s string) (int64, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return ts.UnixMicro(), nil
}

// tcMakeBundle generates bundle n: indicators (every eighth in two versions)
// and, every fifth object, an ipv4-addr SCO with its deterministic id, all
// TLP:GREEN.
func tcMakeBundle(t *testing.T, n int) *tcBundle {
	t.Helper()
	b := &tcBundle{n: n}
	var buf bytes.Buffer
	buf.WriteString(`{"objects":[`)
	add := func(o tcObj) {
		if len(b.objs) > 0 {
			buf.WriteByte(',')
		}
		buf.Write(o.raw)
		b.objs = append(b.objs, o)
	}
	for j := range tcPerBundle {
		k := n*tcPerBundle + j
		if j%5 == 4 {
			value := fmt.Sprintf("11.%d.%d.%d", k>>16&255, k>>8&255, k&255)
			o, err := stix.Parse(fmt.Appendf(nil, `{"type":"ipv4-addr","id":"ipv4-addr--00000000-0000-4000-8000-000000000000","value":%q}`, value))
			if err != nil {
				t.Fatal(err)
			}
			id, err := stix.SCOID(o)
			if err != nil {
				t.Fatal(err)
			}
			add(tcObj{id: id, raw: fmt.Appendf(nil, `{"type":"ipv4-addr","spec_version":"2.1","id":%q,"value":%q,"object_marking_refs":[%q]}`,
				id, value, sharing.TLP2Green)})
			continue
		}
		for v := range 1 + btoi(k%8 == 0) {
			id := fmt.Sprintf("indicator--20000000-0000-4000-8000-%012d", k)
			mod := fmt.Sprintf("2024-03-01T00:00:%02d.000Z", v)
			add(tcObj{id: id, version: mod, raw: fmt.Appendf(nil,
				`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-03-01T00:00:00.000Z","modified":%q,"name":"taxii crash %d v%d","pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-03-01T00:00:00Z","object_marking_refs":[%q]}`,
				id, mod, k, v, k>>16&255, k>>8&255, k&255, sharing.TLP2Green)})
		}
	}
	buf.WriteString("]}")
	b.body = buf.Bytes()
	return b
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tcServer is `kizuna serve` running in a child process.
type tcServer struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed once the child has been waited for
	log    string        // its stderr (JSON log)
}

// tcStartServer re-executes the test binary as `kizuna serve` on dir and
// waits for the URL it prints.
func tcStartServer(t *testing.T, dir, logName string) *tcServer {
	t.Helper()
	s := &tcServer{exited: make(chan struct{}), log: filepath.Join(filepath.Dir(dir), logName)}
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(os.Args[0], "-test.run=^TestCrashChildCLI$")
	s.cmd.Env = append(os.Environ(), childEnv+"="+strings.Join([]string{
		"serve", "--data", dir, "--listen", "127.0.0.1:0", "--insecure-http"}, "\x1f"))
	s.cmd.Stderr = logf
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	urls := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`serving at (\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	select {
	case s.url = <-urls:
	case <-s.exited:
		t.Fatalf("serve exited before serving: %v; log:\n%s", s.cmd.ProcessState, s.logTail())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve printed no URL; log:\n%s", s.logTail())
	}
	return s
}

func (s *tcServer) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// tcStatus is a TAXII status resource.
type tcStatus struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	TotalCount   int        `json:"total_count"`
	SuccessCount int        `json:"success_count"`
	FailureCount int        `json:"failure_count"`
	PendingCount int        `json:"pending_count"`
	Successes    []tcDetail `json:"successes"`
	Failures     []tcDetail `json:"failures"`
	Pendings     []tcDetail `json:"pendings"`
}

type tcDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message"`
}

// tcClient talks TAXII to the server as one user.
type tcClient struct {
	url, token string
	http       *http.Client
}

// errTCNoAnswer marks requests that got no complete answer.
var errTCNoAnswer = errors.New("no answer")

// do sends a request and reads the answer; transport errors wrap
// errTCNoAnswer.
func (c *tcClient) do(method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", taxii.MediaTAXII)
	if body != nil {
		req.Header.Set("Content-Type", taxii.MediaTAXII)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w: %v", method, path, errTCNoAnswer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w: reading the body: %v", method, path, errTCNoAnswer, err)
	}
	return resp.StatusCode, b, nil
}

func (c *tcClient) post(b *tcBundle) (tcStatus, error) {
	code, body, err := c.do("POST", "/taxii2/hub/collections/"+store.DefaultCollectionID+"/objects/", b.body)
	if err != nil {
		return tcStatus{}, err
	}
	if code != http.StatusAccepted {
		return tcStatus{}, fmt.Errorf("POST bundle %d: %d %s", b.n, code, body)
	}
	var st tcStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("POST bundle %d: %v: %s", b.n, err, body)
	}
	return st, nil
}

func (c *tcClient) status(id string) (tcStatus, error) {
	code, body, err := c.do("GET", "/taxii2/hub/status/"+id+"/", nil)
	if err != nil {
		return tcStatus{}, err
	}
	if code != http.StatusOK {
		return tcStatus{}, fmt.Errorf("GET status %s: %d %s", id, code, body)
	}
	var st tcStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET status %s: %v: %s", id, err, body)
	}
	return st, nil
}

// tcEntry is one manifest record.
type tcEntry struct {
	key   tcKey
	added time.Time
}

// manifest pages through every version of the collection, checking that
// date_added is strictly increasing and no version is listed twice.
func (c *tcClient) manifest(t *testing.T) []tcEntry {
	t.Helper()
	var out []tcEntry
	seen := map[tcKey]bool{}
	var prev time.Time
	next := ""
	for {
		q := url.Values{"match[version]": {"all"}, "limit": {"1000"}}
		if next != "" {
			q.Set("next", next)
		}
		code, body, err := c.do("GET", "/taxii2/hub/collections/"+store.DefaultCollectionID+"/manifest/?"+q.Encode(), nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("manifest: %d %v %.300s", code, err, body)
		}
		var page struct {
			More    bool   `json:"more"`
			Next    string `json:"next"`
			Objects []struct {
				ID        string `json:"id"`
				DateAdded string `json:"date_added"`
				Version   string `json:"version"`
			} `json:"objects"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			added, err := time.Parse(time.RFC3339Nano, o.DateAdded)
			if err != nil {
				t.Fatalf("manifest: %s: date_added %q: %v", o.ID, o.DateAdded, err)
			}
			ver, err := tcVersion(o.Version)
			if err != nil {
				t.Fatalf("manifest: %s: version %q: %v", o.ID, o.Version, err)
			}
			if !added.After(prev) {
				t.Fatalf("manifest: date_added %s of %s not after %s", o.DateAdded, o.ID, prev.Format(time.RFC3339Nano))
			}
			prev = added
			k := tcKey{o.ID, ver}
			if seen[k] {
				t.Fatalf("manifest: %s version %s listed twice", o.ID, o.Version)
			}
			seen[k] = true
			out = append(out, tcEntry{k, added})
		}
		if !page.More {
			return out
		}
		if page.Next == "" || len(page.Objects) == 0 {
			t.Fatalf("manifest: more without next or objects: %.300s", body)
		}
		next = page.Next
	}
}

// tcLoad is what the submitters learned before the kill.
type tcLoad struct {
	mu         sync.Mutex
	sent       []*tcBundle            // bundles whose POST was started
	statuses   map[string]*tcBundle   // status id -> bundle
	succ       map[tcKey]string       // version reported as success -> status id
	lastSeen   map[string]tcStatus    // last status read per id
	pending    map[string]bool        // statuses last read with pending objects
	noResponse map[*tcBundle]struct{} // POSTs that got no answer (the kill)
	unexpected []string               // errors before the kill
	postTime   time.Duration          // total time of the answered POSTs
}

func (l *tcLoad) record(st tcStatus) {
	for _, d := range st.Successes {
		v, err := tcVersion(d.Version)
		if err != nil {
			l.unexpected = append(l.unexpected, fmt.Sprintf("status %s: success %s with version %q", st.ID, d.ID, d.Version))
			continue
		}
		l.succ[tcKey{d.ID, v}] = st.ID
	}
	if st.FailureCount > 0 {
		l.unexpected = append(l.unexpected, fmt.Sprintf("status %s: %d failures, first %+v", st.ID, st.FailureCount, st.Failures[0]))
	}
	l.lastSeen[st.ID] = st
	if st.PendingCount > 0 {
		l.pending[st.ID] = true
	} else {
		delete(l.pending, st.ID)
	}
}

// tcSetup creates a data directory with an organisation, a member and a
// token, through the CLI.
func tcSetup(t *testing.T, dir string) string {
	t.Helper()
	for _, args := range [][]string{
		{"org", "create", "--data", dir, "--name", "acme", "--sector", "energy", "--type", "sme"},
		{"user", "create", "--data", dir, "--org", "acme", "--name", "alice", "--role", "member"},
	} {
		if code, _, stderr := runCLI(t, "", args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, stderr)
		}
	}
	code, out, stderr := runCLI(t, "", "token", "create", "--data", dir, "--org", "acme", "--user", "alice")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

// tcLoadAndKill posts bundles from tcClients goroutines and polls pending
// statuses, then SIGKILLs the server while every submitter has a POST in
// flight.
func tcLoadAndKill(t *testing.T, srv *tcServer, c *tcClient, pool []*tcBundle) *tcLoad {
	t.Helper()
	l := &tcLoad{statuses: map[string]*tcBundle{}, succ: map[tcKey]string{}, lastSeen: map[string]tcStatus{},
		pending: map[string]bool{}, noResponse: map[*tcBundle]struct{}{}}
	var stop atomic.Bool
	var next, answered, inflight atomic.Int64
	var wg sync.WaitGroup
	for range tcClients {
		wg.Go(func() {
			for !stop.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(pool)) {
					return
				}
				b := pool[i]
				l.mu.Lock()
				l.sent = append(l.sent, b)
				l.mu.Unlock()
				inflight.Add(1)
				start := time.Now()
				st, err := c.post(b)
				inflight.Add(-1)
				l.mu.Lock()
				if err == nil {
					l.postTime += time.Since(start)
				}
				switch {
				case errors.Is(err, errTCNoAnswer) && stop.Load():
					l.noResponse[b] = struct{}{}
				case err != nil:
					l.unexpected = append(l.unexpected, err.Error())
				default:
					l.statuses[st.ID] = b
					l.record(st)
					if st.TotalCount != len(b.objs) {
						l.unexpected = append(l.unexpected, fmt.Sprintf("status %s of bundle %d: total_count %d, want %d", st.ID, b.n, st.TotalCount, len(b.objs)))
					}
				}
				l.mu.Unlock()
				if err == nil {
					answered.Add(1)
				}
			}
		})
	}
	// Poll the statuses that were answered while still pending.
	wg.Go(func() {
		for !stop.Load() {
			l.mu.Lock()
			var ids []string
			for id := range l.pending {
				ids = append(ids, id)
			}
			l.mu.Unlock()
			for _, id := range ids {
				st, err := c.status(id)
				if stop.Load() {
					return
				}
				l.mu.Lock()
				if err != nil {
					l.unexpected = append(l.unexpected, err.Error())
				} else {
					l.record(st)
				}
				l.mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	deadline := time.Now().Add(60 * time.Second)
	for answered.Load() < tcKillAfter || inflight.Load() < tcClients {
		select {
		case <-srv.exited:
			stop.Store(true)
			wg.Wait()
			t.Fatalf("server died on its own: %v; log:\n%s", srv.cmd.ProcessState, srv.logTail())
		default:
		}
		if next.Load() >= int64(len(pool)) || time.Now().After(deadline) {
			stop.Store(true)
			srv.cmd.Process.Kill()
			wg.Wait()
			t.Fatalf("the kill was never armed: %d answered, %d bundles started, errors %q", answered.Load(), next.Load(), l.unexpected)
		}
		time.Sleep(time.Millisecond)
	}
	// Land the kill at varying points of the in-flight work: anywhere
	// within about one POST's duration, so that some runs kill between a
	// commit and its answer, others before or inside a transaction.
	l.mu.Lock()
	avg := l.postTime / time.Duration(max(1, len(l.statuses)))
	l.mu.Unlock()
	time.Sleep(rand.N(avg*3/2 + time.Millisecond))
	stop.Store(true)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-srv.exited
	wg.Wait()
	if ws, ok := srv.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server was not killed by SIGKILL: %v", srv.cmd.ProcessState)
	}
	if len(l.unexpected) > 0 {
		t.Fatalf("errors before the kill: %q", l.unexpected)
	}
	return l
}

// TestCrashDuringTAXIIImport SIGKILLs `kizuna serve` while several clients
// are POSTing bundles over TAXII, restarts it on the same data directory and
// checks that every version a status reported as stored is served, that no
// status claims an object that is missing, that each submission was stored
// entirely or not at all, that the database is intact with strictly
// increasing date_added, and that re-submitting everything is idempotent.
func TestCrashDuringTAXIIImport(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	pool := make([]*tcBundle, tcPool)
	for i := range pool {
		pool[i] = tcMakeBundle(t, i)
	}
	httpc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: tcClients + 2}}
	defer httpc.CloseIdleConnections()

	var (
		dir string
		c   *tcClient
		l   *tcLoad
	)
	for attempt := 1; ; attempt++ {
		dir = filepath.Join(t.TempDir(), "data")
		token := tcSetup(t, dir)
		srv := tcStartServer(t, dir, "serve-1.log")
		c = &tcClient{url: srv.url, token: token, http: httpc}
		l = tcLoadAndKill(t, srv, c, pool)
		t.Logf("attempt %d: %d bundles started, %d answered (%v per POST), %d versions reported stored, %d statuses pending, %d POSTs unanswered at the kill",
			attempt, len(l.sent), len(l.statuses), l.postTime/time.Duration(max(1, len(l.statuses))), len(l.succ), len(l.pending), len(l.noResponse))
		if len(l.pending) > 0 || len(l.noResponse) > 0 {
			break
		}
		if attempt == tcAttempts {
			t.Fatalf("after %d attempts the server was never killed in the middle of work", attempt)
		}
	}
	if len(l.succ) == 0 {
		t.Fatal("no status reported a success before the kill")
	}

	// The database survived the crash intact.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	db.Close()

	srv := tcStartServer(t, dir, "serve-2.log")
	c.url = srv.url

	// What was sent, by object.
	owner := map[string]*tcBundle{}         // object id -> its bundle
	versions := map[string]map[int64]bool{} // indicator id -> versions sent
	sentObj := map[tcKey][]byte{}           // indicator version -> JSON
	scoRaw := map[string][]byte{}           // SCO id -> JSON
	total := 0
	for _, b := range l.sent {
		total += len(b.objs)
		for _, o := range b.objs {
			owner[o.id] = b
			if o.version == "" {
				scoRaw[o.id] = o.raw
				continue
			}
			v, err := tcVersion(o.version)
			if err != nil {
				t.Fatal(err)
			}
			if versions[o.id] == nil {
				versions[o.id] = map[int64]bool{}
			}
			versions[o.id][v] = true
			sentObj[tcKey{o.id, v}] = o.raw
		}
	}

	// checkStored validates a manifest against what was sent and returns the
	// stored versions and how many objects of each bundle are stored.
	checkStored := func(entries []tcEntry) (map[tcKey]time.Time, map[*tcBundle]int) {
		t.Helper()
		stored := map[tcKey]time.Time{}
		perBundle := map[*tcBundle]int{}
		scoVersions := map[string]int{}
		for _, e := range entries {
			b := owner[e.key.id]
			if b == nil {
				t.Fatalf("stored %s was never sent", e.key.id)
			}
			if _, isSCO := scoRaw[e.key.id]; isSCO {
				if scoVersions[e.key.id]++; scoVersions[e.key.id] > 1 {
					t.Fatalf("SCO %s stored in %d versions: a re-submission was not idempotent", e.key.id, scoVersions[e.key.id])
				}
			} else if !versions[e.key.id][e.key.ver] {
				t.Fatalf("stored %s was never sent", e.key)
			}
			stored[e.key] = e.added
			perBundle[b]++
		}
		return stored, perBundle
	}
	isStored := func(stored map[tcKey]time.Time, d tcDetail) bool {
		v, err := tcVersion(d.Version)
		if err != nil {
			t.Fatalf("status version %q of %s: %v", d.Version, d.ID, err)
		}
		_, ok := stored[tcKey{d.ID, v}]
		return ok
	}

	entries := c.manifest(t)
	stored, perBundle := checkStored(entries)

	// Every version reported stored is served.
	missing := 0
	for k, sid := range l.succ {
		if _, ok := stored[k]; !ok {
			if missing++; missing <= 10 {
				t.Errorf("%s reported stored by status %s, missing after restart", k, sid)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d versions reported stored are missing after restart", missing, len(l.succ))
	}
	// One submission is one transaction: all of a bundle, or nothing.
	partial, whole, none := 0, 0, 0
	for _, b := range l.sent {
		switch perBundle[b] {
		case 0:
			none++
		case len(b.objs):
			whole++
		default:
			partial++
			t.Errorf("bundle %d: %d of %d objects stored", b.n, perBundle[b], len(b.objs))
		}
	}
	unansweredStored := 0
	for b := range l.noResponse {
		if perBundle[b] > 0 {
			unansweredStored++
		}
	}
	t.Logf("after restart: %d versions stored; bundles whole %d, absent %d, partial %d; %d of the %d unanswered POSTs were stored",
		len(entries), whole, none, partial, unansweredStored, len(l.noResponse))

	// Statuses read back never claim what is missing, never lose a success,
	// and their other objects were not stored (bundles are disjoint).
	for sid, b := range l.statuses {
		st, err := c.status(sid)
		if err != nil {
			t.Fatalf("after restart: %v", err)
		}
		if st.TotalCount != len(b.objs) || st.SuccessCount+st.FailureCount+st.PendingCount != st.TotalCount ||
			len(st.Successes) != st.SuccessCount || len(st.Pendings) != st.PendingCount {
			t.Errorf("status %s of bundle %d inconsistent: %+v", sid, b.n, st)
		}
		// The restarted server failed what the crash interrupted: no
		// status stays pending forever.
		if st.PendingCount != 0 || st.Status != "complete" {
			t.Errorf("status %s of bundle %d still %s with %d pending after the restart", sid, b.n, st.Status, st.PendingCount)
		}
		if before := l.lastSeen[sid]; st.SuccessCount < before.SuccessCount {
			t.Errorf("status %s: %d successes before the kill, %d after", sid, before.SuccessCount, st.SuccessCount)
		}
		for _, d := range st.Successes {
			if !isStored(stored, d) {
				t.Errorf("status %s claims %s version %s, which is not served", sid, d.ID, d.Version)
			}
		}
		for _, d := range append(st.Pendings, st.Failures...) {
			if d.Version != "" && isStored(stored, d) || d.Version == "" && perBundle[b] > 0 {
				t.Errorf("status %s: %s version %q stored but still reported %s", sid, d.ID, d.Version, st.Status)
			}
		}
	}

	// A sample of the versions reported stored is served with its content.
	checked := 0
	for k := range l.succ {
		if checked == 40 {
			break
		}
		checked++
		code, body, err := c.do("GET", "/taxii2/hub/collections/"+store.DefaultCollectionID+"/objects/"+k.id+"/?match%5Bversion%5D=all", nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET object %s: %d %v %.300s", k.id, code, err, body)
		}
		var env struct {
			Objects []json.RawMessage `json:"objects"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		want := sentObj[k]
		if want == nil {
			want = scoRaw[k.id]
		}
		var exp map[string]any
		if err := json.Unmarshal(want, &exp); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, raw := range env.Objects {
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if reflect.DeepEqual(got, exp) {
				found = true
			}
		}
		if !found {
			t.Errorf("GET %s: not served as sent; got %.500s", k, body)
		}
	}

	// Re-submitting everything completes, without new versions of what is
	// stored.
	work := make(chan *tcBundle)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for b := range work {
				st, err := c.post(b)
				if err == nil && (st.Status != "complete" || st.SuccessCount != len(b.objs) || st.FailureCount != 0 || st.PendingCount != 0) {
					err = fmt.Errorf("re-POST bundle %d: status %s %s: %d successes, %d failures %+v, %d pending",
						b.n, st.ID, st.Status, st.SuccessCount, st.FailureCount, st.Failures, st.PendingCount)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for _, b := range l.sent {
		work <- b
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("re-submission: %q", errs)
	}
	entries2 := c.manifest(t)
	stored2, perBundle2 := checkStored(entries2)
	if len(entries2) != total {
		t.Errorf("after re-submission %d versions stored, want %d", len(entries2), total)
	}
	for _, b := range l.sent {
		if perBundle2[b] != len(b.objs) {
			t.Errorf("after re-submission bundle %d has %d of %d objects", b.n, perBundle2[b], len(b.objs))
		}
	}
	for k, added := range stored {
		if got, ok := stored2[k]; !ok || !got.Equal(added) {
			t.Errorf("%s: date_added %v before re-submission, %v (present %v) after", k, added, got, ok)
		}
	}
}
