package tokens

import (
	"fmt"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"net/url"
	"strings"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Bad input from SQL: every value a user can put in an input column reaches a
// provider, if at all, as one escaped path segment of the route it belongs to, or in a
// JSON body. Nothing panics, and each query either returns what PostgreSQL would or
// fails saying why. docs/reliability.md lists the cases.

var badInputs = []struct {
	name  string
	value string
}{
	{"a slash", "a/b"}, {"a dot segment", ".."}, {"a single dot", "."}, {"a path climbing out", "../../v2/user"},
	{"a query string", "x?limit=1"}, {"a fragment", "x#frag"}, {"an escaped slash", "%2F"}, {"a percent sign", "100%"},
	{"spaces", "two words"}, {"unicode", "ünïcödé ✓"}, {"an empty string", ""}, {"10 KB", strings.Repeat("a", 10<<10)},
}

// inputTarget runs one input column with a bad value and checks the outcome.
type inputTarget struct {
	name  string
	doc   string
	check func(t *testing.T, e *env, value string)
}

// segment is the one escaped path segment a request carried after prefix, unescaped.
func segment(t *testing.T, path, prefix, suffix string) string {
	seg, ok := strings.CutPrefix(path, prefix)
	seg, ok2 := strings.CutSuffix(seg, suffix)
	un, err := url.PathUnescape(seg)
	if !ok || !ok2 || strings.Contains(seg, "/") || err != nil {
		t.Fatalf("requested %.80q", path)
	}
	return un
}

var inputTargets = []inputTarget{
	{name: "user_tokens id (Vercel)", doc: "no rows, and no request unless it can be a token id (then one GET of that id)",
		check: func(t *testing.T, e *env, v string) {
			rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel", "id": v}})
			if err != nil || len(rows) != 0 {
				t.Fatalf("rows %v err %v", rows, err)
			}
			for _, r := range e.sb.Requests() {
				if segment(t, r.Path, "/v5/user/tokens/", "") != v {
					t.Fatalf("requested %.80q", r.Path)
				}
			}
		}},
	{name: "user_tokens id (Query Server)", doc: "no rows and no request: Query Server ids are numbers",
		check: func(t *testing.T, e *env, v string) {
			rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server", "id": v}})
			if err != nil || len(rows) != 0 || len(e.sb.Requests()) != 0 {
				t.Fatalf("rows %v err %v requests %v", rows, err, e.sb.Requests())
			}
		}},
	{name: "user_token_actions id (Vercel revoke)", doc: "fails naming the id; a DELETE of that one id when it can be a token id, else no request",
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "vercel", "id": v}, "id"))
			assertErrorMentions(t, err, "Vercel has no token", "to revoke")
			for _, r := range e.sb.Requests() {
				if r.Method != "DELETE" || segment(t, r.Path, "/v3/user/tokens/", "") != v {
					t.Fatalf("requested %s %.80q", r.Method, r.Path)
				}
			}
		}},
	{name: "user_token_actions email (Query Server revoke)", doc: "fails naming the email: the server's users are read, and nothing is deleted",
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "query_server", "email": v}, "id"))
			assertErrorMentions(t, err, "the Query Server has no user")
			if w := writes(e.sb); len(w) != 0 {
				t.Fatalf("writes %v", w)
			}
		}},
	{name: "sign_in_tokens id (revoke)", doc: "one request to /sign_in_tokens/{escaped id}/revoke that fails with Clerk's 404, naming the id; none for an empty id",
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(sit(map[string]any{"id": v, "status": "revoked"}, "id"))
			reqs := e.sb.Requests()
			if v == "" {
				if err != nil || len(reqs) != 0 {
					t.Fatalf("err %v requests %v", err, reqs)
				}
				return
			}
			assertErrorMentions(t, err, "404", "Clerk has no sign-in token "+providers.ShortID(v))
			if len(reqs) != 1 || segment(t, reqs[0].Path, "/sign_in_tokens/", "/revoke") != v {
				t.Fatalf("requests %v", reqs)
			}
		}},
	{name: "sign_in_tokens user_id (create)", doc: "one request with the id in its JSON body that fails with Clerk's 404, naming the user; none for an empty id",
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(sit(map[string]any{"user_id": v}, "url"))
			reqs := e.sb.Requests()
			if v == "" {
				if err != nil || len(reqs) != 0 {
					t.Fatalf("err %v requests %v", err, reqs)
				}
				return
			}
			assertErrorMentions(t, err, "404", "Clerk has no user "+providers.ShortID(v))
			if len(reqs) != 1 || reqs[0].Path != "/sign_in_tokens" {
				t.Fatalf("requests %v", reqs)
			}
		}},
}

func TestBadInputFromSQL(t *testing.T) {
	for _, tg := range inputTargets {
		for _, in := range badInputs {
			t.Run(tg.name+"/"+in.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, sandbox.Config{}, append(append([]string{}, allowSignIn...), allowTokens...)...)
				tg.check(t, e, in.value)
			})
		}
	}
}

func renderBadInputs() string {
	var b strings.Builder
	b.WriteString("| input | values tried | outcome |\n|---|---|---|\n")
	var names []string
	for _, in := range badInputs {
		names = append(names, in.name)
	}
	for _, tg := range inputTargets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", tg.name, strings.Join(names, ", "), tg.doc)
	}
	return b.String()
}
