package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/gitlab/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

func usage(msg string) error { return &providers.UsageError{Table: "user_token_actions", Message: msg} }

// scanGroups are gitlab_groups' tokens as one action scan first read them: where a
// group's or a project's token lives, so that it is acted on through its own API.
type scanGroups struct {
	once sync.Once
	g    *groupTokens
	err  error
}

// TokenActions revokes or rotates the tokens named by id.
func (s *source) TokenActions(verb string, in providers.ActionInput, scan providers.Scan) []providers.Action {
	groups := scan.Shared("gitlab.groups", func() any { return &scanGroups{} }).(*scanGroups)
	var list []providers.Action
	for _, target := range in.Targets {
		list = append(list, providers.Action{Key: verb + " " + target, Do: func(ctx context.Context) (any, *providers.Undo, error) {
			id, ok := api.ValidID(target)
			if !ok {
				return nil, nil, s.noSuchToken(target, verb)
			}
			tok, home, err := s.find(ctx, id, groups)
			if err != nil {
				return nil, nil, err
			}
			if tok == nil {
				return nil, nil, s.noSuchToken(target, verb)
			}
			row := &providers.ActionOutcome{Action: verb, Provider: Provider.Name, ID: &target, CreatedAt: tok.CreatedAt}
			if verb == "rotate" {
				return s.rotate(ctx, tok, home, in.ExpiresAt, row)
			}
			// which token the connection uses is asked before: once revoked, it cannot ask
			self, selfErr := s.self.Get(ctx, s.client.Self)
			if err := s.client.Revoke(ctx, home, id); errors.Is(err, api.ErrNoSuchToken) {
				return nil, nil, s.noSuchToken(target, verb)
			} else if err != nil {
				return nil, nil, s.Explain(err)
			}
			row.Status, row.ExpiresAt = "revoked", tok.ExpiresAt.Ptr()
			if selfErr == nil && self.ID == id {
				row.Note = providers.OwnTokenNote(Provider.Title, argToken)
			}
			return row, nil, nil
		}})
	}
	return list
}

func (s *source) noSuchToken(id, verb string) error {
	return usage(fmt.Sprintf("GitLab has no token %q that this connection can %s (user_tokens lists the ids: "+
		"select id, name from user_tokens where provider = 'gitlab')", providers.ShortID(id), verb))
}

// find reads a token and where it lives: a group's or project's token of
// gitlab_groups through that group or project; any other through the personal access
// tokens API, and for an administrator a bot's through its one group or project.
func (s *source) find(ctx context.Context, id int64, groups *scanGroups) (*api.Token, api.Home, error) {
	caller, err := s.caller.Get(ctx, s.client.Caller)
	if err != nil {
		return nil, api.Home{}, s.Explain(err)
	}
	if !caller.IsAdmin && len(s.groups) > 0 {
		groups.once.Do(func() { groups.g, groups.err = s.groupTokens(ctx, noLimit{}) })
		if groups.err != nil {
			return nil, api.Home{}, s.Explain(groups.err)
		}
		for _, t := range groups.g.tokens {
			if t.ID == id {
				return &t, groups.g.homes[id], nil
			}
		}
	}
	t, err := s.client.Token(ctx, id)
	if upstream.IsStatus(err, http.StatusUnauthorized) {
		if _, errSelf := s.self.Get(ctx, s.client.Self); errSelf != nil {
			return nil, api.Home{}, s.Explain(errSelf)
		}
		return nil, api.Home{}, nil // another user's token, or none
	}
	if err != nil || t == nil {
		return nil, api.Home{}, s.Explain(err)
	}
	home := api.Personal
	if caller.IsAdmin && t.UserID != caller.ID {
		o, err := newLookups(s, noLimit{}, caller).owner(ctx, t.UserID, api.Home{})
		if err != nil {
			return nil, api.Home{}, s.Explain(err)
		}
		if o.kind == "group" || o.kind == "project" {
			home = o.home
		}
	}
	return t, home, nil
}

