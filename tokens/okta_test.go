package tokens

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Okta's own behaviour in user_tokens and user_token_actions, against the sandbox's
// org (internal/sandbox/okta.go): its owners, its paging and its limits.

// oktaOwnerIDs are the hand-made org's users, by email.
func oktaOwnerIDs(sb *sandbox.Sandbox) map[string]string {
	m := map[string]string{}
	for _, u := range sb.OktaUsers() {
		m[u.Email] = u.ID
	}
	return m
}

func TestOktaRolesThatCannotBeReadLeaveCanWriteUnknown(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	for _, id := range oktaOwnerIDs(e.sb) {
		e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Path: "/api/v1/users/" + id + "/roles", Kind: "status", Status: 403})
	}
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "email", "can_write", "owner_active"}, quals: map[string]any{"provider": "okta"}})
	assertRows(t, rows, []row{
		{"provider": "okta", "id": sandbox.OktaTokenAudit, "email": "grace@example.org", "can_write": nil, "owner_active": true},
		{"provider": "okta", "id": sandbox.OktaTokenTerraform, "email": "grace@example.org", "can_write": nil, "owner_active": true},
		{"provider": "okta", "id": sandbox.OktaTokenReporting, "email": "auditor@example.org", "can_write": nil, "owner_active": true},
		{"provider": "okta", "id": sandbox.OktaTokenHelpdesk, "email": "helpdesk@example.org", "can_write": nil, "owner_active": true},
		{"provider": "okta", "id": sandbox.OktaTokenFormer, "email": "former@example.org", "can_write": nil, "owner_active": false},
		{"provider": "okta", "id": sandbox.OktaTokenOnLeave, "email": "onleave@example.org", "can_write": nil, "owner_active": false},
		{"provider": "okta", "id": sandbox.OktaTokenExpiredPW, "email": "expired@example.org", "can_write": nil, "owner_active": true},
	})
	if n := e.sb.Count(sandbox.ProviderOkta, "GET", "/api/v1/users/*"); n != 12 {
		t.Fatalf("%d owner requests, want 12: a refused roles request is not repeated", n)
	}
}

func TestOktaOwnerWhoIsGone(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	grace := oktaOwnerIDs(e.sb)["grace@example.org"]
	for _, path := range []string{"/api/v1/users/" + grace, "/api/v1/users/" + grace + "/roles"} {
		e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Path: path, Kind: "status", Status: 404})
	}
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "title", "email", "owner_active", "active", "can_write"},
		quals: map[string]any{"provider": "okta", "id": []string{sandbox.OktaTokenAudit, sandbox.OktaTokenTerraform}}})
	// the owner's account is deleted: nobody answers for the token, and Okta rejects it
	assertRows(t, rows, []row{
		{"provider": "okta", "id": sandbox.OktaTokenAudit, "title": "steampipe-audit", "email": nil, "owner_active": false, "active": false, "can_write": nil},
		{"provider": "okta", "id": sandbox.OktaTokenTerraform, "title": "terraform", "email": nil, "owner_active": false, "active": false, "can_write": nil},
	})
}

func TestOktaPagingFollowsTheLinkHeader(t *testing.T) {
	e := newEnv(t, sandbox.Config{Generate: map[string]int{"okta": 450}})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "provider"}, quals: map[string]any{"provider": "okta"}})
	tokens := e.sb.OktaTokens()
	seen := map[string]int{}
	for _, r := range rows {
		seen[r["id"].(string)]++
	}
	for _, tok := range tokens {
		if seen[tok.ID] != 1 {
			t.Fatalf("token %s seen %d times", tok.ID, seen[tok.ID])
		}
	}
	var queries []string
	for _, r := range e.sb.Requests() {
		queries = append(queries, r.RawQuery)
	}
	want := []string{"limit=200", url.Values{"after": {tokens[199].ID}, "limit": {"200"}}.Encode(),
		url.Values{"after": {tokens[399].ID}, "limit": {"200"}}.Encode()}
	if len(rows) != 457 || !slices.Equal(queries, want) {
		t.Fatalf("%d rows; requests %q, want %q", len(rows), queries, want)
	}
}

