package evidence_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
	"github.com/kizuna-cti/kizuna/internal/provenance"
	"github.com/kizuna-cti/kizuna/internal/provenance/evidence"
	"github.com/kizuna-cti/kizuna/internal/provenance/sign"
	"github.com/kizuna-cti/kizuna/internal/provenance/translog"
)

const (
	hubID  = "identity--00000000-0000-4000-8000-000000000001"
	acmeID = "identity--00000000-0000-4000-8000-000000000002"
	coll   = "8e8c3e7c-0f3f-4b5e-9a43-2f6c1a7b9d01"
)

func object(n int) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`, n, n)
}

type fixture struct {
	hub, acme *sign.PrivateKey
	file      []byte
}

// build logs three objects (the second submitted signed by acme) and
// some other entries, and writes an evidence file of the three.
func build(t testing.TB) fixture {
	t.Helper()
	ctx := context.Background()
	hub, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	acme, err := sign.GenerateKey(rand.Reader, sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	tl := translog.New(&translog.MemStore{})
	for i := range 10 {
		obj := object(100 + i)
		h, _ := sign.Digest([]byte(obj))
		e := translog.Entry{Op: translog.Add, Collection: coll, ObjectID: fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", 100+i), DateAdded: "2026-01-01T00:00:00.000000Z", ObjectHash: h}
		if i%3 == 1 {
			obj = object(i / 3)
			h, _ = sign.Digest([]byte(obj))
			e.ObjectID, e.ObjectHash = fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i/3), h
			e.Version = "2026-01-01T00:00:00.000Z"
			if i/3 == 1 {
				e.Signer, e.KeyID = acmeID, acme.Public().ID()
			}
		}
		if _, err := tl.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	heads, err := translog.NewHeadSigner("kizuna/log", hub.Ed25519())
	if err != nil {
		t.Fatal(err)
	}
	head, err := tl.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := heads.SignTree(head)
	if err != nil {
		t.Fatal(err)
	}
	ring := &sign.Keyring{}
	if err := ring.Add(acmeID, acme.Public()); err != nil {
		t.Fatal(err)
	}
	b, err := evidence.NewBuilder(tl, signed, heads.VerifierKey(), hubID, hub, ring, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.Add(ctx, coll, json.RawMessage(object(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Add(ctx, coll, json.RawMessage(object(7))); !errors.Is(err, errkind.NotFound) {
		t.Fatalf("unlogged object: %v", err)
	}
	file, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return fixture{hub: hub, acme: acme, file: file}
}

// edit decodes the file, applies fn and encodes it again.
func edit(t *testing.T, file []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(file, &m); err != nil {
		t.Fatal(err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, i int) map[string]any {
	return m["objects"].([]any)[i].(map[string]any)
}

func TestVerify(t *testing.T) {
	fx := build(t)
	other, _ := sign.GenerateKey(rand.Reader, sign.Ed25519)
	id1 := "indicator--00000000-0000-4000-8000-000000000001"
	pinHub := evidence.Trust{Keys: []evidence.Key{{Identity: hubID, Key: fx.hub.Public()}, {Identity: acmeID, Key: fx.acme.Public()}}}
	tests := []struct {
		name  string
		file  func(t *testing.T) []byte
		trust evidence.Trust
		want  string // "" good; else a substring of the first failure
	}{
		{"good", func(*testing.T) []byte { return fx.file }, evidence.Trust{}, ""},
		{"good, keys pinned", func(*testing.T) []byte { return fx.file }, pinHub, ""},
		{"reformatted", func(t *testing.T) []byte { return edit(t, fx.file, func(map[string]any) {}) }, evidence.Trust{}, ""},
		{"tampered object", func(t *testing.T) []byte {
			return bytes.Replace(fx.file, []byte("198.51.100.1'"), []byte("198.51.100.99'"), 1)
		}, evidence.Trust{}, id1 + " (record 4): verification failed: the object's canonical hash"},
		{"tampered proof", func(t *testing.T) []byte {
			return edit(t, fx.file, func(m map[string]any) {
				p := obj(m, 1)["proof"].([]any)
				p[0] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
			})
		}, evidence.Trust{}, id1 + " (record 4): inclusion proof"},
		{"truncated proof", func(t *testing.T) []byte {
			return edit(t, fx.file, func(m map[string]any) {
				p := obj(m, 1)["proof"].([]any)
				obj(m, 1)["proof"] = p[:len(p)-1]
			})
		}, evidence.Trust{}, id1 + " (record 4): inclusion proof"},
		{"wrong index", func(t *testing.T) []byte {
			return edit(t, fx.file, func(m map[string]any) { obj(m, 1)["index"] = 5 })
		}, evidence.Trust{}, id1 + " (record 5): inclusion proof"},
		{"dropped object", func(t *testing.T) []byte {
			return edit(t, fx.file, func(m map[string]any) { m["objects"] = m["objects"].([]any)[:2] })
		}, evidence.Trust{}, "file signature"},
		{"wrong key pinned", func(*testing.T) []byte { return fx.file },
			evidence.Trust{Keys: []evidence.Key{{Identity: hubID, Key: other.Public()}}}, "indicator--00000000-0000-4000-8000-000000000000 (record 1): inclusion not checked: verification failed: log key kizuna/log+"},
		{"signer key not pinned", func(*testing.T) []byte { return fx.file },
			evidence.Trust{Keys: pinHub.Keys[:1]}, id1 + " (record 4): verification failed: submitted signed by"},
		{"log key not pinned", func(*testing.T) []byte { return fx.file },
			evidence.Trust{LogKeys: []string{"kizuna/log+00000000+AQ=="}, Keys: pinHub.Keys[1:]}, "log key kizuna/log"},
		{"re-signed by another key", func(t *testing.T) []byte {
			return edit(t, fx.file, func(m map[string]any) {
				kf, _ := sign.MarshalPublicKeyFile(hubID, other.Public())
				m["keys"].([]any)[0] = json.RawMessage(kf)
			})
		}, evidence.Trust{}, "hub signature: verification failed: signature by unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := evidence.Verify(tt.file(t), tt.trust)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Err()
			if tt.want == "" {
				if got != nil || len(res.Objects) != 3 || res.Tree.N != 10 || res.HubKey != fx.hub.Public().ID() {
					t.Fatalf("good file: %v (%+v)", got, res)
				}
				if o := res.Objects[1]; o.Signer != acmeID || o.KeyID != fx.acme.Public().ID() {
					t.Fatalf("signer not reported: %+v", o)
				}
				return
			}
			if got == nil || !strings.Contains(got.Error(), tt.want) || !errors.Is(got, provenance.ErrVerification) {
				t.Fatalf("got %v, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	fx := build(t)
	for name, b := range map[string][]byte{
		"truncated":    fx.file[:len(fx.file)/2],
		"empty":        nil,
		"trailing":     append(append([]byte{}, fx.file...), "{}"...),
		"wrong type":   bytes.Replace(fx.file, []byte(`"kizuna-evidence"`), []byte(`"bundle"`), 1),
		"unknown key":  bytes.Replace(fx.file, []byte(`"hub":`), []byte(`"x":1,"hub":`), 1),
		"no signature": edit(t, fx.file, func(m map[string]any) { delete(m, "signature") }),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := evidence.Verify(b, evidence.Trust{}); !errors.Is(err, errkind.Invalid) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if !evidence.IsEvidence(fx.file[:40]) || evidence.IsEvidence([]byte(`{"type":"bundle"}`)) {
		t.Fatal("IsEvidence")
	}
}

func FuzzVerify(f *testing.F) {
	fx := build(f)
	f.Add(fx.file)
	f.Add(fx.file[:len(fx.file)/3])
	f.Add([]byte(`{"type":"kizuna-evidence","version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := evidence.Verify(data, evidence.Trust{})
		if err != nil {
			if res != nil {
				t.Fatal("result with an error")
			}
			return
		}
		if res.Err() == nil && len(res.Objects) > 0 && res.HubKey == "" {
			t.Fatal("verified without a hub key")
		}
	})
}
