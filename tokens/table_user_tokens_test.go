package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

// expectedColumns is the contract: names, order and types.
var expectedUserTokenColumns = []struct {
	name string
	typ  proto.ColumnType
}{
	{"provider", proto.ColumnType_STRING}, {"id", proto.ColumnType_STRING}, {"name", proto.ColumnType_STRING},
	{"title", proto.ColumnType_STRING}, {"email", proto.ColumnType_STRING}, {"team_id", proto.ColumnType_STRING},
	{"type", proto.ColumnType_STRING}, {"origin", proto.ColumnType_STRING}, {"scopes", proto.ColumnType_JSON},
	{"prefix", proto.ColumnType_STRING}, {"suffix", proto.ColumnType_STRING}, {"can_write", proto.ColumnType_BOOL},
	{"active", proto.ColumnType_BOOL}, {"is_current", proto.ColumnType_BOOL}, {"created_at", proto.ColumnType_TIMESTAMP},
	{"updated_at", proto.ColumnType_TIMESTAMP}, {"expires_at", proto.ColumnType_TIMESTAMP},
	{"last_used_at", proto.ColumnType_TIMESTAMP}, {"revoked_at", proto.ColumnType_TIMESTAMP},
	{"leaked_at", proto.ColumnType_TIMESTAMP}, {"leaked_url", proto.ColumnType_STRING},
}