// rotate replaces a token with a new one. GitLab would revoke a revoked or expired
// token's whole family instead, and rotating the connection's own would lock it out:
// both are refused before acting.
func (s *source) rotate(ctx context.Context, tok *api.Token, home api.Home, expires *time.Time, row *providers.ActionOutcome) (any, *providers.Undo, error) {
	self, err := s.self.Get(ctx, s.client.Self)
	if err != nil {
		return nil, nil, s.Explain(err)
	}
	switch {
	case self.ID == tok.ID:
		return nil, nil, usage(fmt.Sprintf("token %d is the one this connection authenticates with: rotating it would lock "+
			"the connection out; rotate it from a connection with another token, or in GitLab", tok.ID))
	case tok.Revoked:
		return nil, nil, usage(fmt.Sprintf("token %d is revoked: GitLab would answer 401 and revoke every token rotated from it", tok.ID))
	case !tok.Active && tok.ExpiresAt != nil:
		return nil, nil, usage(fmt.Sprintf("token %d expired on %s: GitLab would answer 401 and revoke every token rotated from it",
			tok.ID, tok.ExpiresAt.Format(time.DateOnly)))
	case !tok.Active:
		return nil, nil, usage(fmt.Sprintf("token %d is not active: GitLab would answer 401 and revoke every token rotated from it", tok.ID))
	case expires != nil && !midnight(*expires):
		next := expires.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
		return nil, nil, usage(fmt.Sprintf("GitLab tokens expire at 00:00 UTC on a date: write expires_at = '%s' (or the day before)",
			next.Format("2006-01-02 15:04Z")))
	}
	made, err := s.client.Rotate(ctx, home, tok.ID, expires)
	if err != nil {
		return nil, nil, s.explainRotate(err, tok)
	}
	newID := strconv.FormatInt(made.ID, 10)
	row.Status, row.NewID, row.Token = "rotated", &newID, &made.Secret
	row.ExpiresAt, row.CreatedAt = made.ExpiresAt.Ptr(), made.CreatedAt
	if expires != nil {
		row.ExpiresAt = expires
	}
	row.Note = providers.Ptr(fmt.Sprintf("Token %d is revoked; its holder must use token %s, whose secret is shown this once.", tok.ID, newID))
	return row, &providers.Undo{
		What: fmt.Sprintf("GitLab token %s (rotated from %d, which is revoked too: its owner needs a new token)", newID, tok.ID),
		Run:  func(ctx context.Context) error { return s.client.Revoke(ctx, home, made.ID) },
	}, nil
}

func midnight(t time.Time) bool {
	t = t.UTC()
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// explainRotate says, when GitLab may have rotated the token without showing the new
// one, that the old token is then revoked, and how to find its successor.
func (s *source) explainRotate(err error, tok *api.Token) error {
	err = s.Explain(err)
	ue, ok := err.(*providers.UpstreamError)
	if !ok {
		return err
	}
	find := fmt.Sprintf("select id, created_at from user_tokens where provider = 'gitlab' and name = %s order by created_at desc",
		providers.QuoteSQL(tok.Name))
	switch ue.Cause.Acted() {
	case upstream.ActedYes:
		ue.Advice += fmt.Sprintf(" GitLab rotated token %d (it answered %d) but its answer, with the new secret, was cut off: "+
			"token %d is revoked; find its successor with `%s` and revoke it", tok.ID, ue.Cause.Status, tok.ID, find)
	case upstream.ActedMaybe:
		ue.Advice += fmt.Sprintf(" GitLab may have rotated token %d anyway (the rotation was not repeated): if `%s` shows a "+
			"successor, revoke it; token %d is then revoked too", tok.ID, find, tok.ID)
	}
	return ue
}

// noLimit is the Rows of an action's lookups: actions are not rate-limited by the
// listing limiter, and stream nothing themselves.
type noLimit struct{}

func (noLimit) Send(*providers.UserToken) bool   { return false }
func (noLimit) Remaining() int64                 { return 0 }
func (noLimit) WaitForRateLimit(context.Context) {}
