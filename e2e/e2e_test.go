//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/pgcluster"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// fresh gives a test the sandbox's own data and an empty request log, and puts both
// back afterwards: no test depends on another (go test -shuffle=on).
func fresh(t testing.TB) *pgx.Conn {
	t.Helper()
	sb.Reset()
	t.Cleanup(sb.Reset)
	return connect(t)
}

func TestColumnsAndTypesAsPostgresSeesThem(t *testing.T) {
	c := fresh(t)
	want := map[string][]string{
		"user_tokens": {"provider text", "id text", "name text", "title text", "email text", "owner_active boolean", "team_id text",
			"type text", "origin text", "scopes jsonb", "prefix text", "suffix text", "can_write boolean",
			"active boolean", "is_current boolean", "created_at timestamp with time zone",
			"updated_at timestamp with time zone", "expires_at timestamp with time zone",
			"last_used_at timestamp with time zone", "revoked_at timestamp with time zone",
			"leaked_at timestamp with time zone", "leaked_url text", "network jsonb"},
		"user_token_actions": {"action text", "provider text", "id text", "new_id text", "email text", "name text", "team_id text",
			"can_write boolean", "expires_at timestamp with time zone", "status text", "token text",
			"created_at timestamp with time zone", "note text"},
		"token_providers": {"provider text", "title text", "table_name text", "configured boolean", "address text", "config_error text",
			"records_last_use boolean", "records_revocation_time boolean", "detects_leaks boolean", "has_read_only_tokens boolean",
			"limits_to_team boolean", "restricts_network boolean", "knows_owner_active boolean", "knows_current_token boolean",
			"extends_expiry_on_use boolean", "supports_create boolean", "supports_update boolean", "supports_rotate boolean", "supports_revoke boolean"},
		"sign_in_tokens": {"id text", "user_id text", "org_id text", "status text", "url text", "token text",
			"expires_in_seconds bigint", "expires_at timestamp with time zone",
			"created_at timestamp with time zone", "updated_at timestamp with time zone"},
	}
	for table, cols := range want {
		rows := mustRows(t, c, `select column_name || ' ' || data_type as col from information_schema.columns
			where table_schema = 'tokens' and table_name = $1 and column_name not in ('sp_connection_name', 'sp_ctx', '_ctx')
			order by ordinal_position`, table)
		var got []string
		for _, r := range rows {
			got = append(got, r["col"].(string))
		}
		if !slices.Equal(got, cols) {
			t.Errorf("%s\n got %v\nwant %v", table, got, cols)
		}
	}
}

// Every row, with the values a compliance query looks at, as PostgreSQL sees them
// (written out from internal/sandbox/data.go; tokens/user_tokens_test.go checks every column).
func TestEveryRowAsPostgresSeesIt(t *testing.T) {
	c := fresh(t)
	rows := mustRows(t, c, `select provider || '/' || id as key, active, can_write, owner_active, is_current,
		expires_at is null as never, last_used_at is null as unused, team_id from user_tokens order by provider, created_at, id`)
	var got []string
	for _, r := range rows {
		got = append(got, strings.TrimSuffix(fmt.Sprintln(r["key"], r["active"], r["can_write"], r["owner_active"], r["is_current"], r["never"], r["unused"], r["team_id"]), "\n"))
	}
	want := []string{
		// gitlab: id, active, can_write, owner_active, is_current, never expires, never used, team
		"gitlab/2 true true true false true false <nil>",
		"gitlab/1 true true true true false false <nil>",
		"gitlab/5 true true false false false false <nil>",
		"gitlab/4 false true true false false false <nil>", // created the same day as 8
		"gitlab/8 false true true false false false acme/platform/api",
		"gitlab/7 true true true false false false acme/platform",
		"gitlab/6 true false false false false true <nil>",
		"gitlab/3 true false true false false false <nil>",
		"gitlab/11 true true true false false false other",
		"gitlab/9 true false true false false true <nil>",
		"gitlab/10 true false true false false false <nil>",
		// Okta: a read-only admin's; a deactivated owner's (rejected); the super admin's two;
		// a custom role's; an owner without an admin role; a suspended owner's (still usable)
		"okta/" + sandbox.OktaTokenReporting + " true false true <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenFormer + " false true false <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenAudit + " true true true <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenTerraform + " true true true <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenHelpdesk + " true true true <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenExpiredPW + " true false true <nil> false true <nil>",
		"okta/" + sandbox.OktaTokenOnLeave + " true true false <nil> false true <nil>",
		"query_server/6 true true false false true true <nil>",
		"query_server/1 true true true true true true <nil>",
		"query_server/2 true true true false false true <nil>",
		"query_server/3 true false true false false true <nil>",
		"query_server/4 false false true false false true <nil>",
		"query_server/5 false true true false false true <nil>",
		"vercel/tok_0ldM0n1t0r1ng4Lp8Kq true true <nil> false true false <nil>",
		"vercel/" + sandbox.CurrentVercelTokenID + " true true <nil> true true false <nil>",
		"vercel/tok_2CiD3pl0yEr7Qa9Zb1Xc true true <nil> false false false " + sandbox.TeamPlatform,
		"vercel/tok_Cr0ssT3amAut0mat10n true true <nil> false false false " + sandbox.TeamAnalytics,
		"vercel/tok_R3v0k3dL4pt0pWq2Ez5 false true <nil> false true false <nil>",
		"vercel/tok_L3ak3dTh3nR3v0k3d8P false true <nil> false true false <nil>",
		"vercel/tok_Exp1r3dPr3v13wB0t77 false true <nil> false false false " + sandbox.TeamAnalytics,
		"vercel/tok_L3ak3dK3yGh4Jk5Lm6N true true <nil> false true false <nil>",
		"vercel/tok_Un1c0d3Pr0dD3pl0y9Z true true <nil> false false false " + sandbox.TeamPlatform,
		"vercel/tok_Rayc4stM1n1mal0K3y true true <nil> false false false <nil>",
		"vercel/tok_V3rc3lCl1Sud0T0tp5 true true <nil> false false false <nil>",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n got %q\nwant %q", got, want)
	}
	// The timestamps are timestamptz, at the millisecond Vercel sent.
	r := mustRows(t, c, `select created_at from user_tokens where id = $1`, sandbox.CurrentVercelTokenID)
	if ts, ok := r[0]["created_at"].(time.Time); !ok || !ts.Equal(sb.Now().Add(-200*24*time.Hour)) {
		t.Fatalf("created_at %v", r[0]["created_at"])
	}
}

