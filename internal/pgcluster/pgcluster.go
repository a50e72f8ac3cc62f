// Package pgcluster runs throwaway PostgreSQL 15 clusters with the tokens extension,
// for the SQL tests, the benchmarks and the demo. Each cluster has a private copy of
// the server's installation tree with the extension in it (PostgreSQL finds its
// libraries and extensions relative to its own binaries), so nothing is installed
// system-wide and clusters never see each other's build.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Extension is the standalone extension's name.
const Extension = "steampipe_postgres_tokens"

// Options describe a cluster.
type Options struct {
	// Dir holds the cluster (the installation tree, the data and the log). The
	// postgres user must be able to reach it: use a directory under /tmp. It is
	// created, and removed by Stop.
	Dir string
	// Build is the directory of the extension's three files (build/postgres).
	Build string
	// Env is the server's environment beyond PATH and LANG, e.g. STEAMPIPE_CACHE=false.
	Env []string
	// Password, when set, is required of every connection (scram-sha-256); otherwise
	// loopback connections are trusted.
	Password string
	// PGBin is the server's binaries (default /usr/lib/postgresql/15/bin).
	PGBin string
}

// Cluster is a running server, listening on 127.0.0.1 only.
type Cluster struct {
	Options
	Port int
	bin  string // the private tree's bin directory
	as   string // the OS user the server runs as ("" = this process's)
}

// Log is the server's log file (plugin log lines included).
func (c *Cluster) Log() string { return filepath.Join(c.Dir, "server.log") }

// DSN connects as the postgres user to the postgres database.
func (c *Cluster) DSN() string {
	auth := ""
	if c.Password != "" {
		auth = ":" + c.Password
	}
	return fmt.Sprintf("postgres://postgres%s@127.0.0.1:%d/postgres?sslmode=disable", auth, c.Port)
}

// Start makes the private tree, runs initdb and starts the server on a free port.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.PGBin == "" {
		o.PGBin = "/usr/lib/postgresql/15/bin"
	}
	c := &Cluster{Options: o}
	if os.Getuid() == 0 { // initdb and postgres refuse to run as root
		c.as = "postgres"
	}
	if err := os.RemoveAll(o.Dir); err != nil {
		return nil, err
	}
	if err := c.installTree(); err != nil {
		return nil, fmt.Errorf("pgcluster: the private installation tree: %w", err)
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// installTree copies the server's binaries into Dir (PostgreSQL resolves its own
// path, so a symlinked binary would find the system tree), links its libraries and
// shared files, and adds the extension's files.
func (c *Cluster) installTree() error {
	out, err := exec.Command(filepath.Join(c.PGBin, "pg_config"), "--pkglibdir", "--sharedir", "--bindir").Output()
	if err != nil {
		return fmt.Errorf("pg_config: %w (is postgresql-15 installed?)", err)
	}
	dirs := strings.Fields(string(out))
	pkglib, share, bindir := dirs[0], dirs[1], dirs[2]
	root := filepath.Join(c.Dir, "install")
	rel := func(p string) string { return filepath.Join(root, strings.TrimPrefix(p, "/usr")) }
	c.bin = rel(bindir)
	if err := os.CopyFS(c.bin, os.DirFS(bindir)); err != nil {
		return err
	}
	for _, d := range [][2]string{{pkglib, rel(pkglib)}, {share, rel(share)}, {filepath.Join(share, "extension"), filepath.Join(rel(share), "extension")}} {
		entries, err := os.ReadDir(d[0])
		if err != nil {
			return err
		}
		if err := os.MkdirAll(d[1], 0o755); err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := os.Lstat(filepath.Join(d[1], e.Name())); err == nil || e.Name() == "extension" && d[0] == share {
				continue
			}
			if err := os.Symlink(filepath.Join(d[0], e.Name()), filepath.Join(d[1], e.Name())); err != nil {
				return err
			}
		}
	}
	for _, f := range []struct{ name, to string }{
		{Extension + ".so", rel(pkglib)},
		{Extension + ".control", filepath.Join(rel(share), "extension")},
		{Extension + "--1.0.sql", filepath.Join(rel(share), "extension")},
	} {
		b, err := os.ReadFile(filepath.Join(c.Build, f.name))
		if err != nil {
			return fmt.Errorf("%w (build the extension first: make fdw)", err)
		}
		if err := os.WriteFile(filepath.Join(f.to, f.name), b, 0o755); err != nil {
			return err
		}
	}
	return c.own(c.Dir)
}

