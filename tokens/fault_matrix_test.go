package tokens

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// The fault matrix: every upstream, every fault, one exact outcome each. Either the
// query returns every row (compared with the sandbox's own data), or it fails with
// an error whose text is checked. docs/reliability.md is rendered from this table
// (TestReliabilityDocIsTheMatrix), so the page cannot drift from what is tested.

// target is what a case runs: a listing or a Clerk action, and its complete result.
type target struct {
	name     string // as shown in the doc
	upstream string // sandbox upstream
	path     string // sandbox path the fault applies to
	method   string
	run      func(e *env) ([]row, error)
	complete func(t *testing.T, e *env, rows []row)
}

var (
	vercelList = &target{name: "Vercel", upstream: sandbox.UpstreamVercel, path: "/v6/user/tokens", method: "GET",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "name", "expires_at", "scopes"}, quals: map[string]any{"provider": "vercel"}})
		},
		complete: func(t *testing.T, e *env, rows []row) { sameIDs(t, rows, vercelIDs(e.sb)) }}
	queryServerList = &target{name: "Query Server", upstream: sandbox.UpstreamQueryServer, path: "/_/user/token", method: "GET",
		run: func(e *env) ([]row, error) {
			return e.run(query{table: "user_tokens", columns: []string{"id", "can_write", "active"}, quals: map[string]any{"provider": "query_server"}})
		},
		complete: func(t *testing.T, e *env, rows []row) { sameIDs(t, rows, queryServerIDs(e.sb)) }}
	clerkCreate = &target{name: "Clerk (create)", upstream: sandbox.UpstreamClerk, path: "/sign_in_tokens", method: "POST",
		run: func(e *env) ([]row, error) {
			return e.run(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[0]}, "id", "status", "url", "created_at"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			minted := e.sb.ClerkSignInTokens()
			if len(rows) != 1 || len(minted) != 1 || rows[0]["id"] != minted[0].ID || rows[0]["status"] != "pending" {
				t.Fatalf("want the one token Clerk minted; rows %v, minted %+v", rows, minted)
			}
		}}
	clerkRevoke = &target{name: "Clerk (revoke)", upstream: sandbox.UpstreamClerk, path: "/sign_in_tokens/*", method: "POST",
		run: func(e *env) ([]row, error) {
			return e.run(sit(map[string]any{"id": e.pendingID, "status": "revoked"}, "id", "status"))
		},
		complete: func(t *testing.T, e *env, rows []row) {
			if len(rows) != 1 || rows[0]["id"] != e.pendingID || rows[0]["status"] != "revoked" {
				t.Fatalf("want the revoked token; rows %v", rows)
			}
			for _, m := range e.sb.ClerkSignInTokens() {
				if m.ID == e.pendingID && m.Status != "revoked" {
					t.Fatalf("Clerk still has it %s", m.Status)
				}
			}
		}}
	listings  = []*target{vercelList, queryServerList}
	allFour   = []*target{vercelList, queryServerList, clerkCreate, clerkRevoke}
	allButNew = []*target{vercelList, queryServerList, clerkRevoke} // idempotent requests
)

func vercelIDs(sb *sandbox.Sandbox) []string {
	var ids []string
	for _, t := range sb.VercelTokens() {
		ids = append(ids, t.ID)
	}
	return ids
}

func queryServerIDs(sb *sandbox.Sandbox) []string {
	var ids []string
	for _, t := range sb.QueryServerUserTokens() {
		ids = append(ids, fmt.Sprint(t.ID))
	}
	return ids
}

