// Command tokens-demo is make demo: the plugin without Steampipe, as the standalone
// PostgreSQL extension in a local cluster that stays running, fed by the sandbox or by
// your own credentials; it runs documented queries and the Powerpipe benchmark, and
// says how to open psql on it.
//
//	go run ./cmd/tokens-demo          start (a demo already running is stopped first)
//	go run ./cmd/tokens-demo stop     stop it and remove /tmp/tokens-demo
//
// With any provider's environment variables set (VERCEL_API_TOKEN, say; docs/index.md
// lists them all), only those real credentials are used, and nothing is created or
// revoked; otherwise the sandbox (fake data, fake credentials)
// runs in the background. Credentials are never printed or put on a command line; the
// cluster asks every connection for a random password kept in /tmp/tokens-demo/pgpass
// (mode 0600). The credentials are in postgres's user mapping, not in the server's
// options (which every role can read).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/tokens"
	"github.com/zclconf/go-cty/cty"
)

const dir = "/tmp/tokens-demo"

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "stop":
		err = stop()
	case len(os.Args) == 1:
		err = start(context.Background())
	default:
		err = errors.New("usage: tokens-demo [stop]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func stop() error {
	if b, err := os.ReadFile(filepath.Join(dir, "sandbox.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	// the cluster lives in dir/pg: stopped there, then everything of the demo removed
	return errors.Join(pgcluster.StopDir(filepath.Join(dir, "pg")), os.RemoveAll(dir))
}

// realCredentials are the providers' arguments given by the environment, if any.
func realCredentials() map[string]string {
	args := map[string]string{}
	for _, a := range tokens.ProviderArguments() {
		if v := strings.TrimSpace(os.Getenv(a.Env)); a.Env != "" && v != "" {
			args[a.Name] = v
		}
	}
	return args
}

func start(ctx context.Context) error {
	if err := stop(); err != nil {
		return err
	}
	// The cluster runs as postgres, which must reach dir/pg; the secrets in dir (pgpass,
	// Powerpipe's config) are files of mode 0600.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	server, mapping, sandbox, err := connectionConfig(ctx)
	if err != nil {
		return err
	}
	password := randomHex(16)
	fmt.Println("==> starting PostgreSQL 15 with the extension in", filepath.Join(dir, "pg"))
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg"), Build: "build/postgres",
		Env: []string{"STEAMPIPE_CACHE=false"}, Password: password})
	if err != nil {
		return err
	}
	pgpass := filepath.Join(dir, "pgpass")
	if err := os.WriteFile(pgpass, fmt.Appendf(nil, "127.0.0.1:%d:*:postgres:%s\n", cluster.Port, password), 0o600); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, cluster.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	setup := append([]string{"create extension " + pgcluster.Extension}, pgcluster.ServerStatements("tokens", server, mapping)...)
	setup = append(setup, "alter database postgres set search_path to tokens, public", "set search_path to tokens, public")
	if err := pgcluster.Exec(ctx, conn, setup...); err != nil {
		return err
	}
	for _, q := range demoQueries(sandbox) {
		fmt.Printf("\n==> %s\n%s\n\n", q.title, q.sql)
		if err := printQuery(ctx, conn, q.sql); err != nil {
			fmt.Printf("(error: %v)\n", err)
		}
	}
	benchmark(cluster)
	fmt.Printf(`
==> the demo is running (%s)
    psql:  PGPASSFILE=%s psql -h 127.0.0.1 -p %d -U postgres postgres
           (the tables are in schema tokens, on the search path)
    stop:  make demo-stop
`, map[bool]string{true: "sandbox: fake data", false: "your credentials"}[sandbox], pgpass, cluster.Port)
	return nil
}