// own gives the tree to the server's user, and makes it reachable.
func (c *Cluster) own(dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if c.as == "" {
		return nil
	}
	u, err := user.Lookup(c.as)
	if err != nil {
		return fmt.Errorf("the %s user: %w", c.as, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// command runs a server binary as the server's user, with a clean environment.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.as != "" {
		args = append([]string{"-u", c.as, "--", path}, args...)
		path = "runuser"
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = c.Dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}, c.Env...)
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	args := []string{"-D", filepath.Join(c.Dir, "data"), "-U", "postgres", "--encoding=UTF8", "--locale=C.UTF-8", "--auth=trust"}
	if c.Password != "" {
		pw := filepath.Join(c.Dir, "pwfile")
		if err := os.WriteFile(pw, []byte(c.Password+"\n"), 0o600); err != nil {
			return err
		}
		defer os.Remove(pw)
		if err := c.own(pw); err != nil {
			return err
		}
		args = append(args[:len(args)-1], "--auth=scram-sha-256", "--pwfile="+pw)
	}
	if out, err := c.command(ctx, "initdb", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w\n%s", err, out)
	}
	method := "trust"
	if c.Password != "" {
		method = "scram-sha-256"
	}
	hba := fmt.Sprintf("local all all %s\nhost all all 127.0.0.1/32 %s\n", method, method)
	return errors.Join(
		os.WriteFile(filepath.Join(c.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600),
		c.own(filepath.Join(c.Dir, "data", "pg_hba.conf")))
}

// start runs the server on a free loopback port; a port taken meanwhile is retried.
func (c *Cluster) start(ctx context.Context) error {
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.Port = port
		// jit off: the wrapper's huge cost estimates would compile every query. UTC:
		// the sandbox's data is relative to midnight UTC, and dates shown must not move
		// with the machine's time zone. No failed statement's text in the log: a create
		// or alter server's text holds its config, credentials included (the README's
		// advice, for every session).
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='' -c jit=off -c fsync=off "+
			"-c synchronous_commit=off -c full_page_writes=off -c timezone=UTC -c log_min_error_statement=panic", port)
		cmd := c.command(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-l", c.Log(), "-w", "-t", "60", "-o", opts, "start")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		log, _ := os.ReadFile(c.Log())
		last = fmt.Errorf("pgcluster: the server did not start: %w\n%s\n%s", err, out, tail(string(log), 20))
		if !strings.Contains(string(log), "could not bind") {
			break
		}
	}
	return last
}

// StopDir stops a cluster that Start made in dir, from another process (the demo's
// stop), and removes dir. A dir without a cluster is removed all the same.
func StopDir(dir string) error {
	matches, _ := filepath.Glob(filepath.Join(dir, "install", "lib", "postgresql", "*", "bin"))
	if len(matches) == 0 {
		return os.RemoveAll(dir)
	}
	c := &Cluster{Options: Options{Dir: dir}, bin: matches[0]}
	if os.Getuid() == 0 {
		c.as = "postgres"
	}
	return c.Stop()
}

// Stop shuts the server down and removes Dir.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := c.command(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "fast", "-w", "stop").Run()
	if err != nil {
		err = c.command(ctx, "pg_ctl", "-D", filepath.Join(c.Dir, "data"), "-m", "immediate", "-w", "stop").Run()
	}
	return errors.Join(err, os.RemoveAll(c.Dir))
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
