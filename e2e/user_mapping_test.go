//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Credentials live in user mappings (wrapper patch 0010): a server's options are
// readable by every role, a mapping's only by its role, the server's owner and
// superusers. Roles here are plain login roles; postgres's mapping on each server of
// servers() holds the sandbox's credentials.

// sqlExec runs statements.
func sqlExec(t testing.TB, c *pgx.Conn, stmts ...string) {
	t.Helper()
	if err := pgcluster.Exec(context.Background(), c, stmts...); err != nil {
		t.Fatal(err)
	}
}

// plainRole creates a login role that may read the tables of the given schemas, and
// drops it (with its user mappings) at the end of the test.
func plainRole(t testing.TB, admin *pgx.Conn, name string, schemas ...string) {
	t.Helper()
	stmts := []string{"create role " + name + " login"}
	for _, s := range schemas {
		stmts = append(stmts, "grant usage on schema "+s+" to "+name, "grant select on all tables in schema "+s+" to "+name)
	}
	sqlExec(t, admin, stmts...)
	t.Cleanup(func() { sqlExec(t, admin, "drop owned by "+name, "drop role "+name) })
}

// connectAs opens a session as role; notices (warnings) go to notices when given.
func connectAs(t testing.TB, dsn, role string, notices *[]*pgconn.Notice) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(strings.Replace(dsn, "//postgres@", "//"+role+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if notices != nil {
			mu.Lock()
			*notices = append(*notices, n)
			mu.Unlock()
		}
	}
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func mapping(t testing.TB, admin *pgx.Conn, role, server, config string) {
	t.Helper()
	sqlExec(t, admin, "create user mapping for "+role+" server "+server+" options (config "+pgcluster.Quote(config)+")")
}

// legacyServer is a server with the sandbox's credentials in its options, as the
// README told users before user mappings, imported into schema legacy; gone after the
// test, so that no other test's catalogs hold credentials.
func legacyServer(t testing.TB, admin *pgx.Conn) {
	t.Helper()
	sqlExec(t, admin, pgcluster.ServerStatements("legacy", string(sb.ConnectionConfig(sbURL, nil)), "")...)
	t.Cleanup(func() { sqlExec(t, admin, "drop schema legacy cascade", "drop server legacy cascade") })
}

func textOf(rows []map[string]any) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintln(&b, r)
	}
	return b.String()
}

// A plain role reads no credential in any catalog that shows server or mapping
// options; a mapped role reads its own mapping there, and no other.
func TestCatalogsShowAPlainRoleNoCredentials(t *testing.T) {
	admin := fresh(t)
	plainRole(t, admin, "tokens_carol", "tokens")
	plainRole(t, admin, "tokens_alice", "tokens")
	// an account of her own (sb and clean share credentials), never queried here
	own := sandbox.New(sandbox.Config{Estate: "clean", Seed: 5})
	mapping(t, admin, "tokens_alice", "tokens", string(own.ConnectionConfig("http://127.0.0.1:9", nil)))
	// PostgreSQL shows a role its own mapping's options when it may use the server
	sqlExec(t, admin, "grant usage on foreign server tokens to tokens_alice")
	catalogs := []string{
		"select srvname, srvoptions::text as options from pg_foreign_server",
		"select srvname, usename, umoptions::text as options from pg_user_mappings",
		"select foreign_server_name, option_name, option_value from information_schema.foreign_server_options",
		"select foreign_server_name, authorization_identifier, option_name, option_value from information_schema.user_mapping_options",
	}
	carol := connectAs(t, cluster.DSN(), "tokens_carol", nil)
	var seen string
	for _, sql := range catalogs {
		text := textOf(mustRows(t, carol, sql))
		if n, found := secretIn(text); found {
			t.Fatalf("tokens_carol reads a credential (%d chars) in: %s", n, sql)
		}
		for _, secret := range own.Secrets() {
			if strings.Contains(text, secret) {
				t.Fatalf("tokens_carol reads a credential of tokens_alice's mapping in: %s", sql)
			}
		}
		seen += text
	}
	// the options are there to read: the server's (the owner's settings), and that
	// postgres's and tokens_alice's mappings exist, without their options
	for _, want := range []string{"allow_user_token_revoke", "map[options:<nil> srvname:tokens usename:postgres]",
		"map[options:<nil> srvname:tokens usename:tokens_alice]"} {
		if !strings.Contains(seen, want) {
			t.Fatalf("the catalogs tokens_carol reads lack %q:\n%s", want, seen)
		}
	}
	alice := connectAs(t, cluster.DSN(), "tokens_alice", nil)
	text := ""
	for _, sql := range catalogs { // not mustRows: her own credentials are there
		rows, err := alice.Query(context.Background(), sql)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pgx.CollectRows(rows, pgx.RowToMap)
		if err != nil {
			t.Fatal(err)
		}
		text += textOf(r)
	}
	for _, s := range sb.Secrets() {
		if strings.Contains(text, s) {
			t.Fatal("tokens_alice reads a credential of postgres's mapping")
		}
	}
	if !strings.Contains(text, own.VercelToken()) {
		t.Fatal("tokens_alice does not read her own mapping")
	}
}

