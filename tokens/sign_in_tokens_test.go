package tokens

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

var allowSignIn = []string{"allow_sign_in_token_create = true", "allow_sign_in_token_revoke = true"}

func sit(quals map[string]any, cols ...string) query {
	return query{table: "sign_in_tokens", quals: quals, columns: cols}
}

// minted are the sign-in tokens Clerk holds, by status.
func minted(sb *sandbox.Sandbox) map[string]int {
	m := map[string]int{}
	for _, t := range sb.ClerkSignInTokens() {
		m[t.Status]++
	}
	return m
}

func TestSignInTokensSchema(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
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
	e := newEnv(t, sandbox.Config{}, allowSignIn...)
	user := sandbox.ClerkUsers[1]
	before := time.Now().Add(-time.Second)
	rows := e.mustRun(sit(map[string]any{"user_id": user}))
	clerk := e.sb.ClerkSignInTokens()
	if len(rows) != 1 || len(clerk) != 1 {
		t.Fatalf("%d rows, %d tokens at Clerk", len(rows), len(clerk))
	}
	r, m := rows[0], clerk[0]
	if r["id"] != m.ID || r["user_id"] != user || r["status"] != "pending" || r["url"] != m.URL || r["token"] != m.Token ||
		r["org_id"] != nil || r["expires_in_seconds"] != nil || r["expires_at"] != nil {
		t.Fatalf("row %v", r)
	}
	if c, ok := r["created_at"].(time.Time); !ok || c.Before(before) {
		t.Fatalf("created_at %v", r["created_at"])
	}
	if body := e.sb.Requests()[0].Body; body != `{"user_id":"`+user+`"}` {
		t.Fatalf("Clerk was sent %s", body)
	}
}

func TestCreateSignInTokenWithLifetimeAndOrg(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowSignIn...)
	user, org := sandbox.ClerkUsers[0], sandbox.ClerkOrgs[0]
	rows := e.mustRun(sit(map[string]any{"user_id": user, "org_id": org, "expires_in_seconds": int64(3600)}, "id", "org_id", "expires_in_seconds", "expires_at", "created_at", "url"))
	r := rows[0]
	if r["org_id"] != org || r["expires_in_seconds"] != int64(3600) || r["expires_at"] != r["created_at"].(time.Time).Add(time.Hour) {
		t.Fatalf("row %v", r)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(e.sb.Requests()[0].Body), &sent); err != nil || sent["org_id"] != org || sent["expires_in_seconds"] != float64(3600) {
		t.Fatalf("Clerk was sent %v", e.sb.Requests()[0].Body)
	}
}

// An IN list (what a join over a values list becomes within one scan), with repeats:
// one token per distinct user.
func TestCreateOneTokenPerDistinctUser(t *testing.T) {
	e := newEnv(t, sandbox.Config{Generate: map[string]int{"clerk": 4}}, allowSignIn...)
	users := e.sb.ClerkUserIDs()
	rows := e.mustRun(sit(map[string]any{"user_id": append(slices.Clone(users[:6]), users[2], users[0])}, "id", "user_id", "url"))
	if len(rows) != 6 || e.sb.Count(sandbox.ProviderClerk, "POST", "/sign_in_tokens") != 6 {
		t.Fatalf("%d rows, %d creates for 6 distinct users", len(rows), e.sb.Count(sandbox.ProviderClerk, "POST", "/sign_in_tokens"))
	}
	var got []string
	for _, r := range rows {
		got = append(got, r["user_id"].(string))
	}
	slices.Sort(got)
	want := slices.Clone(users[:6])
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("tokens for %v", got)
	}
}

func TestRevokeSignInToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowSignIn...)
	id := e.mustRun(sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "id", "url"))[0]["id"].(string)
	rows := e.mustRun(sit(map[string]any{"id": id, "status": "revoked"}, "id", "status", "url", "token"))
	if len(rows) != 1 || rows[0]["id"] != id || rows[0]["status"] != "revoked" || rows[0]["url"] != nil || rows[0]["token"] != nil {
		t.Fatalf("revoke rows %v", rows)
	}
	if m := minted(e.sb); m["revoked"] != 1 {
		t.Fatalf("Clerk holds %v", m)
	}
	// Revoking it again is Clerk's 400, passed on with its code.
	_, err := e.run(sit(map[string]any{"id": id, "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "Clerk", "400", "sign_in_token_cannot_be_revoked", "revoking "+id)
}

func TestSignInTokensRefusals(t *testing.T) {
	user := sandbox.ClerkUsers[0]
	forms := []string{"Clerk cannot list or look up sign-in tokens", "where user_id = 'user_...'", "where id = 'sit_...' and status = 'revoked'"}
	cases := []struct {
		name string
		q    query
		want string
	}{
		{"no condition", sit(nil, "id"), "neither a user_id"},
		{"id alone", sit(map[string]any{"id": "sit_x"}, "id"), "give the id and status = 'revoked'"},
		{"status alone", sit(map[string]any{"status": "revoked"}, "id"), "neither a user_id"},
		{"id with pending", sit(map[string]any{"id": "sit_x", "status": "pending"}, "id"), "give the id and status = 'revoked'"},
		{"user and id", sit(map[string]any{"user_id": user, "id": "sit_x", "status": "revoked"}, "id"), "neither a user_id"},
		{"user with revoked", sit(map[string]any{"user_id": user, "status": "revoked"}, "url"), "a new token is 'pending'"},
		{"revoke with a lifetime", sit(map[string]any{"id": "sit_x", "status": "revoked", "expires_in_seconds": int64(60)}, "id"), "does not take expires_in_seconds"},
		{"zero lifetime", sit(map[string]any{"user_id": user, "expires_in_seconds": int64(0)}, "url"), "at least 1"},
		{"a LIMIT", query{table: "sign_in_tokens", quals: map[string]any{"user_id": []string{user, sandbox.ClerkUsers[1]}}, columns: []string{"url"}, limit: 1}, "cannot have a LIMIT"},
		{"a create that shows no secret", sit(map[string]any{"user_id": user}, "id"), "select the url or token column"},
		{"a condition on an output", sit(map[string]any{"user_id": user, "created_at": op{">", time.Now()}}, "url"), "does not take created_at"},
		{"another operator", sit(map[string]any{"user_id": op{"<>", user}}, "url"), "user_id <> ...: an input is given with ="},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{}, allowSignIn...)
			_, err := e.run(tc.q)
			assertErrorMentions(t, err, append([]string{"sign_in_tokens", tc.want}, forms...)...)
			if n := e.sb.Count(sandbox.ProviderClerk, "", ""); n != 0 {
				t.Fatalf("%d Clerk requests for a refused query", n)
			}
		})
	}
}

