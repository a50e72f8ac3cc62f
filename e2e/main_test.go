//go:build e2e

// Package e2e runs SQL against the plugin compiled into the standalone PostgreSQL
// extension (make fdw), in a throwaway cluster with a private installation tree
// (internal/pgcluster), against the sandbox served from this process. make e2e runs it.
package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/zclconf/go-cty/cty"
)

var (
	sb    *sandbox.Sandbox
	sbURL string
	// clean is a second sandbox with nothing to find (schema clean), for the
	// benchmarks' clean run.
	clean    *sandbox.Sandbox
	cleanURL string
	// big, glBig and soak exist when benchmarking: 100,000 Vercel tokens at 25 ms
	// (schema big), 10,000 GitLab tokens at 25 ms (schema gitlab_big), and 1,050
	// Vercel and Query Server tokens at 10 ms for the soak and concurrency benchmarks (schema soak).
	big, glBig, soak          *sandbox.Sandbox
	bigURL, glBigURL, soakURL string
	cluster                   *pgcluster.Cluster
	// benchmarking: make bench sizes the sandbox like real estates and adds latency.
	benchmarking = os.Getenv("TOKENS_E2E_BENCH") != ""
)

// setup is one connection the tests use: the server's config (the owner's settings,
// which every role can read) and the config of the user mapping for postgres, which
// runs the tests (its credentials, which only postgres can read); either may be empty.
type setup struct{ server, mapping string }

// hclArgs writes name = "value" lines.
func hclArgs(args map[string]string) string {
	f := hclwrite.NewEmptyFile()
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f.Body().SetAttributeValue(k, cty.StringVal(args[k]))
	}
	return string(f.Bytes())
}

// servers are the connections the tests use, by name. Each is imported into a schema
// of that name, which is the connection name the plugin sees.
func servers() map[string]setup {
	creds := string(sb.ConnectionConfig(sbURL, nil))
	allow := map[string]string{"allow_sign_in_token_create": "true", "allow_sign_in_token_revoke": "true",
		"allow_user_token_create": "true", "allow_user_token_update": "true", "allow_user_token_rotate": "true", "allow_user_token_revoke": "true"}
	m := map[string]setup{
		"tokens":      {hclArgs(allow), creds},
		"flags_off":   {"", creds},
		"bad_vercel":  {"", strings.Replace(creds, sb.VercelToken(), "wrong", 1)},
		"no_upstream": {`max_retries = 1`, ""},
		"bad_number":  {hclArgs(map[string]string{"max_retries": "often"}), creds},
		"fast_fail": {hclArgs(map[string]string{"max_retries": "1", "request_timeout": "0.5", "allow_sign_in_token_create": "true",
			"allow_user_token_create": "true"}), creds},
		"clean":   {"", string(clean.ConnectionConfig(cleanURL, nil))},
		"altered": {`max_retries = 1`, ""}, // TestAlterServerTakesEffect sets its config, credentials included, and puts this back
	}
	if benchmarking {
		m["big"] = setup{"", string(big.ConnectionConfig(bigURL, nil))}
		m["gitlab_big"] = setup{"", string(glBig.ConnectionConfig(glBigURL, nil))}
		// the soak's workload stays the Vercel and Query Server listing its targets were set on
		m["soak"] = setup{"", string(soak.ConnectionConfigOf(soakURL, []string{"vercel", "query_server"}, nil))}
	}
	return m
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cfg := sandbox.Config{}
	logLevel := "DEBUG"
	if benchmarking {
		cfg = sandbox.Config{Generate: map[string]int{"vercel": 9989, "query_server": 994}, Latency: 25 * time.Millisecond}
		logLevel = "WARN"
	}
	sb = sandbox.New(cfg)
	srv := httptest.NewServer(sb)
	defer srv.Close()
	sbURL = srv.URL
	clean = sandbox.New(sandbox.Config{Estate: "clean"})
	cleanSrv := httptest.NewServer(clean)
	defer cleanSrv.Close()
	cleanURL = cleanSrv.URL
	if benchmarking {
		big = sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 99989}, Latency: 25 * time.Millisecond})
		bigSrv := httptest.NewServer(big)
		defer bigSrv.Close()
		bigURL = bigSrv.URL
		glBig = sandbox.New(sandbox.Config{Generate: map[string]int{"gitlab": 9989}, Latency: 25 * time.Millisecond})
		glBigSrv := httptest.NewServer(glBig)
		defer glBigSrv.Close()
		glBigURL = glBigSrv.URL
		soak = sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 989, "query_server": 44}, Latency: 10 * time.Millisecond})
		soakSrv := httptest.NewServer(soak)
		defer soakSrv.Close()
		soakURL = soakSrv.URL
	}

	dir, err := os.MkdirTemp("/tmp", "tokens-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	ctx := context.Background()
	cluster, err = pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Build: "../build/postgres",
		Env: []string{"STEAMPIPE_CACHE=false", "STEAMPIPE_LOG_LEVEL=" + logLevel}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	defer cluster.Stop()

	conn, err := pgx.Connect(ctx, cluster.DSN())
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: connect:", err)
		return 2
	}
	stmts := []string{"create extension " + pgcluster.Extension}
	for name, cfg := range servers() {
		stmts = append(stmts, pgcluster.ServerStatements(name, cfg.server, cfg.mapping)...)
	}
	if err := pgcluster.Exec(ctx, conn, stmts...); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	conn.Close(ctx)

	code := m.Run()
	code = max(code, stopSteampipe())
	if code == 0 && !benchmarking {
		code = scanServerLog()
	}
	if code != 0 {
		log, _ := os.ReadFile(cluster.Log())
		lines := strings.Split(strings.TrimSpace(string(log)), "\n")
		tail := strings.Join(lines[max(0, len(lines)-30):], "\n")
		for _, secret := range allSecrets() { // the failure may be a secret in the log
			tail = strings.ReplaceAll(tail, secret, "[redacted]")
		}
		fmt.Fprintf(os.Stderr, "--- the last lines of the PostgreSQL log ---\n%s\n", tail)
	}
	return code
}

