package tokens

import (
	"context"
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

var allowTokens = []string{"allow_user_token_create = true", "allow_user_token_update = true", "allow_user_token_rotate = true", "allow_user_token_revoke = true"}

func uta(quals map[string]any, cols ...string) query {
	return query{table: "user_token_actions", quals: quals, columns: cols}
}

func vercelIDs(sb *sandbox.Sandbox) []string {
	var ids []string
	for _, t := range sb.VercelTokens() {
		ids = append(ids, t.ID)
	}
	return ids
}

func qsToken(sb *sandbox.Sandbox, email string) *sandbox.QueryServerUserToken {
	var uuid string
	for _, u := range sb.QueryServerUsers() {
		if u.Email == email {
			uuid = u.UUID
		}
	}
	for _, t := range sb.QueryServerUserTokens() {
		if t.UserUUID == uuid {
			return &t
		}
	}
	return nil
}

// writes are the requests that change something, as "METHOD path body".
func writes(sb *sandbox.Sandbox) []string {
	var out []string
	for _, r := range sb.Requests() {
		if r.Method != "GET" {
			out = append(out, strings.TrimSpace(r.Method+" "+r.Path+" "+r.Body))
		}
	}
	return out
}

func TestCreateVercelToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	expires := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Microsecond).UTC()
	rows := e.mustRun(uta(map[string]any{"action": "create", "provider": "vercel", "name": "deploy-bot",
		"team_id": sandbox.TeamPlatform, "expires_at": expires}))
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	made := slices.IndexFunc(e.sb.VercelTokens(), func(v sandbox.VercelToken) bool { return v.Name == "deploy-bot" })
	if made < 0 {
		t.Fatal("Vercel has no new token")
	}
	tok := e.sb.VercelTokens()[made]
	want := row{"action": "create", "provider": "vercel", "id": tok.ID, "name": "deploy-bot", "team_id": sandbox.TeamPlatform,
		"expires_at": expires, "status": "created", "email": nil, "can_write": nil, "note": nil, "created_at": tok.CreatedAt.UTC().Truncate(time.Millisecond)}
	for col, w := range want {
		if r[col] != w {
			t.Errorf("%s = %#v, want %#v", col, r[col], w)
		}
	}
	if secret, _ := r["token"].(string); len(secret) != 24 || !strings.HasSuffix(secret, tok.Suffix) {
		t.Fatalf("token column %q is not the new secret", r["token"])
	}
	w := writes(e.sb)
	if len(w) != 1 || w[0] != `POST /v3/user/tokens {"expiresAt":`+itoa(expires.UnixMilli())+`,"name":"deploy-bot"}` ||
		e.sb.Requests()[0].RawQuery != "teamId="+sandbox.TeamPlatform {
		t.Fatalf("requests %v", e.sb.Requests())
	}
	// The new secret works: it lists the account's tokens.
	conn := e.connect(`vercel_api_token = "` + r["token"].(string) + `"` + "\n" + `vercel_base_url = "` + e.url + `/vercel"`)
	if listed, err := runOn(t, conn, query{table: "user_tokens", columns: []string{"id"}}, e.sb); err != nil || len(listed) != 12 {
		t.Fatalf("with the new token: %d rows, %v", len(listed), err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestRevokeVercelTokensInBulk(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	ids := []string{"tok_0ldM0n1t0r1ng4Lp8Kq", "tok_Rayc4stM1n1mal0K3y", "tok_0ldM0n1t0r1ng4Lp8Kq"}
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "vercel", "id": ids}, "id", "status"))
	if len(rows) != 2 || rows[0]["status"] != "revoked" || rows[1]["status"] != "revoked" {
		t.Fatalf("rows %v", rows)
	}
	if w := writes(e.sb); len(w) != 2 {
		t.Fatalf("one DELETE per distinct id: %v", w)
	}
	for _, id := range ids {
		if slices.Contains(vercelIDs(e.sb), id) {
			t.Fatalf("%s is still there", id)
		}
	}
}

