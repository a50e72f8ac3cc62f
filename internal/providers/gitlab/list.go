package gitlab

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/gitlab/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// pagesInFlight is how many pages of a listing are requested at once (no LIMIT):
// GitLab's offset pages need not wait for each other; the limiter and GitLab's
// RateLimit-Remaining bound them further.
const pagesInFlight = 8

// ListTokens lists the personal access tokens the token sees (every one, for an
// administrator) and, for another user, the group and project access tokens of
// gitlab_groups. A token listed twice is one row.
func (s *source) ListTokens(ctx context.Context, q *providers.Query, rows providers.Rows) error {
	return s.Explain(s.list(ctx, q, rows))
}

func (s *source) list(ctx context.Context, q *providers.Query, rows providers.Rows) error {
	var ids []int64
	for _, id := range q.IDs.List {
		if n, ok := api.ValidID(id); ok {
			ids = append(ids, n)
		}
	}
	if q.IDs.Constrained && len(ids) == 0 {
		return nil // no GitLab token has such an id
	}
	needOwners := q.Wants("email", "owner_active", "type", "team_id") || q.Emails.Constrained || q.TeamIDs.Constrained
	var caller *api.User
	if needOwners || len(s.groups) > 0 {
		var err error
		if caller, err = s.caller.Get(ctx, limited(rows, s.client.Caller)); err != nil {
			return err
		}
	}
	var current *int64
	if q.NeedCurrent {
		t, err := s.self.Get(ctx, limited(rows, s.client.Self))
		if err != nil {
			return err
		}
		current = &t.ID
	}
	if q.TeamIDs.Constrained {
		// Only a group's or a project's token has a team: none when no such group or
		// project is visible (two requests per value instead of every owner's).
		if known, err := s.anyTeam(ctx, q.TeamIDs.List, rows); err != nil || !known {
			return err
		}
	}
	admin := caller != nil && caller.IsAdmin
	l := &listing{s: s, q: q, rows: rows, current: current, seen: map[int64]bool{}}
	if needOwners {
		l.owners = newLookups(s, rows, caller)
	}

	more, err := l.personal(ctx, ids, caller)
	if err != nil || !more {
		return err
	}
	// An administrator's list has every token of the instance already; for anyone
	// else the groups' tokens have no email, so an email condition leaves none of them.
	if admin || len(s.groups) == 0 || q.Emails.Constrained || rows.Remaining() == 0 {
		return nil
	}
	g, err := s.groupTokens(ctx, rows)
	if err != nil {
		return err
	}
	var tokens []api.Token
	for _, t := range g.tokens {
		if !q.IDs.Constrained || slices.Contains(ids, t.ID) {
			tokens = append(tokens, t)
		}
	}
	if l.owners != nil {
		for home, path := range g.paths {
			l.owners.known(home, path)
		}
	}
	_, err = l.send(ctx, tokens, g.homes)
	return err
}

// listing is one ListTokens call.
type listing struct {
	s       *source
	q       *providers.Query
	rows    providers.Rows
	owners  *lookups // nil when no column needs them
	current *int64
	seen    map[int64]bool
}

