package sandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GitLab (REST API v4), served under /gitlab (base URL <server>/gitlab; requests go to
// /gitlab/api/v4/...), from GitLab's API documentation (personal_access_tokens.md,
// group_access_tokens.md, project_access_tokens.md, users.md, rest/index.md) and
// checked against the vendor Go client's types (spec_test.go).
//
// Quirks emulated: offset pages (page, per_page up to 100) with x-page, x-per-page,
// x-next-page, x-prev-page and Link, and x-total, x-total-pages and Link rel="last"
// left out above 10,000 rows; RateLimit-* headers only on throttled answers (option
// "gitlab.ratelimit_headers" = "always" sends RateLimit-Remaining on every answer);
// 429 answers carry RateLimit-Reset but no Retry-After; an unknown token id is 404 for
// an administrator and 401 for anyone else; a non-administrator's user_id filter
// other than their own is 401; emails are shown to administrators (and to the caller
// on /user); rotating a revoked or expired token answers 401 and revokes its whole
// family; the personal endpoint answers 405 for a group's or a project's token; a
// user may be named like a bot without being one. Where the documents are silent:
// the list's default order is newest first, and created_after and created_before
// (and the last_used ones) are strict. Its own fault: shifted_page (the page starts
// one row early, as if a row had been created before it during the listing).
// The connection's credential is the administrator's, 24 bare alphanumerics; every
// other token's secret is glpat- and 20 characters.

// ProviderGitLab is the upstream's name, as the plugin's provider column names it.
const ProviderGitLab = "gitlab"

func init() {
	register(&kind{name: ProviderGitLab, prefix: "/gitlab", new: func(cfg Config) upstream { return &gitlab{cfg: cfg} },
		faults: []string{"shifted_page"},
		options: map[string]func(string) error{"ratelimit_headers": func(v string) error {
			if v != "always" && v != "throttled" {
				return errWant("always or throttled")
			}
			return nil
		}}})
}

// GitLabUser is a user of the instance; Memberships are its direct groups ("Namespace")
// and projects.
type GitLabUser struct {
	ID                    int64
	Username, Name, Email string
	State                 string // active, blocked, deactivated
	Bot, Admin            bool
	Memberships           []GitLabMembership
}

// GitLabMembership is one direct membership of a user.
type GitLabMembership struct {
	SourceID   int64
	SourceType string // "Namespace" or "Project"
}

// GitLabGroup is a group; ParentID 0 for a top-level group.
type GitLabGroup struct {
	ID                   int64
	Name, Path, FullPath string
	ParentID             int64
}

// GitLabProject is a project of a group.
type GitLabProject struct {
	ID                      int64
	Name, PathWithNamespace string
	GroupID                 int64
}

// GitLabToken is a personal access token; a group's or a project's access token is
// its bot user's personal access token with Home set.
type GitLabToken struct {
	ID                    int64
	Name, Description     string
	UserID                int64
	Scopes                []string
	Revoked               bool
	CreatedAt, LastUsedAt time.Time // LastUsedAt zero: never used
	ExpiresAt             time.Time // a date at 00:00 UTC; zero: never expires
	Token                 string
	HomeKind              string // "group" or "project" for an access token of one; "" personal
	HomeID                int64
	AccessLevel           int
	PreviousID            int64 // the token this one's rotation replaced
}

// Active is GitLab's own rule: not revoked, and not at or past its expiry date.
func (t *GitLabToken) Active(now time.Time) bool {
	return !t.Revoked && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Hand-made GitLab ids, the placeholders of docs/tables/user_tokens.md.
const (
	GitLabGroupAcme         int64 = 1  // acme
	GitLabGroupPlatform     int64 = 2  // acme/platform
	GitLabGroupOther        int64 = 3  // other, outside acme
	GitLabProjectAPI        int64 = 10 // acme/platform/api
	GitLabCurrentTokenID    int64 = 1  // the connection's (root's)
	GitLabAliceLaptopID     int64 = 2
	GitLabBlockedOwnerID    int64 = 5 // bob's, active
	GitLabGroupTokenID      int64 = 7 // acme/platform's deploy token
	GitLabProjectTokenID    int64 = 8 // acme/platform/api's, expired
	GitLabServiceAccountsID int64 = 9 // a service account's
	GitLabAliceUsername           = "alice"
)

// gitlab is one instance: its users, groups, projects and tokens.
type gitlab struct {
	cfg      Config
	rng      *rand.Rand
	now      time.Time
	users    []GitLabUser
	groups   []GitLabGroup
	projects []GitLabProject
	tokens   []GitLabToken // by id
	nextID   int64
}

// GitLabToken is the connection's GitLab credential: an administrator's token.
func (s *Sandbox) GitLabToken() string {
	return with(s, ProviderGitLab, func(g *gitlab) string { return g.token(GitLabCurrentTokenID).Token })
}

// GitLabUserToken is the secret of the first active token of a user, by username.
func (s *Sandbox) GitLabUserToken(username string) string {
	return with(s, ProviderGitLab, func(g *gitlab) string {
		for _, t := range g.tokens {
			if u := g.user(t.UserID); u != nil && u.Username == username && t.Active(time.Now()) && t.HomeKind == "" {
				return t.Token
			}
		}
		return ""
	})
}

// GitLabTokens returns every token of the instance, by id.
func (s *Sandbox) GitLabTokens() []GitLabToken {
	return with(s, ProviderGitLab, func(g *gitlab) []GitLabToken { return slices.Clone(g.tokens) })
}

// AddGitLabToken adds a personal access token (for a test's edge case: one that
// expires today, say) and returns its id.
func (s *Sandbox) AddGitLabToken(t GitLabToken) int64 {
	return with(s, ProviderGitLab, func(g *gitlab) int64 {
		g.nextID = max(g.nextID, g.tokens[len(g.tokens)-1].ID) + 1
		t.ID, t.Token = g.nextID, s.mint("glpat-"+alnum(g.rng, 20))
		g.tokens = append(g.tokens, t)
		return t.ID
	})
}

// GitLabState is the GitLab part of /_sandbox/state.
type GitLabState struct {
	Tokens int `json:"tokens"`
	Users  int `json:"users"`
}

func (g *gitlab) state() any { return GitLabState{Tokens: len(g.tokens), Users: len(g.users)} }

func (g *gitlab) secrets() []string {
	var out []string
	for _, t := range g.tokens {
		out = append(out, t.Token)
	}
	return out
}

func (g *gitlab) connection(base string) [][2]string {
	return [][2]string{{"gitlab_url", base}, {"gitlab_token", g.token(GitLabCurrentTokenID).Token}}
}

func (g *gitlab) wrongShape() []byte { return []byte(`{"id":"x","tokens":{}}`) }

func (g *gitlab) statusResponse(f *Fault) *response {
	r := jsonResponse(f.Status, map[string]string{"message": strconv.Itoa(f.Status) + " " + http.StatusText(f.Status)})
	if f.Status == http.StatusTooManyRequests {
		// GitLab's throttles may leave Retry-After out: the reset is all there is.
		r = newResponse(f.Status, []byte("Retry later\n"))
		r.header.Set("RateLimit-Limit", "2000")
		r.header.Set("RateLimit-Remaining", "0")
		r.header.Set("RateLimit-Reset", strconv.FormatInt(time.Now().Unix()+1, 10))
	}
	return r
}

func (g *gitlab) build(s *Sandbox, rng *rand.Rand) {
	g.rng, g.now, g.users, g.groups, g.projects, g.tokens, g.nextID = rng, s.cfg.Now, nil, nil, nil, nil, 0
	day := s.day
	date := func(n int) time.Time { return s.cfg.Now.AddDate(0, 0, n) }
	user := func(id int64, username, state string, bot, admin bool, m ...GitLabMembership) {
		g.users = append(g.users, GitLabUser{ID: id, Username: username, Name: strings.ToUpper(username[:1]) + username[1:],
			Email: username + "@example.com", State: state, Bot: bot, Admin: admin, Memberships: m})
	}
	tok := func(t GitLabToken) {
		g.nextID++
		t.ID = g.nextID
		t.Token = "glpat-" + alnum(rng, 20)
		g.tokens = append(g.tokens, t)
	}
	g.groups = []GitLabGroup{{ID: GitLabGroupAcme, Name: "Acme", Path: "acme", FullPath: "acme"},
		{ID: GitLabGroupPlatform, Name: "Platform", Path: "platform", FullPath: "acme/platform", ParentID: GitLabGroupAcme},
		{ID: GitLabGroupOther, Name: "Other", Path: "other", FullPath: "other"}}
	g.projects = []GitLabProject{{ID: GitLabProjectAPI, Name: "API", PathWithNamespace: "acme/platform/api", GroupID: GitLabGroupPlatform}}
	user(1, "root", "active", false, true)
	if g.cfg.Estate == "clean" {
		tok(GitLabToken{Name: "steampipe-audit", UserID: 1, Scopes: []string{"read_api"}, CreatedAt: day(-10), LastUsedAt: day(-0.1), ExpiresAt: date(60)})
	} else {
		user(2, GitLabAliceUsername, "active", false, false, GitLabMembership{GitLabGroupAcme, "Namespace"})
		user(3, "bob", "blocked", false, false)
		user(4, "carol", "deactivated", false, false)
		user(5, "group_2_bot_a1b2c3", "active", true, false, GitLabMembership{GitLabGroupPlatform, "Namespace"})
		user(6, "project_10_bot_d4e5f6", "active", true, false, GitLabMembership{GitLabProjectAPI, "Project"})
		user(7, "service_account_monitor", "active", true, false)
		user(8, "group_99_bot_fake", "active", false, false) // named like a bot, a person
		user(9, "group_3_bot_g7h8i9", "active", true, false, GitLabMembership{GitLabGroupOther, "Namespace"})
		for i := range g.users {
			if g.users[i].Bot {
				g.users[i].Email = g.users[i].Username + "@noreply.gitlab.example.com"
			}
		}
		tok(GitLabToken{Name: "steampipe-audit", UserID: 1, Scopes: []string{"api"}, CreatedAt: day(-200), LastUsedAt: day(-0.1), ExpiresAt: date(165)})
		tok(GitLabToken{Name: "laptop", UserID: 2, Scopes: []string{"api"}, CreatedAt: day(-400), LastUsedAt: day(-1)}) // never expires: the instance allows it
		tok(GitLabToken{Name: "ci read", UserID: 2, Scopes: []string{"read_api", "read_repository"}, CreatedAt: day(-30), LastUsedAt: day(-3), ExpiresAt: date(20)})
		tok(GitLabToken{Name: "old script", UserID: 2, Scopes: []string{"api"}, Revoked: true, CreatedAt: day(-100), LastUsedAt: day(-90), ExpiresAt: date(100)})
		tok(GitLabToken{Name: "bob's automation", UserID: 3, Scopes: []string{"api"}, CreatedAt: day(-150), LastUsedAt: day(-60), ExpiresAt: date(200)})
		tok(GitLabToken{Name: "carol sync", UserID: 4, Scopes: []string{"read_repository"}, CreatedAt: day(-50), ExpiresAt: date(35)})
		tok(GitLabToken{Name: "deploy", Description: "registry pushes", UserID: 5, Scopes: []string{"read_registry", "write_registry"},
			CreatedAt: day(-60), LastUsedAt: day(-2), ExpiresAt: date(60), HomeKind: "group", HomeID: GitLabGroupPlatform, AccessLevel: 30})
		tok(GitLabToken{Name: "release", UserID: 6, Scopes: []string{"api"}, CreatedAt: day(-100), LastUsedAt: day(-10), ExpiresAt: date(-3),
			HomeKind: "project", HomeID: GitLabProjectAPI, AccessLevel: 40})
		tok(GitLabToken{Name: "monitoring", UserID: 7, Scopes: []string{"read_api"}, CreatedAt: day(-10), ExpiresAt: date(365)})
		tok(GitLabToken{Name: "not a bot", UserID: 8, Scopes: []string{"read_user"}, CreatedAt: day(-5), LastUsedAt: day(-1), ExpiresAt: date(35)})
		tok(GitLabToken{Name: "other deploy", UserID: 9, Scopes: []string{"api"}, CreatedAt: day(-20), LastUsedAt: day(-1), ExpiresAt: date(40),
			HomeKind: "group", HomeID: GitLabGroupOther, AccessLevel: 40})
	}
	// Generated tokens, older than the hand-made ones (their ids are later: imported,
	// say), spread over generated people (one per 200 tokens), one second apart.
	n := g.cfg.Generate[ProviderGitLab]
	owners := max((n+199)/200, 1)
	for i := range owners {
		if n > 0 {
			user(int64(1000+i), fmt.Sprintf("user%04d", i+1), "active", false, false)
		}
	}
	oldest := day(-500)
	for i := range n {
		created := oldest.Add(-time.Duration(n-i) * time.Second)
		t := GitLabToken{Name: "generated " + strconv.Itoa(i+1), UserID: int64(1000 + i%owners), Scopes: []string{"read_api"},
			CreatedAt: created, LastUsedAt: created.Add(time.Hour)}
		if i%3 == 0 {
			t.Scopes, t.ExpiresAt = []string{"api"}, date(i%300+1)
		}
		tok(t)
	}
}

func (g *gitlab) user(id int64) *GitLabUser {
	for i := range g.users {
		if g.users[i].ID == id {
			return &g.users[i]
		}
	}
	return nil
}

func (g *gitlab) token(id int64) *GitLabToken {
	for i := range g.tokens {
		if g.tokens[i].ID == id {
			return &g.tokens[i]
		}
	}
	return nil
}

func (g *gitlab) group(idOrPath string) *GitLabGroup {
	for i := range g.groups {
		if strconv.FormatInt(g.groups[i].ID, 10) == idOrPath || g.groups[i].FullPath == idOrPath {
			return &g.groups[i]
		}
	}
	return nil
}

func (g *gitlab) project(id string) *GitLabProject {
	for i := range g.projects {
		if strconv.FormatInt(g.projects[i].ID, 10) == id || g.projects[i].PathWithNamespace == id {
			return &g.projects[i]
		}
	}
	return nil
}

func gitlabMessage(status int, msg string) *response {
	return jsonResponse(status, map[string]string{"message": msg})
}

// caller is the user whose active token the request carries, or nil.
func (g *gitlab) caller(r *http.Request) (*GitLabUser, *GitLabToken) {
	secret := r.Header.Get("PRIVATE-TOKEN")
	if secret == "" {
		return nil, nil
	}
	for i := range g.tokens {
		t := &g.tokens[i]
		if t.Token == secret && t.Active(time.Now()) {
			if u := g.user(t.UserID); u != nil && u.State == "active" {
				return u, t
			}
		}
	}
	return nil, nil
}

func (g *gitlab) serve(s *Sandbox, r *http.Request, path string, body []byte, fault string) *response {
	resp := func() *response {
		path, ok := strings.CutPrefix(path, "/api/v4")
		if !ok {
			return gitlabMessage(http.StatusNotFound, "404 Not Found")
		}
		me, self := g.caller(r)
		if me == nil {
			return gitlabMessage(http.StatusUnauthorized, "401 Unauthorized")
		}
		seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
		get, post, del := r.Method == http.MethodGet, r.Method == http.MethodPost, r.Method == http.MethodDelete
		switch {
		case path == "/user" && get:
			return jsonResponse(http.StatusOK, g.userJSON(me, true))
		case path == "/personal_access_tokens" && get:
			if fault == "shifted_page" {
				g.insertFirst(s)
			}
			return g.listTokens(me, r.URL.Query())
		case path == "/personal_access_tokens/self" && get:
			return jsonResponse(http.StatusOK, g.tokenJSON(self))
		case len(seg) == 2 && seg[0] == "personal_access_tokens" && (get || del):
			t, refused := g.visibleToken(me, seg[1])
			switch {
			case refused != nil:
				return refused
			case get:
				return jsonResponse(http.StatusOK, g.tokenJSON(t))
			}
			t.Revoked = true
			return newResponse(http.StatusNoContent, nil)
		case len(seg) == 3 && seg[0] == "personal_access_tokens" && seg[2] == "rotate" && post:
			t, refused := g.visibleToken(me, seg[1])
			switch {
			case refused != nil:
				return refused
			case t.HomeKind != "":
				return gitlabMessage(http.StatusMethodNotAllowed, "405 Method Not Allowed")
			}
			return g.rotate(s, t, body)
		case path == "/users" && get:
			return g.searchUsers(me, r.URL.Query())
		case len(seg) == 2 && seg[0] == "users" && get:
			u := g.user(atoi(seg[1]))
			if u == nil {
				return gitlabMessage(http.StatusNotFound, "404 User Not Found")
			}
			return jsonResponse(http.StatusOK, g.userJSON(u, me.Admin))
		case len(seg) == 3 && seg[0] == "users" && seg[2] == "memberships" && get:
			if !me.Admin {
				return gitlabMessage(http.StatusForbidden, "403 Forbidden")
			}
			u := g.user(atoi(seg[1]))
			if u == nil {
				return gitlabMessage(http.StatusNotFound, "404 User Not Found")
			}
			var out []map[string]any
			for _, m := range u.Memberships {
				name := ""
				if m.SourceType == "Project" {
					name = g.project(strconv.FormatInt(m.SourceID, 10)).Name
				} else {
					name = g.group(strconv.FormatInt(m.SourceID, 10)).Name
				}
				out = append(out, map[string]any{"source_id": m.SourceID, "source_name": name, "source_type": m.SourceType, "access_level": 30})
			}
			return paged(out, r.URL.Query())
		case seg[0] == "groups" && len(seg) >= 2:
			return g.serveGroup(s, me, r, seg[1:], body)
		case seg[0] == "projects" && len(seg) >= 2:
			return g.serveProject(s, me, r, seg[1:], body)
		}
		return gitlabMessage(http.StatusNotFound, "404 Not Found")
	}()
	if g.cfg.option(ProviderGitLab, "ratelimit_headers") == "always" && resp.header.Get("RateLimit-Remaining") == "" {
		resp.header.Set("RateLimit-Limit", "2000")
		resp.header.Set("RateLimit-Remaining", "1999")
		resp.header.Set("RateLimit-Reset", strconv.FormatInt(time.Now().Truncate(time.Minute).Add(time.Minute).Unix(), 10))
	}
	return resp
}

// insertFirst adds a token older than every other (the shifted_page fault): in the
// oldest-first order, every offset page from now on starts a row earlier.
func (g *gitlab) insertFirst(s *Sandbox) {
	oldest := g.tokens[0].CreatedAt
	for _, t := range g.tokens {
		oldest = minTime(oldest, t.CreatedAt)
	}
	g.nextID++
	g.tokens = append(g.tokens, GitLabToken{ID: g.nextID, Name: "created during the listing", UserID: 1, Scopes: []string{"read_api"},
		CreatedAt: oldest.Add(-time.Second), Token: s.mint("glpat-" + alnum(g.rng, 20))})
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// visibleToken is a personal access token the caller may see (any for an
// administrator, else their own), or GitLab's answer when there is none: 404 to an
// administrator, 401 to anyone else.
func (g *gitlab) visibleToken(me *GitLabUser, id string) (*GitLabToken, *response) {
	var t *GitLabToken
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		t = g.token(n)
	}
	switch {
	case t != nil && (me.Admin || t.UserID == me.ID):
		return t, nil
	case me.Admin:
		return nil, gitlabMessage(http.StatusNotFound, "404 Personal Access Token Not Found")
	default:
		return nil, gitlabMessage(http.StatusUnauthorized, "401 Unauthorized")
	}
}

func (g *gitlab) userJSON(u *GitLabUser, withEmail bool) map[string]any {
	m := map[string]any{"id": u.ID, "username": u.Username, "name": u.Name, "state": u.State, "bot": u.Bot,
		"web_url": "https://gitlab.example.com/" + u.Username}
	if withEmail {
		m["email"] = u.Email
	}
	if u.Admin {
		m["is_admin"] = true
	}
	return m
}

func (g *gitlab) tokenJSON(t *GitLabToken) map[string]any {
	m := map[string]any{"id": t.ID, "name": t.Name, "description": t.Description, "revoked": t.Revoked,
		"created_at": t.CreatedAt.UTC().Format(time.RFC3339Nano), "scopes": t.Scopes, "user_id": t.UserID,
		"last_used_at": nil, "active": t.Active(time.Now()), "expires_at": nil}
	if !t.LastUsedAt.IsZero() {
		m["last_used_at"] = t.LastUsedAt.UTC().Format(time.RFC3339Nano)
	}
	if !t.ExpiresAt.IsZero() {
		m["expires_at"] = t.ExpiresAt.UTC().Format(time.DateOnly)
	}
	if t.HomeKind != "" {
		m["access_level"] = t.AccessLevel
	}
	return m
}

// listTokens is GET /personal_access_tokens with GitLab's filters and offset pages.
func (g *gitlab) listTokens(me *GitLabUser, q url.Values) *response {
	var userID int64
	if v := q.Get("user_id"); v != "" {
		userID = atoi(v)
		if !me.Admin && userID != me.ID {
			return gitlabMessage(http.StatusUnauthorized, "401 Unauthorized")
		}
	}
	times := map[string]time.Time{}
	for _, k := range []string{"created_after", "created_before", "last_used_after", "last_used_before"} {
		if v := q.Get(k); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return jsonResponse(http.StatusBadRequest, map[string]string{"error": k + " is invalid"})
			}
			times[k] = t
		}
	}
	state, revoked, search := q.Get("state"), q.Get("revoked"), q.Get("search")
	if state != "" && state != "active" && state != "inactive" {
		return jsonResponse(http.StatusBadRequest, map[string]string{"error": "state does not have a valid value"})
	}
	now := time.Now()
	var rows []*GitLabToken
	for i := range g.tokens {
		t := &g.tokens[i]
		switch {
		case !me.Admin && t.UserID != me.ID, userID != 0 && t.UserID != userID,
			// GitLab's inactive scope is "revoked, or expired before today": a token on its
			// expiry day is in neither (docs/upstream/gitlab-api.md)
			state == "active" && !t.Active(now), state == "inactive" && !t.Revoked && !(!t.ExpiresAt.IsZero() && t.ExpiresAt.Before(now.UTC().Truncate(24*time.Hour))),
			revoked != "" && strconv.FormatBool(t.Revoked) != revoked,
			search != "" && !strings.Contains(strings.ToLower(t.Name), strings.ToLower(search)):
			continue
		}
		if a, ok := times["created_after"]; ok && !t.CreatedAt.After(a) {
			continue
		}
		if b, ok := times["created_before"]; ok && !t.CreatedAt.Before(b) {
			continue
		}
		if a, ok := times["last_used_after"]; ok && (t.LastUsedAt.IsZero() || !t.LastUsedAt.After(a)) {
			continue
		}
		if b, ok := times["last_used_before"]; ok && (t.LastUsedAt.IsZero() || !t.LastUsedAt.Before(b)) {
			continue
		}
		rows = append(rows, t)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		return a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	})
	switch q.Get("sort") {
	case "", "created_desc":
		slices.Reverse(rows)
	case "created_asc":
	default:
		return jsonResponse(http.StatusBadRequest, map[string]string{"error": "sort does not have a valid value"})
	}
	items := make([]map[string]any, len(rows))
	for i, t := range rows {
		items[i] = g.tokenJSON(t)
	}
	return paged(items, q)
}

