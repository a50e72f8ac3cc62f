package tokens

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

var allowBoth = fullConfig("allow_sign_in_token_create = true", "allow_sign_in_token_revoke = true")

func sit(quals map[string]any, cols ...string) query {
	return query{table: "sign_in_tokens", quals: quals, columns: cols}
}

func TestSignInTokensSchema(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	res, err := server.GetSchema(&proto.GetSchemaRequest{Connection: e.conn})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]proto.ColumnType{
		"id": proto.ColumnType_STRING, "user_id": proto.ColumnType_STRING, "org_id": proto.ColumnType_STRING,
		"status": proto.ColumnType_STRING, "url": proto.ColumnType_STRING, "token": proto.ColumnType_STRING,
		"expires_in_seconds": proto.ColumnType_INT, "expires_at": proto.ColumnType_TIMESTAMP,
		"created_at": proto.ColumnType_TIMESTAMP, "updated_at": proto.ColumnType_TIMESTAMP,
	}
	got := map[string]proto.ColumnType{}
	for _, c := range res.Schema.Schema["sign_in_tokens"].Columns {
		if !strings.HasPrefix(c.Name, "sp_") && c.Name != "_ctx" {
			got[c.Name] = c.Type
			if !strings.HasSuffix(c.Description, ".") {
				t.Errorf("%s: description %q", c.Name, c.Description)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("columns %v", got)
	}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("%s: %v, want %v", name, got[name], typ)
		}
	}
}

func TestCreateSignInToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	user := e.sb.ClerkUserIDs()[1]
	before := time.Now().Add(-time.Second)
	rows := e.mustRun(sit(map[string]any{"user_id": user}))
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	minted := e.sb.ClerkSignInTokens()
	if len(minted) != 1 || minted[0].UserID != user || r["id"] != minted[0].ID {
		t.Fatalf("sandbox minted %v, row %v", minted, r)
	}
	url, _ := r["url"].(string)
	token, _ := r["token"].(string)
	if r["status"] != "pending" || r["user_id"] != user || token == "" || !strings.Contains(url, token) {
		t.Fatalf("row %v", r)
	}
	if !slices.Contains(e.sb.Secrets(), token) {
		t.Fatal("the token column is not the minted secret")
	}
	if r["org_id"] != nil || r["expires_in_seconds"] != nil || r["expires_at"] != nil {
		t.Fatalf("values the query did not set must be null: %v", r)
	}
	created, _ := r["created_at"].(time.Time)
	if created.Before(before) || created.After(time.Now()) || created.UnixMilli() != minted[0].CreatedAt {
		t.Fatalf("created_at %v, minted at %d ms", created, minted[0].CreatedAt)
	}
}

func TestCreateSignInTokenWithLifetimeAndOrg(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	user, org := e.sb.ClerkUserIDs()[0], e.sb.ClerkOrgIDs()[0] // a member of that org
	rows := e.mustRun(sit(map[string]any{"user_id": user, "org_id": org, "expires_in_seconds": int64(3600)}))
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	created := r["created_at"].(time.Time)
	if r["org_id"] != org || r["expires_in_seconds"] != int64(3600) || r["expires_at"] != created.Add(time.Hour) {
		t.Fatalf("row %v", r)
	}
	m := e.sb.ClerkSignInTokens()[0]
	if m.OrgID != org || m.ExpiresInSeconds != 3600 {
		t.Fatalf("Clerk was asked for %+v", m)
	}
}

func TestCreateOneTokenPerDistinctUser(t *testing.T) {
	e := newEnv(t, sandbox.Config{ClerkUsers: 8}, allowBoth)
	users := e.sb.ClerkUserIDs()
	// An IN list (what a join over a values list becomes within one scan), with a repeat.
	rows := e.mustRun(sit(map[string]any{"user_id": append(slices.Clone(users[:6]), users[2], users[0])}, "id", "user_id", "url"))
	if len(rows) != 6 {
		t.Fatalf("%d rows for 6 distinct users", len(rows))
	}
	if n := e.sb.Count(sandbox.UpstreamClerk, "POST", "/sign_in_tokens"); n != 6 {
		t.Fatalf("%d creates", n)
	}
	got := map[any]bool{}
	for _, r := range rows {
		got[r["user_id"]] = true
	}
	for _, u := range users[:6] {
		if !got[u] {
			t.Fatalf("no token for %s", u)
		}
	}
}

func TestRevokeSignInToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	created := e.mustRun(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0]}, "id"))
	id := created[0]["id"].(string)
	rows := e.mustRun(sit(map[string]any{"id": id, "status": "revoked"}, "id", "status", "url", "token", "updated_at"))
	if len(rows) != 1 || rows[0]["id"] != id || rows[0]["status"] != "revoked" || rows[0]["url"] != nil || rows[0]["token"] != nil {
		t.Fatalf("revoke rows %v", rows)
	}
	if s := e.sb.ClerkSignInTokens()[0].Status; s != "revoked" {
		t.Fatalf("sandbox status %s", s)
	}
	// Revoking it again is Clerk's 400, passed on with its code.
	_, err := e.run(sit(map[string]any{"id": id, "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "Clerk", "400", "revoking "+id)
}

func TestRevokeUnknownIDNamesIt(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	_, err := e.run(sit(map[string]any{"id": "sit_doesnotexist", "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "Clerk", "404", "sit_doesnotexist", "resource_not_found")
}

func TestSignInTokenFlagsOff(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, fullConfig())
	_, err := e.run(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0]}, "id"))
	assertErrorMentions(t, err, "would create a sign-in token", "allow_sign_in_token_create = true", e.conn)
	_, err = e.run(sit(map[string]any{"id": "sit_x", "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "would revoke a sign-in token", "allow_sign_in_token_revoke = true")
	if n := e.sb.Count(sandbox.UpstreamClerk, "", ""); n != 0 {
		t.Fatalf("%d Clerk requests with both flags off", n)
	}
	// Flags are not read from the environment, so nothing outside the connection config can turn them on.
	t.Setenv("ALLOW_SIGN_IN_TOKEN_CREATE", "true")
	_, err = e.run(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0]}, "id"))
	assertErrorMentions(t, err, "allow_sign_in_token_create = true")
}

func TestSignInTokenQueryShapes(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	user := e.sb.ClerkUserIDs()[0]
	cases := map[string]map[string]any{
		"no condition":           nil,
		"id alone":               {"id": "sit_x"},
		"status alone":           {"status": "revoked"},
		"id with pending":        {"id": "sit_x", "status": "pending"},
		"user and id":            {"user_id": user, "id": "sit_x", "status": "revoked"},
		"user with revoked":      {"user_id": user, "status": "revoked"},
		"revoke with a lifetime": {"id": "sit_x", "status": "revoked", "expires_in_seconds": int64(60)},
		"zero lifetime":          {"user_id": user, "expires_in_seconds": int64(0)},
	}
	for name, quals := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.run(sit(quals, "id"))
			assertErrorMentions(t, err, "sign_in_tokens", "Clerk cannot list or look up sign-in tokens",
				"where user_id = 'user_...'", "where id = 'sit_...' and status = 'revoked'")
		})
	}
	if n := e.sb.Count(sandbox.UpstreamClerk, "", ""); n != 0 {
		t.Fatalf("%d Clerk requests for queries the table refuses", n)
	}
}

func TestSignInTokensClerkErrors(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	_, err := e.run(sit(map[string]any{"user_id": "user_nobody"}, "id"))
	assertErrorMentions(t, err, "Clerk", "404", "resource_not_found", "user_nobody")

	// The second org has no members: Clerk refuses with 422.
	_, err = e.run(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0], "org_id": e.sb.ClerkOrgIDs()[1]}, "id"))
	assertErrorMentions(t, err, "Clerk", "422")
}

func TestSignInTokensCredentialErrors(t *testing.T) {
	for _, name := range []string{"CLERK_SECRET_KEY", "CLERK_API_URL"} {
		t.Setenv(name, "")
	}
	e := newEnv(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return "allow_sign_in_token_create = true"
	})
	_, err := e.run(sit(map[string]any{"user_id": "user_x"}, "id"))
	assertErrorMentions(t, err, "clerk_secret_key (or CLERK_SECRET_KEY) is not set", e.conn)

	wrong := e.connect(`clerk_secret_key = "sk_test_wrong"` + "\n" + `clerk_base_url = "` + e.url + `/clerk/v1"` + "\nallow_sign_in_token_create = true")
	_, err = runOn(t, wrong, sit(map[string]any{"user_id": "user_x"}, "id"), e.sb)
	assertErrorMentions(t, err, "Clerk", "401", "authentication_invalid", "clerk_secret_key (or CLERK_SECRET_KEY)")

	publishable := e.connect(`clerk_secret_key = "` + e.sb.ClerkPublishableKey() + `"` + "\nallow_sign_in_token_create = true")
	_, err = runOn(t, publishable, sit(map[string]any{"user_id": "user_x"}, "id"), e.sb)
	assertErrorMentions(t, err, "publishable keys (pk_...) cannot call the Backend API")
}

func TestSignInTokensAreNeverCached(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	q := sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0]}, "id")
	q.cache = true
	a, b := e.mustRun(q), e.mustRun(q)
	if len(a) != 1 || len(b) != 1 || a[0]["id"] == b[0]["id"] || len(e.sb.ClerkSignInTokens()) != 2 {
		t.Fatalf("a repeated query must be a new action: %v %v", a, b)
	}
}

func TestCreateRetriesOnlyWhenClerkCertainlyDidNotAct(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	user := e.sb.ClerkUserIDs()[0]
	creates := func() int { return e.sb.Count(sandbox.UpstreamClerk, "POST", "/sign_in_tokens") }

	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: 429, RetryAfter: "1", Times: 1})
	start := time.Now()
	if rows := e.mustRun(sit(map[string]any{"user_id": user}, "id")); len(rows) != 1 || creates() != 2 {
		t.Fatalf("429: %d rows, %d creates", len(rows), creates())
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Fatal("Retry-After: 1 was not honoured")
	}

	e.sb.ResetRequests()
	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: 503, Times: 1})
	if rows := e.mustRun(sit(map[string]any{"user_id": user}, "id")); len(rows) != 1 || creates() != 2 {
		t.Fatalf("503: %d rows, %d creates", len(rows), creates())
	}

	// A 500 leaves it unknown whether a token was minted: asking again could mint a
	// second live link nobody sees, so the error says what happened instead.
	e.sb.ResetRequests()
	e.sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: 500, Times: 1})
	_, err := e.run(sit(map[string]any{"user_id": user}, "id"))
	assertErrorMentions(t, err, "Clerk", "500")
	if creates() != 1 {
		t.Fatalf("a create was repeated after a 500: %d", creates())
	}
}

func TestFailedStatementRevokesWhatItMinted(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowBoth)
	users := e.sb.ClerkUserIDs()
	_, err := e.run(sit(map[string]any{"user_id": []string{users[0], users[1], "user_nobody", users[2]}}, "id"))
	assertErrorMentions(t, err, "user_nobody", "404")
	// Wait for the parallel creates of the other users to settle.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pending := 0
		for _, m := range e.sb.ClerkSignInTokens() {
			if m.Status == "pending" {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("a failed statement left live sign-in tokens: %+v", e.sb.ClerkSignInTokens())
}