// A role may create its own mapping (USAGE on the server): one that gives only an
// address gets no credential sent there, neither the server's nor the environment's.
func TestAMappedAddressNeverGetsTheServersToken(t *testing.T) {
	admin := fresh(t)
	legacyServer(t, admin)
	plainRole(t, admin, "tokens_dave", "legacy")
	sqlExec(t, admin, "grant usage on foreign server legacy to tokens_dave")
	dave := connectAs(t, cluster.DSN(), "tokens_dave", nil)
	sqlExec(t, dave, "create user mapping for current_user server legacy options (config "+
		pgcluster.Quote(`vercel_base_url = "`+cleanURL+`/vercel"`)+")")
	clean.ResetRequests()
	_, err := rowsOf(t, dave, "select id from legacy.user_tokens where provider = 'vercel'")
	want := `connection "legacy": vercel_api_token is not set, but vercel_base_url is set (user mapping); set vercel_api_token in the user mapping's config`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %s", err, want)
	}
	if r := clean.Requests(); len(r) != 0 {
		t.Fatalf("the address tokens_dave mapped got %d requests: %v", len(r), r)
	}
	if n := count(sandbox.ProviderVercel, "", ""); n != 0 {
		t.Fatalf("the server's Vercel got %d requests", n)
	}
	// the server's token works for a role without a mapping
	if rows := mustRows(t, admin, "select id from legacy.user_tokens where provider = 'vercel'"); len(rows) != len(sb.VercelTokens()) {
		t.Fatalf("postgres, without a mapping on legacy: %d rows", len(rows))
	}
}

func TestARoleWithoutAMappingIsNotConfigured(t *testing.T) {
	admin := fresh(t)
	plainRole(t, admin, "tokens_erin", "tokens")
	erin := connectAs(t, cluster.DSN(), "tokens_erin", nil)
	for _, tc := range []struct{ sql, want string }{
		{"select id from tokens.user_tokens", `connection "tokens": user_tokens has no upstream configured: set vercel_api_token (or VERCEL_API_TOKEN) for Vercel`},
		{"select url from tokens.sign_in_tokens where user_id = 'user_x'", `connection "tokens": clerk_secret_key (or CLERK_SECRET_KEY) is not set, but sign_in_tokens needs an instance secret key`},
	} {
		if _, err := rowsOf(t, erin, tc.sql); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want %s", tc.sql, err, tc.want)
		}
	}
	if r := sb.Requests(); len(r) != 0 {
		t.Fatalf("%d requests: %v", len(r), r)
	}
}

// Credentials in a server's options still work, and each session that uses them is
// warned once, with the arguments' names only.
func TestServerOptionCredentialsWarnOncePerSession(t *testing.T) {
	admin := fresh(t)
	legacyServer(t, admin)
	const want = "server legacy: its options hold vercel_api_token, query_server_token, gitlab_token, okta_api_token, clerk_secret_key, which every role can read in pg_foreign_server; move them into a user mapping: create user mapping for <role> server legacy options (config '...')"
	for session := range 2 {
		var notices []*pgconn.Notice
		c := connectAs(t, cluster.DSN(), "postgres", &notices)
		for range 3 {
			if rows := mustRows(t, c, "select id from legacy.user_tokens"); len(rows) != len(sb.VercelTokens())+6+len(sb.GitLabTokens())+len(sb.OktaTokens()) {
				t.Fatalf("%d rows", len(rows))
			}
		}
		var got []string
		for _, n := range notices {
			got = append(got, n.Severity+": "+n.Message)
			checkNoSecret(t, n.Message+n.Detail+n.Hint, "the warning")
		}
		if !slices.Equal(got, []string{"WARNING: " + want}) {
			t.Fatalf("session %d: notices %q, want one warning %q", session+1, got, want)
		}
	}
	// a role whose mapping replaces every provider is not warned
	plainRole(t, admin, "tokens_frank", "legacy")
	mapping(t, admin, "tokens_frank", "legacy", `vercel_api_token = ""`+"\n"+`query_server_url = ""`+"\n"+`gitlab_token = ""`+"\n"+`okta_api_token = ""`+"\n"+`clerk_secret_key = ""`)
	var notices []*pgconn.Notice
	frank := connectAs(t, cluster.DSN(), "tokens_frank", &notices)
	if _, err := rowsOf(t, frank, "select id from legacy.user_tokens"); err == nil || len(notices) != 0 {
		t.Fatalf("tokens_frank, who maps every provider away: %v, notices %v", err, notices)
	}
}

