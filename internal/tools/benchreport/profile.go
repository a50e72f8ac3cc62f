package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// profiles writes CPU and heap profiles of a full listing of 10,000 Vercel tokens:
// in process (go test's own profiler on BenchmarkListingMemory) and inside a
// PostgreSQL backend, whose wrapper serves net/http/pprof when STEAMPIPE_FDW_PPROF
// is set. Read them with `go tool pprof -top FILE`.
func profiles(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "==> in process")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "ListingMemory/10000_", "-benchtime", "3x",
		"-cpuprofile", filepath.Join(abs, "inprocess-cpu.pprof"), "-memprofile", filepath.Join(abs, "inprocess-heap.pprof"),
		"-o", filepath.Join(abs, "tokens.test"), "./tokens")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "==> in a PostgreSQL backend")
	if err := backendProfiles(abs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "profiles in %s: go tool pprof -top %s\n", dir, filepath.Join(dir, "postgres-cpu.pprof"))
	return nil
}

var pprofPort = regexp.MustCompile(`Check http://localhost:(\d+)/debug/pprof/`)

func backendProfiles(dir string) error {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Config{VercelTokens: 9989, Latency: 25 * time.Millisecond})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	tmp, err := os.MkdirTemp("/tmp", "tokens-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: tmp, Build: "build/postgres",
		Env: []string{"STEAMPIPE_CACHE=false", "STEAMPIPE_LOG_LEVEL=INFO", "STEAMPIPE_FDW_PPROF=1"}})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	c, err := pgx.Connect(ctx, cluster.DSN())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	config := strings.ReplaceAll(string(sb.ConnectionConfig(srv.URL, nil)), "'", "''")
	for _, s := range []string{"create extension " + pgcluster.Extension,
		"create server tokens foreign data wrapper " + pgcluster.Extension + " options (config '" + config + "')",
		"create schema tokens", "import foreign schema tokens from server tokens into tokens",
		"select id from tokens.user_tokens where provider = 'none'"} { // loads the extension in this backend
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.SplitN(s, " options", 2)[0], err)
		}
	}
	// The only backend that loaded the extension logged its pprof port.
	log, err := os.ReadFile(cluster.Log())
	if err != nil {
		return err
	}
	m := pprofPort.FindAllSubmatch(log, -1)
	if len(m) != 1 {
		return fmt.Errorf("%d pprof ports in the server log, want 1", len(m))
	}
	base := "http://localhost:" + string(m[0][1]) + "/debug/pprof/"
	const seconds = 8
	done := make(chan error, 1)
	go func() {
		done <- fetch(base+fmt.Sprintf("profile?seconds=%d", seconds), filepath.Join(dir, "postgres-cpu.pprof"))
	}()
	for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); {
		if _, err := c.Exec(ctx, "select * from tokens.user_tokens where provider = 'vercel'"); err != nil {
			return err
		}
	}
	if err := <-done; err != nil {
		return err
	}
	return fetch(base+"heap", filepath.Join(dir, "postgres-heap.pprof"))
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
