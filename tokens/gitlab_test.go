package tokens

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// gitlabAs is a connection to the sandbox's GitLab only, with another user's token
// and the arguments given.
func gitlabAs(t *testing.T, username string, extra ...string) *env {
	t.Helper()
	return newEnvWith(t, sandbox.Config{}, func(sb *sandbox.Sandbox, url string) string {
		cfg := fmt.Sprintf("gitlab_url = %q\ngitlab_token = %q\nrequest_timeout = 5\n", url+"/gitlab", sb.GitLabUserToken(username))
		return cfg + strings.Join(extra, "\n")
	})
}

// A group owner who is not an administrator sees their own tokens and, with
// gitlab_groups, the group's and its projects' access tokens (subgroups included),
// with no email on tokens that are not theirs.
func TestGitLabGroupOwnerSeesOwnAndGroupTokens(t *testing.T) {
	e := gitlabAs(t, sandbox.GitLabAliceUsername, `gitlab_groups = ["acme"]`)
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id", "email", "type", "team_id", "owner_active", "is_current", "active"}})
	assertRows(t, rows, []row{
		{"provider": "gitlab", "id": "2", "email": "alice@example.com", "type": "personal", "team_id": nil, "owner_active": true, "is_current": true, "active": true},
		{"provider": "gitlab", "id": "3", "email": "alice@example.com", "type": "personal", "team_id": nil, "owner_active": true, "is_current": false, "active": true},
		{"provider": "gitlab", "id": "4", "email": "alice@example.com", "type": "personal", "team_id": nil, "owner_active": true, "is_current": false, "active": false},
		{"provider": "gitlab", "id": "7", "email": nil, "type": "group", "team_id": "acme/platform", "owner_active": true, "is_current": false, "active": true},
		{"provider": "gitlab", "id": "8", "email": nil, "type": "project", "team_id": "acme/platform/api", "owner_active": true, "is_current": false, "active": false},
	})
	// the caller, self, one page; the group, its subgroups, its projects; the tokens of
	// acme, acme/platform and acme/platform/api; the two bots
	if n := e.sb.Count(sandbox.ProviderGitLab, "", ""); n != 11 {
		t.Fatalf("%d requests, want 11: %v", n, e.sb.Requests())
	}
}

// Two groups that overlap list a group's tokens twice: one row each.
func TestGitLabOverlappingGroupsListATokenOnce(t *testing.T) {
	e := gitlabAs(t, sandbox.GitLabAliceUsername, `gitlab_groups = ["acme", "acme/platform"]`)
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id"}, quals: map[string]any{"provider": "gitlab"}})
	sameIDs(t, rows, 5)
}

// A group in gitlab_groups that GitLab does not show is named, with the argument.
func TestGitLabUnknownGroupIsNamed(t *testing.T) {
	e := gitlabAs(t, sandbox.GitLabAliceUsername, `gitlab_groups = ["nowhere/at-all"]`)
	_, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab"}})
	assertErrorMentions(t, err, `gitlab_groups = "nowhere/at-all" names a group GitLab does not show to this token (404)`,
		"set gitlab_groups in the connection config")
	if n := strings.Count(err.Error(), `connection "`); n != 1 {
		t.Fatalf("the connection is named %d times: %v", n, err)
	}
}