// The validator refuses what the extension would ignore or the plugin refuse, at
// create and alter, without quoting a value.
func TestServerAndMappingOptionsAreChecked(t *testing.T) {
	admin := fresh(t)
	plainRole(t, admin, "tokens_gina", "tokens")
	secret := "s3cr3t" + "-in-a-refused-mapping"
	for _, tc := range []struct{ sql, want string }{
		{"create server refused foreign data wrapper " + pgcluster.Extension + " options (config '', username 'x')",
			`ERROR: a server of this extension takes one option, config (the body of a connection block), not "username" (SQLSTATE HV000)`},
		{"create server refused foreign data wrapper " + pgcluster.Extension + " options (config 'user_mapping = \"vercel_api_token = \\\"" + secret + "\\\"\"')",
			`ERROR: a server's config cannot set user_mapping: it carries a role's user mapping; put that config in a user mapping instead: create user mapping for <role> server <server> options (config '...') (SQLSTATE HV000)`},
		{"create user mapping for tokens_gina server tokens options (password '" + secret + "')",
			`ERROR: a user mapping of this extension takes one option, config (the body of a connection block), not "password" (SQLSTATE HV000)`},
		{"create user mapping for tokens_gina server tokens options (config 'vercel_api_tokn = \"" + secret + "\"')",
			`ERROR: the user mapping's config does not parse: line 1: Unsupported argument: An argument named "vercel_api_tokn" is not expected here. Did you mean "vercel_api_token"? (SQLSTATE HV000)`},
		{"create user mapping for tokens_gina server tokens options (config 'vercel_api_token = \"" + secret + "')",
			`ERROR: the user mapping's config does not parse: line 1: `},
		{"create user mapping for tokens_gina server tokens options (config 'allow_user_token_revoke = true')",
			`ERROR: the user mapping's config sets allow_user_token_revoke, which only the server's config may set (they are the server owner's) (SQLSTATE HV000)`},
		{"create user mapping for tokens_gina server tokens options (config 'user_mapping = \"vercel_api_token = 1\"')",
			`ERROR: the user mapping's config sets user_mapping, which is the extension's own attribute (SQLSTATE HV000)`},
		{"alter user mapping for postgres server tokens options (set config 'max_retries = 0')",
			`ERROR: the user mapping's config sets max_retries, which only the server's config may set (they are the server owner's) (SQLSTATE HV000)`},
	} {
		_, err := admin.Exec(context.Background(), tc.sql)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s\n error %v\n want %s", strings.SplitN(tc.sql, " options", 2)[0], err, tc.want)
		}
	}
	// the refused statements' text is not in the log (pgcluster's log_min_error_statement
	// = panic); at PostgreSQL's default, error, it is, as the README says
	if log, err := os.ReadFile(cluster.Log()); err != nil || strings.Contains(string(log), secret) {
		t.Fatalf("a refused mapping's value is in the PostgreSQL log (%v)", err)
	}
	sqlExec(t, admin, "set log_min_error_statement = error")
	if _, err := admin.Exec(context.Background(), "create user mapping for tokens_gina server tokens options (config 'marker = \"logged-at-error\"')"); err == nil {
		t.Fatal("a mapping with an unknown argument was accepted")
	}
	sqlExec(t, admin, "set log_min_error_statement = panic")
	if log, err := os.ReadFile(cluster.Log()); err != nil || !strings.Contains(string(log), "logged-at-error") {
		t.Fatalf("at log_min_error_statement = error, a refused mapping's text is not in the log (%v)", err)
	}
	// the refused alter left postgres's mapping as it was
	if rows := mustRows(t, admin, "select id from tokens.user_tokens where provider = 'vercel'"); len(rows) != len(sb.VercelTokens()) {
		t.Fatalf("%d rows after a refused alter", len(rows))
	}
}

