package tokens

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Bad input from SQL: every value a user can put in a key column reaches the upstream,
// if at all, as one escaped path segment of the route it belongs to, or in a JSON body.
// Nothing panics, and each query either returns what Postgres would or fails saying why.

var badInputs = []struct {
	name  string
	value string
}{
	{"a slash", "a/b"}, {"a dot segment", ".."}, {"a single dot", "."}, {"a path climbing out", "../../v2/user"},
	{"a query string", "x?limit=1"}, {"a fragment", "x#frag"}, {"an escaped slash", "%2F"}, {"a percent sign", "100%"},
	{"spaces", "two words"}, {"unicode", "ünïcödé ✓"}, {"an empty string", ""}, {"10 KB", strings.Repeat("a", 10<<10)},
}

// inputTarget runs one kind of key-column qual with a bad value and checks the outcome.
type inputTarget struct {
	name  string
	doc   func(value string) string
	check func(t *testing.T, e *env, value string)
}

var inputTargets = []inputTarget{
	{name: "user_tokens id (Vercel)",
		doc: func(string) string { return "no rows; found by listing, never a request to another path" },
		check: func(t *testing.T, e *env, v string) {
			rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "vercel", "id": v}})
			if err != nil || len(rows) != 0 {
				t.Fatalf("rows %v err %v", rows, err)
			}
			for _, r := range e.sb.Requests() {
				if r.Path != "/v6/user/tokens" {
					t.Fatalf("requested %s", r.Path)
				}
			}
		}},
	{name: "user_tokens id (Query Server)",
		doc: func(string) string { return "no rows and no request: Query Server ids are numbers" },
		check: func(t *testing.T, e *env, v string) {
			rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "query_server", "id": v}})
			if err != nil || len(rows) != 0 || len(e.sb.Requests()) != 0 {
				t.Fatalf("rows %v err %v requests %v", rows, err, e.sb.Requests())
			}
		}},
	{name: "sign_in_tokens id (revoke)",
		doc: func(v string) string {
			if v == "" {
				return "no rows and no request: no token has an empty id"
			}
			return "one request to /sign_in_tokens/{escaped id}/revoke; fails with Clerk's 404, naming the id"
		},
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(sit(map[string]any{"id": v, "status": "revoked"}, "id"))
			reqs := e.sb.Requests()
			if v == "" {
				if err != nil || len(reqs) != 0 {
					t.Fatalf("err %v requests %v", err, reqs)
				}
				return
			}
			assertErrorMentions(t, err, "404", "Clerk has no sign-in token "+shortID(v))
			if len(reqs) != 1 {
				t.Fatalf("requests %v", reqs)
			}
			seg, ok := strings.CutPrefix(reqs[0].Path, "/v1/sign_in_tokens/")
			seg, ok2 := strings.CutSuffix(seg, "/revoke")
			if un, err := url.PathUnescape(seg); !ok || !ok2 || strings.Contains(seg, "/") || err != nil || un != v {
				t.Fatalf("requested %.80q", reqs[0].Path)
			}
		}},
	{name: "sign_in_tokens user_id (create)",
		doc: func(v string) string {
			if v == "" {
				return "no rows and no request: no user has an empty id"
			}
			return "one request to /sign_in_tokens with the id in its JSON body; fails with Clerk's 404, naming the user"
		},
		check: func(t *testing.T, e *env, v string) {
			_, err := e.run(sit(map[string]any{"user_id": v}, "id"))
			reqs := e.sb.Requests()
			if v == "" {
				if err != nil || len(reqs) != 0 {
					t.Fatalf("err %v requests %v", err, reqs)
				}
				return
			}
			assertErrorMentions(t, err, "404", "Clerk has no user "+shortID(v))
			if len(reqs) != 1 || reqs[0].Path != "/v1/sign_in_tokens" {
				t.Fatalf("requests %v", reqs)
			}
		}},
}

func TestBadInputFromSQL(t *testing.T) {
	for _, tg := range inputTargets {
		for _, in := range badInputs {
			t.Run(tg.name+"/"+in.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, sandbox.Config{}, allowBoth)
				e.sb.ResetRequests()
				tg.check(t, e, in.value)
			})
		}
	}
}

func renderBadInputs() string {
	var b strings.Builder
	b.WriteString("| value | used as | outcome |\n|---|---|---|\n")
	for _, tg := range inputTargets {
		for _, in := range badInputs {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", in.name, tg.name, tg.doc(in.value))
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