// allSecrets are the secrets of every sandbox the tests use.
func allSecrets() []string {
	s := append(append(sb.Secrets(), clean.Secrets()...), spSecrets()...)
	for _, b := range []*sandbox.Sandbox{big, glBig, soak} {
		if b != nil {
			s = append(s, b.Secrets()...)
		}
	}
	return s
}

// scanServerLog: the server log (plugin and wrapper lines, at DEBUG) holds no secret.
func scanServerLog() int {
	text, err := os.ReadFile(cluster.Log())
	if err != nil || len(text) < 1000 {
		fmt.Fprintf(os.Stderr, "e2e: the server log is unreadable or nearly empty (%d bytes): %v\n", len(text), err)
		return 1
	}
	if n, found := secretIn(string(text)); found {
		fmt.Fprintf(os.Stderr, "e2e: a sandbox secret (%d chars) appears in the PostgreSQL log\n", n)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: %d bytes of PostgreSQL log (DEBUG) hold none of %d sandbox secrets\n", len(text), len(allSecrets()))
	return 0
}

// ---- helpers ----

func connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, cluster.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(ctx) })
	if _, err := c.Exec(ctx, "set search_path to tokens, public"); err != nil {
		t.Fatal(err)
	}
	return c
}

// secretColumns are the columns a table exists to return secrets in.
var secretColumns = map[string]bool{"token": true, "url": true}

// rowsOf runs a query and returns its rows as maps, checking that no cell (but the
// secret columns) and no error holds a secret.
func rowsOf(t testing.TB, c *pgx.Conn, sql string, args ...any) ([]map[string]any, error) {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	text := fmt.Sprint(err)
	for _, r := range out {
		for k, v := range r {
			if !secretColumns[k] {
				text += "\n" + fmt.Sprint(v)
			}
		}
	}
	checkNoSecret(t, text, sql)
	return out, err
}

// checkNoSecret fails the test if text (results or an error of sql) holds a secret of
// any sandbox.
func checkNoSecret(t testing.TB, text, sql string) {
	t.Helper()
	if n, found := secretIn(text); found {
		t.Fatalf("a secret (%d chars) reached a result or error of: %s", n, sql)
	}
}

// secretIn finds a secret of any sandbox in text, and says how long it is.
func secretIn(text string) (int, bool) {
	for _, s := range allSecrets() {
		if strings.Contains(text, s) {
			return len(s), true
		}
	}
	return 0, false
}

func mustRows(t testing.TB, c *pgx.Conn, sql string, args ...any) []map[string]any {
	t.Helper()
	r, err := rowsOf(t, c, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return r
}

func count(provider, method, path string) int { return sb.Count(provider, method, path) }

// A setup statement that fails is named in the error without its config, which
// holds the connection's credentials. PostgreSQL itself logs a failed statement's
// text unless log_min_error_statement is above error, as the README says: checked
// with configs that hold only a marker (pgcluster starts every cluster at panic).
func TestSetupErrorsLeaveOutTheConfig(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	for _, tc := range []struct {
		level, marker string
		logged        bool
	}{{"error", "logged-at-error", true}, {"panic", "kept-out-at-panic", false}} {
		failing := pgcluster.ServerStatements("tokens", `marker = "`+tc.marker+`"`, "")[0]
		if err := pgcluster.Exec(ctx, c, "set log_min_error_statement = "+tc.level, failing); err == nil {
			t.Fatal("creating a server that exists did not fail")
		}
		log, err := os.ReadFile(cluster.Log())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), tc.marker) != tc.logged {
			t.Fatalf("log_min_error_statement = %s: the failed statement's config in the log: %v, want %v", tc.level, !tc.logged, tc.logged)
		}
	}
	err := pgcluster.Exec(ctx, c, pgcluster.ServerStatements("tokens", servers()["tokens"].server, servers()["tokens"].mapping)...)
	want := `create server tokens foreign data wrapper steampipe_postgres_tokens: ERROR: server "tokens" already exists (SQLSTATE 42710)`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	// the setting is a superuser's, as the README says
	if err := pgcluster.Exec(ctx, c, "create role tokens_plain login"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pgcluster.Exec(ctx, c, "drop role tokens_plain") })
	plain, err := pgx.Connect(ctx, strings.Replace(cluster.DSN(), "//postgres@", "//tokens_plain@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctx)
	_, err = plain.Exec(ctx, "set log_min_error_statement = panic")
	if want := `ERROR: permission denied to set parameter "log_min_error_statement" (SQLSTATE 42501)`; err == nil || err.Error() != want {
		t.Fatalf("a plain role setting log_min_error_statement: %v, want %s", err, want)
	}
}
