package tokens

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// The fault matrix: what each table does about each way a provider fails, one exact
// outcome per case. How statuses and bodies are classified is tested once, in
// internal/upstream; here are the cases whose outcome depends on the table: every row
// or a clear error for a listing, and for an action whether it happened, at most once.
// docs/reliability.md is rendered from this table (TestReliabilityDocIsTheTests).

// target is what a case runs, and how it checks a complete result.
type target struct {
	name     string // as the doc shows it
	provider string
	method   string
	path     string // the sandbox path the fault applies to
	run      func(e *env) ([]row, error)
	complete func(t *testing.T, e *env, rows []row)
}

var (
	vercelList = &target{name: "Vercel list", provider: sandbox.ProviderVercel, method: "GET", path: "/v6/user/tokens",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "name"}, quals: map[string]any{"provider": "vercel"}})
		},
		complete: func(t *testing.T, e *env, rows []row) { sameIDs(t, rows, len(e.sb.VercelTokens())) }}
	queryServerList = &target{name: "Query Server list", provider: sandbox.ProviderQueryServer, method: "GET", path: "/_/user/token",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "can_write"}, quals: map[string]any{"provider": "query_server"}})
		},
		complete: func(t *testing.T, e *env, rows []row) { sameIDs(t, rows, 6) }}
	clerkCreate = &target{name: "Clerk create", provider: sandbox.ProviderClerk, method: "POST", path: "/sign_in_tokens",
		run: func(e *env) ([]row, error) {
			return e.run(sit(map[string]any{"user_id": sandbox.ClerkUsers[0]}, "id", "url"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			made := e.sb.ClerkSignInTokens()
			if len(rows) != 1 || len(made) != 1 || rows[0]["id"] != made[0].ID {
				t.Fatalf("want the one token Clerk made: rows %v, Clerk has %+v", rows, made)
			}
		}}
	clerkRevoke = &target{name: "Clerk revoke", provider: sandbox.ProviderClerk, method: "POST", path: "/sign_in_tokens/*",
		run: func(e *env) ([]row, error) {
			return e.run(sit(map[string]any{"id": e.sb.ClerkSignInTokens()[0].ID, "status": "revoked"}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["status"] != "revoked" || e.sb.ClerkSignInTokens()[0].Status != "revoked" {
				t.Fatalf("want the token revoked: rows %v", rows)
			}
		}}
	vercelCreate = &target{name: "Vercel create", provider: sandbox.ProviderVercel, method: "POST", path: "/v3/user/tokens",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "create", "provider": "vercel", "name": "made by the matrix"}, "id", "token"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || len(e.sb.VercelTokens()) != 12 || !contains(vercelIDs(e.sb), rows[0]["id"].(string)) {
				t.Fatalf("want the one token Vercel made: rows %v", rows)
			}
		}}
	vercelRevoke = &target{name: "Vercel revoke", provider: sandbox.ProviderVercel, method: "DELETE", path: "/v3/user/tokens/*",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "revoke", "provider": "vercel", "id": "tok_Rayc4stM1n1mal0K3y"}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["status"] != "revoked" || contains(vercelIDs(e.sb), "tok_Rayc4stM1n1mal0K3y") {
				t.Fatalf("want the token revoked: rows %v", rows)
			}
		}}
	queryServerRevoke = &target{name: "Query Server revoke", provider: sandbox.ProviderQueryServer, method: "DELETE", path: "/_/user/token",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "revoke", "provider": "query_server", "email": "dev@example.com"}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["id"] != "2" || qsToken(e.sb, "dev@example.com") != nil {
				t.Fatalf("want the token revoked: rows %v", rows)
			}
		}}
	gitlabList = &target{name: "GitLab list", provider: sandbox.ProviderGitLab, method: "GET", path: "/api/v4/personal_access_tokens",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "name"}, quals: map[string]any{"provider": "gitlab"}})
		},
		complete: func(t *testing.T, e *env, rows []row) {
			// every token that existed when the listing began, each once (a fault may add one)
			n := 0
			for _, tok := range e.sb.GitLabTokens() {
				if !strings.HasPrefix(tok.Name, "created during the listing") {
					n++
				}
			}
			sameIDs(t, rows, n)
		}}
	gitlabRevoke = &target{name: "GitLab revoke", provider: sandbox.ProviderGitLab, method: "DELETE", path: "/api/v4/personal_access_tokens/10",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": "10"}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["status"] != "revoked" || !gitlabToken(e.sb, 10).Revoked {
				t.Fatalf("want the token revoked: rows %v", rows)
			}
		}}
	gitlabRotate = &target{name: "GitLab rotate", provider: sandbox.ProviderGitLab, method: "POST", path: "/api/v4/personal_access_tokens/3/rotate",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "rotate", "provider": "gitlab", "id": "3"}, "id", "new_id", "token"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			tokens := e.sb.GitLabTokens()
			if len(rows) != 1 || len(tokens) != 12 || rows[0]["new_id"] != "12" || !gitlabToken(e.sb, 3).Revoked || gitlabToken(e.sb, 12).Revoked {
				t.Fatalf("want one rotation, token 3 revoked and 12 its successor: rows %v", rows)
			}
		}}
	oktaList = &target{name: "Okta list", provider: sandbox.ProviderOkta, method: "GET", path: "/api/v1/api-tokens",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "name"}, quals: map[string]any{"provider": "okta"}})
		},
		complete: func(t *testing.T, e *env, rows []row) { sameIDs(t, rows, len(e.sb.OktaTokens())) }}
	// oktaOwners: the users behind Okta's tokens, one request per owner (6).
	oktaOwners = &target{name: "Okta owners", provider: sandbox.ProviderOkta, method: "GET", path: "/api/v1/users/*",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"provider": "okta"}})
		},
		complete: func(t *testing.T, e *env, rows []row) {
			sameIDs(t, rows, 7)
			for _, r := range rows {
				if r["email"] == nil {
					t.Fatalf("token %s has no owner's email", r["id"])
				}
			}
		}}
	oktaRevoke = &target{name: "Okta revoke", provider: sandbox.ProviderOkta, method: "DELETE", path: "/api/v1/api-tokens/*",
		run: func(e *env) ([]row, error) {
			return e.run(uta(map[string]any{"action": "revoke", "provider": "okta", "id": sandbox.OktaTokenHelpdesk}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["status"] != "revoked" || e.sb.OktaTokenSecret(sandbox.OktaTokenHelpdesk) != "" {
				t.Fatalf("want the token revoked: rows %v", rows)
			}
		}}
	listings = []*target{vercelList, queryServerList, gitlabList, oktaList}
	creates  = []*target{clerkCreate, vercelCreate, gitlabRotate}
	revokes  = []*target{clerkRevoke, vercelRevoke, queryServerRevoke, gitlabRevoke, oktaRevoke}
	all      = []*target{vercelList, queryServerList, gitlabList, oktaList, clerkCreate, clerkRevoke, vercelCreate, vercelRevoke, queryServerRevoke,
		gitlabRevoke, gitlabRotate, oktaRevoke}
)

// gitlabToken is one of the sandbox's GitLab tokens, by id.
func gitlabToken(sb *sandbox.Sandbox, id int64) sandbox.GitLabToken {
	for _, t := range sb.GitLabTokens() {
		if t.ID == id {
			return t
		}
	}
	return sandbox.GitLabToken{}
}

func sameIDs(t *testing.T, rows []row, want int) {
	t.Helper()
	seen := map[any]bool{}
	for _, r := range rows {
		seen[r["id"]] = true
	}
	if len(rows) != want || len(seen) != want {
		t.Fatalf("%d rows (%d distinct), want %d", len(rows), len(seen), want)
	}
}

// expect is a case's outcome: complete (every row, or the action done), or an error
// holding every listed phrase; and how many requests the faulty route saw.
type expect struct {
	doc      string
	errHas   []string
	requests int // 0: not checked
}

func completes(doc string, requests int) expect { return expect{doc: doc, requests: requests} }
func fails(doc string, requests int, has ...string) expect {
	return expect{doc: "fails: " + doc, errHas: has, requests: requests}
}

type matrixCase struct {
	fault   string
	targets []*target
	config  []string
	sbc     sandbox.Config
	inject  sandbox.Fault
	want    func(tg *target) expect
}

// done is what completing means for a target.
func done(tg *target) string {
	switch {
	case contains([]string{clerkCreate.name, vercelCreate.name}, tg.name):
		return "the token is created, once"
	case tg == gitlabRotate:
		return "the token is rotated, once"
	case contains([]string{clerkRevoke.name, vercelRevoke.name, queryServerRevoke.name, gitlabRevoke.name, oktaRevoke.name}, tg.name):
		return "the token is revoked"
	}
	return "every row"
}

// isCreate: an action that makes a new secret, never repeated unless the provider certainly did not act.
func isCreate(tg *target) bool { return tg == clerkCreate || tg == vercelCreate || tg == gitlabRotate }

// mayExist is what the error says when a create may have happened.
func mayExist(tg *target) string {
	switch tg {
	case clerkCreate:
		return "Clerk may have created the token anyway"
	case gitlabRotate:
		return "GitLab may have rotated token 3 anyway"
	}
	return "Vercel may have created the token anyway"
}

var credentialArg = map[*target]string{vercelList: "vercel_api_token", queryServerList: "query_server_token", clerkCreate: "clerk_secret_key",
	clerkRevoke: "clerk_secret_key", vercelCreate: "vercel_api_token", vercelRevoke: "vercel_api_token", queryServerRevoke: "query_server_token",
	gitlabList: "gitlab_token", gitlabRevoke: "gitlab_token", gitlabRotate: "gitlab_token", oktaList: "okta_api_token", oktaRevoke: "okta_api_token"}

// addressArg names each listing's address argument.
var addressArg = map[*target]string{vercelList: "vercel_base_url", queryServerList: "query_server_url", gitlabList: "gitlab_url", oktaList: "okta_domain"}

var matrix = []matrixCase{
	{fault: "429 with Retry-After, once", targets: all, inject: sandbox.Fault{Kind: "status", Status: 429, RetryAfter: "1", Times: 1},
		want: func(tg *target) expect { return completes(done(tg)+", after the wait asked for", 2) }},
	{fault: "429 without Retry-After (the reset header only), once", targets: []*target{vercelList, gitlabList, oktaList, oktaOwners},
		inject: sandbox.Fault{Kind: "status", Status: 429, Times: 1},
		want: func(tg *target) expect {
			if tg == oktaOwners {
				return completes("every row, after waiting for the reset: 6 owners, one of them asked twice", 7)
			}
			return completes("every row, after waiting for the reset", 2)
		}},
	{fault: "429 forever", targets: []*target{vercelList, queryServerList, gitlabList, oktaList, clerkCreate}, config: []string{"max_retries = 2"},
		inject: sandbox.Fault{Kind: "status", Status: 429, RetryAfter: "0"},
		want: func(tg *target) expect {
			return fails("throttled; says it gave up after 3 attempts and names max_retries", 3, "throttled", "gave up after 3 attempts over",
				"Raise max_retries (or TOKENS_MAX_RETRIES) (now 2)")
		}},
	{fault: "429 asking to wait an hour", targets: []*target{vercelList, gitlabList, oktaList, clerkCreate}, inject: sandbox.Fault{Kind: "status", Status: 429, RetryAfter: "3600"},
		want: func(tg *target) expect {
			return fails("at once, saying how long the provider asked to wait", 1, "it asked to wait 1h0m0s")
		}},
	{fault: "500 once", targets: all, inject: sandbox.Fault{Kind: "status", Status: 500, Times: 1},
		want: func(tg *target) expect {
			if isCreate(tg) {
				return fails("not repeated (the provider may have acted); says a token may exist", 1, "500 Internal Server Error", mayExist(tg))
			}
			return completes(done(tg)+", on the second attempt", 2)
		}},
	{fault: "503 once", targets: all, inject: sandbox.Fault{Kind: "status", Status: 503, Times: 1},
		want: func(tg *target) expect {
			return completes(done(tg)+", on the second attempt (503: nothing was done)", 2)
		}},
	{fault: "500 once", targets: []*target{oktaOwners}, inject: sandbox.Fault{Kind: "status", Status: 500, Times: 1},
		want: func(tg *target) expect {
			return completes("every row: the owner asked again (6 owners, 7 requests)", 7)
		}},
	{fault: "502 after the provider acted", targets: []*target{vercelCreate, vercelRevoke, queryServerRevoke, gitlabRevoke, gitlabRotate, oktaRevoke}, inject: sandbox.Fault{Kind: "acted_then_status", Status: 502, Times: 1},
		want: func(tg *target) expect {
			switch tg {
			case vercelCreate:
				return fails("not repeated; says how to find the token that may exist", 1, "502 Bad Gateway", mayExist(tg),
					"select id, created_at from user_tokens where provider = 'vercel' and name = 'made by the matrix'")
			case gitlabRotate:
				return fails("not repeated; says the old token is revoked and how to find its successor", 1, "502 Bad Gateway", mayExist(tg),
					"select id, created_at from user_tokens where provider = 'gitlab' and name = 'ci read'")
			}
			return completes("the token is revoked: the repeat finds it gone, which the first attempt did", 2)
		}},
	{fault: "500 always", targets: listings, config: []string{"max_retries = 2"}, inject: sandbox.Fault{Kind: "status", Status: 500},
		want: func(tg *target) expect {
			return fails("after 3 attempts, with the provider's status", 3, "500 Internal Server Error", "gave up after 3 attempts")
		}},
	{fault: "connection reset, twice", targets: append(slicesClone(listings), revokes...), inject: sandbox.Fault{Kind: "reset", Times: 2},
		want: func(tg *target) expect {
			if tg == vercelList || tg == queryServerList {
				return completes(done(tg), 0) // Go's transport may itself resend a GET on a reset reused connection
			}
			return completes(done(tg), 3)
		}},
	{fault: "connection reset", targets: creates, inject: sandbox.Fault{Kind: "reset", Times: 1},
		want: func(tg *target) expect {
			return fails("not repeated; says a token may exist", 1, "connection failed", mayExist(tg))
		}},
	{fault: "no answer within request_timeout, once", targets: listings, config: []string{"request_timeout = 0.5"}, inject: sandbox.Fault{Kind: "hang", Times: 1},
		want: func(tg *target) expect { return completes("every row", 2) }},
	{fault: "no answer within request_timeout, always", targets: append(slicesClone(listings), creates...), config: []string{"request_timeout = 0.3", "max_retries = 1"},
		inject: sandbox.Fault{Kind: "hang"},
		want: func(tg *target) expect {
			if isCreate(tg) {
				return fails("not repeated; names request_timeout and says a token may exist", 1, "no answer within the request timeout",
					"Raise request_timeout (or TOKENS_REQUEST_TIMEOUT) (now 300ms)", mayExist(tg))
			}
			return fails("names request_timeout and the base URL", 2, "no answer within the request timeout",
				"Raise request_timeout (or TOKENS_REQUEST_TIMEOUT) (now 300ms)", addressArg[tg])
		}},
	{fault: "answer cut off mid-body, once", targets: append(slicesClone(all), oktaOwners), inject: sandbox.Fault{Kind: "truncate", Times: 1},
		want: func(tg *target) expect {
			switch {
			case tg == oktaRevoke:
				return completes("the token is revoked: Okta's 204 has no body to cut off", 1)
			case tg == oktaOwners:
				return completes("every row: the owner asked again (6 owners, 7 requests)", 7)
			case tg == clerkCreate:
				return fails("not repeated; says Clerk created a token whose answer was lost", 1, "Clerk created the token (it answered 200) but its answer was cut off")
			case tg == vercelCreate:
				return fails("not repeated; says how to find the token whose secret was lost", 1, "Vercel created the token (it answered 200) but its answer, with the secret, was cut off",
					"select id, created_at from user_tokens where provider = 'vercel' and name = 'made by the matrix'")
			case tg == gitlabRotate:
				return fails("not repeated; says the old token is revoked and how to find its successor", 1, "GitLab rotated token 3 (it answered 200) but its answer, with the new secret, was cut off",
					"select id, created_at from user_tokens where provider = 'gitlab' and name = 'ci read'")
			case contains([]string{clerkRevoke.name, vercelRevoke.name, queryServerRevoke.name, gitlabRevoke.name}, tg.name):
				return completes("the token is revoked: the 2xx confirms it, and it is not repeated", 1)
			}
			return completes("every row", 2)
		}},
	{fault: "empty body", targets: listings, inject: sandbox.Fault{Kind: "empty"},
		want: func(tg *target) expect {
			return fails("says the body was empty and names the base URL", 1, "answered 200 with an empty body instead of JSON",
				"Check "+addressArg[tg])
		}},
	{fault: "JSON of another shape", targets: []*target{oktaList, oktaOwners}, inject: sandbox.Fault{Kind: "wrong_shape"},
		want: func(tg *target) expect {
			if tg == oktaOwners { // the owners are asked in parallel: those already asked answer too
				return fails("says what the body lacks, without quoting it, and names the address; no owner is asked after", 0,
					"answered 200 with JSON of an unexpected shape", "Check okta_domain")
			}
			return fails("says what the body lacks, without quoting it, and names the address", 1, "answered 200 with JSON of an unexpected shape", "Check okta_domain")
		}},
	{fault: "pagination repeats a cursor", targets: []*target{vercelList}, sbc: sandbox.Config{Generate: map[string]int{"vercel": 239}}, inject: sandbox.Fault{Kind: "repeat_cursor", After: 1},
		want: func(tg *target) expect {
			return fails("stops at once, never loops", 2, "repeats an earlier pagination cursor; stopping rather than looping")
		}},
	{fault: "empty page with a next cursor", targets: []*target{vercelList}, sbc: sandbox.Config{Generate: map[string]int{"vercel": 239}}, inject: sandbox.Fault{Kind: "empty_page_with_next", After: 1},
		want: func(tg *target) expect {
			return fails("stops at once, never loops", 2, "is empty but names a next page; stopping rather than looping")
		}},
	{fault: "a next link that names the page just served", targets: []*target{oktaList}, inject: sandbox.Fault{Kind: "repeat_cursor"},
		want: func(tg *target) expect {
			return fails("stops at once, never loops", 1, "page 1 names an earlier page as the next; stopping rather than looping")
		}},
	{fault: "an empty page with a next link", targets: []*target{oktaList}, inject: sandbox.Fault{Kind: "empty_page_with_next"},
		want: func(tg *target) expect {
			return fails("stops at once, never loops", 1, "page 1 is empty but names a next page; stopping rather than looping")
		}},
	{fault: "a next link to another list", targets: []*target{oktaList}, inject: sandbox.Fault{Kind: "foreign_next"},
		want: func(tg *target) expect {
			return fails("follows nothing: the token is sent only to the token list", 1, "the Link header's next page is another list than the tokens'")
		}},
	{fault: "a page far larger than asked for", targets: []*target{vercelList}, sbc: sandbox.Config{Generate: map[string]int{"vercel": 439}}, inject: sandbox.Fault{Kind: "oversized_page"},
		want: func(tg *target) expect { return completes("every row, each once", 1) }},
	{fault: "offset pages that shifted (a row sorted before them, created meanwhile)", targets: []*target{gitlabList}, sbc: sandbox.Config{Generate: map[string]int{"gitlab": 289}},
		inject: sandbox.Fault{Kind: "shifted_page", After: 1, Times: 1},
		want: func(tg *target) expect {
			return completes("every row, each once: the row seen twice is one row, and the page the shift adds is read", 4)
		}},
	{fault: "401", targets: all, inject: sandbox.Fault{Kind: "status", Status: 401},
		want: func(tg *target) expect {
			return fails("names the credential argument and its variable", 1, "401 Unauthorized", "Check "+credentialArg[tg])
		}},
	{fault: "404", targets: []*target{vercelList, gitlabList, oktaList, clerkCreate, clerkRevoke, vercelRevoke, gitlabRevoke, oktaRevoke}, inject: sandbox.Fault{Kind: "status", Status: 404},
		want: func(tg *target) expect {
			switch tg {
			case gitlabList:
				return fails("names the base URL argument", 1, "404 Not Found", "Check gitlab_url")
			case gitlabRevoke:
				return fails("says GitLab has no such token", 1, `GitLab has no token "10" that this connection can revoke`)
			case oktaList:
				return fails("names the address argument", 1, "404 Not Found E0000007", "Check okta_domain")
			case oktaRevoke:
				return fails("says Okta has no such token", 1, `Okta has no API token "`+sandbox.OktaTokenHelpdesk+`" to revoke`)
			case clerkCreate:
				return fails("says Clerk has no such user in this key's instance", 1, "404 Not Found", "Clerk has no user", "clerk_secret_key")
			case clerkRevoke:
				return fails("says Clerk has no such token in this key's instance", 1, "404 Not Found", "Clerk has no sign-in token", "clerk_secret_key")
			case vercelRevoke:
				return fails("says Vercel has no such token", 1, `Vercel has no token "tok_Rayc4stM1n1mal0K3y" to revoke`)
			}
			return fails("names the base URL argument", 1, "404 Not Found", "Check vercel_base_url")
		}},
}

func slicesClone(t []*target) []*target { return append([]*target(nil), t...) }

func TestFaultMatrix(t *testing.T) {
	for _, mc := range matrix {
		for _, tg := range mc.targets {
			x := mc.want(tg)
			t.Run(mc.fault+"/"+tg.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, mc.sbc, append(append([]string{}, allowSignIn...), append(allowTokens, mc.config...)...)...)
				if tg == clerkRevoke {
					e.mustRun(sit(map[string]any{"user_id": sandbox.ClerkUsers[1]}, "id", "url"))
				}
				e.sb.ResetRequests()
				f := mc.inject
				f.Provider, f.Method, f.Path = tg.provider, tg.method, tg.path
				e.sb.AddFault(f)
				rows, err := tg.run(e)
				if x.errHas == nil {
					if err != nil {
						t.Fatalf("want %s; got %v", x.doc, err)
					}
					tg.complete(t, e, rows)
				} else {
					assertErrorMentions(t, err, append(x.errHas, e.conn)...)
				}
				if x.requests > 0 {
					waitFor(t, func() bool { return e.sb.Count(tg.provider, tg.method, tg.path) >= x.requests }, "the requests are logged")
					if n := e.sb.Count(tg.provider, tg.method, tg.path); n != x.requests {
						t.Fatalf("%d requests to %s %s, want %d: %v", n, tg.method, tg.path, x.requests, e.sb.Requests())
					}
				}
			})
		}
	}
}