func TestUserTokensSchema(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	res, err := server.GetSchema(&proto.GetSchemaRequest{Connection: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	table := res.Schema.Schema["user_tokens"]
	if table == nil {
		t.Fatal("no user_tokens table")
	}
	var got []string
	for _, c := range table.Columns {
		if strings.HasPrefix(c.Name, "sp_") || c.Name == "_ctx" {
			continue
		}
		got = append(got, c.Name)
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
		if k.Name == "sp_connection_name" { // the SDK's own
			continue
		}
		keys = append(keys, k.Name+" "+strings.Join(k.Operators, ","))
	}
	if !slices.Equal(keys, []string{"provider =", "id =", "team_id =", "email ="}) {
		t.Fatalf("list key columns %v", keys)
	}
}

func ms(v int64) any {
	if v == 0 {
		return nil
	}
	return time.UnixMilli(v).UTC()
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// expectVercel is what the issue says a Vercel row holds, written from the sandbox's data.
func expectVercel(sb *sandbox.Sandbox, tok sandbox.VercelToken, now time.Time) row {
	acct := sb.VercelAccount()
	var team, scopes any
	for _, s := range tok.Scopes {
		if s.Type == "team" && s.TeamID != "" {
			team = s.TeamID
			break
		}
	}
	if tok.Scopes != nil {
		b, _ := json.Marshal(tok.Scopes)
		_ = json.Unmarshal(b, &scopes)
	}
	title := any(tok.Name)
	if tok.Name == "" {
		title = acct.Email
	}
	return row{
		"provider": "vercel", "id": tok.ID, "name": str(tok.Name), "title": title, "email": acct.Email,
		"team_id": team, "type": str(tok.Type), "origin": str(tok.Origin), "scopes": scopes,
		"prefix": str(tok.Prefix), "suffix": str(tok.Suffix), "can_write": nil,
		"active":     tok.RevokedAt == 0 && (tok.ExpiresAt == 0 || time.UnixMilli(tok.ExpiresAt).After(now)),
		"is_current": tok.ID == sb.CurrentVercelTokenID(),
		"created_at": ms(tok.CreatedAt), "updated_at": nil, "expires_at": ms(tok.ExpiresAt),
		"last_used_at": ms(tok.ActiveAt), "revoked_at": ms(tok.RevokedAt), "leaked_at": ms(tok.LeakedAt),
		"leaked_url": str(tok.LeakedURL),
	}
}

func epoch(v int64) any {
	switch {
	case v <= 0:
		return nil
	case v > 1e11:
		return time.UnixMilli(v).UTC()
	}
	return time.Unix(v, 0).UTC()
}

// expectQueryServer is what a Query Server row holds; isCurrent is checked separately.
func expectQueryServer(sb *sandbox.Sandbox, tok sandbox.QueryServerUserToken, now time.Time) row {
	var email any
	for _, u := range sb.QueryServerUsers() {
		if u.UUID == tok.UserUUID {
			email = u.Email
		}
	}
	never := tok.ExpirationDate == tok.UpdatedAt
	expires := epoch(tok.ExpirationDate)
	if never {
		expires = nil
	}
	return row{
		"provider": "query_server", "id": strconv.FormatInt(tok.ID, 10), "name": nil, "title": email,
		"email": email, "team_id": nil, "type": "user_token", "origin": nil, "scopes": nil,
		"prefix": nil, "suffix": nil, "can_write": tok.Write == 1,
		// the server's own rule: active, and non-expiring or expiration_date > now in seconds
		"active":     tok.Active == 1 && (never || tok.ExpirationDate > now.Unix()),
		"created_at": epoch(tok.CreatedAt), "updated_at": epoch(tok.UpdatedAt), "expires_at": expires,
		"last_used_at": nil, "revoked_at": nil, "leaked_at": nil, "leaked_url": nil,
	}
}

func byID(rows []row, provider string) map[string]row {
	m := map[string]row{}
	for _, r := range rows {
		if r["provider"] == provider {
			m[r["id"].(string)] = r
		}
	}
	return m
}

func TestUserTokensEveryRowAndValue(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	now := time.Now()
	rows := e.mustRun(query{table: "user_tokens"})

	vTokens, qTokens := e.sb.VercelTokens(), e.sb.QueryServerUserTokens()
	if len(rows) != len(vTokens)+len(qTokens) {
		t.Fatalf("%d rows, want %d Vercel + %d Query Server", len(rows), len(vTokens), len(qTokens))
	}
	vRows, qRows := byID(rows, "vercel"), byID(rows, "query_server")
	for _, tok := range vTokens {
		assertRow(t, vRows[tok.ID], expectVercel(e.sb, tok, now))
	}
	current := 0
	for _, tok := range qTokens {
		got := qRows[strconv.FormatInt(tok.ID, 10)]
		if got["is_current"] == true {
			current++
		}
		delete(got, "is_current")
		assertRow(t, got, expectQueryServer(e.sb, tok, now))
	}
	if current != 1 {
		t.Fatalf("%d Query Server rows are current, want exactly the admin token's", current)
	}
	// The data must exercise what the columns are for.
	seen := map[string]bool{}
	for _, r := range rows {
		seen["never expires "+r["provider"].(string)] = seen["never expires "+r["provider"].(string)] || r["expires_at"] == nil
		seen["inactive "+r["provider"].(string)] = seen["inactive "+r["provider"].(string)] || r["active"] == false
		seen["team"] = seen["team"] || r["team_id"] != nil
		seen["leaked"] = seen["leaked"] || r["leaked_url"] != nil
	}
	for _, k := range []string{"never expires vercel", "never expires query_server", "inactive vercel", "inactive query_server", "team", "leaked"} {
		if !seen[k] {
			t.Errorf("sample data has no %s row", k)
		}
	}
}

func assertRow(t *testing.T, got, want row) {
	t.Helper()
	if got == nil {
		t.Fatalf("missing row %v %v", want["provider"], want["id"])
	}
	for col, w := range want {
		g, ok := got[col]
		if !ok {
			t.Errorf("%v %v: column %s missing", want["provider"], want["id"], col)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%v %v: %s = %#v, want %#v", want["provider"], want["id"], col, g, w)
		}
	}
}

func TestQueryServerQuirksDecoded(t *testing.T) {
	e := newEnv(t, sandbox.Config{QueryServerUsers: 10}, fullConfig())
	rows := e.mustRun(query{table: "user_tokens", quals: map[string]any{"provider": "query_server"}})
	var msExpiry, secExpiry, msStillActive bool
	for _, tok := range e.sb.QueryServerUserTokens() {
		r := byID(rows, "query_server")[strconv.FormatInt(tok.ID, 10)]
		exp, _ := r["expires_at"].(time.Time)
		switch {
		case tok.ExpirationDate > 1e11:
			msExpiry = true
			if exp.Year() > 2200 {
				t.Errorf("millisecond expiry read as seconds: %v", exp)
			}
			if exp.Before(time.Now()) && r["active"] == true && tok.Active == 1 {
				msStillActive = true // the server compares with seconds, so it still accepts it
			}
		case tok.ExpirationDate != tok.UpdatedAt:
			secExpiry = true
		}
	}
	if !msExpiry || !secExpiry || !msStillActive {
		t.Fatalf("sample lacks a quirk: ms=%v s=%v ms-expired-but-accepted=%v", msExpiry, secExpiry, msStillActive)
	}
}

type counts struct{ vercel, vercelGet, vercelList, vercelUser, qs int }

func (e *env) counts() counts {
	return counts{
		vercel:     e.sb.Count(sandbox.UpstreamVercel, "", ""),
		vercelGet:  e.sb.Count(sandbox.UpstreamVercel, "GET", "/v5/user/tokens/"),
		vercelList: e.sb.Count(sandbox.UpstreamVercel, "GET", "/v6/user/tokens"),
		vercelUser: e.sb.Count(sandbox.UpstreamVercel, "GET", "/v2/user"),
		qs:         e.sb.Count(sandbox.UpstreamQueryServer, "", ""),
	}
}

func TestUserTokensPushdownRequestCounts(t *testing.T) {
	e := newEnv(t, sandbox.Config{VercelTokens: 250}, fullConfig())
	vTokens := e.sb.VercelTokens()
	someID := vTokens[17].ID
	var teamID string
	for _, tok := range vTokens {
		if tid, _ := expectVercel(e.sb, tok, time.Now())["team_id"].(string); tid != "" {
			teamID = tid
			break
		}
	}
	acct := e.sb.VercelAccount()
	qsUser := e.sb.QueryServerUsers()[2]

	cases := []struct {
		name    string
		q       query
		vercel  int // all Vercel requests
		qs      int // all Query Server requests
		rows    func(rows []row) bool
		comment string
	}{
		{"provider vercel skips the Query Server", query{table: "user_tokens", columns: []string{"id", "name"}, quals: map[string]any{"provider": "vercel"}},
			3, 0, func(r []row) bool { return len(r) == 250 }, "250 tokens in pages of 100"},
		{"provider query_server skips Vercel", query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server"}},
			0, 1, func(r []row) bool { return len(r) == len(e.sb.QueryServerUserTokens()) }, "no email asked: no /_/user"},
		{"email costs the Query Server one users call", query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"provider": "query_server"}},
			0, 2, func(r []row) bool { return len(r) == len(e.sb.QueryServerUserTokens()) }, ""},
		{"id of a Vercel token is one GET", query{table: "user_tokens", columns: []string{"id", "name"}, quals: map[string]any{"id": someID}},
			1, 0, func(r []row) bool { return len(r) == 1 && r[0]["id"] == someID }, "a 64-hex id can be no Query Server row id"},
		{"id of a Query Server token", query{table: "user_tokens", columns: []string{"id", "provider"}, quals: map[string]any{"id": "3"}},
			1, 1, func(r []row) bool { return len(r) == 1 && r[0]["provider"] == "query_server" }, "Vercel GET answers 404"},
		{"two ids are two GETs", query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel", "id": []string{someID, vTokens[3].ID}}},
			2, 0, func(r []row) bool { return len(r) == 2 }, ""},
		{"team_id lists Vercel and skips the Query Server", query{table: "user_tokens", columns: []string{"id", "team_id"}, quals: map[string]any{"team_id": teamID}},
			3, 0, func(r []row) bool {
				for _, x := range r {
					if x["team_id"] != teamID {
						return false
					}
				}
				return len(r) > 0
			}, "Vercel has no team filter"},
		{"email of the Vercel account", query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"email": acct.Email, "provider": "vercel"}},
			4, 0, func(r []row) bool { return len(r) == 250 }, "3 pages + /v2/user"},
		{"email of a Query Server user", query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"email": qsUser.Email, "provider": "query_server"}},
			0, 2, func(r []row) bool { return len(r) == 1 && r[0]["email"] == qsUser.Email }, ""},
		{"an email only a Query Server user has stops Vercel after its first page", query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"email": qsUser.Email}},
			1, 2, func(r []row) bool { return len(r) == 1 && r[0]["provider"] == "query_server" }, "the account is cached from an earlier case; page 2 waits for it and is never asked"},
		{"provider IN both lists each once", query{table: "user_tokens", columns: []string{"id", "provider"}, quals: map[string]any{"provider": []string{"vercel", "query_server"}}},
			3, 1, func(r []row) bool {
				return len(r) == 250+len(e.sb.QueryServerUserTokens()) && len(byID(r, "vercel")) == 250
			}, "no duplicates"},
		{"contradiction costs nothing", query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab"}},
			0, 0, func(r []row) bool { return len(r) == 0 }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.sb.ResetRequests()
			rows := e.mustRun(tc.q)
			c := e.counts()
			if c.vercel != tc.vercel || c.qs != tc.qs {
				t.Fatalf("requests: Vercel %d (want %d), Query Server %d (want %d); %s\n%v", c.vercel, tc.vercel, c.qs, tc.qs, tc.comment, e.sb.Requests())
			}
			if !tc.rows(rows) {
				t.Fatalf("unexpected rows (%d)", len(rows))
			}
		})
	}
}

