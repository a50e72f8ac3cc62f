package tokens

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

// expectedUserTokenColumns is the contract: names, order and types.
var expectedUserTokenColumns = []struct {
	name string
	typ  proto.ColumnType
}{
	{"provider", proto.ColumnType_STRING}, {"id", proto.ColumnType_STRING}, {"name", proto.ColumnType_STRING},
	{"title", proto.ColumnType_STRING}, {"email", proto.ColumnType_STRING}, {"owner_active", proto.ColumnType_BOOL},
	{"team_id", proto.ColumnType_STRING}, {"type", proto.ColumnType_STRING}, {"origin", proto.ColumnType_STRING},
	{"scopes", proto.ColumnType_JSON}, {"prefix", proto.ColumnType_STRING}, {"suffix", proto.ColumnType_STRING},
	{"can_write", proto.ColumnType_BOOL}, {"active", proto.ColumnType_BOOL}, {"is_current", proto.ColumnType_BOOL},
	{"created_at", proto.ColumnType_TIMESTAMP}, {"updated_at", proto.ColumnType_TIMESTAMP},
	{"expires_at", proto.ColumnType_TIMESTAMP}, {"last_used_at", proto.ColumnType_TIMESTAMP},
	{"revoked_at", proto.ColumnType_TIMESTAMP}, {"leaked_at", proto.ColumnType_TIMESTAMP}, {"leaked_url", proto.ColumnType_STRING},
	{"network", proto.ColumnType_JSON},
}

