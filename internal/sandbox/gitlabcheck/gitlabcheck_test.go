// Package gitlabcheck checks the sandbox's GitLab answers against the types of
// GitLab's own Go client (gitlab.com/gitlab-org/api/client-go/v2): every answer the
// plugin reads decodes into the vendor's type, with the values the sandbox holds. It
// is a module of its own so that the vendor client's dependencies stay out of the
// plugin's; make spec-check runs it.
package gitlabcheck

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	gitlab "gitlab.com/gitlab-org/api/client-go/v2"
)

type check struct {
	t     *testing.T
	base  string
	token string
}

// get fetches path and decodes it strictly into v: a key the vendor's type lacks is
// not an error (GitLab sends more than any client reads), a value of the wrong type is.
func (c check) do(method, path, body string, status int, v any) http.Header {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+"/api/v4"+path, strings.NewReader(body))
	req.Header.Set("PRIVATE-TOKEN", c.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s does not decode into %T: %v\n%s", method, path, v, err, b)
		}
	}
	return resp.Header
}

func TestSandboxAnswersDecodeIntoTheVendorsTypes(t *testing.T) {
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"gitlab": 150}})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := check{t: t, base: srv.URL + "/gitlab", token: sb.GitLabToken()}
	byID := map[int64]sandbox.GitLabToken{}
	for _, tok := range sb.GitLabTokens() {
		byID[tok.ID] = tok
	}

	var list []*gitlab.PersonalAccessToken
	h := c.do("GET", "/personal_access_tokens?per_page=100&sort=created_asc", "", 200, &list)
	if len(list) != 100 || h.Get("X-Next-Page") != "2" || h.Get("X-Total") != "161" || h.Get("X-Total-Pages") != "2" {
		t.Fatalf("%d tokens; headers %v", len(list), h)
	}
	for _, p := range list {
		want := byID[p.ID]
		if p.Name != want.Name || p.UserID != want.UserID || p.Revoked != want.Revoked || !p.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("token %d decodes as %+v, the sandbox holds %+v", p.ID, p, want)
		}
		if (p.ExpiresAt == nil) != want.ExpiresAt.IsZero() || (p.ExpiresAt != nil && !time.Time(*p.ExpiresAt).Equal(want.ExpiresAt)) {
			t.Fatalf("token %d expires %v, the sandbox holds %v", p.ID, p.ExpiresAt, want.ExpiresAt)
		}
	}
	var one gitlab.PersonalAccessToken
	c.do("GET", "/personal_access_tokens/7", "", 200, &one)
	c.do("GET", "/personal_access_tokens/self", "", 200, &one)
	c.do("GET", "/personal_access_tokens/9999", "", 404, nil)

	var me gitlab.User
	c.do("GET", "/user", "", 200, &me)
	if me.Username != "root" || !me.IsAdmin || me.Email == "" {
		t.Fatalf("/user %+v", me)
	}
	var u gitlab.User
	c.do("GET", "/users/5", "", 200, &u)
	if !u.Bot || u.State != "active" {
		t.Fatalf("/users/5 %+v", u)
	}
	var users []*gitlab.User
	c.do("GET", "/users?search=alice%40example.com", "", 200, &users)
	var ms []*gitlab.UserMembership
	c.do("GET", "/users/5/memberships", "", 200, &ms)
	if len(ms) != 1 || ms[0].SourceType != "Namespace" || ms[0].SourceID != sandbox.GitLabGroupPlatform {
		t.Fatalf("memberships %+v", ms)
	}
	var g gitlab.Group
	c.do("GET", "/groups/acme%2Fplatform", "", 200, &g)
	if g.FullPath != "acme/platform" {
		t.Fatalf("group %+v", g)
	}
	var subs []*gitlab.Group
	c.do("GET", "/groups/1/descendant_groups", "", 200, &subs)
	var projects []*gitlab.Project
	c.do("GET", "/groups/1/projects?include_subgroups=true&simple=true", "", 200, &projects)
	if len(projects) != 1 || projects[0].PathWithNamespace != "acme/platform/api" {
		t.Fatalf("projects %+v", projects)
	}
	var p gitlab.Project
	c.do("GET", "/projects/10", "", 200, &p)
	var gts []*gitlab.GroupAccessToken
	c.do("GET", "/groups/2/access_tokens", "", 200, &gts)
	if len(gts) != 1 || gts[0].ID != 7 || gts[0].AccessLevel != gitlab.DeveloperPermissions {
		t.Fatalf("group tokens %+v", gts)
	}
	var pts []*gitlab.ProjectAccessToken
	c.do("GET", "/projects/10/access_tokens", "", 200, &pts)

	// the writes: a rotation's answer carries the new secret; a revoke is 204
	var rotated gitlab.PersonalAccessToken
	c.do("POST", "/personal_access_tokens/3/rotate", `{"expires_at":"`+time.Now().AddDate(0, 1, 0).Format(time.DateOnly)+`"}`, 200, &rotated)
	if rotated.Token == "" || rotated.ID <= 161 {
		t.Fatalf("rotation %+v", rotated)
	}
	var grotated gitlab.GroupAccessToken
	c.do("POST", "/groups/2/access_tokens/7/rotate", "", 200, &grotated)
	c.do("POST", "/personal_access_tokens/7/rotate", "", 405, nil) // now revoked: but a group's token is 405 first
	c.do("DELETE", "/personal_access_tokens/"+strconv.FormatInt(rotated.ID, 10), "", 204, nil)
	c.do("POST", "/personal_access_tokens/4/rotate", "", 401, nil) // a revoked token
}
