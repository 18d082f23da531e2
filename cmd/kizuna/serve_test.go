package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for a concurrent writer and reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `kizuna serve` in-process until the returned stop is
// called, and returns the URL it printed.
func startServe(t *testing.T, args ...string) (url string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), &out, &errb) }()
	re := regexp.MustCompile(`serving at (\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve printed no URL: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), url+"/taxii2/") {
		t.Errorf("serve did not print the discovery URL: %q", out.String())
	}
	return url, func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
}

func TestServeInsecureLoopback(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new-dir")
	url, stop := startServe(t, "--data", dir, "--listen", "127.0.0.1:0", "--insecure-http")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %s", url)
	}
	resp, err := http.Get(url + "/taxii2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("unauthenticated discovery: %d, want 401", resp.StatusCode)
	}
	if code := stop(); code != 0 {
		t.Errorf("exit code %d after shutdown", code)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("data directory not created: %v", err)
	}
}

func TestServeTLSByDefault(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("KIZUNA_DATA", dir) // the data directory from the environment
	url, stop := startServe(t, "--listen", "127.0.0.1:0")
	defer stop()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("URL %s is not https", url)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(dir, "tls", "server.crt")); err != nil {
		t.Errorf("generated certificate not kept: %v", err)
	}
}

func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"insecure on all interfaces", []string{"--data", dir, "--listen", "0.0.0.0:0", "--insecure-http"}, "--insecure-http refused"},
		{"insecure on a public address", []string{"--data", dir, "--listen", "192.0.2.1:8080", "--insecure-http"}, "loopback"},
		{"cert without key", []string{"--data", dir, "--listen", "127.0.0.1:0", "--tls-cert", "x.pem"}, "--tls-key"},
		{"bad listen", []string{"--data", dir, "--listen", "8443"}, "HOST:PORT"},
		{"missing cert file", []string{"--data", dir, "--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", append([]string{"serve"}, tt.args...)...)
			if code == 0 || !strings.HasPrefix(stderr, "kizuna: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("code %d, stderr %q; want failure mentioning %q", code, stderr, tt.want)
			}
		})
	}
	t.Setenv("KIZUNA_DATA", "")
	if code, _, stderr := runCLI(t, "", "serve", "--listen", "127.0.0.1:0", "--insecure-http"); code != 2 || !strings.Contains(stderr, "--data") {
		t.Errorf("without --data: %d %q", code, stderr)
	}
}
