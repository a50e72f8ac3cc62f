//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

func writes() []sandbox.Request {
	return slices.DeleteFunc(sb.Requests(), func(r sandbox.Request) bool { return r.Method == "GET" })
}

func vercelNames() []string {
	var names []string
	for _, t := range sb.VercelTokens() {
		names = append(names, t.Name)
	}
	return names
}

// Every refusal reaches PostgreSQL as an error that shows the valid forms, and acts on nothing.
func TestActionRefusalsThroughPostgres(t *testing.T) {
	users := "'" + strings.Join(sandbox.ClerkUsers, "', '") + "'"
	for _, tc := range []struct{ sql, want string }{
		// the case: 4 live links for a LIMIT that shows 1
		{"select url from sign_in_tokens where user_id in (" + users + ") limit 1", "cannot have a LIMIT"},
		{"select id from user_token_actions where action = 'revoke' and provider = 'vercel' and id in ('a', 'b') limit 1", "cannot have a LIMIT"},
		{"select id from user_token_actions where action = 'create' and provider = 'vercel' and name = 'x'", "select the token column"},
		{"select count(*) from user_token_actions where action = 'create' and provider = 'vercel' and name = 'x'", "select the token column"},
		{"select id from user_token_actions where action = 'revoke' and provider = 'vercel' and id = 'x' and created_at > now() - interval '1 day'", "does not take created_at"},
		{"select id from user_token_actions where action = 'revoke' and provider = 'vercel' and id <> 'x'", "id <> ...: an input is given with ="},
		{"select url from sign_in_tokens where user_id = 'user_2pQ8xY3kL1mN0bV7cT6rS5wZ4aE' and created_at > now() - interval '1 day'", "does not take created_at"},
		{"select id from user_token_actions where action = 'revoke' and provider = 'vercel'", "missing 3 required quals"},
		{"select id from user_token_actions where action = 'update' and provider = 'vercel' and id = 'x'", "Vercel tokens cannot be changed"},
		{"select id from user_token_actions where action = 'create' and provider = 'query_server' and email = 'dev@example.com'", "already has a token (id 2)"},
		{"select token from flags_off.user_token_actions where action = 'create' and provider = 'vercel' and name = 'x'", "allow_user_token_create = true"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			c := fresh(t)
			_, err := rowsOf(t, c, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if w := writes(); len(w) != 0 || len(sb.ClerkSignInTokens()) != 0 {
				t.Fatalf("a refused query acted: %v", w)
			}
		})
	}
}

// An action's input computed by an InitPlan reaches the plugin computed (wrapper patch
// 0012; before, an array arrived empty and the action was refused for its missing input):
// the tokens it names are revoked, and no other.
func TestAnActionTakesAnInitPlansValue(t *testing.T) {
	c := fresh(t)
	rows := mustRows(t, c, "select id from user_token_actions where action = 'revoke' and provider = 'gitlab' and "+
		"id = any(array(select id from user_tokens where provider = 'gitlab' and not owner_active)) order by id")
	var revoked []string
	for _, w := range writes() {
		revoked = append(revoked, w.Method+" "+w.Path)
	}
	slices.Sort(revoked)
	want := []string{"DELETE /api/v4/personal_access_tokens/5", "DELETE /api/v4/personal_access_tokens/6"}
	if len(rows) != 2 || rows[0]["id"] != "5" || rows[1]["id"] != "6" || !slices.Equal(revoked, want) {
		t.Fatalf("rows %v, writes %q; want tokens 5 and 6, %q", rows, revoked, want)
	}
}

// A join runs the table once per row of its other side (a rescan): one action each.
func TestEachScanOfAJoinActsOnce(t *testing.T) {
	c := fresh(t)
	rows := mustRows(t, c, `select v.name, a.id, a.token is not null as shown from (values ('bot-a'), ('bot-b'), ('bot-c')) as v(name)
		join user_token_actions as a on a.name = v.name where a.action = 'create' and a.provider = 'vercel'`)
	if len(rows) != 3 || len(writes()) != 3 {
		t.Fatalf("rows %v, writes %v", rows, writes())
	}
	for _, n := range []string{"bot-a", "bot-b", "bot-c"} {
		if !slices.Contains(vercelNames(), n) {
			t.Fatalf("no token %s", n)
		}
	}
}

