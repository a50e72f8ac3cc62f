package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer lets the test read output while run is still writing.
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

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	conf, ready := filepath.Join(dir, "tokens.conf"), filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-seed", "3", "-config-out", conf, "-ready-file", ready, "-latency", "1ms"}, &stdout, &stderr)
	}()
	addr := waitFile(t, ready)
	if !regexp.MustCompile(`^127\.0\.0\.1:\d+$`).MatchString(addr) || strings.HasSuffix(addr, ":0") {
		t.Fatalf("ready file holds %q", addr)
	}

	info, err := os.Stat(conf)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config %v mode %v", err, info.Mode())
	}
	raw, _ := os.ReadFile(conf)
	values := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s*=\s*"([^"]*)"$`).FindAllStringSubmatch(string(raw), -1) {
		values[m[1]] = m[2]
	}
	base := "http://" + addr
	for k, want := range map[string]string{"vercel_base_url": base + "/vercel", "query_server_url": base + "/query", "clerk_base_url": base + "/clerk/v1"} {
		if values[k] != want {
			t.Errorf("%s = %q, want %q", k, values[k], want)
		}
	}
	if strings.Contains(string(raw), "connection") || strings.Contains(string(raw), "{") {
		t.Error("the config must be a body, not a connection block")
	}
	// The credentials work against the running sandbox.
	for _, c := range []struct{ url, auth string }{
		{base + "/vercel/v2/user", "Bearer " + values["vercel_api_token"]},
		{base + "/query/_/user/token", "Bearer " + values["query_server_token"]},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		req.Header.Set("Authorization", c.auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", c.url, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if !strings.HasPrefix(values["clerk_secret_key"], "sk_test_") {
		t.Errorf("clerk_secret_key %q", values["clerk_secret_key"])
	}
	out := stdout.String()
	if !strings.Contains(out, base) || !strings.Contains(out, conf) {
		t.Errorf("stdout %q lacks the base URL or config path", out)
	}
	for _, k := range []string{"vercel_api_token", "query_server_token", "clerk_secret_key"} {
		if strings.Contains(out+stderr.String(), values[k]) {
			t.Errorf("%s printed", k)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Error("ready file left behind")
	}
}

func TestRunStopsOnSIGTERM(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"-listen", "127.0.0.1:0", "-ready-file", ready}, io.Discard, io.Discard)
	}()
	waitFile(t, ready)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not stop the server")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-vercel-cursor", "roman"}, {"-query-server-token-path", "/x"}, {"-nope"}, {"extra"}} {
		if code := run(context.Background(), args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestHCLString(t *testing.T) {
	if got := hclString("a\"b\\c${d}%{e}"); got != `"a\"b\\c$${d}%%{e}"` {
		t.Fatalf("got %s", got)
	}
}