// connectionConfig is the connection's config: the server's (what the connection may
// do) and the user mapping's (the credentials, which only the mapped role and
// superusers can read): the sandbox's, from a sandbox started in the background, or
// the real credentials of the environment (actions off, so no server config).
func connectionConfig(ctx context.Context) (server, mapping string, sandbox bool, err error) {
	if real := realCredentials(); len(real) > 0 {
		fmt.Println("==> using your credentials from the environment:", strings.Join(keys(real), ", "), "(nothing is created or revoked)")
		f := hclwrite.NewEmptyFile()
		for _, k := range keys(real) {
			f.Body().SetAttributeValue(k, cty.StringVal(real[k]))
		}
		return "", string(f.Bytes()), false, nil
	}
	fmt.Println("==> starting the sandbox (an emulation of every provider, with made-up data)")
	bin := filepath.Join(dir, "tokens-sandbox")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tokens-sandbox").CombinedOutput(); err != nil {
		return "", "", false, fmt.Errorf("building the sandbox: %v\n%s", err, out)
	}
	hcl, ready := filepath.Join(dir, "sandbox.hcl"), filepath.Join(dir, "sandbox.addr")
	log, err := os.Create(filepath.Join(dir, "sandbox.log"))
	if err != nil {
		return "", "", false, err
	}
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-config-out", hcl, "-ready-file", ready)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return "", "", false, err
	}
	if err := os.WriteFile(filepath.Join(dir, "sandbox.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return "", "", false, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			b, err := os.ReadFile(hcl)
			allow := "allow_user_token_create = true\nallow_user_token_revoke = true\nallow_user_token_update = true\n" +
				"allow_sign_in_token_create = true\nallow_sign_in_token_revoke = true\n"
			return allow, string(b), true, err
		}
	}
	return "", "", false, errors.New("the sandbox did not start; see " + log.Name())
}

type demoQuery struct{ title, sql string }

func demoQueries(sandbox bool) []demoQuery {
	q := []demoQuery{
		{"Active tokens that never expire (docs/tables/user_tokens.md)",
			"select provider, title, email, created_at from user_tokens where active and expires_at is null order by created_at"},
		{"What each provider records (docs/tables/token_providers.md)",
			"select provider, configured, records_last_use, detects_leaks, has_read_only_tokens, limits_to_team from token_providers order by provider"},
		{"Active tokens unused for 90 days",
			"select provider, id, title, last_used_at from user_tokens where active and last_used_at < now() - interval '90 days'"},
		{"Tokens that can write where read-only tokens exist, or that reach a whole account where a team limit exists",
			"select t.provider, t.title, t.can_write, t.team_id from user_tokens t join token_providers p using (provider)\n" +
				"  where t.active and ((p.has_read_only_tokens and t.can_write) or (p.limits_to_team and t.team_id is null))"},
	}
	if sandbox {
		q = append(q, demoQuery{"Revoke every Vercel token unused for 90 days (docs/tables/user_token_actions.md)",
			"select id, status from user_token_actions where action = 'revoke' and provider = 'vercel'\n" +
				"  and id in (select id from user_tokens where provider = 'vercel' and last_used_at < now() - interval '90 days')"})
	}
	return q
}

func printQuery(ctx context.Context, conn *pgx.Conn, sql string) error {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	var names []string
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	fmt.Fprintln(w, strings.Join(names, "\t"))
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		var cells []string
		for _, v := range vals {
			switch t := v.(type) {
			case nil:
				v = "" // as psql shows a null
			case time.Time:
				v = t.UTC().Format("2006-01-02 15:04")
			}
			cells = append(cells, fmt.Sprint(v))
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
		n++
	}
	w.Flush()
	if n == 1 {
		fmt.Println("(1 row)")
	} else {
		fmt.Printf("(%d rows)\n", n)
	}
	return rows.Err()
}

// benchmark runs the Powerpipe mod's compliance benchmark and prints its summary.
func benchmark(cluster *pgcluster.Cluster) {
	bin, err := filepath.Abs(".cache/powerpipe/powerpipe-1.5.2")
	if err != nil {
		return
	}
	fmt.Println("\n==> the compliance benchmark (powerpipe/, run with Powerpipe)")
	install := filepath.Join(dir, "powerpipe")
	if err := os.MkdirAll(filepath.Join(install, "config"), 0o700); err != nil {
		return
	}
	conf := fmt.Sprintf("connection \"postgres\" \"demo\" {\n  host = \"127.0.0.1\"\n  port = %d\n  db = \"postgres\"\n  username = \"postgres\"\n  password = %q\n  sslmode = \"disable\"\n}\n",
		cluster.Port, cluster.Password)
	if err := os.WriteFile(filepath.Join(install, "config", "demo.ppc"), []byte(conf), 0o600); err != nil {
		return
	}
	cmd := exec.Command(bin, "benchmark", "run", "tokens.benchmark.all_controls", "--var", "database=connection.postgres.demo",
		"--search-path-prefix", "tokens", "--output", "brief")
	cmd.Dir = "powerpipe"
	cmd.Env = append(os.Environ(), "POWERPIPE_INSTALL_DIR="+install, "POWERPIPE_UPDATE_CHECK=false", "POWERPIPE_TELEMETRY=none",
		"POWERPIPE_DISPLAY_WIDTH=160")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	_ = cmd.Run() // exit code 1 means alarms: the sandbox's estate has findings on purpose
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
