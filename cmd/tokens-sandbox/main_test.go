package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestServesWritesItsConfigAndStops(t *testing.T) {
	dir := t.TempDir()
	conf, ready := filepath.Join(dir, "tokens.hcl"), filepath.Join(dir, "ready")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-config-out", conf, "-ready-file", ready, "-generate", "vercel=5"}, &stdout, &stderr)
	}()
	var addr []byte
	for deadline := time.Now().Add(10 * time.Second); len(addr) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		addr, _ = os.ReadFile(ready)
	}
	base := "http://" + strings.TrimSpace(string(addr))
	resp, err := http.Get(base + "/_sandbox/state")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("state: %v %v", resp, err)
	}
	resp.Body.Close()
	hcl, err := os.ReadFile(conf)
	if info, _ := os.Stat(conf); err != nil || info.Mode().Perm() != 0o600 || !strings.Contains(string(hcl), `vercel_base_url    = "`+base+`/vercel"`) {
		t.Fatalf("config %q (%v)", hcl, err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatal("the ready file outlived the sandbox")
	}
}

func TestRefusesBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"-estate", "messy"}, {"-option", "vercel.cursor=roman"}, {"-generate", "nowhere=3"}, {"extra"}} {
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}