// PostgreSQL stops reading (a LIMIT it keeps to itself, over a condition the plugin
// cannot see): the create in flight is finished and revoked, what was read stays.
func TestCancelledScanThroughPostgres(t *testing.T) {
	c := fresh(t)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Method: "POST", After: 1, Kind: "hang", Delay: 500 * time.Millisecond})
	rows := mustRows(t, c, `select name, token from user_token_actions
		where action = 'create' and provider = 'vercel' and name in ('first', 'second') and random() < 2 limit 1`)
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	kept := rows[0]["name"].(string)
	other := map[string]string{"first": "second", "second": "first"}[kept]
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if sb.Count(sandbox.ProviderVercel, "DELETE", "") == 1 && !slices.Contains(vercelNames(), other) {
			break
		}
	}
	if !slices.Contains(vercelNames(), kept) || slices.Contains(vercelNames(), other) {
		t.Fatalf("read %s; Vercel holds %v", kept, vercelNames())
	}
}

// A scan that fails revokes what it created: PostgreSQL shows no row of a failed query.
func TestFailedScanThroughPostgres(t *testing.T) {
	c := fresh(t)
	_, err := rowsOf(t, c, `select token from user_token_actions where action = 'create' and provider = 'vercel' and name in ('a', 'b', '', 'c')`)
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Fatalf("err %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !slices.ContainsFunc(vercelNames(), func(n string) bool { return len(n) == 1 }) {
			return
		}
	}
	t.Fatalf("Vercel still holds %v", vercelNames())
}

// Two creates of one scan fail (two unknown users in the IN list): by the time
// PostgreSQL shows the error, every sign-in token the scan created is revoked, and
// the error names each.
func TestTwoFailuresThroughPostgresRevokeAndNameEverything(t *testing.T) {
	c := fresh(t)
	// every create answers late, so that all have begun when the first 404 fails the
	// scan (the SDK runs the IN list's values in parallel; a failed scan begins no more)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Method: "POST", Path: "/sign_in_tokens", Kind: "hang", Delay: 200 * time.Millisecond})
	users := "'" + strings.Join(append(slices.Clone(sandbox.ClerkUsers), "user_unknown_1", "user_unknown_2"), "', '") + "'"
	_, err := rowsOf(t, c, "select url from sign_in_tokens where user_id in ("+users+")")
	if err == nil {
		t.Fatal("no error; two creates failed")
	}
	made := sb.ClerkSignInTokens()
	for _, tok := range made {
		if tok.Status != "revoked" || !strings.Contains(err.Error(), tok.ID) {
			t.Errorf("%s is %s when the error arrives; named in it: %v", tok.ID, tok.Status, strings.Contains(err.Error(), tok.ID))
		}
	}
	if len(made) == 0 {
		t.Fatalf("no token was created before the failures: %v", err)
	}
}

// What the plugin cannot undo, as docs/tables/user_token_actions.md says: PostgreSQL
// handles a cancel (statement_timeout, Ctrl-C) only between rows, so a create in flight
// is finished and its row handed over before the statement fails; the client then
// shows only the error, and the token exists. user_tokens finds it.
func TestStatementTimeoutDuringACreateLeavesTheTokenFindable(t *testing.T) {
	c := fresh(t)
	// The backend's first query starts the plugin; a timeout during that start acts on nothing.
	mustRows(t, c, `select count(*) from user_tokens where provider = 'vercel'`)
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Method: "POST", Kind: "hang", Delay: 700 * time.Millisecond})
	if _, err := c.Exec(context.Background(), "set statement_timeout = 300"); err != nil {
		t.Fatal(err)
	}
	_, err := rowsOf(t, c, `select token from user_token_actions where action = 'create' and provider = 'vercel' and name = 'slow'`)
	if err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Fatalf("err %v", err)
	}
	if _, err := c.Exec(context.Background(), "set statement_timeout = 0"); err != nil {
		t.Fatal(err)
	}
	rows := mustRows(t, c, `select name from user_tokens where provider = 'vercel' and name = 'slow'`)
	if len(rows) != 1 || sb.Count(sandbox.ProviderVercel, "POST", "") != 1 || sb.Count(sandbox.ProviderVercel, "DELETE", "") != 0 {
		t.Fatalf("rows %v, writes %v", rows, writes())
	}
}

