package main

import (
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
)

// TestEvidenceFile: export --signed writes a self-contained evidence file
// that kizuna verify FILE checks with no other input; every tampering
// exits 1 naming the object.
func TestEvidenceFile(t *testing.T) {
	dir, _, _ := provHub(t)
	const first, second = "indicator--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c01", "indicator--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c02"
	bundle := writeFile(t, "b.json", `{"type":"bundle","id":"bundle--7a0e3bb4-3a1f-4c41-9d35-2f0f6f1c3c09","objects":[`+provObj+`,`+
		strings.NewReplacer("3c01", "3c02", "198.51.100.7", "198.51.100.9").Replace(provObj)+`]}`)
	kzOK(t, "import", "--data", dir, "--org", "acme", bundle)
	good := kzOK(t, "export", "--data", dir, "--org", "acme", "--signed") + "\n"
	file := writeFile(t, "evidence.json", good)

	r := kz(t, "verify", file)
	if r.code != 0 || !strings.Contains(r.stdout, "hub key: ") || !strings.Contains(r.stdout, "carried in the file") ||
		!strings.Contains(r.stdout, "ok: "+first) || !strings.Contains(r.stdout, "evidence: good: 2 objects") || !strings.Contains(r.stderr, "hint: the keys came from the file") {
		t.Fatalf("good file: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	hubPub := writeFile(t, "hub.pub", kzOK(t, "key", "hub", "--data", dir))
	for _, pin := range [][]string{{"--data", dir}, {"--key", hubPub}} {
		if out := kzOK(t, append([]string{"verify", file}, pin...)...); !strings.Contains(out, "pinned") || !strings.Contains(out, "evidence: good") {
			t.Errorf("pinned %v: %s", pin, out)
		}
	}

	other, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := sign.MarshalPublicKeyFile("identity--00000000-0000-4000-8000-000000000009", other.Public())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(good), &m); err != nil {
		t.Fatal(err)
	}
	proofIdx := 0
	if len(m["objects"].([]any)[0].(map[string]any)["proof"].([]any)) == 0 {
		proofIdx = 1
	}
	tamperedProof := func() string {
		var m map[string]any
		_ = json.Unmarshal([]byte(good), &m)
		o := m["objects"].([]any)[proofIdx].(map[string]any)
		o["proof"].([]any)[0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		b, _ := json.Marshal(m)
		return string(b)
	}
	dropped := func() string {
		var m map[string]any
		_ = json.Unmarshal([]byte(good), &m)
		m["objects"] = m["objects"].([]any)[:1]
		b, _ := json.Marshal(m)
		return string(b)
	}
	proofID := m["objects"].([]any)[proofIdx].(map[string]any)["object"].(map[string]any)["id"].(string)
	tests := []struct {
		name, content string
		args          []string
		want          string
	}{
		{"tampered object", strings.Replace(good, "198.51.100.9", "198.51.100.10", 1), nil, second + " (record 1): verification failed: the object's canonical hash"},
		{"tampered proof", tamperedProof(), nil, proofID},
		{"wrong key", good, []string{"--key", writeFile(t, "other.pub", string(otherPub))}, first + " (record 0): inclusion not checked"},
		{"wrong log key", good, []string{"--key", otherHubKey(t)}, first},
		{"truncated", good[:len(good)*2/3], nil, "evidence file: unexpected EOF"},
		{"object removed", dropped(), nil, "file signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, "e.json", tt.content)
			checkFailure(t, kz(t, append([]string{"verify", f}, tt.args...)...), 1, tt.want)
		})
	}
	checkFailure(t, kz(t, "verify", file, "--receipt", file), 2, "evidence file")
	checkFailure(t, kz(t, "export", "--data", dir, "--signed", "--sign", filepath.Join(t.TempDir(), "s")), 2, "not both")
}
