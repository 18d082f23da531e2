package webhook

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/errkind"
)

// The vectors were computed outside Go:
//
//	printf '%s' '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test
//	printf '%s' '1700000000.' | openssl dgst -sha256 -hmac k
var vectors = []struct {
	secret, body string
	ts           int64
	header       string
}{
	{"whsec_test", `{"id":"evt_1"}`, 1700000000, "t=1700000000,v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"},
	{"k", "", 1700000000, "t=1700000000,v1=5c2999a43333a6877f49c8003f235c4f6de40f85b1b7414b70bd470a8db53d97"},
}

func TestSignVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.secret, func(t *testing.T) {
			ts := time.Unix(v.ts, 999_000_000) // the fraction is dropped
			if got := Sign([]byte(v.secret), ts, []byte(v.body)); got != v.header {
				t.Fatalf("Sign = %s, want %s", got, v.header)
			}
			signed, err := Verify(v.header, []byte(v.body), ts.Add(time.Minute), 0, []byte(v.secret))
			if err != nil || signed.Unix() != v.ts {
				t.Fatalf("Verify: %v, %v", signed, err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	secret, old := []byte("whsec_new"), []byte("whsec_old")
	body := []byte(`{"owner":"campus","value":"192.0.2.10"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(secret, now, body)
	rotated := SignAll(now, body, secret, old)
	tests := []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		secrets [][]byte
		want    error
	}{
		{"ok", good, body, now, [][]byte{secret}, nil},
		{"ok at the window's edge", good, body, now.Add(DefaultTolerance), [][]byte{secret}, nil},
		{"ok, receiver knows old and new", good, body, now, [][]byte{old, secret}, nil},
		{"rotation, receiver still on the old secret", rotated, body, now, [][]byte{old}, nil},
		{"unknown scheme ignored", good + ",v0=abc", body, now, [][]byte{secret}, nil},
		{"body changed", good, []byte(`{"owner":"other","value":"192.0.2.10"}`), now, [][]byte{secret}, ErrMismatch},
		{"wrong secret", good, body, now, [][]byte{old}, ErrMismatch},
		{"no secret", good, body, now, nil, ErrMismatch},
		{"timestamp changed", strings.Replace(good, "t=1800000000", "t=1800000001", 1), body, now, [][]byte{secret}, ErrMismatch},
		{"too old", good, body, now.Add(DefaultTolerance + time.Second), [][]byte{secret}, ErrExpired},
		{"from the future", good, body, now.Add(-DefaultTolerance - time.Second), [][]byte{secret}, ErrExpired},
		{"empty", "", body, now, [][]byte{secret}, ErrMalformed},
		{"no v1", "t=1800000000", body, now, [][]byte{secret}, ErrMalformed},
		{"no t", good[strings.Index(good, ",")+1:], body, now, [][]byte{secret}, ErrMalformed},
		{"two t", "t=1," + good, body, now, [][]byte{secret}, ErrMalformed},
		{"short v1", "t=1800000000,v1=abcd", body, now, [][]byte{secret}, ErrMalformed},
		{"bad hex", "t=1800000000,v1=" + strings.Repeat("zz", 32), body, now, [][]byte{secret}, ErrMalformed},
		{"bad t", "t=soon,v1=" + strings.Repeat("00", 32), body, now, [][]byte{secret}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.header, tt.body, tt.now, 0, tt.secrets...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if err != nil && !errors.Is(err, errkind.Unauthorized) {
				t.Fatalf("error %v is not errkind.Unauthorized", err)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	// Computed outside Go: sha256("kizuna webhook idempotency v1\0" ||
	// u64be(5) || "sub-1" || u64be(17) || "notification--abc"), first 16
	// bytes in hex.
	if got, want := IdempotencyKey("sub-1", "notification--abc"), "kz1_f787a98b09687682486fdf5b9e649e9f"; got != want {
		t.Fatalf("IdempotencyKey = %s, want %s", got, want)
	}
	first := IdempotencyKey("sub-1", "e")
	if again := IdempotencyKey("sub-1", "e"); again != first {
		t.Fatalf("not stable: %s then %s", first, again)
	}
	seen := map[string]string{}
	for _, p := range [][2]string{{"ab", "c"}, {"a", "bc"}, {"", "abc"}, {"abc", ""}, {"sub-1", "e"}, {"sub-2", "e"}} {
		k := IdempotencyKey(p[0], p[1])
		if prev, dup := seen[k]; dup {
			t.Fatalf("%v and %s share key %s", p, prev, k)
		}
		seen[k] = p[0] + "|" + p[1]
	}
}

// FuzzVerify checks that Verify never panics and accepts a header only
// when it carries the right signature.
func FuzzVerify(f *testing.F) {
	for _, v := range vectors {
		f.Add(v.header, []byte(v.body))
	}
	f.Add("t=1,v1=00,v1=", []byte("x"))
	secret := []byte("whsec_test")
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		signed, err := Verify(header, body, time.Unix(1700000000, 0), time.Duration(1<<62), secret)
		if err != nil {
			return
		}
		want := "v1=" + hex.EncodeToString(mac(secret, signed.Unix(), body))
		if !strings.Contains(strings.ToLower(header), want) {
			t.Fatalf("accepted %q without its signature %s", header, want)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat(`{"owner":"campus","value":"192.0.2.10"},`, 25))
	secret := []byte("whsec_bench")
	now := time.Unix(1_800_000_000, 0)
	for b.Loop() {
		Sign(secret, now, body)
	}
}