// What the plugin cannot see, as docs/tables/user_token_actions.md says: PostgreSQL
// keeps an `or` and a comparison with a bare function call (`> now()`) to itself, so
// the action happens and PostgreSQL drops its row.
func TestConditionsThePluginCannotSeeDropOutcomeRows(t *testing.T) {
	for _, cond := range []string{
		"and (action = 'create' or id is null)",
		"and created_at > now()",
	} {
		t.Run(cond, func(t *testing.T) {
			c := fresh(t)
			rows := mustRows(t, c, `select id from user_token_actions where action = 'revoke' and provider = 'vercel'
				and id = 'tok_2CiD3pl0yEr7Qa9Zb1Xc' `+cond)
			if len(rows) != 0 || sb.Count(sandbox.ProviderVercel, "DELETE", "") != 1 || slices.Contains(vercelNames(), "ci-deployer") {
				t.Fatalf("rows %v, writes %v", rows, writes())
			}
		})
	}
}

// A revoke by id (Vercel and Okta share it) through PostgreSQL: an IN list revokes
// each, a join revokes once per outer row, a LIMIT is refused before acting, and an
// id the upstream does not know is refused naming it.
func TestRevokeByIDThroughPostgres(t *testing.T) {
	deletes := func() (got []string) { // the writes that succeeded
		for _, w := range writes() {
			if w.Status < 300 {
				got = append(got, w.Method+" "+w.Path)
			}
		}
		slices.Sort(got)
		return got
	}
	for _, tc := range []struct {
		name, sql string
		ids       []string // the rows
		deletes   []string // the requests that revoked
	}{
		{"an IN list", "select id from user_token_actions where action = 'revoke' and provider = 'okta' and id in ('" +
			sandbox.OktaTokenHelpdesk + "', '" + sandbox.OktaTokenReporting + "') order by id",
			[]string{sandbox.OktaTokenHelpdesk, sandbox.OktaTokenReporting},
			[]string{"DELETE /api/v1/api-tokens/" + sandbox.OktaTokenHelpdesk, "DELETE /api/v1/api-tokens/" + sandbox.OktaTokenReporting}},
		{"a join", `select a.id from (values ('tok_Rayc4stM1n1mal0K3y'), ('tok_V3rc3lCl1Sud0T0tp5')) as v(id)
			join user_token_actions as a on a.id = v.id where a.action = 'revoke' and a.provider = 'vercel' order by a.id`,
			[]string{"tok_Rayc4stM1n1mal0K3y", "tok_V3rc3lCl1Sud0T0tp5"},
			[]string{"DELETE /v3/user/tokens/tok_Rayc4stM1n1mal0K3y", "DELETE /v3/user/tokens/tok_V3rc3lCl1Sud0T0tp5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fresh(t)
			var ids []string
			for _, r := range mustRows(t, c, tc.sql) {
				ids = append(ids, r["id"].(string))
			}
			if !slices.Equal(ids, tc.ids) || !slices.Equal(deletes(), tc.deletes) {
				t.Fatalf("rows %q, writes %q; want %q, %q", ids, deletes(), tc.ids, tc.deletes)
			}
		})
	}
	for _, tc := range []struct{ sql, want string }{
		{"select id from user_token_actions where action = 'revoke' and provider = 'okta' and id in ('" +
			sandbox.OktaTokenHelpdesk + "', '" + sandbox.OktaTokenReporting + "') limit 1", "cannot have a LIMIT"},
		{"select id from user_token_actions where action = 'revoke' and provider = 'okta' and id = '00Tn0SuchT0k3n4g7xyz'",
			`Okta has no API token "00Tn0SuchT0k3n4g7xyz" to revoke`},
		{"select id from user_token_actions where action = 'revoke' and provider = 'vercel' and id = 'tok_N0SuchT0k3nAtA11x'",
			`Vercel has no token "tok_N0SuchT0k3nAtA11x" to revoke`},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			c := fresh(t)
			_, err := rowsOf(t, c, tc.sql)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if w := deletes(); len(w) != 0 {
				t.Fatalf("a refused revoke acted: %q", w)
			}
		})
	}
}