func TestRequestsAPushedDownQueryMakes(t *testing.T) {
	for _, tc := range []struct {
		name, sql   string
		args        []any
		rows        int
		vercel, qs  int
		vercelQuery string
	}{
		{"id = ... is one GET", "select id, name from user_tokens where id = $1", []any{"tok_L3ak3dK3yGh4Jk5Lm6N"}, 1, 1, 0, ""},
		{"limit 5 is one page of 5", "select id from user_tokens where provider = 'vercel' limit 5", nil, 5, 1, 0, "limit=5"},
		{"provider = 'query_server' never asks Vercel", "select id from user_tokens where provider = 'query_server'", nil, 6, 0, 1, ""},
		{"a team is every Vercel page", "select id from user_tokens where team_id = $1", []any{sandbox.TeamAnalytics}, 2, 1, 0, "limit=100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fresh(t)
			rows := mustRows(t, c, tc.sql, tc.args...)
			v, q := count(sandbox.ProviderVercel, "", ""), count(sandbox.ProviderQueryServer, "", "")
			var vercelQuery string
			if i := slices.IndexFunc(sb.Requests(), func(r sandbox.Request) bool { return r.Provider == sandbox.ProviderVercel }); i >= 0 {
				vercelQuery = sb.Requests()[i].RawQuery
			}
			if len(rows) != tc.rows || v != tc.vercel || q != tc.qs || (tc.vercelQuery != "" && vercelQuery != tc.vercelQuery) {
				t.Fatalf("%d rows, Vercel %d, Query Server %d: %v", len(rows), v, q, sb.Requests())
			}
		})
	}
}

// A join condition other than the key's equality was dropped when PostgreSQL chose
// the wrapper's parameterized path (wrapper patch 0011): rows it excludes came back.
// The same query over materialized CTEs, which no path can parameterize, agrees.
func TestAJoinConditionIsNeverDropped(t *testing.T) {
	c := fresh(t)
	// the plan the defect needs: token_providers drives a nested loop whose inner
	// user_tokens scan takes provider = p.provider as a parameter
	mustRows(t, c, "set enable_hashjoin = off")
	mustRows(t, c, "set enable_mergejoin = off")
	var plan []string
	for _, r := range mustRows(t, c, "explain (costs off) "+joinWithACondition) {
		plan = append(plan, fmt.Sprint(r["QUERY PLAN"]))
	}
	if p := strings.Join(plan, "\n"); !regexp.MustCompile(`Nested Loop(?s:.*)Foreign Scan on token_providers p(?s:.*)Foreign Scan on user_tokens t`).MatchString(p) {
		t.Fatalf("not the parameterized nested loop:\n%s", p)
	}
	for _, sql := range []string{joinWithACondition, joinWithAConditionMaterialized} {
		var got []string
		for _, r := range mustRows(t, c, sql) {
			got = append(got, fmt.Sprint(r["provider"], "/", r["title"]))
		}
		if !slices.Equal(got, joinWithAConditionRows) {
			t.Errorf("%s\n got %q\nwant %q", sql, got, joinWithAConditionRows)
		}
	}
}

