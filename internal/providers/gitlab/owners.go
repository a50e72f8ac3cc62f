package gitlab

import (
	"context"
	"strconv"
	"sync"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/gitlab/api"
)

// owner is what a token's row needs from its owner: whether the owner is active, the
// email where GitLab shows it, and the kind of token its owner makes it.
type owner struct {
	active bool
	email  *string
	kind   string   // "personal", "group", "project" or "service_account"
	home   api.Home // where a group's or project's token lives
	team   *string  // that group's or project's full path
}

// lookups fetches each owner, group and project at most once per query, in parallel
// within the connection's limiter: memory grows with distinct owners, not tokens.
type lookups struct {
	s      *source
	rows   providers.Rows
	caller *api.User
	mu     sync.Mutex
	owners map[int64]*cell[*owner]
	paths  map[api.Home]*cell[string]
}

type cell[T any] struct {
	once sync.Once
	val  T
	err  error
}

func newLookups(s *source, rows providers.Rows, caller *api.User) *lookups {
	return &lookups{s: s, rows: rows, caller: caller, owners: map[int64]*cell[*owner]{}, paths: map[api.Home]*cell[string]{}}
}

// known records a group's or project's full path, which its listing gave.
func (l *lookups) known(home api.Home, path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := &cell[string]{val: path}
	c.once.Do(func() {})
	l.paths[home] = c
}

// resolve fetches the owners of tokens, in parallel; the first error wins.
func (l *lookups) resolve(ctx context.Context, tokens []api.Token, homes map[int64]api.Home) error {
	var wg sync.WaitGroup
	errs := make([]error, len(tokens))
	for i, t := range tokens {
		wg.Go(func() { _, errs[i] = l.owner(ctx, t.UserID, homes[t.ID]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// owner is a token owner, fetched once: the user (its state and, for an
// administrator, its email), and for a bot its one group or project (administrators
// only: GitLab shows memberships to them) unless a token list already said.
func (l *lookups) owner(ctx context.Context, userID int64, home api.Home) (*owner, error) {
	l.mu.Lock()
	c, ok := l.owners[userID]
	if !ok || c == nil {
		c = &cell[*owner]{}
		l.owners[userID] = c
	}
	l.mu.Unlock()
	c.once.Do(func() { c.val, c.err = l.fetchOwner(ctx, userID, home) })
	return c.val, c.err
}

func (l *lookups) fetchOwner(ctx context.Context, userID int64, home api.Home) (*owner, error) {
	var u *api.User
	if l.caller != nil && userID == l.caller.ID {
		u = l.caller // the caller's own tokens: GET /user said it all, email included
	} else {
		l.rows.WaitForRateLimit(ctx)
		var err error
		if u, err = l.s.client.User(ctx, userID); err != nil {
			return nil, err
		}
		if u == nil {
			return &owner{kind: "personal"}, nil // a user GitLab no longer knows
		}
	}
	o := &owner{active: u.State == "active", email: providers.NonEmpty(u.Email), kind: "personal"}
	if l.caller != nil && !l.caller.IsAdmin && u.ID != l.caller.ID {
		o.email = nil // GitLab shows emails to administrators only
	}
	if !u.Bot {
		return o, nil
	}
	// A bot behind a group's or a project's token is a member of exactly that group or
	// project; any other bot is a service account. The username pattern proves nothing.
	o.kind = "service_account"
	if home.Kind == "" && l.caller != nil && l.caller.IsAdmin {
		l.rows.WaitForRateLimit(ctx)
		ms, err := l.s.client.Memberships(ctx, userID)
		if err != nil {
			return nil, err
		}
		if len(ms) == 1 {
			home = api.Home{Kind: "group", ID: ms[0].SourceID}
			if ms[0].SourceType == "Project" {
				home.Kind = "project"
			}
		}
	}
	if home.Kind != "" {
		path, err := l.path(ctx, home)
		if err != nil {
			return nil, err
		}
		o.kind, o.home, o.team = home.Kind, home, &path
	}
	return o, nil
}

// path is a group's or a project's full path, fetched once.
func (l *lookups) path(ctx context.Context, home api.Home) (string, error) {
	l.mu.Lock()
	c, ok := l.paths[home]
	if !ok {
		c = &cell[string]{}
		l.paths[home] = c
	}
	l.mu.Unlock()
	c.once.Do(func() {
		l.rows.WaitForRateLimit(ctx)
		if home.Kind == "project" {
			var p *api.Project
			if p, c.err = l.s.client.Project(ctx, strconv.FormatInt(home.ID, 10)); c.err == nil {
				c.val = p.PathWithNamespace
			}
			return
		}
		var g *api.Group
		if g, c.err = l.s.client.Group(ctx, strconv.FormatInt(home.ID, 10)); c.err == nil {
			c.val = g.FullPath
		}
	})
	return c.val, c.err
}