func TestSignInTokenFlagsOff(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	_, err := e.run(sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "url"))
	assertErrorMentions(t, err, "would create a sign-in token", "allow_sign_in_token_create = true", e.conn)
	_, err = e.run(sit(map[string]any{"id": "sit_x", "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "would revoke a sign-in token", "allow_sign_in_token_revoke = true")
	if n := e.sb.Count(sandbox.ProviderClerk, "", ""); n != 0 {
		t.Fatalf("%d Clerk requests with both flags off", n)
	}
	// Flags are not read from the environment: nothing outside the connection config turns them on.
	t.Setenv("ALLOW_SIGN_IN_TOKEN_CREATE", "true")
	_, err = e.run(sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "url"))
	assertErrorMentions(t, err, "allow_sign_in_token_create = true")
}

func TestSignInTokensClerkErrors(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowSignIn...)
	_, err := e.run(sit(map[string]any{"user_id": "user_nobody"}, "url"))
	assertErrorMentions(t, err, "Clerk", "404", "resource_not_found", "Clerk has no user user_nobody", "clerk_secret_key")
	// The second org does not have the first user: Clerk refuses with 422.
	_, err = e.run(sit(map[string]any{"user_id": sandbox.ClerkUsers[0], "org_id": sandbox.ClerkOrgs[1]}, "url"))
	assertErrorMentions(t, err, "Clerk", "422", "form_param_value_invalid")
	_, err = e.run(sit(map[string]any{"id": "sit_doesnotexist", "status": "revoked"}, "id"))
	assertErrorMentions(t, err, "Clerk", "404", "Clerk has no sign-in token sit_doesnotexist")
}

func TestSignInTokensAreNeverCached(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowSignIn...)
	q := sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "id", "url")
	q.cache = true
	a, b := e.mustRun(q), e.mustRun(q)
	if len(a) != 1 || len(b) != 1 || a[0]["id"] == b[0]["id"] || len(e.sb.ClerkSignInTokens()) != 2 {
		t.Fatalf("a repeated query must be a new action: %v %v", a, b)
	}
}

func TestCreateIsRepeatedOnlyWhenClerkCertainlyDidNotAct(t *testing.T) {
	for _, tc := range []struct {
		status  int
		creates int
		err     []string
	}{
		{429, 2, nil},
		{503, 2, nil},
		// A 500 leaves it unknown whether a token was minted: asking again could mint a
		// second live link nobody sees, so the error says what happened instead.
		{500, 1, []string{"500 Internal Server Error", "Clerk may have created the token anyway", "at most one"}},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sandbox.Config{}, allowSignIn...)
			e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Kind: "status", Status: tc.status, RetryAfter: "0", Times: 1})
			rows, err := e.run(sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "id", "url"))
			if n := e.sb.Count(sandbox.ProviderClerk, "POST", "/sign_in_tokens"); n != tc.creates {
				t.Fatalf("%d creates, want %d", n, tc.creates)
			}
			if tc.err == nil {
				if err != nil || len(rows) != 1 {
					t.Fatalf("rows %v err %v", rows, err)
				}
				return
			}
			assertErrorMentions(t, err, tc.err...)
		})
	}
}

// A scan one of whose creates fails (the fourth to reach Clerk) revokes every token it
// created, those in flight included, and names each in its error.
func TestFailedScanRevokesTheSignInTokensItCreated(t *testing.T) {
	// With two failures, both failing list calls return the scan's one error, which
	// names everything revoked (each used to return its own, and the one that found
	// nothing left to revoke could be the error the query ended with).
	for _, failures := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d_failed", failures), func(t *testing.T) {
			e := newEnv(t, sandbox.Config{Generate: map[string]int{"clerk": 10}, Options: map[string]string{"clerk.rate_limit": "-1"}, Latency: 20 * time.Millisecond}, allowSignIn...)
			e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Method: "POST", Path: "/sign_in_tokens", After: 3, Times: failures, Kind: "status", Status: 422})
			users := e.sb.ClerkUserIDs()
			_, err := e.run(sit(map[string]any{"user_id": users[:8]}, "id", "url"))
			if err == nil {
				t.Fatal("no error; a create failed")
			}
			creates, revokes := e.revokesNamed(err,
				func(r sandbox.Request) bool { return r.Method == "POST" && r.Path == "/sign_in_tokens" },
				func(r sandbox.Request) (string, bool) {
					return path.Base(path.Dir(r.Path)), strings.HasSuffix(r.Path, "/revoke")
				})
			if creates < 3+failures || revokes != creates-failures {
				t.Fatalf("%d creates (%d failed), %d revokes: %v", creates, failures, revokes, e.sb.Requests())
			}
		})
	}
}