// An id GitLab answers 401 for, once the credential itself works, is no row; with a
// credential that does not work, the 401 is the error.
func TestGitLabIDOfAnotherUserIsNoRow(t *testing.T) {
	e := gitlabAs(t, sandbox.GitLabAliceUsername)
	rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab", "id": "5"}})
	if err != nil || len(rows) != 0 {
		t.Fatalf("rows %v, err %v", rows, err)
	}
	if e.sb.Count(sandbox.ProviderGitLab, "GET", "/api/v4/personal_access_tokens/5") != 1 || e.sb.Count(sandbox.ProviderGitLab, "GET", "/api/v4/personal_access_tokens/self") != 1 {
		t.Fatalf("requests %v", e.sb.Requests())
	}
	bad := e.connect(fmt.Sprintf("gitlab_url = %q\ngitlab_token = \"wrong\"\nrequest_timeout = 5", e.url+"/gitlab"))
	_, err = runOn(t, bad, query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab", "id": "5"}}, e.sb)
	assertErrorMentions(t, err, "GitLab", "401", "Check gitlab_token (or GITLAB_TOKEN)")
}

// An administrator's unknown id is 404: no row.
func TestGitLabUnknownIDIsNoRow(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	rows, err := e.run(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab", "id": "999"}})
	if err != nil || len(rows) != 0 || e.sb.Count(sandbox.ProviderGitLab, "", "") != 1 {
		t.Fatalf("rows %v, err %v, requests %v", rows, err, e.sb.Requests())
	}
}

// Above 10,000 rows GitLab leaves x-total and x-total-pages out: the listing reads on
// until a page says it is the last, every row once.
func TestGitLabListingPastTenThousandRows(t *testing.T) {
	e := newEnv(t, sandbox.Config{Generate: map[string]int{"gitlab": 10050}})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id"}, quals: map[string]any{"provider": "gitlab"}})
	sameIDs(t, rows, 10061)
	// 101 pages, and up to 7 read ahead past the end
	if n := e.sb.Count(sandbox.ProviderGitLab, "GET", "/api/v4/personal_access_tokens"); n < 101 || n > 108 {
		t.Fatalf("%d pages requested", n)
	}
}

// A LIMIT asks for no page it does not need: one page, of the LIMIT's size.
func TestGitLabLimitAsksForOnePage(t *testing.T) {
	e := newEnv(t, sandbox.Config{Generate: map[string]int{"gitlab": 500}})
	rows := e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab"}, limit: 7})
	reqs := e.sb.Requests()
	if len(rows) != 7 || len(reqs) != 1 || !strings.Contains(reqs[0].RawQuery, "per_page=7") {
		t.Fatalf("%d rows, requests %v", len(rows), reqs)
	}
}

// Comparisons on created_at and last_used_at reach GitLab a second wider than asked;
// every row is checked against the exact bound.
func TestGitLabTimeConditionsAreExact(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	at := days(e.sb, -60) // token 7 was created exactly then
	for _, tc := range []struct {
		op   string
		want []string
	}{
		{">", []string{"10", "11", "3", "6", "9"}},
		{">=", []string{"10", "11", "3", "6", "7", "9"}},
		{"<", []string{"1", "2", "4", "5", "8"}},
		{"<=", []string{"1", "2", "4", "5", "7", "8"}},
	} {
		rows := e.mustRun(query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"provider": "gitlab", "created_at": op{tc.op, at}}})
		var got []string
		for _, r := range rows {
			got = append(got, r["id"].(string))
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("created_at %s: %v, want %v", tc.op, got, tc.want)
		}
	}
	for _, r := range e.sb.Requests() {
		if strings.Contains(r.RawQuery, "created_") && !strings.Contains(r.RawQuery, "created_after="+url.QueryEscape(at.Add(-time.Second).Format(time.RFC3339))) &&
			!strings.Contains(r.RawQuery, "created_before="+url.QueryEscape(at.Add(2*time.Second).Format(time.RFC3339))) {
			t.Errorf("GitLab was asked %s", r.RawQuery)
		}
	}
}

// The actions: revoke through the API that owns a token, rotate with the new secret shown once.
func TestGitLabRevoke(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": []string{"2", "9"}}, "id", "status"))
	if len(rows) != 2 || !gitlabToken(e.sb, 2).Revoked || !gitlabToken(e.sb, 9).Revoked {
		t.Fatalf("rows %v", rows)
	}
	_, err := e.run(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": "999"}, "id"))
	assertErrorMentions(t, err, `GitLab has no token "999" that this connection can revoke`)
	before := len(e.sb.Requests())
	_, err = e.run(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": "tok_x"}, "id"))
	assertErrorMentions(t, err, `GitLab has no token "tok_x"`)
	if len(e.sb.Requests()) != before {
		t.Fatal("an id that is not a number cost a request")
	}
}

// Revoking the connection's own token says what follows, on a connection that never
// asked which token it uses before.
func TestGitLabRevokingTheConnectionsOwnTokenSaysSo(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	rows := e.mustRun(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": "1"}, "id", "status", "note"))
	if len(rows) != 1 || rows[0]["status"] != "revoked" ||
		rows[0]["note"] != "This was the connection's own token: the connection cannot call GitLab until gitlab_token is replaced." {
		t.Fatalf("rows %v", rows)
	}
}

// A group owner revokes a group's token through the group.
func TestGitLabGroupOwnerRevokesThroughTheGroup(t *testing.T) {
	e := gitlabAs(t, sandbox.GitLabAliceUsername, `gitlab_groups = ["acme"]`, "allow_user_token_revoke = true")
	e.mustRun(uta(map[string]any{"action": "revoke", "provider": "gitlab", "id": "7"}, "id", "status"))
	if e.sb.Count(sandbox.ProviderGitLab, "DELETE", "/api/v4/groups/2/access_tokens/7") != 1 || !gitlabToken(e.sb, 7).Revoked {
		t.Fatalf("requests %v", e.sb.Requests())
	}
}

func TestGitLabRotate(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	expires := e.sb.Now().AddDate(0, 0, 30)
	rows := e.mustRun(uta(map[string]any{"action": "rotate", "provider": "gitlab", "id": "3", "expires_at": expires}, "id", "new_id", "status", "token", "expires_at"))
	if len(rows) != 1 {
		t.Fatalf("rows %v", rows)
	}
	made := gitlabToken(e.sb, 12)
	if r := rows[0]; r["id"] != "3" || r["new_id"] != "12" || r["status"] != "rotated" || r["token"] != made.Token || !r["expires_at"].(time.Time).Equal(expires) ||
		!gitlabToken(e.sb, 3).Revoked || made.Revoked || !made.ExpiresAt.Equal(expires) {
		t.Fatalf("row %v; token 3 %+v, new %+v", rows[0], gitlabToken(e.sb, 3), made)
	}
	// a group's token, as an administrator: through its group (found by its bot's membership)
	e.mustRun(uta(map[string]any{"action": "rotate", "provider": "gitlab", "id": "7"}, "id", "token"))
	if e.sb.Count(sandbox.ProviderGitLab, "POST", "/api/v4/groups/2/access_tokens/7/rotate") != 1 {
		t.Fatalf("requests %v", e.sb.Requests())
	}
}

// Refused before acting: no POST reaches GitLab.
func TestGitLabRotateRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quals map[string]any
		cols  []string
		want  string
	}{
		{"the connection's own token", map[string]any{"id": "1"}, nil, "token 1 is the one this connection authenticates with"},
		{"a revoked token", map[string]any{"id": "4"}, nil, "token 4 is revoked: GitLab would answer 401 and revoke every token rotated from it"},
		{"an expired token", map[string]any{"id": "8"}, nil, "expired on"},
		{"an expiry that is not midnight", map[string]any{"id": "3", "expires_at": sandboxDay(30).Add(13 * time.Hour)}, nil,
			"GitLab tokens expire at 00:00 UTC on a date: write expires_at = '" + sandboxDay(31).Format("2006-01-02") + " 00:00Z'"},
		{"no token column", map[string]any{"id": "3"}, []string{"id"}, "select the token column"},
		{"a create", map[string]any{"action": "create", "id": "3"}, nil, "GitLab tokens are created in GitLab"},
		{"an update", map[string]any{"action": "update", "id": "3"}, nil, "GitLab tokens cannot be changed: rotate one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sandbox.Config{}, allowTokens...)
			quals := map[string]any{"action": "rotate", "provider": "gitlab"}
			for k, v := range tc.quals {
				quals[k] = v
			}
			cols := tc.cols
			if cols == nil {
				cols = []string{"id", "token"}
			}
			_, err := e.run(uta(quals, cols...))
			assertErrorMentions(t, err, tc.want)
			if n := e.sb.Count(sandbox.ProviderGitLab, "POST", ""); n != 0 {
				t.Fatalf("%d POSTs", n)
			}
		})
	}
}