func TestRevokeUnknownVercelTokenNamesIt(t *testing.T) {
	for _, id := range []string{"tok_doesnotexist", "a/b"} {
		e := newEnv(t, sandbox.Config{}, allowTokens...)
		_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "vercel", "id": id}, "id"))
		assertErrorMentions(t, err, `Vercel has no token "`+id+`" to revoke`, "select id, name from user_tokens")
		if want := map[string]int{"tok_doesnotexist": 1, "a/b": 0}[id]; len(writes(e.sb)) != want {
			t.Fatalf("%s: requests %v", id, e.sb.Requests())
		}
	}
}

func TestRevokeTheConnectionsOwnVercelToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "vercel", "id": "current"}, "id", "status", "note"))
	if len(rows) != 1 || rows[0]["id"] != "current" || !strings.Contains(rows[0]["note"].(string), "vercel_api_token is replaced") {
		t.Fatalf("rows %v", rows)
	}
	if slices.Contains(vercelIDs(e.sb), sandbox.CurrentVercelTokenID) {
		t.Fatal("the connection's token is still there")
	}
	_, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel"}})
	assertErrorMentions(t, err, "403", "Check vercel_api_token")
}

func TestQueryServerCreateUpdateRevoke(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	expires := time.Now().Add(48 * time.Hour).Truncate(time.Second).UTC()

	rows := e.mustRun(uta(map[string]any{"action": "create", "provider": "query_server", "email": "newhire@example.com", "can_write": false, "expires_at": expires}))
	tok := qsToken(e.sb, "newhire@example.com")
	if tok == nil || tok.Write || tok.ExpirationDate != expires.Unix() {
		t.Fatalf("the server holds %+v", tok)
	}
	if r := rows[0]; r["id"] != itoa(tok.ID) || r["status"] != "created" || r["can_write"] != false || r["expires_at"] != expires || r["token"] != nil {
		t.Fatalf("create row %v", r)
	}

	// An update changes what it is asked to, and sends the current values of the rest
	// (the server would reset them): here the expiry stays as it was.
	e.sb.ResetRequests()
	rows = e.mustRun(uta(map[string]any{"action": "update", "provider": "query_server", "email": "newhire@example.com", "can_write": true}))
	after := qsToken(e.sb, "newhire@example.com")
	if !after.Write || after.ExpirationDate != expires.Unix() || after.ID != tok.ID {
		t.Fatalf("after update the server holds %+v", after)
	}
	if w := writes(e.sb); len(w) != 1 || w[0] != `PUT /_/user/token {"email":"newhire@example.com","expiration_date":`+itoa(expires.Unix())+`,"write":true}` {
		t.Fatalf("writes %v", w)
	}
	if r := rows[0]; r["status"] != "updated" || r["can_write"] != true || r["expires_at"] != expires || !strings.Contains(r["note"].(string), "re-minted") {
		t.Fatalf("update row %v", r)
	}

	e.sb.ResetRequests()
	rows = e.mustRun(uta(map[string]any{"action": "revoke", "provider": "query_server", "email": []string{"newhire@example.com", "dev@example.com"}}, "email", "id", "status"))
	if len(rows) != 2 || qsToken(e.sb, "newhire@example.com") != nil || qsToken(e.sb, "dev@example.com") != nil {
		t.Fatalf("revoke rows %v", rows)
	}
	if w := writes(e.sb); len(w) != 2 {
		t.Fatalf("writes %v", w)
	}
}

// The Query Server's create is not an upsert: for a user who has a token it answers
// 201 and changes nothing. The table says so instead of claiming a creation.
func TestQueryServerCreateForAUserWithATokenIsRefused(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	_, err := e.run(uta(map[string]any{"action": "create", "provider": "query_server", "email": "dev@example.com"}))
	assertErrorMentions(t, err, "dev@example.com already has a token (id 2)", "revoke it first", "action = 'update'")
	if w := writes(e.sb); len(w) != 0 {
		t.Fatalf("writes %v", w)
	}
}