// personal lists the personal access tokens: one GET per id for `id = ...`, else
// the list's pages with GitLab's own filters. False when no more rows are wanted.
func (l *listing) personal(ctx context.Context, ids []int64, caller *api.User) (bool, error) {
	s, q := l.s, l.q
	if len(ids) > 0 {
		for i, id := range ids {
			if i > 0 {
				l.rows.WaitForRateLimit(ctx)
			}
			t, err := s.client.Token(ctx, id)
			if upstream.IsStatus(err, http.StatusUnauthorized) {
				// Another user's token, or no token: once the credential itself works, no row.
				if _, errSelf := s.self.Get(ctx, limited(l.rows, s.client.Self)); errSelf != nil {
					return false, errSelf
				}
				continue
			}
			if err != nil {
				return false, err
			}
			if t == nil {
				continue
			}
			if more, err := l.send(ctx, []api.Token{*t}, nil); err != nil || !more {
				return more, err
			}
		}
		return true, nil
	}
	filter := url.Values{}
	// state=active is exactly the rows' active; state=inactive is "revoked, or expired
	// before today", which leaves out a token on its expiry day: active = false lists all.
	if v := q.Active.Only(); v != nil && *v && len(q.Active.List) == 1 {
		filter.Set("state", "active")
	}
	bound(filter, "created", q.CreatedAt)
	bound(filter, "last_used", q.LastUsedAt)
	owners := []string{""}
	if q.Emails.Constrained {
		var err error
		if owners, err = s.ownersWithEmail(ctx, q.Emails.List, caller, l.rows); err != nil || len(owners) == 0 {
			return true, err
		}
	}
	o := api.ListOptions{Filter: filter, InFlight: pagesInFlight,
		BeforeRequest: func(ctx context.Context) error { l.rows.WaitForRateLimit(ctx); return nil }}
	if q.Limited {
		o.InFlight = 1 // a LIMIT asks for no page it does not need
		if !q.FiltersRows() {
			o.PerPage = int(min(l.rows.Remaining(), api.MaxPageSize))
		}
	}
	for i, user := range owners {
		if user != "" {
			o.Filter.Set("user_id", user)
		}
		if i > 0 {
			l.rows.WaitForRateLimit(ctx)
		}
		for page, err := range s.client.Tokens(ctx, o) {
			if err != nil {
				return false, err
			}
			if more, err := l.send(ctx, page, nil); err != nil || !more {
				return more, err
			}
		}
	}
	return true, nil
}

// anyTeam reports whether any of the full paths is a group or a project GitLab shows.
func (s *source) anyTeam(ctx context.Context, paths []string, rows providers.Rows) (bool, error) {
	for _, p := range paths {
		rows.WaitForRateLimit(ctx)
		_, err := s.client.Group(ctx, p)
		if err == nil {
			return true, nil
		}
		if !upstream.IsNotFound(err) {
			return false, err
		}
		rows.WaitForRateLimit(ctx)
		if _, err = s.client.Project(ctx, p); err == nil {
			return true, nil
		}
		if !upstream.IsNotFound(err) {
			return false, err
		}
	}
	return false, nil
}

// bound asks GitLab for a range a second wider than the query's on each side: its
// own bounds may be strict or not, and a wider one never loses a row.
func bound(filter url.Values, name string, r providers.Range) {
	if r.After != nil {
		filter.Set(name+"_after", r.After.UTC().Truncate(time.Second).Add(-time.Second).Format(time.RFC3339))
	}
	if r.Before != nil {
		filter.Set(name+"_before", r.Before.UTC().Truncate(time.Second).Add(2*time.Second).Format(time.RFC3339))
	}
}