func TestUserTokensSchema(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	res, err := server.GetSchema(&proto.GetSchemaRequest{Connection: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	table := res.Schema.Schema["user_tokens"]
	var got []string
	for _, c := range table.Columns {
		if !strings.HasPrefix(c.Name, "sp_") && c.Name != "_ctx" {
			got = append(got, c.Name)
		}
	}
	var want []string
	for _, c := range expectedUserTokenColumns {
		want = append(want, c.name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("columns\n got %v\nwant %v", got, want)
	}
	for i, c := range table.Columns[:len(want)] {
		if c.Type != expectedUserTokenColumns[i].typ {
			t.Errorf("%s: type %v, want %v", c.Name, c.Type, expectedUserTokenColumns[i].typ)
		}
		if len(c.Description) < 20 || !strings.HasSuffix(c.Description, ".") {
			t.Errorf("%s: description %q is missing or not a sentence", c.Name, c.Description)
		}
	}
	var keys []string
	for _, k := range table.ListCallKeyColumnList {
		if k.Name != "sp_connection_name" { // the SDK's own
			keys = append(keys, k.Name+" "+strings.Join(k.Operators, ","))
		}
	}
	if !slices.Equal(keys, []string{"provider =", "id =", "team_id =", "email =", "active =", "created_at >,>=,<,<=", "last_used_at >,>=,<,<="}) {
		t.Fatalf("list key columns %v", keys)
	}
}

// days is a time relative to the sandbox's reference time.
func days(sb *sandbox.Sandbox, n float64) time.Time {
	return sb.Now().Add(time.Duration(n * 24 * float64(time.Hour))).UTC()
}

// scope is one entry of a scopes column as JSON decodes it.
func scope(sb *sandbox.Sandbox, typ, team, origin string, created float64) map[string]any {
	s := map[string]any{"type": typ, "origin": origin, "createdAt": float64(days(sb, created).UnixMilli())}
	if team != "" {
		s["teamId"] = team
	}
	return s
}

// expectedAuditRows are every row of user_tokens over the sandbox's audit estate,
// written out from internal/sandbox/data.go.
func expectedAuditRows(sb *sandbox.Sandbox) []row {
	ada := "ada@example.com"
	v := func(id, name, typ, origin, prefix, suffix string, scopes any, team any, created, used float64, expires, revoked, leaked any, leakedURL any, active, current bool) row {
		return row{"provider": "vercel", "id": id, "name": name, "title": name, "email": ada, "owner_active": nil,
			"team_id": team, "type": typ, "origin": nilIfEmpty(origin), "scopes": scopes, "prefix": nilIfEmpty(prefix),
			"suffix": nilIfEmpty(suffix), "can_write": true, "active": active, "is_current": current,
			"created_at": days(sb, created), "updated_at": nil, "expires_at": expires, "last_used_at": days(sb, used),
			"revoked_at": revoked, "leaked_at": leaked, "leaked_url": leakedURL, "network": nil}
	}
	d := func(n float64) any { return days(sb, n) }
	user := func(created float64) any { return []any{scope(sb, "user", "", "manual", created)} }
	team := func(created float64, teams ...string) any {
		var s []any
		for _, t := range teams {
			s = append(s, scope(sb, "team", t, "manual", created))
		}
		return s
	}
	sudo := scope(sb, "user", "", "github", -1)
	sudo["sudo"] = map[string]any{"origin": "totp", "verifiedAt": float64(days(sb, -0.9).UnixMilli()), "expiresAt": float64(days(sb, -0.8).UnixMilli())}
	qs := func(id, email string, ownerActive, write, active, current bool, created float64, expires any) row {
		return row{"provider": "query_server", "id": id, "name": nil, "title": email, "email": email, "owner_active": ownerActive,
			"team_id": nil, "type": "user_token", "origin": nil, "scopes": nil, "prefix": nil, "suffix": nil,
			"can_write": write, "active": active, "is_current": current, "created_at": days(sb, created),
			"updated_at": days(sb, created), "expires_at": expires, "last_used_at": nil, "revoked_at": nil,
			"leaked_at": nil, "leaked_url": nil, "network": nil}
	}
	o := func(id, name, email string, ownerActive bool, canWrite any, active bool, created, updated, expires float64, network any) row {
		return row{"provider": "okta", "id": id, "name": name, "title": name, "email": email, "owner_active": ownerActive,
			"team_id": nil, "type": nil, "origin": "Okta API", "scopes": nil, "prefix": nil, "suffix": nil,
			"can_write": canWrite, "active": active, "is_current": nil, "created_at": days(sb, created),
			"updated_at": days(sb, updated), "expires_at": days(sb, expires), "last_used_at": nil, "revoked_at": nil,
			"leaked_at": nil, "leaked_url": nil, "network": network}
	}
	anywhere := map[string]any{"connection": "ANYWHERE"}
	return append([]row{
		v(sandbox.CurrentVercelTokenID, "steampipe-audit", "oauth2-token", "manual", "vcp_", "Aud1t9", user(-200), nil, -200, -0.1, nil, nil, nil, nil, true, true),
		v("tok_2CiD3pl0yEr7Qa9Zb1Xc", "ci-deployer", "oauth2-token", "manual", "vcp_", "Ci7Q2a", team(-100, sandbox.TeamPlatform), sandbox.TeamPlatform, -100, -1, d(20), nil, nil, nil, true, false),
		v("tok_0ldM0n1t0r1ng4Lp8Kq", "old monitoring", "classic", "github", "vcp_", "M0n1t0", user(-400), nil, -400, -120, nil, nil, nil, nil, true, false),
		v("tok_R3v0k3dL4pt0pWq2Ez5", "revoked laptop", "oauth2-token", "email", "vcp_", "L4pt0p", user(-60), nil, -60, -30, nil, d(-10), nil, nil, false, false),
		v("tok_Exp1r3dPr3v13wB0t77", "expired preview bot", "oauth2-token", "manual", "vcp_", "Pr3v13", team(-40, sandbox.TeamAnalytics), sandbox.TeamAnalytics, -40, -8, d(-5), nil, nil, nil, false, false),
		v("tok_L3ak3dK3yGh4Jk5Lm6N", "leaked key", "oauth2-token", "manual", "vcp_", "L3ak3d", user(-30), nil, -30, -2, nil, nil, d(-3), "https://github.com/example/site/blob/main/.env", true, false),
		v("tok_L3ak3dTh3nR3v0k3d8P", "leaked then revoked", "oauth2-token", "manual", "vcp_", "Gh0st1", user(-50), nil, -50, -20, nil, d(-14), d(-15), "https://gist.github.com/example/4f1e2d", false, false),
		v("tok_Un1c0d3Pr0dD3pl0y9Z", `deploy "prod" <main> & ünïcödé ✓`, "oauth2-token", "manual", "vcp_", "Pr0dD9", team(-10, sandbox.TeamPlatform), sandbox.TeamPlatform, -10, -0.5, d(5), nil, nil, nil, true, false),
		v("tok_Cr0ssT3amAut0mat10n", "cross-team automation", "oauth2-token", "manual", "vcp_", "X7eam2", team(-95, sandbox.TeamAnalytics, sandbox.TeamPlatform), sandbox.TeamAnalytics, -95, -3, d(80), nil, nil, nil, true, false),
		v("tok_Rayc4stM1n1mal0K3y", "raycast", "oauth2-token", "", "", "", nil, nil, -5, -5, d(60), nil, nil, nil, true, false),
		v("tok_V3rc3lCl1Sud0T0tp5", "vercel cli", "oauth2-token", "github", "vcp_", "Cl1Sud", []any{sudo}, nil, -1, -0.02, d(45), nil, nil, nil, true, false),
		qs("1", "admin@example.com", true, true, true, true, -300, nil),
		qs("2", "dev@example.com", true, true, true, false, -100, d(20)),
		// stored in milliseconds: the server compares with seconds, so it is still accepted
		qs("3", "analyst@example.com", true, false, true, false, -50, d(-10)),
		qs("4", "expired@example.com", true, false, false, false, -33, d(-3)),
		qs("5", "disabled@example.com", true, true, false, false, -20, d(100)),
		qs("6", "former@example.com", false, true, true, false, -400, nil),
		o(sandbox.OktaTokenAudit, "steampipe-audit", "grace@example.org", true, true, true, -120, -120, 29.5, anywhere),
		o(sandbox.OktaTokenTerraform, "terraform", "grace@example.org", true, true, true, -100, -50, 29, map[string]any{
			"connection": "ZONE", "include": []any{sandbox.OktaZoneCorporate, sandbox.OktaZoneOffice}, "exclude": []any{}}),
		// a read-only admin's token, without a network key
		o(sandbox.OktaTokenReporting, "reporting", "auditor@example.org", true, false, true, -400, -400, 3, nil),
		// a custom admin role can write
		o(sandbox.OktaTokenHelpdesk, "helpdesk bot", "helpdesk@example.org", true, true, true, -60, -60, 25, anywhere),
		// the owner is deactivated: Okta rejects the token
		o(sandbox.OktaTokenFormer, "former admin's sync", "former@example.org", false, true, false, -200, -200, 10, anywhere),
		// the owner is suspended: the token still works
		o(sandbox.OktaTokenOnLeave, "on-leave script", "onleave@example.org", false, true, true, -30, -30, 20, map[string]any{
			"connection": "ZONE", "include": []any{sandbox.OktaZoneOffice}, "exclude": []any{sandbox.OktaZoneBlocked}}),
		// an expired password is a passing state; no admin role is left
		o(sandbox.OktaTokenExpiredPW, "password-expired owner", "expired@example.org", true, false, true, -45, -45, 15, anywhere),
	}, expectedGitLabRows(sb)...)
}

// expectedGitLabRows are the GitLab rows of the audit estate as its administrator sees
// them, written out from internal/sandbox/gitlab.go.
func expectedGitLabRows(sb *sandbox.Sandbox) []row {
	date := func(n int) any { return sb.Now().AddDate(0, 0, n) }
	d := func(n float64) any { return days(sb, n) }
	bot := func(name string) string { return name + "@noreply.gitlab.example.com" }
	g := func(id, name, email string, ownerActive bool, team any, typ string, scopes []any, canWrite, active, current bool,
		created float64, used, expires any) row {
		return row{"provider": "gitlab", "id": id, "name": name, "title": name, "email": email, "owner_active": ownerActive,
			"team_id": team, "type": typ, "origin": nil, "scopes": scopes, "prefix": nil, "suffix": nil, "can_write": canWrite,
			"active": active, "is_current": current, "created_at": days(sb, created), "updated_at": nil, "expires_at": expires,
			"last_used_at": used, "revoked_at": nil, "leaked_at": nil, "leaked_url": nil, "network": nil}
	}
	api, read := []any{"api"}, func(s ...any) []any { return s }
	return []row{
		g("1", "steampipe-audit", "root@example.com", true, nil, "personal", api, true, true, true, -200, d(-0.1), date(165)),
		g("2", "laptop", "alice@example.com", true, nil, "personal", api, true, true, false, -400, d(-1), nil),
		g("3", "ci read", "alice@example.com", true, nil, "personal", read("read_api", "read_repository"), false, true, false, -30, d(-3), date(20)),
		g("4", "old script", "alice@example.com", true, nil, "personal", api, true, false, false, -100, d(-90), date(100)),
		g("5", "bob's automation", "bob@example.com", false, nil, "personal", api, true, true, false, -150, d(-60), date(200)),
		g("6", "carol sync", "carol@example.com", false, nil, "personal", read("read_repository"), false, true, false, -50, nil, date(35)),
		g("7", "deploy", bot("group_2_bot_a1b2c3"), true, "acme/platform", "group", read("read_registry", "write_registry"), true, true, false, -60, d(-2), date(60)),
		g("8", "release", bot("project_10_bot_d4e5f6"), true, "acme/platform/api", "project", api, true, false, false, -100, d(-10), date(-3)),
		g("9", "monitoring", bot("service_account_monitor"), true, nil, "service_account", read("read_api"), false, true, false, -10, nil, date(365)),
		g("10", "not a bot", "group_99_bot_fake@example.com", true, nil, "personal", read("read_user"), false, true, false, -5, d(-1), date(35)),
		g("11", "other deploy", bot("group_3_bot_g7h8i9"), true, "other", "group", api, true, true, false, -20, d(-1), date(40)),
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func key(r row) string { return fmt.Sprint(r["provider"], "/", r["id"]) }

// assertRows compares rows by provider and id, every column of want.
func assertRows(t *testing.T, got, want []row) {
	t.Helper()
	byKey := map[string]row{}
	for _, r := range got {
		if _, dup := byKey[key(r)]; dup {
			t.Fatalf("row %s returned twice", key(r))
		}
		byKey[key(r)] = r
	}
	if len(got) != len(want) {
		var keys []string
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("%d rows, want %d: %v", len(got), len(want), keys)
	}
	for _, w := range want {
		g, ok := byKey[key(w)]
		if !ok {
			t.Fatalf("missing row %s", key(w))
		}
		for col, wv := range w {
			if gv, ok := g[col]; !ok || !reflect.DeepEqual(gv, wv) {
				t.Errorf("%s: %s = %#v, want %#v", key(w), col, gv, wv)
			}
		}
	}
}

func TestUserTokensEveryRowAndValue(t *testing.T) {
	for _, local := range []bool{false, true} {
		t.Run(map[bool]string{false: "as Steampipe runs it", true: "as the PostgreSQL extension runs it"}[local], func(t *testing.T) {
			e := newEnv(t, sandbox.Config{})
			assertRows(t, e.mustRun(query{table: "user_tokens", local: local}), expectedAuditRows(e.sb))
		})
	}
}

func TestUserTokensCleanEstate(t *testing.T) {
	e := newEnv(t, sandbox.Config{Estate: "clean"})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "active", "expires_at", "team_id", "can_write", "is_current"}})
	assertRows(t, rows, []row{
		{"provider": "vercel", "id": sandbox.CurrentVercelTokenID, "active": true, "expires_at": days(e.sb, 60), "team_id": sandbox.TeamPlatform, "can_write": true, "is_current": true},
		{"provider": "query_server", "id": "1", "active": true, "expires_at": days(e.sb, 60), "team_id": nil, "can_write": false, "is_current": true},
		{"provider": "gitlab", "id": "1", "active": true, "expires_at": days(e.sb, 60), "team_id": nil, "can_write": false, "is_current": true},
		{"provider": "okta", "id": sandbox.OktaTokenAudit, "active": true, "expires_at": days(e.sb, 29.5), "team_id": nil, "can_write": false, "is_current": nil},
	})
}

// requestCounts are the requests each provider saw.
type requestCounts struct{ vercel, vercelGet, vercelList, vercelUser, qs int }

func (e *env) counts() requestCounts {
	return requestCounts{
		vercel:     e.sb.Count(sandbox.ProviderVercel, "", ""),
		vercelGet:  e.sb.Count(sandbox.ProviderVercel, "GET", "/v5/user/tokens/*"),
		vercelList: e.sb.Count(sandbox.ProviderVercel, "GET", "/v6/user/tokens"),
		vercelUser: e.sb.Count(sandbox.ProviderVercel, "GET", "/v2/user"),
		qs:         e.sb.Count(sandbox.ProviderQueryServer, "", ""),
	}
}

// requestCase is a query shape and the requests it costs: the table in
// docs/tables/user_tokens.md is generated from these (TestReliabilityDocIsTheTests).
type requestCase struct {
	shape    string // as the doc shows it
	q        query
	requests map[string]int // every request to each provider (none when missing)
	rows     int
	why      string
}

// vq is a requestCase's requests to Vercel and the Query Server, none to the others.
func vq(vercel, queryServer int) map[string]int {
	return map[string]int{"vercel": vercel, "query_server": queryServer}
}

// sandboxDay is n days from the sandbox's reference time (the start of today, UTC).
func sandboxDay(n int) time.Time { return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, n) }

// sandboxDays in a requestCase's qual is that many days from the day of the sandbox the
// case runs on.
type sandboxDays float64

// gl is a requestCase's requests to GitLab alone.
func gl(n int) map[string]int { return map[string]int{"gitlab": n} }

// plus adds a provider's requests to a requestCase's.
func plus(m map[string]int, provider string, n int) map[string]int {
	m[provider] = n
	return m
}

// vqo is a requestCase's requests to Vercel, the Query Server and Okta.
func vqo(vercel, queryServer, okta int) map[string]int {
	return map[string]int{"vercel": vercel, "query_server": queryServer, "okta": okta}
}

// requestSandbox is the estate the request cases run on: the audit estate plus 239
// generated Vercel tokens (250 in all, three pages of 100) and 243 generated Okta
// tokens (250 in all, two pages of up to 200, of 11 owners: the 6 hand-made ones and
// 5 generated service accounts of 50 tokens, 43 for the last).
var requestSandbox = sandbox.Config{Generate: map[string]int{"vercel": 239, "okta": 243}}

// requestCases run on requestSandbox.
func requestCases() []requestCase {
	ut := func(cols []string, quals map[string]any, limit int64) query {
		return query{table: "user_tokens", columns: cols, quals: quals, limit: limit}
	}
	return []requestCase{
		{"`provider = 'vercel'`", ut([]string{"id", "name"}, map[string]any{"provider": "vercel"}, 0), vq(3, 0), 250,
			"every page of the Vercel list (100 tokens each), never the Query Server"},
		{"`provider = 'query_server'`", ut([]string{"id"}, map[string]any{"provider": "query_server"}, 0), vq(0, 1), 6,
			"one request; no users are read when no email is asked for"},
		{"`provider = 'query_server'`, selecting `email`", ut([]string{"id", "email"}, map[string]any{"provider": "query_server"}, 0), vq(0, 2), 6,
			"the token list and the user list, in parallel"},
		{"`id = '<a Vercel id>'`", ut([]string{"id", "name"}, map[string]any{"id": "tok_L3ak3dK3yGh4Jk5Lm6N"}, 0), vqo(1, 0, 1), 1,
			"one GET of that token, and one to Okta (404); an id that is not a decimal number cannot be a Query Server row or a GitLab token"},
		{"`id = '3'`", ut([]string{"id", "provider"}, map[string]any{"id": "3"}, 0), plus(vqo(1, 1, 1), "gitlab", 1), 2,
			"Vercel and Okta are asked for token 3 (they answer 404), the Query Server lists its tokens, GitLab is asked for token 3"},
		{"`id in ('<a>', '<b>')` on Vercel", ut([]string{"id"}, map[string]any{"provider": "vercel", "id": []string{"tok_L3ak3dK3yGh4Jk5Lm6N", "tok_Rayc4stM1n1mal0K3y"}}, 0), vq(2, 0), 2,
			"one GET per id"},
		{"`id = 'a/b'` (no token can have it)", ut([]string{"id"}, map[string]any{"id": "a/b"}, 0), vq(0, 0), 0,
			"no request: it is no Vercel, GitLab or Okta token id, nor a Query Server row id"},
		{"`team_id = '<team>'`", ut([]string{"id", "team_id"}, map[string]any{"team_id": sandbox.TeamAnalytics}, 0), plus(vq(3, 0), "gitlab", 3), 2,
			"every Vercel page (Vercel has no team filter), never the Query Server or Okta (their tokens have no team); GitLab's caller and whether the team is a group or a project it shows (no)"},
		{"`email = '<the Vercel account's>' and provider = 'vercel'`", ut([]string{"id", "email"}, map[string]any{"email": "ada@example.com", "provider": "vercel"}, 0), vq(4, 0), 250,
			"every page, and the account (/v2/user) once per connection"},
		{"`email = '<a Query Server user's>'`", ut([]string{"id", "email"}, map[string]any{"email": "dev@example.com"}, 0), plus(vqo(2, 2, 13), "gitlab", 2), 1,
			"the Query Server's tokens and users; Vercel's first page and its account, then no more pages once the account's email rules Vercel out; " +
				"GitLab's caller and its users with that email (none); Okta's two pages and each of its 11 token owners, whose emails only Okta's users give"},
		{"`provider in ('vercel', 'query_server')`", ut([]string{"id", "provider"}, map[string]any{"provider": []string{"vercel", "query_server"}}, 0), vq(3, 1), 256,
			"each provider once"},
		{"`provider = 'github'`", ut([]string{"id"}, map[string]any{"provider": "github"}, 0), vq(0, 0), 0, "no request: no such provider"},
		{"`provider = 'gitlab'`", ut([]string{"id", "name"}, map[string]any{"provider": "gitlab"}, 0), gl(1), 11,
			"one page of GitLab's personal access tokens (an administrator sees every one); no owner is looked up when no owner column is asked for"},
		{"`provider = 'gitlab'`, selecting `email`, `owner_active`, `type`, `team_id`", ut([]string{"id", "email", "owner_active", "type", "team_id"}, map[string]any{"provider": "gitlab"}, 0), gl(17), 11,
			"the caller and the page, then each owner once (8 users; the caller's own come with it), each bot's memberships (4) and each group's or project's path (3)"},
		{"`provider = 'gitlab' and id = '7'`", ut([]string{"id", "name"}, map[string]any{"provider": "gitlab", "id": "7"}, 0), gl(1), 1,
			"one GET of that token; an id that is not a decimal number costs none"},
		{"`provider = 'gitlab' and email = '<a user's>'`", ut([]string{"id", "email"}, map[string]any{"provider": "gitlab", "email": "alice@example.com"}, 0), gl(4), 3,
			"the caller, the users with that email, one page filtered by their user_id, and that user"},
		{"`provider = 'gitlab' and active`", ut([]string{"id"}, map[string]any{"provider": "gitlab", "active": true}, 0), gl(1), 9,
			"one page, filtered by GitLab (state=active)"},
		{"`provider = 'gitlab' and created_at > <60 days ago>`", ut([]string{"id"}, map[string]any{"provider": "gitlab", "created_at": op{">", sandboxDays(-60)}}, 0), gl(1), 5,
			"one page, filtered by GitLab (created_after, a second wider: the rows are checked against the exact bound)"},
		{"`provider = 'gitlab' limit 5`", ut([]string{"id"}, map[string]any{"provider": "gitlab"}, 5), gl(1), 5,
			"one page of 5: no request asks for more rows than the LIMIT still needs"},
		{"`limit 5`", ut([]string{"id"}, nil, 5), vq(1, 0), 5,
			"one request: a page of 5 Vercel tokens fills the LIMIT, so the Query Server is never asked"},
		{"`provider = 'vercel' limit 150`", ut([]string{"id"}, map[string]any{"provider": "vercel"}, 150), vq(2, 0), 150,
			"pages of 100 and 50: no request asks for more rows than the LIMIT still needs"},
		{"`provider = 'query_server' limit 2`", ut([]string{"id", "email"}, map[string]any{"provider": "query_server"}, 2), vq(0, 2), 2,
			"the Query Server has no paging: one list, and the users for the emails"},
		{"`provider = 'okta'`", ut([]string{"id", "name"}, map[string]any{"provider": "okta"}, 0), vqo(0, 0, 2), 250,
			"both pages of the Okta list (up to 200 tokens each, following its Link header); no owner is read when no column needs one"},
		{"`provider = 'okta'`, selecting `email` and `active`", ut([]string{"id", "email", "active"}, map[string]any{"provider": "okta"}, 0), vqo(0, 0, 13), 250,
			"the two pages, and each of the 11 owners once (GET /api/v1/users/{id}), never once per token"},
		{"`provider = 'okta'`, selecting `can_write`", ut([]string{"id", "can_write"}, map[string]any{"provider": "okta"}, 0), vqo(0, 0, 13), 250,
			"the two pages, and each owner's roles once (GET /api/v1/users/{id}/roles)"},
		{"`provider = 'okta'`, selecting `email` and `can_write`", ut([]string{"id", "email", "can_write"}, map[string]any{"provider": "okta"}, 0), vqo(0, 0, 24), 250,
			"the two pages, and each owner's user and roles, in parallel within the limiter: two requests per owner"},
		{"`id = '<an Okta id>'`, selecting `email` and `can_write`", ut([]string{"id", "email", "can_write"}, map[string]any{"id": sandbox.OktaTokenTerraform}, 0), vqo(2, 0, 3), 1,
			"one GET of that token, and its owner's user and roles; Vercel is asked for it too (404), and for its account's email"},
		{"`email = '<an Okta owner's>'`, selecting `can_write`", ut([]string{"id", "can_write"}, map[string]any{"email": "grace@example.org"}, 0), plus(vqo(2, 2, 14), "gitlab", 2), 2,
			"Okta's two pages and its 11 owners, and the roles of the one owner the email names only; GitLab's caller and its users with that email (none)"},
		{"`provider = 'okta' and created_at > <50 days ago>`, selecting `email`", ut([]string{"id", "email"},
			map[string]any{"provider": "okta", "created_at": op{">", sandboxDays(-50)}}, 0), vqo(0, 0, 5), 51,
			"the two pages; only the 3 owners of the 51 tokens created since are read"},
		{"`provider = 'okta' limit 5`, selecting `email`", ut([]string{"id", "email"}, map[string]any{"provider": "okta"}, 5), vqo(0, 0, 5), 5,
			"the first page, and the 4 owners of its first 5 tokens: under a LIMIT, no owner of a token the LIMIT leaves out is read"},
	}
}

func TestUserTokensRequestCounts(t *testing.T) {
	for _, tc := range requestCases() {
		t.Run(tc.shape, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, requestSandbox)
			q := tc.q
			if c, ok := q.quals["created_at"].(op); ok {
				if n, ok := c.value.(sandboxDays); ok {
					q.quals = maps.Clone(q.quals)
					q.quals["created_at"] = op{c.operator, days(e.sb, float64(n))}
				}
			}
			rows := e.mustRun(q)
			got := map[string]int{}
			for _, p := range registry {
				if n := e.sb.Count(p.Name, "", ""); n > 0 {
					got[p.Name] = n
				}
			}
			want := maps.Clone(tc.requests)
			maps.DeleteFunc(want, func(_ string, n int) bool { return n == 0 })
			if !maps.Equal(got, want) || len(rows) != tc.rows {
				t.Fatalf("requests %v (want %v), %d rows (want %d): %s\n%v", got, want, len(rows), tc.rows, tc.why, e.sb.Requests())
			}
		})
	}
}

