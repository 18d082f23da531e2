package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
	"github.com/kizuna-cti/kizuna/internal/stix"
)

const provObj = `{"type":"indicator","spec_version":"2.1","id":"indicator--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c01","created":"2026-01-02T03:04:05.000Z","modified":"2026-01-02T03:04:05.000Z","name":"c2","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2026-01-02T03:04:05Z","object_marking_refs":["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]}`

// provHub makes a data directory with organisation acme, user alice and
// her token, and a registered acme signing key (returned: the private key
// file; FILE.pub is the public one).
func provHub(t *testing.T) (dir, token, keyFile string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	kzOK(t, "org", "create", "--data", dir, "--name", "acme", "--sector", "energy", "--type", "sme")
	kzOK(t, "org", "create", "--data", dir, "--name", "beta", "--sector", "energy", "--type", "sme")
	kzOK(t, "user", "create", "--data", dir, "--org", "acme", "--name", "alice", "--role", "member")
	token = kzOK(t, "token", "create", "--data", dir, "--org", "acme", "--user", "alice")
	keyFile = filepath.Join(t.TempDir(), "acme.key")
	kzOK(t, "key", "generate", "--data", dir, "--org", "acme", "--out", keyFile)
	kzOK(t, "key", "add", "--data", dir, "--org", "acme", "--file", keyFile+".pub")
	return dir, token, keyFile
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyCommands(t *testing.T) {
	dir, _, keyFile := provHub(t)
	list := kzOK(t, "key", "list", "--data", dir)
	if !strings.Contains(list, "\ted25519\tidentity--") || !strings.HasSuffix(list, "\tacme") {
		t.Errorf("key list = %q", list)
	}
	// acme's public key cannot be registered for beta.
	checkFailure(t, kz(t, "key", "add", "--data", dir, "--org", "beta", "--file", keyFile+".pub"), 1, "is a key of")
	checkFailure(t, kz(t, "key", "generate", "--org", "acme", "--out", filepath.Join(t.TempDir(), "k")), 2, "not an identity id")
	checkFailure(t, kz(t, "key", "add", "--data", dir), 2, "required")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key file mode: %v %v", fi, err)
	}
}

// TestSignedPostAndOfflineVerify: a signed TAXII POST is accepted, a
// tampered one refused with 422, and the receipt the hub serves verifies
// offline with kizuna verify.
func TestSignedPostAndOfflineVerify(t *testing.T) {
	dir, token, keyFile := provHub(t)
	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--insecure-http")
	defer stop()

	env := `{"objects":[` + provObj + `]}`
	envFile := writeFile(t, "env.json", env)
	hdr := kzOK(t, "key", "sign", "--key", keyFile, "--header", envFile)
	post := func(body, sig string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url+"/taxii2/hub/collections/8e8c3e7c-0f3f-4b5e-9a43-2f6c1a7b9d01/objects/", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
		req.Header.Set("Accept", "application/taxii+json;version=2.1")
		req.Header.Set("Kizuna-Signature", sig)
		return do(t, req)
	}
	if code, body := post(strings.Replace(env, "198.51.100.7", "198.51.100.8", 1), hdr); code != 422 || !strings.Contains(body, "does not match") {
		t.Fatalf("tampered POST: %d %s", code, body)
	}
	if code, body := post(env, hdr); code != 202 || !strings.Contains(body, `"success_count":1`) {
		t.Fatalf("signed POST: %d %s", code, body)
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		code, body := do(t, req)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		return body
	}
	o, err := stix.Parse([]byte(provObj))
	if err != nil {
		t.Fatal(err)
	}
	h := stix.Hash(o)
	if got := kzOK(t, "verify", "--hash", envFile); got != hex.EncodeToString(h[:])+"\t"+o.ID {
		t.Errorf("verify --hash = %q", got)
	}
	receipt := writeFile(t, "receipt.json", get("/api/v1/log/inclusion?hash="+hex.EncodeToString(h[:])))
	hubKey := writeFile(t, "hub.vk", get("/api/v1/log/key"))
	// The object re-formatted still verifies (canonical hash).
	objFile := writeFile(t, "obj.json", "\n  "+provObj+"\n")
	out := kzOK(t, "verify", objFile, "--receipt", receipt, "--key", hubKey)
	if !strings.Contains(out, "record 0 of the log of 1 records") || !strings.Contains(out, "signed by identity--") {
		t.Errorf("verify output %q", out)
	}
	// The envelope with its detached signature (default FILE.sig).
	if err := os.WriteFile(envFile+".sig", []byte(kzOK(t, "key", "sign", "--key", keyFile, envFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	out = kzOK(t, "verify", envFile, "--key", keyFile+".pub", "--receipt", receipt, "--key", hubKey)
	if !strings.Contains(out, "signature: good") || !strings.Contains(out, "receipt: "+o.ID) {
		t.Errorf("verify output %q", out)
	}

	tampered := writeFile(t, "bad.json", strings.Replace(provObj, "c2", "c3", 1))
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"object not in receipt", []string{tampered, "--receipt", receipt, "--key", hubKey}, 1, "does not contain"},
		{"tampered signed doc", []string{tampered, "--sig", envFile + ".sig", "--key", keyFile + ".pub"}, 1, "does not match"},
		{"wrong hub key", []string{objFile, "--receipt", receipt, "--key", otherHubKey(t)}, 1, "verif"},
		{"no key for the signature", []string{envFile}, 1, "unknown key"},
		{"nothing to check", []string{objFile}, 2, "nothing to check"},
		{"receipt without hub key", []string{objFile, "--receipt", receipt}, 2, "verifier key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFailure(t, kz(t, append([]string{"verify"}, tc.args...)...), tc.code, tc.want)
		})
	}
}