func sameIDs(t *testing.T, rows []row, want []string) {
	t.Helper()
	got := map[string]int{}
	for _, r := range rows {
		got[r["id"].(string)]++
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for _, id := range want {
		if got[id] != 1 {
			t.Fatalf("token %s returned %d times", id, got[id])
		}
	}
}

// expect is a case's outcome: complete (every row / the action done), or an error
// containing every listed phrase.
type expect struct {
	doc     string
	errHas  []string
	nulls   []string // columns that must be null in every row (for missing/null optional fields)
	minReqs int      // requests the sandbox must have seen for this upstream (retries), 0 = unchecked
	maxReqs int      // at most, 0 = unchecked
}

func ok(doc string) expect                    { return expect{doc: doc} }
func fails(doc string, has ...string) expect  { return expect{doc: "fails: " + doc, errHas: has} }
func (x expect) requests(min, max int) expect { x.minReqs, x.maxReqs = min, max; return x }

type matrixCase struct {
	fault   string
	targets []*target
	config  []string // extra connection arguments
	sbc     sandbox.Config
	inject  func(e *env, tg *target)
	want    func(tg *target) expect
}

func fault(kind string, mod ...func(*sandbox.Fault)) func(e *env, tg *target) {
	return func(e *env, tg *target) {
		f := sandbox.Fault{Upstream: tg.upstream, Path: tg.path, Method: tg.method, Kind: kind}
		for _, m := range mod {
			m(&f)
		}
		e.sb.AddFault(f)
	}
}

func status(code int, retryAfter string) func(*sandbox.Fault) {
	return func(f *sandbox.Fault) { f.Status, f.RetryAfter = code, retryAfter }
}
func times(n int) func(*sandbox.Fault) { return func(f *sandbox.Fault) { f.Times = n } }
func after(n int) func(*sandbox.Fault) { return func(f *sandbox.Fault) { f.After = n } }

func same(x expect) func(*target) expect { return func(*target) expect { return x } }

// done is the success text for a target.
func done(tg *target) string {
	switch tg {
	case clerkCreate:
		return "the token is created, once"
	case clerkRevoke:
		return "the token is revoked"
	}
	return "every row"
}

func completes(requests ...int) func(*target) expect {
	return func(tg *target) expect {
		x := ok(done(tg))
		if len(requests) == 2 {
			x = x.requests(requests[0], requests[1])
		}
		return x
	}
}

// nullsWhere: everything completes, and Vercel's optional columns come back null.
func nullsWhere(vercelDoc string) func(*target) expect {
	return func(tg *target) expect {
		x := completes(1, 1)(tg)
		if tg == vercelList {
			x.doc = vercelDoc
			x.nulls = []string{"expires_at", "scopes"}
		}
		return x
	}
}

var argFor = map[*target]string{vercelList: "vercel_api_token", queryServerList: "query_server_token", clerkCreate: "clerk_secret_key", clerkRevoke: "clerk_secret_key"}
var urlArgFor = map[*target]string{vercelList: "vercel_base_url", queryServerList: "query_server_url", clerkCreate: "clerk_base_url", clerkRevoke: "clerk_base_url"}

// Shared settings: two retries keep the permanent-failure cases quick.
var fast = []string{"max_retries = 2"}

var matrix = []matrixCase{
	{fault: "429 with Retry-After, once", targets: allFour, inject: fault("status", status(429, "1"), times(1)),
		want: completes(2, 2)},
	{fault: "429 with only X-RateLimit-Reset, once", targets: []*target{vercelList}, inject: fault("status", status(429, ""), times(1)),
		want: same(ok("every row, after waiting for the reset").requests(2, 2))},
	{fault: "429 forever", targets: allFour, config: fast, inject: fault("status", status(429, "0")),
		want: func(tg *target) expect {
			return fails("throttled; says it gave up after 3 attempts and how long it tried; names max_retries",
				"throttled", "gave up after 3 attempts over", "Raise max_retries (or TOKENS_MAX_RETRIES) (now 2)").requests(3, 3)
		}},
	{fault: "429 asking to wait an hour", targets: []*target{vercelList, clerkCreate}, inject: fault("status", status(429, "3600")),
		want: same(fails("at once: says how long the upstream asked to wait", "throttled", "it asked to wait 1h0m0s").requests(1, 1))},
	{fault: "500 once, then success", targets: allFour, inject: fault("status", status(500, ""), times(1)),
		want: func(tg *target) expect {
			if tg == clerkCreate {
				return fails("not repeated (Clerk may have acted); says a token may exist", "500 Internal Server Error",
					"Clerk may have created the token anyway").requests(1, 1)
			}
			return completes(2, 2)(tg)
		}},
	{fault: "502 once, then success", targets: allFour, inject: fault("status", status(502, ""), times(1)),
		want: func(tg *target) expect {
			if tg == clerkCreate {
				return fails("not repeated; says a token may exist", "502 Bad Gateway", "Clerk may have created the token anyway").requests(1, 1)
			}
			return completes(2, 2)(tg)
		}},
	{fault: "503 once, then success", targets: allFour, inject: fault("status", status(503, ""), times(1)),
		want: completes(2, 2)},
	{fault: "500 always", targets: allButNew, config: fast, inject: fault("status", status(500, "")),
		want: same(fails("after 3 attempts, with the upstream's status", "500 Internal Server Error", "gave up after 3 attempts").requests(3, 3))},
	{fault: "503 always", targets: allFour, config: fast, inject: fault("status", status(503, "0")),
		want: same(fails("after 3 attempts, with the upstream's status", "503 Service Unavailable", "gave up after 3 attempts").requests(3, 3))},
	{fault: "connection reset, twice", targets: allButNew, inject: fault("reset", times(2)),
		want: completes()},
	{fault: "connection reset", targets: []*target{clerkCreate}, inject: fault("reset", times(1)),
		want: same(fails("not repeated; says a token may exist", "connection failed", "Clerk may have created the token anyway").requests(1, 1))},
	{fault: "no answer within request_timeout, once", targets: allButNew, config: []string{"request_timeout = 0.5"}, inject: fault("hang", times(1)),
		want: completes(2, 2)},
	{fault: "no answer within request_timeout, always", targets: allFour, config: []string{"request_timeout = 0.3", "max_retries = 1"}, inject: fault("hang"),
		want: func(tg *target) expect {
			x := fails("names request_timeout and the base URL", "no answer within the request timeout", "Raise request_timeout (or TOKENS_REQUEST_TIMEOUT) (now 300ms)", urlArgFor[tg])
			if tg == clerkCreate {
				x.errHas = append(x.errHas, "Clerk may have created the token anyway")
				return x.requests(1, 1)
			}
			return x.requests(2, 2)
		}},
	{fault: "body cut off mid-JSON, once", targets: allButNew, inject: fault("truncate", times(1)),
		want: func(tg *target) expect {
			if tg == clerkRevoke {
				return ok("the token is revoked: the 200 confirms it, the revoke is not repeated").requests(1, 1)
			}
			return completes(2, 2)(tg)
		}},
	{fault: "body cut off mid-JSON, always", targets: allFour, config: fast, inject: fault("truncate"),
		want: func(tg *target) expect {
			x := fails("says the answer was cut off", "the answer was cut off before its end")
			switch tg {
			case clerkCreate:
				x.doc = "fails, not repeated: says Clerk created a token whose answer was cut off"
				x.errHas = append(x.errHas, "Clerk created the token (it answered 200) but its answer was cut off")
				return x.requests(1, 1)
			case clerkRevoke:
				return ok("the token is revoked: the 200 confirms it, the revoke is not repeated").requests(1, 1)
			}
			return x.requests(3, 3)
		}},
	{fault: "HTML error page (502)", targets: allFour, config: fast, inject: fault("html"),
		want: func(tg *target) expect {
			x := fails("says it got an HTML page, with the status", "502 Bad Gateway", "an HTML error page")
			if tg == clerkCreate {
				return x.requests(1, 1)
			}
			return x.requests(3, 3)
		}},
	{fault: "empty body", targets: allFour, inject: fault("empty"),
		want: func(tg *target) expect {
			return fails("says the body was empty; names the base URL", "answered 200 with an empty body instead of JSON", urlArgFor[tg]).requests(1, 1)
		}},
	{fault: "JSON of the wrong shape", targets: allFour, inject: fault("wrong_shape"),
		want: same(fails("says which part had the wrong shape", "JSON of an unexpected shape").requests(1, 1))},
	{fault: "unknown extra fields", targets: allFour, inject: fault("extra_fields"),
		want: completes(1, 1)},
	{fault: "optional fields missing", targets: allFour, inject: fault("missing_optional"),
		want: nullsWhere("every row; the missing values are null")},
	{fault: "optional fields null", targets: allFour, inject: fault("null_optional"),
		want: nullsWhere("every row; the null values are null")},
	{fault: "pagination repeats a cursor", targets: []*target{vercelList}, sbc: sandbox.Config{VercelTokens: 250}, inject: fault("repeat_cursor", after(1)),
		want: same(fails("stops at once, never loops", "repeats an earlier pagination cursor; stopping rather than looping").requests(2, 2))},
	{fault: "empty page with a next cursor", targets: []*target{vercelList}, sbc: sandbox.Config{VercelTokens: 250}, inject: fault("empty_page_with_next", after(1)),
		want: same(fails("stops at once, never loops", "is empty but names a next page; stopping rather than looping").requests(2, 2))},
	{fault: "a page far larger than asked for", targets: []*target{vercelList}, sbc: sandbox.Config{VercelTokens: 450}, inject: fault("oversized_page"),
		want: same(ok("every row, each once"))},
	{fault: "401 with the upstream's error body", targets: allFour, inject: fault("status", status(401, "")),
		want: func(tg *target) expect {
			return fails("names the credential argument and its variable", "401 Unauthorized", "Check "+argFor[tg]).requests(1, 1)
		}},
	{fault: "403 with the upstream's error body", targets: allFour, inject: fault("status", status(403, "")),
		want: func(tg *target) expect {
			return fails("names the credential argument and its variable", "403 Forbidden", "Check "+argFor[tg]).requests(1, 1)
		}},
	{fault: "404 with the upstream's error body", targets: []*target{vercelList, clerkCreate, clerkRevoke}, inject: fault("status", status(404, "")),
		want: func(tg *target) expect {
			switch tg {
			case clerkCreate:
				return fails("says Clerk has no such user in this key's instance", "404 Not Found", "Clerk has no user", "clerk_secret_key").requests(1, 1)
			case clerkRevoke:
				return fails("names the id: Clerk has no such token in this key's instance", "404 Not Found", "Clerk has no sign-in token sit_", "clerk_secret_key").requests(1, 1)
			}
			return fails("names the base URL argument", "404 Not Found", "Check "+urlArgFor[tg]).requests(1, 1)
		}},
	{fault: "404 on both user-token paths", targets: []*target{queryServerList}, inject: fault("status", status(404, "")),
		want: same(fails("names both paths, the create_user option and query_server_url", "/_/user/token and /_/user-token", "create_user", "Check query_server_url"))},
	{fault: "410 with the upstream's error body", targets: allFour, inject: fault("status", status(410, "")),
		want: same(fails("with the upstream's code and message", "410 Gone").requests(1, 1))},
	{fault: "422 with the upstream's error body", targets: allFour, inject: fault("status", status(422, "")),
		want: same(fails("with the upstream's code and message", "422 Unprocessable Entity").requests(1, 1))},
}

// pendingID: the token clerkRevoke revokes, created before the fault is injected.
func (e *env) withPendingToken(t *testing.T) {
	rows := e.mustRun(sit(map[string]any{"user_id": e.sb.ClerkUserIDs()[1]}, "id"))
	e.pendingID = rows[0]["id"].(string)
	e.sb.ResetRequests()
}

func TestFaultMatrix(t *testing.T) {
	for _, mc := range matrix {
		for _, tg := range mc.targets {
			x := mc.want(tg)
			t.Run(mc.fault+"/"+tg.name, func(t *testing.T) {
				t.Parallel()
				config := append([]string{"allow_sign_in_token_create = true", "allow_sign_in_token_revoke = true"}, mc.config...)
				e := newEnv(t, mc.sbc, fullConfig(config...))
				if tg == clerkRevoke {
					e.withPendingToken(t)
				}
				if tg == clerkCreate {
					// one user only: a cleanup revoke would show up in the request counts
					e.sb.ResetRequests()
				}
				mc.inject(e, tg)
				rows, err := tg.run(e)
				if x.errHas == nil {
					if err != nil {
						t.Fatalf("want %s; got error %v", x.doc, err)
					}
					tg.complete(t, e, rows)
					for _, col := range x.nulls {
						for _, r := range rows {
							if r[col] != nil {
								t.Fatalf("%s = %v, want null", col, r[col])
							}
						}
					}
				} else {
					assertErrorMentions(t, err, append(x.errHas, e.conn)...)
				}
				n := requestsTo(e, tg)
				// A stalled request is logged when the sandbox sees its client leave,
				// which may be just after the query returned.
				for wait := 0; x.minReqs > 0 && n < x.minReqs && wait < 40; wait++ {
					time.Sleep(25 * time.Millisecond)
					n = requestsTo(e, tg)
				}
				if (x.minReqs > 0 && n < x.minReqs) || (x.maxReqs > 0 && n > x.maxReqs) {
					t.Fatalf("%d requests to %s, want %d to %d: %v", n, tg.path, x.minReqs, x.maxReqs, e.sb.Requests())
				}
			})
		}
	}
}

func requestsTo(e *env, tg *target) int {
	prefix := strings.TrimSuffix(tg.path, "*")
	n := 0
	for _, r := range e.sb.Requests() {
		if r.Upstream == tg.upstream && r.Method == tg.method && strings.HasPrefix(strings.TrimPrefix(r.Path, "/v1"), prefix) {
			n++
		}
	}
	return n
}

// ---- the page ----

// docSections are the generated tables of docs/reliability.md, each between
// <!-- NAME:start ... --> and <!-- NAME:end --> markers.
var docSections = []struct {
	name   string
	render func() string
}{
	{"fault-matrix", renderMatrix},
	{"bad-input", renderBadInputs},
	{"bad-config", renderConfigCases},
}

const regenerate = "UPDATE_RELIABILITY_DOC=1 go test ./tokens -run TestReliabilityDocIsTheMatrix"

func renderMatrix() string {
	var b strings.Builder
	b.WriteString("| fault | upstream | outcome |\n|---|---|---|\n")
	for _, mc := range matrix {
		for _, tg := range mc.targets {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mc.fault, tg.name, mc.want(tg).doc)
		}
	}
	return b.String()
}

// TestReliabilityDocIsTheMatrix keeps docs/reliability.md equal to the cases the
// tests run. It runs without the SDK, so also under -race.
func TestReliabilityDocIsTheMatrix(t *testing.T) {
	const path = "../docs/reliability.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	want := text
	for _, sec := range docSections {
		start := "<!-- " + sec.name + ":start (generated by TestReliabilityDocIsTheMatrix; " + regenerate + ") -->"
		end := "<!-- " + sec.name + ":end -->"
		i, j := strings.Index(want, start), strings.Index(want, end)
		if i < 0 || j < i {
			t.Fatalf("%s lacks the %s markers:\n%s\n%s", path, sec.name, start, end)
		}
		want = want[:i+len(start)] + "\n" + sec.render() + want[j:]
	}
	if want == text {
		return
	}
	if os.Getenv("UPDATE_RELIABILITY_DOC") == "1" {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is out of date with the tests' cases; regenerate with %s", path, regenerate)
}