// ---- the page ----

// docSections are the generated tables of docs/reliability.md, each between
// <!-- NAME:start ... --> and <!-- NAME:end --> markers.
var docSections = []docSection{
	{"fault-matrix", renderMatrix},
	{"bad-input", renderBadInputs},
	{"bad-config", renderConfigCases},
	{"user-mapping", renderUserMappingCases},
}

const regenerate = "UPDATE_DOCS=1 go test ./tokens -run Doc"

func renderMatrix() string {
	var b strings.Builder
	b.WriteString("| fault | where | outcome |\n|---|---|---|\n")
	for _, mc := range matrix {
		for _, tg := range mc.targets {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mc.fault, tg.name, mc.want(tg).doc)
		}
	}
	return b.String()
}

func renderConfigCases() string {
	var b strings.Builder
	b.WriteString("| configuration | table | the error says |\n|---|---|---|\n")
	for _, c := range configCases {
		table := c.table
		if table == "" {
			table = "user_tokens"
		}
		var says []string
		for _, w := range c.want {
			says = append(says, "`"+strings.ReplaceAll(w, "|", `\|`)+"`")
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.name, table, strings.Join(says, ", "))
	}
	return b.String()
}

// TestReliabilityDocIsTheTests keeps the generated parts of the docs equal to the cases
// the tests run: docs/reliability.md, and the request counts in docs/tables/user_tokens.md.
func TestReliabilityDocIsTheTests(t *testing.T) {
	updateGenerated(t, "../docs/reliability.md", docSections)
	updateGenerated(t, "../docs/tables/user_tokens.md", []docSection{{"request-counts", renderRequestCases}})
}