// A join of user_tokens and token_providers whose condition mixes both sides, the
// same over materialized CTEs, and its rows on the audit estate.
const (
	joinWithACondition             = "select t.provider, t.title from user_tokens t join token_providers p using (provider) " + joinCondition
	joinWithAConditionMaterialized = "with t as materialized (select * from user_tokens), p as materialized (select * from token_providers) " +
		"select t.provider, t.title from t join p using (provider) " + joinCondition
	joinCondition = `where t.active and ((p.has_read_only_tokens and t.can_write) or (p.limits_to_team and t.team_id is null))
		order by t.provider, t.title`
)

var joinWithAConditionRows = []string{
	// GitLab limits tokens to teams: every active one without a team, and the writers
	"gitlab/bob's automation", "gitlab/carol sync", "gitlab/ci read", "gitlab/deploy", "gitlab/laptop", "gitlab/monitoring",
	"gitlab/not a bot", "gitlab/other deploy", "gitlab/steampipe-audit",
	// Okta and the Query Server have read-only tokens: their active writers
	"okta/helpdesk bot", "okta/on-leave script", "okta/steampipe-audit", "okta/terraform",
	"query_server/admin@example.com", "query_server/dev@example.com", "query_server/former@example.com",
	// Vercel: the active tokens limited to no team
	"vercel/leaked key", "vercel/old monitoring", "vercel/raycast", "vercel/steampipe-audit", "vercel/vercel cli",
}