func TestQueryServerUpdateRefusals(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	for email, want := range map[string]string{
		"expired@example.com": "has expired, and the Query Server refuses to keep a past expiry: give expires_at too",
		"admin@example.com":   "the one this connection authenticates with",
		"newhire@example.com": "has no token to update",
		"nobody@example.com":  `the Query Server has no user "nobody@example.com"`,
	} {
		_, err := e.run(uta(map[string]any{"action": "update", "provider": "query_server", "email": email, "can_write": false}))
		assertErrorMentions(t, err, want)
	}
	if w := writes(e.sb); len(w) != 0 {
		t.Fatalf("writes %v", w)
	}
}

func TestActionRefusals(t *testing.T) {
	forms := []string{"user_token_actions carries out one kind of action per query", "action = 'revoke' and provider = 'vercel' and id = '...'",
		"revoke Okta tokens:         action = 'revoke' and provider = 'okta' and id = '00T...'"}
	cases := []struct {
		name string
		q    query
		want string
	}{
		{"no action", uta(map[string]any{"provider": "vercel", "id": "x"}, "id"), "give the action and the provider"},
		{"no provider", uta(map[string]any{"action": "revoke", "id": "x"}, "id"), "give the action and the provider"},
		{"two actions", uta(map[string]any{"action": []string{"create", "revoke"}, "provider": "vercel", "id": "x"}, "id"), "give one action and one provider"},
		{"an unknown provider", uta(map[string]any{"action": "revoke", "provider": "github", "id": "x"}, "id"), `provider "github" is not one of 'vercel', 'query_server', 'gitlab' and 'okta'`},
		{"an unknown action", uta(map[string]any{"action": "rename", "provider": "vercel", "id": "x"}, "id"), `action "rename" is not one of`},
		{"a verb the provider lacks", uta(map[string]any{"action": "rotate", "provider": "vercel", "id": "x"}, "id"), "Vercel tokens cannot be rotated here"},
		{"a Vercel update", uta(map[string]any{"action": "update", "provider": "vercel", "id": "x"}, "id"), "Vercel tokens cannot be changed"},
		{"an Okta create", uta(map[string]any{"action": "create", "provider": "okta", "name": "x"}, "id"),
			"Okta's API cannot create API tokens: an admin creates them in the Admin Console (Security > API > Tokens)"},
		{"an Okta rotate", uta(map[string]any{"action": "rotate", "provider": "okta", "id": "x"}, "id"),
			"Okta's API cannot rotate API tokens: create a new one in the Admin Console, then revoke the old one"},
		{"an Okta update", uta(map[string]any{"action": "update", "provider": "okta", "id": "x", "can_write": false}, "id"),
			"Okta's API changes only a token's network condition, which this table does not take"},
		{"an Okta revoke by email", uta(map[string]any{"action": "revoke", "provider": "okta", "email": "grace@example.org"}, "id"),
			"this action does not take email"},
		{"an input the action does not take", uta(map[string]any{"action": "revoke", "provider": "vercel", "id": "x", "name": "y"}, "id"), "this action does not take name"},
		{"a revoke of another input", uta(map[string]any{"action": "revoke", "provider": "vercel", "email": "x"}, "id"), "this action does not take email"},
		{"a create that shows no secret", uta(map[string]any{"action": "create", "provider": "vercel", "name": "x"}, "id"), "select the token column"},
		{"a LIMIT", query{table: "user_token_actions", quals: map[string]any{"action": "revoke", "provider": "vercel", "id": []string{"a", "b"}}, columns: []string{"id"}, limit: 1}, "cannot have a LIMIT"},
		{"two teams", uta(map[string]any{"action": "create", "provider": "vercel", "name": "x", "team_id": []string{"a", "b"}}, "token"), "at most one team_id"},
		{"a past expiry", uta(map[string]any{"action": "create", "provider": "vercel", "name": "x", "expires_at": time.Now().Add(-time.Hour)}, "token"), "expires_at must be in the future"},
		{"an update with nothing to change", uta(map[string]any{"action": "update", "provider": "query_server", "email": "dev@example.com"}, "id"), "give can_write and/or expires_at"},
		{"a status that is not the outcome", uta(map[string]any{"action": "revoke", "provider": "vercel", "id": "x", "status": "created"}, "id"), "status 'revoked'"},
		{"another operator", uta(map[string]any{"action": "revoke", "provider": "vercel", "id": op{"<>", "x"}}, "id"), "id <> ...: an input is given with ="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{}, allowTokens...)
			_, err := e.run(tc.q)
			assertErrorMentions(t, err, append([]string{"user_token_actions", tc.want}, forms...)...)
			if n := len(e.sb.Requests()); n != 0 {
				t.Fatalf("%d requests for a refused query", n)
			}
		})
	}
}