// A scan that fails after a rotation revokes the token it made, and says that the
// owner needs a new token.
func TestGitLabFailedScanRevokesTheRotatedToken(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, allowTokens...)
	// token 4 is read late, so that 3 is rotated before 4's refusal fails the scan (the
	// SDK runs the IN list's values in parallel; a scan that failed starts no action)
	e.sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderGitLab, Method: "GET", Path: "/api/v4/personal_access_tokens/4", Kind: "hang", Delay: 300 * time.Millisecond})
	_, err := e.run(uta(map[string]any{"action": "rotate", "provider": "gitlab", "id": []string{"3", "4"}}, "id", "token"))
	assertErrorMentions(t, err, "token 4 is revoked", "revoked again: GitLab token 12 (rotated from 3, which is revoked too: its owner needs a new token)")
	if !gitlabToken(e.sb, 12).Revoked || !gitlabToken(e.sb, 3).Revoked {
		t.Fatalf("tokens %+v", e.sb.GitLabTokens())
	}
}

// Rotating is its own kind of action, off until allowed.
func TestGitLabRotateIsOffUntilAllowed(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, "allow_user_token_revoke = true")
	_, err := e.run(uta(map[string]any{"action": "rotate", "provider": "gitlab", "id": "3"}, "id", "token"))
	assertErrorMentions(t, err, "would rotate a GitLab token", "allow_user_token_rotate = true")
	if n := len(e.sb.Requests()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

// GitLab's state=inactive is "revoked, or expired before today": a token on its
// expiry day is inactive (GitLab refuses it from 00:00 UTC) but not in that list, so
// active = false lists every token and filters here.
func TestGitLabInactiveIncludesATokenOnItsExpiryDay(t *testing.T) {
	e := newEnv(t, sandbox.Config{})
	id := e.sb.AddGitLabToken(sandbox.GitLabToken{Name: "expires today", UserID: 2, Scopes: []string{"api"},
		CreatedAt: e.sb.Now().AddDate(0, 0, -7), ExpiresAt: e.sb.Now()})
	today := fmt.Sprint(id)
	for _, tc := range []struct {
		active bool
		want   []string
	}{
		{false, []string{"4", "8", today}}, // revoked, expired 3 days ago, expires today
		{true, []string{"1", "2", "3", "5", "6", "7", "9", "10", "11"}},
	} {
		rows := e.mustRun(query{table: "user_tokens", columns: []string{"provider", "id"}, quals: map[string]any{"provider": "gitlab", "active": tc.active}})
		var ids []string
		for _, r := range rows {
			ids = append(ids, r["id"].(string))
		}
		slices.Sort(ids)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("active = %v: ids %v, want %v", tc.active, ids, want)
		}
	}
}