func TestUserTokensLimitStopsPaging(t *testing.T) {
	e := newEnv(t, sandbox.Config{VercelTokens: 2000}, fullConfig())
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}, limit: 5})
	if len(rows) != 5 {
		t.Fatalf("%d rows", len(rows))
	}
	reqs := e.sb.Requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].RawQuery, "limit=5") {
		t.Fatalf("limit 5 over 2000 tokens: %v", reqs)
	}

	// Every column, both upstreams: Vercel's first page fills the LIMIT, so the
	// Query Server is never asked (is_current and email cost one cached call each).
	e.sb.ResetRequests()
	rows = e.mustRun(query{table: "user_tokens", limit: 5})
	c := e.counts()
	if len(rows) != 5 || c.vercelList != 1 || c.qs != 0 {
		t.Fatalf("rows %d, Vercel pages %d, Query Server calls %d", len(rows), c.vercelList, c.qs)
	}

	// When Vercel cannot fill it, the Query Server makes up the rest.
	small := newEnv(t, sandbox.Config{VercelTokens: 3}, fullConfig())
	rows = small.mustRun(query{table: "user_tokens", columns: []string{"id", "provider", "email"}, limit: 5})
	c = small.counts()
	if len(rows) != 5 || c.vercelList != 1 || c.qs != 2 || len(byID(rows, "query_server")) != 2 {
		t.Fatalf("rows %d, Vercel pages %d, Query Server calls %d", len(rows), c.vercelList, c.qs)
	}

	// A LIMIT larger than a page pages on, asking only for what remains.
	e.sb.ResetRequests()
	rows = e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}, limit: 250})
	reqs = e.sb.Requests()
	if len(rows) != 250 || len(reqs) != 3 || !strings.Contains(reqs[2].RawQuery, "limit=50") {
		t.Fatalf("limit 250: %d rows, %v", len(rows), reqs)
	}
}