// ALTER USER MAPPING reaches the sessions that used the mapping from their next
// query, as ALTER SERVER does; a mapping that does not parse (stored with the
// validator off) fails them with the parse error, never the value, until fixed.
func TestAlterUserMappingTakesEffect(t *testing.T) {
	admin := fresh(t)
	sqlExec(t, admin, pgcluster.ServerStatements("remapped", "", string(sb.ConnectionConfig(sbURL, nil)))...)
	t.Cleanup(func() { sqlExec(t, admin, "drop schema remapped cascade", "drop server remapped cascade") })
	other := connect(t)
	const q = "select count(*) as n from remapped.user_tokens where provider = 'vercel'"
	check := func(step string, n int) {
		t.Helper()
		for i, s := range []*pgx.Conn{admin, other} {
			if rows, err := rowsOf(t, s, q); err != nil || !reflect.DeepEqual(rows, []map[string]any{{"n": int64(n)}}) {
				t.Fatalf("%s, session %d: %v %v, want %d", step, i+1, rows, err, n)
			}
		}
	}
	alter := func(config string) {
		t.Helper()
		sqlExec(t, admin, "alter user mapping for current_user server remapped options (set config "+pgcluster.Quote(config)+")")
	}
	check("before", len(sb.VercelTokens()))
	alter(string(clean.ConnectionConfig(cleanURL, nil)))
	check("mapped to another account", len(clean.VercelTokens()))
	secret := "s3cr3t" + "-in-a-stored-mapping"
	sqlExec(t, admin, "alter foreign data wrapper "+pgcluster.Extension+" no validator")
	t.Cleanup(func() {
		sqlExec(t, admin, "alter foreign data wrapper "+pgcluster.Extension+" validator steampipe_tokens_fdw_validator")
	})
	alter(`vercel_api_tokn = "` + secret + `"`)
	const unparsed = `connection "remapped": the user mapping's config does not parse: line 1: Unsupported argument: An argument named "vercel_api_tokn" is not expected here. Did you mean "vercel_api_token"?; fix it with alter user mapping ... options (set config '...')`
	for i, s := range []*pgx.Conn{admin, other} {
		for try := range 2 {
			if _, err := rowsOf(t, s, q); err == nil || !strings.Contains(err.Error(), unparsed) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("session %d, query %d with a mapping that does not parse: %v", i+1, try+1, err)
			}
		}
	}
	alter(string(sb.ConnectionConfig(sbURL, nil)))
	check("fixed", len(sb.VercelTokens()))
}