// ownersWithEmail are the user ids whose tokens an email condition leaves: for an
// administrator the users with that email (GitLab filters the list by user_id); for
// anyone else, only the caller's own, when the email is the caller's.
func (s *source) ownersWithEmail(ctx context.Context, emails []string, caller *api.User, rows providers.Rows) ([]string, error) {
	var out []string
	for _, e := range emails {
		if !caller.IsAdmin {
			if strings.EqualFold(e, caller.Email) {
				out = append(out, strconv.FormatInt(caller.ID, 10))
			}
			continue
		}
		rows.WaitForRateLimit(ctx)
		users, err := s.client.UsersWithEmail(ctx, e)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			out = append(out, strconv.FormatInt(u.ID, 10))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// send hands over the tokens not seen yet, their owners looked up first when the
// query needs them. False when no more rows are wanted.
func (l *listing) send(ctx context.Context, tokens []api.Token, homes map[int64]api.Home) (bool, error) {
	fresh := tokens[:0:0]
	for _, t := range tokens {
		if !l.seen[t.ID] {
			l.seen[t.ID] = true
			fresh = append(fresh, t)
		}
	}
	if l.owners != nil {
		if err := l.owners.resolve(ctx, fresh, homes); err != nil {
			return false, err
		}
	}
	for i := range fresh {
		var o *owner
		if l.owners != nil {
			o, _ = l.owners.owner(ctx, fresh[i].UserID, homes[fresh[i].ID])
		}
		if !l.rows.Send(row(&fresh[i], o, l.current)) {
			return false, nil
		}
	}
	return true, nil
}

func row(t *api.Token, o *owner, current *int64) *providers.UserToken {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	js, _ := json.Marshal(scopes)
	r := &providers.UserToken{
		Provider:   Provider.Name,
		ID:         strconv.FormatInt(t.ID, 10),
		Name:       providers.NonEmpty(t.Name),
		Title:      providers.NonEmpty(t.Name),
		Scopes:     json.RawMessage(js),
		CanWrite:   providers.Ptr(canWrite(t.Scopes)),
		Active:     providers.Ptr(t.Active),
		CreatedAt:  t.CreatedAt,
		LastUsedAt: t.LastUsedAt,
		ExpiresAt:  t.ExpiresAt.Ptr(),
	}
	if o != nil {
		r.Email, r.OwnerActive, r.Type, r.TeamID = o.email, &o.active, &o.kind, o.team
	}
	if current != nil {
		r.IsCurrent = providers.Ptr(t.ID == *current)
	}
	return r
}

// canWrite: a token can change something unless every scope only reads (read_*);
// any scope GitLab adds later is taken to write.
func canWrite(scopes []string) bool {
	for _, s := range scopes {
		if !strings.HasPrefix(s, "read_") {
			return true
		}
	}
	return false
}

// groupTokens are the access tokens of gitlab_groups: each group's, its subgroups'
// and the projects' under them, with where each lives.
type groupTokens struct {
	tokens []api.Token
	homes  map[int64]api.Home  // token id -> its group or project
	paths  map[api.Home]string // group or project -> its full path
}

func (s *source) groupTokens(ctx context.Context, rows providers.Rows) (*groupTokens, error) {
	out := &groupTokens{homes: map[int64]api.Home{}, paths: map[api.Home]string{}}
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// the groups, their subgroups and projects
	var wg sync.WaitGroup
	for _, name := range s.groups {
		wg.Go(func() {
			rows.WaitForRateLimit(ctx)
			g, err := s.client.Group(ctx, name)
			if upstream.IsNotFound(err) {
				fail(s.Conn.Bad(argGroups, providers.Value{Text: name, Source: s.Conn.Value(argGroups).Source},
					"names a group GitLab does not show to this token (404): check the id or full path, and that the token's user is a member"))
				return
			}
			if err != nil {
				fail(err)
				return
			}
			var subs []api.Group
			var projects []api.Project
			var errSubs, errProjects error
			var inner sync.WaitGroup
			inner.Go(func() { rows.WaitForRateLimit(ctx); subs, errSubs = s.client.Subgroups(ctx, g.ID) })
			inner.Go(func() { rows.WaitForRateLimit(ctx); projects, errProjects = s.client.Projects(ctx, g.ID) })
			inner.Wait()
			if errSubs != nil || errProjects != nil {
				fail(cmp.Or(errSubs, errProjects))
				return
			}
			mu.Lock()
			for _, sg := range append([]api.Group{*g}, subs...) {
				out.paths[api.Home{Kind: "group", ID: sg.ID}] = sg.FullPath
			}
			for _, p := range projects {
				out.paths[api.Home{Kind: "project", ID: p.ID}] = p.PathWithNamespace
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	// each group's and project's tokens
	homes := make([]api.Home, 0, len(out.paths))
	for h := range out.paths {
		homes = append(homes, h)
	}
	slices.SortFunc(homes, func(a, b api.Home) int { return strings.Compare(out.paths[a], out.paths[b]) })
	lists := make([][]api.Token, len(homes))
	for i, h := range homes {
		wg.Go(func() {
			rows.WaitForRateLimit(ctx)
			tokens, err := s.client.AccessTokens(ctx, h)
			if err != nil {
				fail(err)
				return
			}
			lists[i] = tokens
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	for i, h := range homes {
		for _, t := range lists[i] {
			out.tokens = append(out.tokens, t)
			out.homes[t.ID] = h
		}
	}
	return out, nil
}

// limited is a lookup that waits for the connection's limiter first, as every
// listing request does.
func limited[T any](rows providers.Rows, fetch func(context.Context) (T, error)) func(context.Context) (T, error) {
	return func(ctx context.Context) (T, error) {
		rows.WaitForRateLimit(ctx)
		return fetch(ctx)
	}
}
