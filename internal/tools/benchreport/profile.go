package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	cmd := exec.Command("go", append(append([]string{"test"}, patchedSDK...), "-run", "^$", "-bench", "ListingMemory/10000_", "-benchtime", "3x",
		"-cpuprofile", filepath.Join(abs, "inprocess-cpu.pprof"), "-memprofile", filepath.Join(abs, "inprocess-heap.pprof"),
		"-o", filepath.Join(abs, "tokens.test"), "./tokens")...)
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

// listeningPort is the one TCP port process pid listens on, from /proc: its socket
// inodes, matched against the kernel's table of listening sockets.
func listeningPort(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if errors.Is(err, os.ErrPermission) {
			return 0, fmt.Errorf("reading backend %d's sockets: %w (run as root or as postgres)", pid, err)
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports = append(ports, int(p))
			}
		}
	}
	if len(ports) != 1 {
		return 0, fmt.Errorf("backend %d listens on %d TCP ports, want 1 (pprof)", pid, len(ports))
	}
	return ports[0], nil
}

func backendProfiles(dir string) error {
	ctx := context.Background()
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 9989}, Latency: 25 * time.Millisecond})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	tmp, err := os.MkdirTemp("/tmp", "tokens-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: tmp, Build: "build/postgres",
		Env: []string{"STEAMPIPE_CACHE=false", "STEAMPIPE_LOG_LEVEL=WARN", "STEAMPIPE_FDW_PPROF=1"}})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	c, err := pgx.Connect(ctx, cluster.DSN())
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	setup := append([]string{"create extension " + pgcluster.Extension}, pgcluster.ServerStatements("tokens", "", string(sb.ConnectionConfig(srv.URL, nil)))...)
	// the select loads the extension in this backend
	if err := pgcluster.Exec(ctx, c, append(setup, "select id from tokens.user_tokens where provider = 'none'")...); err != nil {
		return err
	}
	// The backend serves pprof on a port of its own choosing; it logs it only at INFO,
	// and logging at INFO costs the backend CPU the benchmarks (at WARN) do not pay.
	var pid int
	if err := c.QueryRow(ctx, "select pg_backend_pid()").Scan(&pid); err != nil {
		return err
	}
	// the wrapper opens the port from a goroutine: give it a moment
	port, err := listeningPort(pid)
	for try := 0; err != nil && try < 20; try++ {
		time.Sleep(100 * time.Millisecond)
		port, err = listeningPort(pid)
	}
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://localhost:%d/debug/pprof/", port)
	// A full listing, then a single-request query over and over: where a listing's
	// time goes, and where a short query's fixed cost goes.
	for _, p := range []struct{ file, sql string }{
		{"postgres-cpu.pprof", "select * from tokens.user_tokens where provider = 'vercel'"},
		{"postgres-limit5-cpu.pprof", "select * from tokens.user_tokens limit 5"},
	} {
		if err := profileWhile(c, base, filepath.Join(dir, p.file), p.sql); err != nil {
			return err
		}
	}
	return fetch(base+"heap", filepath.Join(dir, "postgres-heap.pprof"))
}

// profileWhile runs sql in a loop while the backend's CPU profile is taken.
func profileWhile(c *pgx.Conn, base, file, sql string) error {
	const seconds = 8
	done := make(chan error, 1)
	go func() { done <- fetch(base+fmt.Sprintf("profile?seconds=%d", seconds), file) }()
	for end := time.Now().Add(seconds * time.Second); time.Now().Before(end); {
		if _, err := c.Exec(context.Background(), sql); err != nil {
			return err
		}
	}
	return <-done
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