// Two roles with their own Vercel accounts, the query cache on: parallel sessions, one
// session switching roles (with the same prepared statement), and a view, which
// reads as its owner.
func TestRolesReadTheirOwnAccountsWithTheCacheOn(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("/tmp", "tokens-e2e-cache-")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Build: "../build/postgres", Env: []string{"STEAMPIPE_LOG_LEVEL=DEBUG"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Stop() })
	// the accounts: two sandboxes of their own, so that the request counts are this test's
	alice, bob := sandbox.New(sandbox.Config{Seed: 3}), sandbox.New(sandbox.Config{Estate: "clean", Seed: 4})
	aliceSrv, bobSrv := httptest.NewServer(alice), httptest.NewServer(bob)
	t.Cleanup(aliceSrv.Close)
	t.Cleanup(bobSrv.Close)
	admin, err := pgx.Connect(ctx, c2.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	sqlExec(t, admin, append([]string{"create extension " + pgcluster.Extension}, pgcluster.ServerStatements("tokens", "max_retries = 1", "")...)...)
	for role, s := range map[string]*sandbox.Sandbox{"tokens_alice": alice, "tokens_bob": bob} {
		url := aliceSrv.URL
		if s == bob {
			url = bobSrv.URL
		}
		sqlExec(t, admin, "create role "+role+" login", "grant usage on schema tokens to "+role, "grant select on all tables in schema tokens to "+role)
		mapping(t, admin, role, "tokens", string(s.ConnectionConfig(url, nil)))
	}
	const q = "select id from tokens.user_tokens where provider = 'vercel' order by id"
	ids := func(s *sandbox.Sandbox) []string {
		var out []string
		for _, tok := range s.VercelTokens() {
			out = append(out, tok.ID)
		}
		slices.Sort(out)
		return out
	}
	got := func(c *pgx.Conn) ([]string, error) {
		rows, err := c.Query(ctx, q)
		if err != nil {
			return nil, err
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, secret := range append(alice.Secrets(), bob.Secrets()...) {
			if strings.Contains(fmt.Sprint(out, err), secret) {
				return nil, fmt.Errorf("a secret in a result or error")
			}
		}
		return out, err
	}
	lists := func(s *sandbox.Sandbox) int { return s.Count(sandbox.ProviderVercel, "GET", "/v6/user/tokens") }

	// parallel sessions, five queries each: each its own account, listed once
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for role, s := range map[string]*sandbox.Sandbox{"tokens_alice": alice, "tokens_bob": bob} {
		c := connectAs(t, c2.DSN(), role, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if rows, err := got(c); err != nil || !slices.Equal(rows, ids(s)) {
					errs <- fmt.Errorf("%s, query %d: %v %v, want %v", role, i+1, rows, err, ids(s))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(ids(alice)) == len(ids(bob)) || lists(alice) != 1 || lists(bob) != 1 {
		t.Fatalf("Vercel listings: alice's account %d, bob's %d; want 1 each (the cache answers the rest)", lists(alice), lists(bob))
	}

	// one session, SET ROLE between queries of the same prepared statement: the cache
	// never answers one role with the other's rows; once the connection's config has
	// changed in a session, its cache is off there
	alice.ResetRequests()
	bob.ResetRequests()
	switcher := connectAs(t, c2.DSN(), "postgres", nil) // a session whose first config is alice's
	for i, step := range []struct {
		role       string
		account    *sandbox.Sandbox
		alice, bob int // listings so far
	}{
		{"tokens_alice", alice, 1, 0},
		{"tokens_alice", alice, 1, 0},
		{"tokens_bob", bob, 1, 1},
		{"tokens_alice", alice, 2, 1},
		{"tokens_alice", alice, 3, 1},
	} {
		sqlExec(t, switcher, "set role "+step.role)
		if rows, err := got(switcher); err != nil || !slices.Equal(rows, ids(step.account)) {
			t.Fatalf("step %d as %s: %v %v (listings: alice's account %d, bob's %d)", i+1, step.role, rows, err, lists(alice), lists(bob))
		}
		if lists(alice) != step.alice || lists(bob) != step.bob {
			t.Fatalf("step %d: listings %d and %d, want %d and %d", i+1, lists(alice), lists(bob), step.alice, step.bob)
		}
	}

	// a scan PostgreSQL ends early (a LIMIT the plugin is not given) goes on listing,
	// with the cache on to the end: the next role's identical query must not be served
	// its rows (the config changes once that listing has ended, and the cache is off
	// from then on). Each round is a new session, whose first config is tokens_slow's.
	slow := sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 239}, Latency: 100 * time.Millisecond, Seed: 6})
	slowSrv := httptest.NewServer(slow)
	t.Cleanup(slowSrv.Close)
	sqlExec(t, admin, "create role tokens_slow login", "grant usage on schema tokens to tokens_slow", "grant select on all tables in schema tokens to tokens_slow")
	mapping(t, admin, "tokens_slow", "tokens", string(slow.ConnectionConfig(slowSrv.URL, nil)))
	const unpushed = "select id from tokens.user_tokens where provider = 'vercel' and name like '%' order by id"
	for i := range 3 {
		s := connectAs(t, c2.DSN(), "postgres", nil)
		sqlExec(t, s, "set role tokens_slow")
		if rows, err := rowsOf(t, s, unpushed+" limit 1"); err != nil || len(rows) != 1 {
			t.Fatalf("round %d, tokens_slow: %v %v", i+1, rows, err)
		}
		sqlExec(t, s, "set role tokens_bob")
		rows, err := s.Query(ctx, unpushed)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || !slices.Equal(got, ids(bob)) {
			t.Fatalf("round %d, tokens_bob after tokens_slow's early end: %d rows %v, want bob's %v", i+1, len(got), err, ids(bob))
		}
	}

	// a view reads as its owner, as postgres_fdw does; one statement cannot read the
	// connection as two roles at once
	sqlExec(t, admin, "create view alice_tokens as select id from tokens.user_tokens where provider = 'vercel'",
		"alter view alice_tokens owner to tokens_alice", "grant select on alice_tokens to tokens_bob")
	bobSession := connectAs(t, c2.DSN(), "tokens_bob", nil)
	rows, err := bobSession.Query(ctx, "select id from alice_tokens order by id")
	if err != nil {
		t.Fatal(err)
	}
	if viaView, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || !slices.Equal(viaView, ids(alice)) {
		t.Fatalf("tokens_bob through tokens_alice's view: %v %v, want alice's %v", viaView, err, ids(alice))
	}
	_, err = bobSession.Exec(ctx, "select v.id from alice_tokens v join tokens.user_tokens u on u.id = v.id")
	if want := "connection 'tokens': one statement cannot read it as both"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a statement reading as two roles: %v, want %s", err, want)
	}

	log, err := os.ReadFile(c2.Log())
	if err != nil || len(log) < 1000 {
		t.Fatalf("the log: %d bytes, %v", len(log), err)
	}
	for _, secret := range append(alice.Secrets(), bob.Secrets()...) {
		if strings.Contains(string(log), secret) {
			t.Fatalf("a secret (%d chars) in the PostgreSQL log", len(secret))
		}
	}
}