// A condition whose value PostgreSQL computes in an InitPlan reached the plugin before
// it was computed: an array as an empty list (wrapper patch 0009), a text as empty
// (patch 0012), and matched nothing. The value is now read at the scan's first row and
// pushed down: GitLab is asked for the tokens by id.
func TestAnInitPlansValueIsPushedDown(t *testing.T) {
	c := fresh(t)
	for _, tc := range []struct {
		sql       string
		rows, ids []string // the rows, and the tokens GitLab is asked for by id
	}{
		{"select id from user_tokens where provider = 'gitlab' and id = (select '5')", []string{"5"}, []string{"5"}},
		{"select id from user_tokens where provider = (select 'gitlab') and id = '5'", []string{"5"}, []string{"5"}},
		{arrayFromAnInitPlan, []string{"5", "6"}, []string{"5", "6"}},
	} {
		sb.ResetRequests()
		var rows, ids []string
		for _, r := range mustRows(t, c, tc.sql) {
			rows = append(rows, fmt.Sprint(r["id"]))
		}
		for _, r := range sb.Requests() {
			if id, ok := strings.CutPrefix(r.Path, "/api/v4/personal_access_tokens/"); ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(rows, tc.rows) || !slices.Equal(ids, tc.ids) {
			t.Errorf("%s: rows %q, tokens asked for %q; want %q, %q", tc.sql, rows, ids, tc.rows, tc.ids)
		}
	}
}

// A lateral scan is rescanned once per outer row, and each rescan reads its conditions
// again at its first row (wrapper patch 0012): with a value computed by a correlated
// subquery, each finds its own token.
func TestAConditionWithACorrelatedSubqueryAcrossRescans(t *testing.T) {
	c := fresh(t)
	rows := mustRows(t, c, `select v.x, t.id from (values ('5'), ('6'), ('7')) v(x),
		lateral (select id from user_tokens where provider = 'gitlab' and id = (select v.x where v.x is not null) || '') t order by v.x`)
	if got := fmt.Sprint(rows); got != "[map[id:5 x:5] map[id:6 x:6] map[id:7 x:7]]" {
		t.Fatalf("rows %s", got)
	}
}

const arrayFromAnInitPlan = "select id from user_tokens where provider = 'gitlab' and " +
	"id = any(array(select id from user_tokens where provider = 'gitlab' and not owner_active)) order by id"

// The LIMIT rule: PostgreSQL passes a LIMIT to the plugin only when every condition is
// on a key column; otherwise the plugin lists everything and PostgreSQL stops reading.
func TestTheLimitRule(t *testing.T) {
	c := fresh(t)
	mustRows(t, c, "select id from user_tokens where provider = 'vercel' and name like '%e%' limit 1")
	if n := count(sandbox.ProviderVercel, "GET", "/v6/user/tokens"); n != 1 || sb.Requests()[0].RawQuery != "limit=100" {
		t.Fatalf("a condition on a column that is not a key column: %v", sb.Requests())
	}
	sb.ResetRequests()
	mustRows(t, c, "select id from user_tokens where provider = 'vercel' limit 1")
	if r := sb.Requests(); len(r) != 1 || r[0].RawQuery != "limit=1" {
		t.Fatalf("only key-column conditions: %v", r)
	}
}

func TestJoinPushesTheKeyPerRow(t *testing.T) {
	c := fresh(t)
	rows := mustRows(t, c, `select v.email, u.provider, u.id from (values ('dev@example.com'), ('nobody@example.com')) as v(email)
		join user_tokens as u on u.email = v.email where u.provider = 'query_server'`)
	if len(rows) != 1 || rows[0]["id"] != "2" || count(sandbox.ProviderVercel, "", "") != 0 {
		t.Fatalf("rows %v, requests %v", rows, sb.Requests())
	}
}

func TestErrorTextsUsersSee(t *testing.T) {
	c := fresh(t)
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"select id from bad_vercel.user_tokens where provider = 'vercel'",
			[]string{`connection "bad_vercel": Vercel: GET /v6/user/tokens: 403 Forbidden forbidden`, "Check vercel_api_token: it must be a classic personal token"}}, // the credentials are in a user mapping: no environment variable
		{"select id from no_upstream.user_tokens",
			[]string{`connection "no_upstream": user_tokens has no upstream configured`, "vercel_api_token (or VERCEL_API_TOKEN)"}},
		{"select id from bad_number.user_tokens", []string{`max_retries = "often" must be a whole number`, "TOKENS_MAX_RETRIES"}},
		{"select url from flags_off.sign_in_tokens where user_id = 'user_x'", []string{"would create a sign-in token", "allow_sign_in_token_create = true"}},
		{"select id from sign_in_tokens", []string{"Clerk cannot list or look up sign-in tokens", "where user_id = 'user_...'"}},
		{"select url from sign_in_tokens where user_id = 'user_nobody'", []string{"Clerk: POST /sign_in_tokens: 404", "resource_not_found", "user_nobody"}},
		{"select id from user_token_actions where provider = 'vercel' and id = 'x'", []string{"give the action and the provider", "action = 'revoke' and provider = 'vercel'"}},
	} {
		_, err := rowsOf(t, c, tc.sql)
		if err == nil {
			t.Fatalf("%s: no error", tc.sql)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s:\n error %q\n lacks %q", tc.sql, err, w)
			}
		}
	}
}

// A connection's config changed with ALTER SERVER applies to the sessions that
// already used it, from their next query: a fixed credential must not need a
// reconnect, a revoked one must stop working, and a config that does not parse
// fails their queries as it fails a new session's.
func TestAlterServerTakesEffect(t *testing.T) {
	c := fresh(t)
	other := connect(t) // a second session that has used the connection too
	good := string(sb.ConnectionConfig(sbURL, nil))
	bad := strings.Replace(good, sb.VercelToken(), "wrong", 1)
	misspelt := strings.Replace(good, "vercel_api_token", "vercel_api_tokn", 1)
	alter := func(cfg string) {
		t.Helper()
		if _, err := c.Exec(context.Background(), "alter server altered options (set config "+pgcluster.Quote(cfg)+")"); err != nil {
			t.Fatal(err)
		}
	}
	alter(good)
	t.Cleanup(func() { alter(servers()["altered"].server) }) // no credentials in the server's options between tests
	const q = "select count(*) as n from altered.user_tokens where provider = 'vercel'"
	vercelRows := []map[string]any{{"n": int64(len(sb.VercelTokens()))}}
	for _, s := range []*pgx.Conn{c, other} {
		if rows, err := rowsOf(t, s, q); err != nil || !reflect.DeepEqual(rows, vercelRows) {
			t.Fatalf("before: %v %v", rows, err)
		}
	}
	alter(bad)
	for i, s := range []*pgx.Conn{c, other} {
		_, err := rowsOf(t, s, q)
		if err == nil || !strings.Contains(err.Error(), `connection "altered": Vercel: GET /v6/user/tokens: 403 Forbidden`) {
			t.Fatalf("session %d after a wrong token was set: %v", i+1, err)
		}
	}
	alter(good)
	for i, s := range []*pgx.Conn{c, other} {
		if rows, err := rowsOf(t, s, q); err != nil || !reflect.DeepEqual(rows, vercelRows) {
			t.Fatalf("session %d after the token was fixed: %v %v", i+1, rows, err)
		}
	}
	alter(misspelt)
	third := connect(t) // a session that never used the connection
	unparsed := regexp.MustCompile(`connection "altered": the connection config does not parse: line \d+: Unsupported argument: An argument named "vercel_api_tokn" is not expected here.`)
	for i, s := range []*pgx.Conn{c, other, third} {
		for try := range 2 { // and again: a failed update is not taken for done
			if rows, err := rowsOf(t, s, q); err == nil || !unparsed.MatchString(err.Error()) {
				t.Fatalf("session %d, query %d after a config that does not parse was set: %v %v", i+1, try+1, rows, err)
			}
		}
	}
	alter(good)
	for i, s := range []*pgx.Conn{c, other, third} {
		if rows, err := rowsOf(t, s, q); err != nil || !reflect.DeepEqual(rows, vercelRows) {
			t.Fatalf("session %d after the config was fixed: %v %v", i+1, rows, err)
		}
	}
}