func TestVercelPaginationEveryCursorType(t *testing.T) {
	for _, mode := range []string{"number", "string", "mixed"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{VercelTokens: 321, VercelCursor: mode}, fullConfig())
			rows := e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}})
			ids := map[string]int{}
			for _, r := range rows {
				ids[r["id"].(string)]++
			}
			for _, tok := range e.sb.VercelTokens() {
				if ids[tok.ID] != 1 {
					t.Fatalf("token %s seen %d times", tok.ID, ids[tok.ID])
				}
			}
			if len(rows) != 321 || e.sb.Count(sandbox.UpstreamVercel, "GET", "/v6/user/tokens") != 4 {
				t.Fatalf("%d rows in %d pages", len(rows), e.sb.Count(sandbox.UpstreamVercel, "", ""))
			}
		})
	}
}

func TestThrottleMidListingIsRetried(t *testing.T) {
	e := newEnv(t, sandbox.Config{VercelTokens: 450}, fullConfig())
	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Path: "/v6/user/tokens", After: 2, Times: 2, Kind: "status", Status: 429, RetryAfter: "0"})
	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamQueryServer, Path: "/_/user/token", Times: 1, Kind: "status", Status: 503})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "provider"}})
	if len(rows) != 450+len(e.sb.QueryServerUserTokens()) {
		t.Fatalf("%d rows after throttling", len(rows))
	}
	if n := e.sb.Count(sandbox.UpstreamVercel, "GET", "/v6/user/tokens"); n != 5+2 {
		t.Fatalf("%d Vercel list requests, want 5 pages + 2 retries", n)
	}
}