// The LIMIT rule: the SDK passes a LIMIT to the plugin only when every condition is
// on a key column (PostgreSQL then stops asking early); otherwise every row is listed
// and PostgreSQL applies the LIMIT itself. Here, with a LIMIT the plugin sees, the
// pages ask for what remains, and a provider that cannot fill it is followed by the next.
func TestUserTokensLimitAcrossProviders(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "provider"}, limit: 14})
	c := e.counts()
	if len(rows) != 14 || c.vercelList != 1 || c.qs != 1 {
		t.Fatalf("%d rows, %d Vercel pages, %d Query Server requests", len(rows), c.vercelList, c.qs)
	}
	if n := len(slices.DeleteFunc(rows, func(r row) bool { return r["provider"] != "query_server" })); n != 3 {
		t.Fatalf("%d Query Server rows, want the 3 that complete the 11 Vercel ones", n)
	}
	if q := e.sb.Requests()[0].RawQuery; q != "limit=14" {
		t.Fatalf("the Vercel page asked for %q", q)
	}
}

func TestVercelPaginationEveryCursorType(t *testing.T) {
	for _, mode := range []string{"number", "string", "mixed"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{Generate: map[string]int{"vercel": 310}, Options: map[string]string{"vercel.cursor": mode}})
			rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "provider"}, quals: map[string]any{"provider": "vercel"}})
			seen := map[string]int{}
			for _, r := range rows {
				seen[r["id"].(string)]++
			}
			for _, tok := range e.sb.VercelTokens() {
				if seen[tok.ID] != 1 {
					t.Fatalf("token %s seen %d times", tok.ID, seen[tok.ID])
				}
			}
			if len(rows) != 321 || e.counts().vercelList != 4 {
				t.Fatalf("%d rows in %d pages", len(rows), e.counts().vercelList)
			}
		})
	}
}