func renderRequestCases() string {
	var b strings.Builder
	providers := (&house{providers: registry}).feeding("user_tokens")
	b.WriteString("| query |")
	for _, p := range providers {
		b.WriteString(" " + p.Title + " |")
	}
	b.WriteString(" why |\n|---|" + strings.Repeat("---:|", len(providers)) + "---|\n")
	for _, tc := range requestCases() {
		fmt.Fprintf(&b, "| %s |", strings.ReplaceAll(tc.shape, "|", `\|`))
		for _, p := range providers {
			fmt.Fprintf(&b, " %d |", tc.requests[p.Name])
		}
		fmt.Fprintf(&b, " %s |\n", tc.why)
	}
	b.WriteString("\nMeasured by `TestUserTokensRequestCounts` on an account of 250 Vercel tokens (three pages), 6 Query Server tokens, " +
		"and an Okta org of 250 tokens (two pages) of 11 owners.\n")
	return b.String()
}

// docSection is a generated part of a doc: its marker name and its text.
type docSection struct {
	name   string
	render func() string
}

// updateGenerated checks the generated sections of a doc, or rewrites them with UPDATE_DOCS=1.
func updateGenerated(t *testing.T, path string, sections []docSection) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	want, err := regenerated(text, sections)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if want == text {
		return
	}
	if os.Getenv("UPDATE_DOCS") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is out of date with the tests' cases; regenerate with %s", path, regenerate)
}

// regenerated is text with its generated sections rendered anew.
func regenerated(text string, sections []docSection) (string, error) {
	for _, sec := range sections {
		start := "<!-- " + sec.name + ":start (generated from the tests: " + regenerate + ") -->"
		end := "<!-- " + sec.name + ":end -->"
		i, j := strings.Index(text, start), strings.Index(text, end)
		if i < 0 || j < i {
			return "", fmt.Errorf("it lacks the %s markers:\n%s\n%s", sec.name, start, end)
		}
		text = text[:i+len(start)] + "\n" + sec.render() + text[j:]
	}
	return text, nil
}