func TestActionFlagsOff(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	for _, tc := range []struct {
		quals map[string]any
		want  string
	}{
		{map[string]any{"action": "create", "provider": "vercel", "name": "x"}, "allow_user_token_create = true"},
		{map[string]any{"action": "update", "provider": "query_server", "email": "dev@example.com", "can_write": false}, "allow_user_token_update = true"},
		{map[string]any{"action": "revoke", "provider": "vercel", "id": "x"}, "allow_user_token_revoke = true"},
	} {
		_, err := e.run(uta(tc.quals, "id", "token"))
		assertErrorMentions(t, err, "which connection", tc.want)
	}
	if n := len(e.sb.Requests()); n != 0 {
		t.Fatalf("%d requests with the flags off", n)
	}
}

func TestActionsAreNeverCached(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	q := uta(map[string]any{"action": "create", "provider": "vercel", "name": "twice"}, "id", "token")
	q.cache = true
	a, b := e.mustRun(q), e.mustRun(q)
	if len(a) != 1 || len(b) != 1 || a[0]["id"] == b[0]["id"] {
		t.Fatalf("a repeated query must be a new action: %v %v", a, b)
	}
}

// A scan that fails revokes what it had created: PostgreSQL discards its rows.
func TestFailedScanRevokesWhatItCreated(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	// The SDK runs the IN list's creates in parallel; the third to reach Vercel fails.
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Method: "POST", After: 2, Times: 1, Kind: "status", Status: 400})
	_, err := e.run(uta(map[string]any{"action": "create", "provider": "vercel", "name": []string{"a", "b", "c", "d"}}, "id", "token"))
	assertErrorMentions(t, err, "400", "the query failed, so what it had created was revoked again")
	created, revoked := e.revokesNamed(err,
		func(r sandbox.Request) bool { return r.Method == "POST" && r.Status == 200 },
		func(r sandbox.Request) (string, bool) { return path.Base(r.Path), r.Method == "DELETE" })
	// Two creates began before the failure, and the others may have: all are revoked.
	if created < 2 || revoked != created {
		t.Fatalf("%d created, %d revoked: %v", created, revoked, e.sb.Requests())
	}
	for _, tok := range e.sb.VercelTokens() {
		if len(tok.Name) == 1 {
			t.Fatalf("%s is still there", tok.Name)
		}
	}
}

// Cancelled mid-way: an in-flight create is finished and revoked, and nothing
// delivered before the cancel is undone.
func TestCancelledScanRevokesOnlyWhatWasNotDelivered(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Method: "POST", After: 1, Kind: "hang", Delay: 400 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var delivered []row
	done := make(chan error, 1)
	go func() {
		done <- execute(ctx, t, e.conn, uta(map[string]any{"action": "create", "provider": "vercel", "name": []string{"first", "second"}}, "id", "name", "token"),
			func(r *proto.Row) {
				delivered = append(delivered, decodeRow(t, r))
				cancel() // the reader has what it wanted, as a LIMIT in PostgreSQL would
			})
	}()
	<-done
	waitFor(t, func() bool { return e.sb.Count(sandbox.ProviderVercel, "DELETE", "/v3/user/tokens/*") == 1 }, "the second token is revoked")
	var names []string
	for _, tok := range e.sb.VercelTokens() {
		names = append(names, tok.Name)
	}
	if len(delivered) != 1 || !slices.Contains(names, delivered[0]["name"].(string)) || slices.Contains(names, map[string]string{"first": "second", "second": "first"}[delivered[0]["name"].(string)]) {
		t.Fatalf("delivered %v; Vercel has %v", delivered, names)
	}
}