func pageParams(q url.Values) (perPage, page int) {
	perPage, page = 20, 1
	if v, err := strconv.Atoi(q.Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		page = v
	}
	return perPage, page
}

// paged answers one offset page of items with GitLab's pagination headers. Above
// 10,000 items, x-total, x-total-pages and Link rel="last" are left out.
func paged[T any](items []T, q url.Values) *response {
	perPage, page := pageParams(q)
	start := min((page-1)*perPage, len(items))
	end := min(start+perPage, len(items))
	out := items[start:end]
	if out == nil {
		out = []T{}
	}
	r := jsonResponse(http.StatusOK, out)
	h := r.header
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if end < len(items) {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	pages := max((len(items)+perPage-1)/perPage, 1)
	link := fmt.Sprintf(`<https://gitlab.example.com/api/v4?page=1&per_page=%d>; rel="first"`, perPage)
	if end < len(items) {
		link = fmt.Sprintf(`<https://gitlab.example.com/api/v4?page=%d&per_page=%d>; rel="next", `, page+1, perPage) + link
	}
	if len(items) <= 10000 {
		h.Set("X-Total", strconv.Itoa(len(items)))
		h.Set("X-Total-Pages", strconv.Itoa(pages))
		link += fmt.Sprintf(`, <https://gitlab.example.com/api/v4?page=%d&per_page=%d>; rel="last"`, pages, perPage)
	}
	h.Set("Link", link)
	return r
}

func (g *gitlab) searchUsers(me *GitLabUser, q url.Values) *response {
	search := strings.ToLower(q.Get("search"))
	var out []map[string]any
	for i := range g.users {
		u := &g.users[i]
		if strings.Contains(strings.ToLower(u.Username), search) || strings.Contains(strings.ToLower(u.Name), search) ||
			(me.Admin && strings.EqualFold(u.Email, search)) {
			out = append(out, g.userJSON(u, me.Admin))
		}
	}
	return paged(out, q)
}

// member reports whether the user may manage a group: an administrator, or a member
// of it or of a group above it.
func (g *gitlab) member(me *GitLabUser, group *GitLabGroup) bool {
	if me.Admin {
		return true
	}
	for gr := group; gr != nil; gr = g.group(strconv.FormatInt(gr.ParentID, 10)) {
		for _, m := range me.Memberships {
			if m.SourceType == "Namespace" && m.SourceID == gr.ID {
				return true
			}
		}
		if gr.ParentID == 0 {
			break
		}
	}
	return false
}

func (g *gitlab) under(root *GitLabGroup, group *GitLabGroup) bool {
	for gr := group; gr != nil; gr = g.group(strconv.FormatInt(gr.ParentID, 10)) {
		if gr.ID == root.ID {
			return true
		}
		if gr.ParentID == 0 {
			break
		}
	}
	return false
}

func (g *gitlab) serveGroup(s *Sandbox, me *GitLabUser, r *http.Request, seg []string, body []byte) *response {
	id, _ := url.PathUnescape(seg[0])
	gr := g.group(id)
	if gr == nil || !g.member(me, gr) {
		return gitlabMessage(http.StatusNotFound, "404 Group Not Found")
	}
	q := r.URL.Query()
	switch {
	case len(seg) == 1 && r.Method == http.MethodGet:
		return jsonResponse(http.StatusOK, map[string]any{"id": gr.ID, "name": gr.Name, "path": gr.Path, "full_path": gr.FullPath})
	case len(seg) == 2 && seg[1] == "descendant_groups" && r.Method == http.MethodGet:
		var out []map[string]any
		for i := range g.groups {
			d := &g.groups[i]
			if d.ID != gr.ID && g.under(gr, d) {
				out = append(out, map[string]any{"id": d.ID, "name": d.Name, "path": d.Path, "full_path": d.FullPath})
			}
		}
		return paged(out, q)
	case len(seg) == 2 && seg[1] == "projects" && r.Method == http.MethodGet:
		var out []map[string]any
		for _, p := range g.projects {
			pg := g.group(strconv.FormatInt(p.GroupID, 10))
			if p.GroupID == gr.ID || (q.Get("include_subgroups") == "true" && g.under(gr, pg)) {
				out = append(out, map[string]any{"id": p.ID, "name": p.Name, "path_with_namespace": p.PathWithNamespace})
			}
		}
		return paged(out, q)
	}
	return g.serveAccessTokens(s, r, "group", gr.ID, seg[1:], body)
}

func (g *gitlab) serveProject(s *Sandbox, me *GitLabUser, r *http.Request, seg []string, body []byte) *response {
	id, _ := url.PathUnescape(seg[0])
	p := g.project(id)
	if p == nil || !g.member(me, g.group(strconv.FormatInt(p.GroupID, 10))) {
		return gitlabMessage(http.StatusNotFound, "404 Project Not Found")
	}
	if len(seg) == 1 && r.Method == http.MethodGet {
		return jsonResponse(http.StatusOK, map[string]any{"id": p.ID, "name": p.Name, "path_with_namespace": p.PathWithNamespace})
	}
	return g.serveAccessTokens(s, r, "project", p.ID, seg[1:], body)
}

// serveAccessTokens is a group's or a project's access tokens: list, revoke, rotate.
func (g *gitlab) serveAccessTokens(s *Sandbox, r *http.Request, kind string, homeID int64, seg []string, body []byte) *response {
	if len(seg) == 0 || seg[0] != "access_tokens" {
		return gitlabMessage(http.StatusNotFound, "404 Not Found")
	}
	if len(seg) == 1 && r.Method == http.MethodGet {
		var out []map[string]any
		for i := range g.tokens {
			if t := &g.tokens[i]; t.HomeKind == kind && t.HomeID == homeID {
				out = append(out, g.tokenJSON(t))
			}
		}
		return paged(out, r.URL.Query())
	}
	t := g.token(atoi(seg[1]))
	if t == nil || t.HomeKind != kind || t.HomeID != homeID {
		return gitlabMessage(http.StatusNotFound, "404 Not Found")
	}
	switch {
	case len(seg) == 2 && r.Method == http.MethodDelete:
		t.Revoked = true
		return newResponse(http.StatusNoContent, nil)
	case len(seg) == 3 && seg[2] == "rotate" && r.Method == http.MethodPost:
		return g.rotate(s, t, body)
	}
	return gitlabMessage(http.StatusNotFound, "404 Not Found")
}

// rotate revokes t and mints its successor; a revoked or expired token's rotation
// answers 401 and revokes its whole family, as GitLab does against token reuse.
func (g *gitlab) rotate(s *Sandbox, t *GitLabToken, body []byte) *response {
	var in struct {
		ExpiresAt *string `json:"expires_at"`
	}
	if len(body) > 0 && json.Unmarshal(body, &in) != nil {
		return jsonResponse(http.StatusBadRequest, map[string]string{"error": "expires_at is invalid"})
	}
	if !t.Active(time.Now()) {
		g.revokeFamily(t.ID)
		return gitlabMessage(http.StatusUnauthorized, "401 Unauthorized")
	}
	expires := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 7) // GitLab's default: a week
	if in.ExpiresAt != nil {
		d, err := time.Parse(time.DateOnly, *in.ExpiresAt)
		if err != nil || !d.After(time.Now()) {
			return jsonResponse(http.StatusBadRequest, map[string]string{"message": "{:expires_at=>[\"must be in the future\"]}"})
		}
		expires = d
	}
	t.Revoked = true
	next := *t
	g.nextID = max(g.nextID, g.tokens[len(g.tokens)-1].ID) + 1
	next.ID, next.PreviousID, next.Revoked = g.nextID, t.ID, false
	next.CreatedAt, next.LastUsedAt, next.ExpiresAt = time.Now().UTC(), time.Time{}, expires
	next.Token = s.mint("glpat-" + alnum(g.rng, 20))
	g.tokens = append(g.tokens, next)
	out := g.tokenJSON(&next)
	out["token"] = next.Token
	return jsonResponse(http.StatusOK, out)
}

// revokeFamily revokes every token in a chain of rotations.
func (g *gitlab) revokeFamily(id int64) {
	family := map[int64]bool{id: true}
	for changed := true; changed; {
		changed = false
		for i := range g.tokens {
			t := &g.tokens[i]
			if !family[t.ID] && (family[t.PreviousID] || (t.PreviousID != 0 && family[t.PreviousID])) {
				family[t.ID], changed = true, true
			}
			if family[t.ID] && t.PreviousID != 0 && !family[t.PreviousID] {
				family[t.PreviousID], changed = true, true
			}
		}
	}
	for i := range g.tokens {
		if family[g.tokens[i].ID] {
			g.tokens[i].Revoked = true
		}
	}
}