func TestVercelGetNotFoundIsZeroRows(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel", "id": "tok_doesnotexist"}})
	if err != nil || len(rows) != 0 {
		t.Fatalf("rows %v err %v", rows, err)
	}
	if e.sb.Count(sandbox.UpstreamVercel, "GET", "/v5/user/tokens/tok_doesnotexist") != 1 {
		t.Fatalf("requests %v", e.sb.Requests())
	}
}

func TestCredentialErrorsNameTheArgument(t *testing.T) {
	cases := []struct {
		name   string
		config func(sb *sandbox.Sandbox, url string) string
		quals  map[string]any
		want   []string
	}{
		{"bad Vercel token", func(sb *sandbox.Sandbox, url string) string {
			return `vercel_api_token = "wrong-token"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
		}, nil, []string{"Vercel", "403", "vercel_api_token", "VERCEL_API_TOKEN", "Not authorized"}},
		{"non-admin Query Server token", func(sb *sandbox.Sandbox, url string) string {
			return `query_server_url = "` + url + `/query"` + "\n" + `query_server_token = "` + sb.QueryServerUserToken() + `"`
		}, nil, []string{"Query Server", "401", "query_server_token", "QUERY_SERVER_TOKEN", "admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{}, tc.config)
			_, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: tc.quals})
			assertErrorMentions(t, err, append(tc.want, e.conn)...)
		})
	}
}

func assertErrorMentions(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %v", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

// configCases are the bad configurations users meet, and what the error must name.
// They are listed in docs/reliability.md (TestReliabilityDocIsTheMatrix).
var configCases = []struct {
	name   string
	table  string // "" means user_tokens
	config string
	env    map[string]string
	want   []string
}{
	{"nothing configured", "", ``, nil, []string{"user_tokens has no upstream configured", "vercel_api_token (or VERCEL_API_TOKEN)", "query_server_url (or QUERY_SERVER_URL)"}},
	{"only Clerk configured", "", `clerk_secret_key = "sk_test_x"`, nil, []string{"no upstream configured"}},
	{"Query Server URL without its token", "", `query_server_url = "http://127.0.0.1:1"`, nil, []string{"query_server_token (or QUERY_SERVER_TOKEN) is not set", "query_server_url is set (config)"}},
	{"Query Server token without its URL", "", `query_server_token = "x"`, nil, []string{"query_server_url (or QUERY_SERVER_URL) is not set"}},
	{"Query Server token without its URL, from the environment", "", ``, map[string]string{"QUERY_SERVER_TOKEN": "x"}, []string{"query_server_url (or QUERY_SERVER_URL) is not set", "query_server_token is set (environment)"}},
	{"Vercel base URL without a token", "", `vercel_base_url = "http://127.0.0.1:1"`, nil, []string{"vercel_api_token (or VERCEL_API_TOKEN) is not set"}},
	{"malformed URL", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "ftp://example.com"`, nil, []string{`vercel_base_url = "ftp://example.com"`, "not a usable URL", "VERCEL_BASE_URL"}},
	{"malformed URL, from the environment", "", `vercel_api_token = "x"`, map[string]string{"VERCEL_BASE_URL": "example.com/api"}, []string{`VERCEL_BASE_URL = "example.com/api" (from the environment`, "vercel_base_url"}},
	{"URL with credentials in it", "", `query_server_url = "https://admin:pw@q.example.com"` + "\n" + `query_server_token = "x"`, nil, []string{"must not contain credentials"}},
	{"a token pasted into a URL argument", "", `vercel_api_token = "x"` + "\n" + `vercel_base_url = "vcp` + `_abcdefghijklmnop123"`, nil, []string{"[redacted]", "not a usable URL"}},
	{"max_retries not a number", "", `vercel_api_token = "x"` + "\n" + `max_retries = "lots"`, nil, []string{`max_retries = "lots"`, "whole number", "TOKENS_MAX_RETRIES"}},
	{"max_retries out of range", "", `vercel_api_token = "x"` + "\n" + `max_retries = 50`, nil, []string{`max_retries = "50"`, "from 0 to 20"}},
	{"max_retries not a number, from the environment", "", `vercel_api_token = "x"`, map[string]string{"TOKENS_MAX_RETRIES": "3.5"}, []string{`TOKENS_MAX_RETRIES = "3.5"`, "max_retries"}},
	{"request_timeout negative", "", `vercel_api_token = "x"` + "\n" + `request_timeout = -1`, nil, []string{`request_timeout = "-1"`, "seconds greater than 0", "TOKENS_REQUEST_TIMEOUT"}},
	{"request_timeout not a number, from the environment", "", `vercel_api_token = "x"`, map[string]string{"TOKENS_REQUEST_TIMEOUT": "soon"}, []string{`TOKENS_REQUEST_TIMEOUT = "soon"`}},
	{"Clerk key missing", "sign_in_tokens", `allow_sign_in_token_create = true`, nil, []string{"clerk_secret_key (or CLERK_SECRET_KEY) is not set"}},
	{"Clerk publishable key instead of a secret key", "sign_in_tokens", `clerk_secret_key = "pk_test_abc"`, nil, []string{"publishable keys (pk_...) cannot call the Backend API", "CLERK_SECRET_KEY"}},
	{"malformed Clerk URL, from the environment", "sign_in_tokens", `clerk_secret_key = "sk_test_x"`, map[string]string{"CLERK_API_URL": "api.clerk.com"}, []string{`CLERK_API_URL = "api.clerk.com"`, "clerk_base_url"}},
	{"allow flag not a boolean", "sign_in_tokens", `clerk_secret_key = "sk_test_x"` + "\n" + `allow_sign_in_token_create = "yes"`, nil, []string{`allow_sign_in_token_create = "yes" must be true or false`}},
	{"allow flag off", "sign_in_tokens", `clerk_secret_key = "sk_test_x"`, nil, []string{"would create a sign-in token", "allow_sign_in_token_create = true"}},
}

func TestConfigurationErrors(t *testing.T) {
	for _, name := range []string{"VERCEL_API_TOKEN", "VERCEL_BASE_URL", "QUERY_SERVER_URL", "QUERY_SERVER_TOKEN", "TOKENS_MAX_RETRIES", "TOKENS_REQUEST_TIMEOUT", "CLERK_SECRET_KEY", "CLERK_API_URL"} {
		t.Setenv(name, "")
	}
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			e := newEnv(t, sandbox.Config{}, func(*sandbox.Sandbox, string) string { return tc.config })
			q := query{table: "user_tokens", columns: []string{"id"}}
			if tc.table == "sign_in_tokens" {
				q = sit(map[string]any{"user_id": "user_x"}, "id")
			}
			_, err := e.run(q)
			assertErrorMentions(t, err, append(tc.want, `connection "`+e.conn+`"`)...)
			if strings.Count(err.Error(), "connection \"") != 1 {
				t.Fatalf("the problem is reported more than once: %v", err)
			}
		})
	}
}