// Past Okta's per-minute limit, a 429 names the window's reset (X-Rate-Limit-Reset,
// without Retry-After): the requests wait for it, and the query completes.
func TestOktaRateLimitIsWaitedOut(t *testing.T) {
	e := newEnv(t, sandbox.Config{Options: map[string]string{"okta.rate_limit": "2", "okta.rate_window": "1"}})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id", "email"}, quals: map[string]any{"provider": "okta"}})
	reqs := e.sb.Requests()
	throttled := 0
	for i, r := range reqs {
		if r.Status != 429 {
			continue
		}
		throttled++
		// windows are whole seconds: the retry comes once the one that refused it is over
		reset := r.Start.Truncate(time.Second).Add(time.Second)
		j := slices.IndexFunc(reqs[i+1:], func(n sandbox.Request) bool { return n.Path == r.Path })
		if j < 0 || reqs[i+1+j].Start.Before(reset) {
			t.Fatalf("request %d (%s) was refused at %s and retried before the reset at %s: %v", i, r.Path, r.Start, reset, reqs)
		}
	}
	if len(rows) != 7 || throttled == 0 || len(reqs)-throttled != 7 {
		t.Fatalf("%d rows, %d throttled of %v", len(rows), throttled, reqs)
	}
}

func TestOktaRevoke(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "okta", "id": []string{sandbox.OktaTokenHelpdesk, sandbox.OktaTokenFormer}}, "provider", "id", "status", "note"))
	assertRows(t, rows, []row{
		{"provider": "okta", "id": sandbox.OktaTokenHelpdesk, "status": "revoked", "note": nil},
		{"provider": "okta", "id": sandbox.OktaTokenFormer, "status": "revoked", "note": nil},
	})
	if n := len(e.sb.OktaTokens()); n != 5 || e.sb.Count(sandbox.ProviderOkta, "DELETE", "/api/v1/api-tokens/*") != 2 {
		t.Fatalf("%d tokens left, requests %v", n, e.sb.Requests())
	}
	e.sb.ResetRequests()
	_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "okta", "id": "00Tn0SuchT0k3n4g7xyz"}, "id"))
	assertErrorMentions(t, err, `Okta has no API token "00Tn0SuchT0k3n4g7xyz" to revoke`, "select id, name from user_tokens where provider = 'okta'")
	_, err = e.run(uta(map[string]any{"action": "revoke", "provider": "okta", "id": "a/b"}, "id"))
	assertErrorMentions(t, err, `Okta has no API token "a/b" to revoke`)
	if n := len(e.sb.Requests()); n != 1 {
		t.Fatalf("%d requests: an id that cannot be a token's costs none", n)
	}
	// the connection's own token: revoked, and the connection says so, then is refused
	rows = e.mustRun(uta(map[string]any{"action": "revoke", "provider": "okta", "id": "current"}, "id", "status", "note"))
	if len(rows) != 1 || rows[0]["status"] != "revoked" || !strings.Contains(rows[0]["note"].(string), "cannot call Okta until okta_api_token is replaced") {
		t.Fatalf("revoking the current token: %v", rows)
	}
	_, err = e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "okta"}})
	assertErrorMentions(t, err, "Okta: GET /api/v1/api-tokens: 401 Unauthorized E0000011: Invalid token provided", "Check okta_api_token (or OKTA_API_TOKEN)")
}

// A read-only admin's token lists every token but revokes none: Okta answers 403, and
// the error says which token it takes.
func TestOktaReadOnlyAdminCannotRevoke(t *testing.T) {
	e := newEnvWith(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		return strings.Replace(string(sb.ConnectionConfig(url, map[string]string{"allow_user_token_revoke": "true"})),
			sb.OktaAPIToken(), sb.OktaTokenSecret(sandbox.OktaTokenReporting), 1)
	})
	if rows := e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "okta"}}); len(rows) != 7 {
		t.Fatalf("a read-only admin lists %d tokens", len(rows))
	}
	_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "okta", "id": sandbox.OktaTokenTerraform}, "id"))
	assertErrorMentions(t, err, "403 Forbidden E0000006: You do not have permission to perform the requested action",
		"Check okta_api_token (or OKTA_API_TOKEN)", "revoking needs a super admin")
	if n := len(e.sb.OktaTokens()); n != 7 {
		t.Fatalf("%d tokens left", n)
	}
}

// A token of an owner the email rules out costs no roles request; rows of the owner it
// names keep their roles.
func TestOktaEmailConditionReadsOneOwnersRoles(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "email", "can_write"}, quals: map[string]any{"provider": "okta", "email": "auditor@example.org"}})
	assertRows(t, rows, []row{{"provider": "okta", "id": sandbox.OktaTokenReporting, "email": "auditor@example.org", "can_write": false}})
	var roles []string
	for _, r := range e.sb.Requests() {
		if strings.HasSuffix(r.Path, "/roles") {
			roles = append(roles, r.Path)
		}
	}
	if want := []string{"/api/v1/users/" + oktaOwnerIDs(e.sb)["auditor@example.org"] + "/roles"}; !slices.Equal(roles, want) {
		t.Fatalf("roles requests %v, want %v", roles, want)
	}
}
