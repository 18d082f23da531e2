// Package bustest connects tests to the real NATS server: KIZUNA_TEST_NATS
// names its URL (default nats://127.0.0.1:4222); when no server answers the
// test is skipped with a message saying so (CI checks that one runs, so
// there it never skips).
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/kizuna-cti/kizuna/internal/bus"
)

// URL returns the NATS server tests use, skipping t when none answers.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("KIZUNA_TEST_NATS")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatalf("KIZUNA_TEST_NATS=%q: %v", u, err)
	}
	c, err := net.DialTimeout("tcp", pu.Host, 2*time.Second)
	if err != nil {
		t.Skipf("no NATS server at %s (set KIZUNA_TEST_NATS to run the JetStream tests): %v", u, err)
	}
	c.Close()
	return u
}

// Stream returns a fresh stream name and subject prefix, unique to this
// test run, so parallel runs do not share messages.
func Stream(t testing.TB) (stream, subject string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return "KIZUNA_TEST_" + s, "kizuna.test." + s
}

// NATS dials the test server with a fresh stream, deleted at cleanup.
func NATS(t testing.TB) *bus.NATS {
	t.Helper()
	u := URL(t)
	stream, subject := Stream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := bus.DialNATS(ctx, u, bus.NATSOptions{Stream: stream, Subject: subject, Backoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("dialing NATS at %s: %v", u, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.DeleteStream(ctx); err != nil {
			t.Logf("deleting test stream: %v", err)
		}
		n.Close()
	})
	return n
}

// WaitFor polls cond every 10 ms until it holds, failing t after 15 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