// otherHubKey writes the verifier key of another hub's log (same origin).
func otherHubKey(t *testing.T) string {
	t.Helper()
	k, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := translog.NewHeadSigner("kizuna/log", k.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "other.vk", hs.VerifierKey())
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAuditTamper: audit verify is clean after an import, and names the
// object edited or removed behind the hub's back in kizuna.db.
func TestAuditTamper(t *testing.T) {
	dir, _, _ := provHub(t)
	bundle := writeFile(t, "b.json", `{"type":"bundle","id":"bundle--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c09","objects":[`+provObj+`,`+
		strings.NewReplacer("3c01", "3c02", "198.51.100.7", "198.51.100.9").Replace(provObj)+`]}`)
	kzOK(t, "import", "--data", dir, "--org", "acme", bundle)
	if out := kzOK(t, "audit", "verify", "--data", dir); !strings.Contains(out, "ok: 2 stored versions match the log of 2 records") {
		t.Fatalf("clean audit: %q", out)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "kizuna.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const first, second = "indicator--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c01", "indicator--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c02"
	if _, err := db.Exec(`UPDATE objects SET raw = replace(raw, '198.51.100.7', '203.0.113.1') WHERE id = ?`, first); err != nil {
		t.Fatal(err)
	}
	r := kz(t, "audit", "verify", "--data", dir)
	checkFailure(t, r, 1, first)
	if !strings.Contains(r.stderr, "edited") || strings.Contains(r.stderr, second) {
		t.Errorf("audit after an edit: %q", r.stderr)
	}
	if _, err := db.Exec(`DELETE FROM objects WHERE id = ?`, second); err != nil {
		t.Fatal(err)
	}
	r = kz(t, "audit", "verify", "--data", dir)
	checkFailure(t, r, 1, second)
	if !strings.Contains(r.stderr, "removed") {
		t.Errorf("audit after a delete: %q", r.stderr)
	}
	checkFailure(t, kz(t, "audit", "verify"), 2, "--data")
}

// TestLogCatchUpCLI: versions stored while no log was appended (written
// to the store directly) are logged the next time the hub opens the data
// directory, and the audit is clean afterwards.
func TestLogCatchUpCLI(t *testing.T) {
	dir, _, _ := provHub(t)
	kzOK(t, "import", "--data", dir, "--org", "acme", writeFile(t, "a.json", provObj))
	// Simulate a crash between commit and log append: drop the log.
	if err := os.Remove(filepath.Join(dir, "translog.db")); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(filepath.Join(dir, "translog.db"+suffix))
	}
	r := kz(t, "audit", "verify", "--data", dir)
	checkFailure(t, r, 1, "unlogged")
	kzOK(t, "import", "--data", dir, "--org", "acme", writeFile(t, "b.json", strings.Replace(provObj, "3c01", "3c05", 1)))
	out := kzOK(t, "audit", "verify", "--data", dir)
	if !strings.Contains(out, "ok: 2 stored versions match the log of 2 records") {
		t.Errorf("audit after catch-up: %q", out)
	}
}

// TestExportSigned: export --sign writes the hub's detached signature,
// which kizuna verify checks against the hub's public key file.
func TestExportSigned(t *testing.T) {
	dir, _, _ := provHub(t)
	kzOK(t, "import", "--data", dir, "--org", "acme", writeFile(t, "a.json", provObj))
	sig := filepath.Join(t.TempDir(), "bundle.sig")
	bundle := writeFile(t, "bundle.json", kzOK(t, "export", "--data", dir, "--org", "acme", "--sign", sig)+"\n")
	if !strings.Contains(readFile(t, bundle), "198.51.100.7") {
		t.Fatalf("bundle lacks the object: %s", readFile(t, bundle))
	}
	hubPub := writeFile(t, "hub.pub", kzOK(t, "key", "hub", "--data", dir))
	if out := kzOK(t, "verify", bundle, "--sig", sig, "--key", hubPub); !strings.Contains(out, "signature: good") {
		t.Errorf("verify = %q", out)
	}
	bad := writeFile(t, "bad.json", strings.Replace(readFile(t, bundle), "198.51.100.7", "198.51.100.6", 1))
	checkFailure(t, kz(t, "verify", bad, "--sig", sig, "--key", hubPub), 1, "does not match")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