func TestThrottlingMidListingIsRetried(t *testing.T) {
	e := newEnv(t, sandbox.Config{Generate: map[string]int{"vercel": 389}})
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Path: "/v6/user/tokens", After: 2, Times: 2, Kind: "status", Status: 429, RetryAfter: "0"})
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Path: "/_/user/token", Times: 1, Kind: "status", Status: 503})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "provider"}})
	if len(rows) != 400+6+11+7 {
		t.Fatalf("%d rows after throttling", len(rows))
	}
	if n := e.counts().vercelList; n != 4+2 {
		t.Fatalf("%d Vercel list requests, want 4 pages + 2 retries", n)
	}
}

func TestVercelTokenNotFoundIsNoRow(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel", "id": "tok_doesnotexist"}})
	if err != nil || len(rows) != 0 || e.sb.Count(sandbox.ProviderVercel, "GET", "/v5/user/tokens/tok_doesnotexist") != 1 {
		t.Fatalf("rows %v err %v requests %v", rows, err, e.sb.Requests())
	}
}

func TestQueryServerUserTokensSwitchedOff(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Kind: "status", Status: 404})
	_, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server"}})
	assertErrorMentions(t, err, "Query Server", "404", "create_user or create_token option", "Check query_server_url (or QUERY_SERVER_URL)")
}

func TestCancellingAQueryStopsItsRequests(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Kind: "hang"}) // until the client leaves
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, _ = runWithContext(ctx, t, e.conn, query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}})
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a cancelled query took %s (request_timeout is 5 s)", d)
	}
	waitFor(t, func() bool { return e.sb.Count(sandbox.ProviderVercel, "", "") == 1 }, "the stalled request ends, and no retry follows")
}

// waitFor polls cond (the sandbox logs a stalled request when its client leaves).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}