func TestThrottledProviderStillAnswersEveryRow(t *testing.T) {
	c := fresh(t)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Path: "/v6/user/tokens", Times: 1, Kind: "status", Status: 429, RetryAfter: "0"})
	if rows := mustRows(t, c, "select count(*) as n from user_tokens where provider = 'vercel'"); rows[0]["n"] != int64(11) {
		t.Fatalf("count %v", rows[0]["n"])
	}
}

// A few cases of the fault matrix (tokens/fault_matrix_test.go) again through PostgreSQL.
func TestFaultsThroughPostgres(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault sandbox.Fault
		sql   string
		want  []string // error phrases; none means every row
		rows  int
	}{
		{"Query Server answer cut off once", sandbox.Fault{Provider: sandbox.ProviderQueryServer, Path: "/_/user/token", Kind: "truncate", Times: 1},
			"select id from user_tokens where provider = 'query_server'", nil, 6},
		{"Vercel 500 always", sandbox.Fault{Provider: sandbox.ProviderVercel, Kind: "status", Status: 500},
			"select id from fast_fail.user_tokens where provider = 'vercel'", []string{"500 Internal Server Error", "gave up after 2 attempts"}, 0},
		{"Vercel hangs past request_timeout", sandbox.Fault{Provider: sandbox.ProviderVercel, Kind: "hang"},
			"select id from fast_fail.user_tokens where provider = 'vercel'", []string{"no answer within the request timeout", "Raise request_timeout (or TOKENS_REQUEST_TIMEOUT) (now 500ms)"}, 0},
		{"Clerk create answers 500", sandbox.Fault{Provider: sandbox.ProviderClerk, Path: "/sign_in_tokens", Kind: "status", Status: 500, Times: 1},
			fmt.Sprintf("select url from fast_fail.sign_in_tokens where user_id = '%s'", sandbox.ClerkUsers[2]), []string{"500 Internal Server Error", "Clerk may have created the token anyway"}, 0},
		{"Vercel create answers 502 after acting", sandbox.Fault{Provider: sandbox.ProviderVercel, Path: "/v3/user/tokens", Kind: "acted_then_status", Status: 502},
			"select token from fast_fail.user_token_actions where action = 'create' and provider = 'vercel' and name = 'ci-bot'",
			[]string{"502 Bad Gateway", "Vercel may have created the token anyway", "name = 'ci-bot'"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fresh(t)
			sb.AddFault(tc.fault)
			rows, err := rowsOf(t, c, tc.sql)
			if tc.want == nil {
				if err != nil || len(rows) != tc.rows {
					t.Fatalf("%d rows (want %d), err %v", len(rows), tc.rows, err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// A query that fails always fails. Without the SDK patches (patches/), about 1 in 200
// failing queries came back as empty results through the extension (2 of 400).
func TestFailingQueriesAlwaysFail(t *testing.T) {
	c := fresh(t)
	for i := range 300 {
		if _, err := rowsOf(t, c, "select id from no_upstream.user_tokens"); err == nil {
			t.Fatalf("query %d of a connection with no upstream returned no error", i+1)
		}
	}
}

// A query that fails after some rows fails: it does not end quietly with the rows it
// had (patch 0002). Here Vercel's rows stream while the Query Server fails.
func TestFailuresAfterRowsFail(t *testing.T) {
	c := fresh(t)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Kind: "status", Status: 500})
	for i := range 20 {
		if _, err := rowsOf(t, c, "select id from fast_fail.user_tokens"); err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
}