// PostgreSQL's rule picks the mapping: the role's own, else PUBLIC's.
func TestAPublicMappingIsTheFallback(t *testing.T) {
	admin := fresh(t)
	sqlExec(t, admin, pgcluster.ServerStatements("pub", "", "")...)
	t.Cleanup(func() { sqlExec(t, admin, "drop schema pub cascade", "drop server pub cascade") })
	plainRole(t, admin, "tokens_hank", "pub")
	mapping(t, admin, "public", "pub", string(sb.ConnectionConfig(sbURL, nil)))
	mapping(t, admin, "postgres", "pub", string(clean.ConnectionConfig(cleanURL, nil)))
	const q = "select id from pub.user_tokens where provider = 'vercel'"
	hank := connectAs(t, cluster.DSN(), "tokens_hank", nil)
	if rows := mustRows(t, hank, q); len(rows) != len(sb.VercelTokens()) {
		t.Fatalf("tokens_hank, through PUBLIC's mapping: %d rows, want %d", len(rows), len(sb.VercelTokens()))
	}
	if rows := mustRows(t, admin, q); len(rows) != len(clean.VercelTokens()) {
		t.Fatalf("postgres, through its own mapping: %d rows, want %d", len(rows), len(clean.VercelTokens()))
	}
}

// A scan that fails inside a savepoint is forgotten when the savepoint is rolled back:
// the transaction goes on, and may read the connection as another role.
func TestAScanRolledBackToASavepointIsForgotten(t *testing.T) {
	admin := fresh(t)
	sqlExec(t, admin, pgcluster.ServerStatements("savepoints", "", string(sb.ConnectionConfig(sbURL, nil)))...)
	t.Cleanup(func() { sqlExec(t, admin, "drop schema savepoints cascade", "drop server savepoints cascade") })
	plainRole(t, admin, "tokens_frank", "savepoints")
	mapping(t, admin, "tokens_frank", "savepoints", string(clean.ConnectionConfig(cleanURL, nil)))
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Method: "GET", Path: "/v6/user/tokens", Kind: "status", Status: 403, Times: 1})
	const q = "select count(*) as n from savepoints.user_tokens where provider = 'vercel'"
	sqlExec(t, admin, "begin", "savepoint before_the_failure")
	if _, err := rowsOf(t, admin, q); err == nil || !strings.Contains(err.Error(), "403 Forbidden") {
		t.Fatalf("the failing scan: %v, want Vercel's 403", err)
	}
	sqlExec(t, admin, "rollback to savepoint before_the_failure", "set local role tokens_frank")
	rows, err := rowsOf(t, admin, q)
	sqlExec(t, admin, "commit")
	if want := []map[string]any{{"n": int64(len(clean.VercelTokens()))}}; err != nil || !reflect.DeepEqual(rows, want) {
		t.Fatalf("as tokens_frank after the rollback: %v %v, want %v", rows, err, want)
	}
}