func TestConfigWinsOverEnvironment(t *testing.T) {
	t.Setenv("VERCEL_API_TOKEN", "wrong-token-from-env")
	e := newEnv(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return `vercel_api_token = "` + sb.VercelToken() + `"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
	})
	if _, err := e.run(query{table: "user_tokens", columns: []string{"id"}}); err != nil {
		t.Fatalf("config token should win: %v", err)
	}
	// and the environment is used when the config is silent
	t.Setenv("VERCEL_API_TOKEN", e.sb.VercelToken())
	t.Setenv("VERCEL_BASE_URL", e.url+"/vercel")
	conn := e.connect(``)
	rows, err := runOn(t, conn, query{table: "user_tokens", columns: []string{"id"}}, e.sb)
	if err != nil || len(rows) != len(e.sb.VercelTokens()) {
		t.Fatalf("environment credentials: %d rows, %v", len(rows), err)
	}
}

func TestUnconfiguredUpstreamContributesNoRows(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return `vercel_api_token = "` + sb.VercelToken() + `"` + "\n" + `vercel_base_url = "` + url + `/vercel"`
	})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider"}})
	if len(rows) != len(e.sb.VercelTokens()) || e.sb.Count(sandbox.UpstreamQueryServer, "", "") != 0 {
		t.Fatalf("%d rows", len(rows))
	}
}

func TestQueryServerDocumentedPathFallback(t *testing.T) {
	e := newEnv(t, sandbox.Config{QueryServerTokenPath: "/_/user-token"}, fullConfig())
	q := query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server"}}
	if rows := e.mustRun(q); len(rows) != len(e.sb.QueryServerUserTokens()) {
		t.Fatalf("%d rows", len(rows))
	}
	var paths []string
	for _, r := range e.sb.Requests() {
		paths = append(paths, r.Path)
	}
	if !slices.Equal(paths, []string{"/_/user/token", "/_/user-token"}) {
		t.Fatalf("first query asked %v", paths)
	}
	e.sb.ResetRequests()
	e.mustRun(q)
	if r := e.sb.Requests(); len(r) != 1 || r[0].Path != "/_/user-token" {
		t.Fatalf("second query should go straight to the path that worked: %v", r)
	}
}

func TestQueryServerUserTokensSwitchedOff(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	e.sb.SetQueryServerOption("create_user", "0")
	_, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server"}})
	assertErrorMentions(t, err, "Query Server", "/_/user/token and /_/user-token", "404", "create_user", "query_server_url")
}

func TestCancellingAQueryStopsItsRequests(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: "hang"}) // stall until the client leaves
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, _ = runWithContext(ctx, t, e.conn, query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}})
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancelled query took %s (request_timeout is 5s)", d)
	}
	// the stalled request ended with the client gone, and no retry followed
	time.Sleep(100 * time.Millisecond)
	if n := e.sb.Count(sandbox.UpstreamVercel, "", ""); n != 1 {
		t.Fatalf("%d Vercel requests after cancel", n)
	}
}

// The SDK hands errors to users as text; here the values themselves are checked.
func TestSettingsErrorsAreTyped(t *testing.T) {
	for _, name := range []string{"VERCEL_API_TOKEN", "VERCEL_BASE_URL", "QUERY_SERVER_URL", "QUERY_SERVER_TOKEN", "TOKENS_MAX_RETRIES", "CLERK_SECRET_KEY", "CLERK_API_URL"} {
		t.Setenv(name, "")
	}
	s := loadSettings("c", tokensConfig{VercelBaseURL: ptr("nope"), VercelAPIToken: ptr("x"), MaxRetries: ptr("99"), ClerkSecretKey: ptr("pk_test_abc")})
	var ce *ConfigError
	if !errors.As(s.vercelErr, &ce) || ce.Argument != argVercelBaseURL || ce.Value.source != "config" {
		t.Fatalf("vercel: %#v", s.vercelErr)
	}
	if !errors.As(s.commonErr, &ce) || ce.Argument != argMaxRetries {
		t.Fatalf("common: %#v", s.commonErr)
	}
	if !errors.As(s.clerkErr, &ce) || ce.Argument != argClerkKey || !strings.Contains(ce.Error(), "publishable keys") {
		t.Fatalf("clerk: %#v", s.clerkErr)
	}
	var ne *NoUpstreamError
	if err := loadSettings("c", tokensConfig{}).userTokensErr(); !errors.As(err, &ne) {
		t.Fatalf("nothing configured: %#v", err)
	}
	ok := loadSettings("c", tokensConfig{VercelAPIToken: ptr("x"), MaxRetries: ptr("0"), RequestTimeout: ptr("0.25")})
	if ok.vercelErr != nil || ok.commonErr != nil || ok.maxRetries != 0 || ok.requestTimeout != 250*time.Millisecond || ok.vercelBaseURL != "https://api.vercel.com" {
		t.Fatalf("valid settings: %+v", ok)
	}
}
