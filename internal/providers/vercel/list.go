package vercel

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
)

// rowContext is what every row may need beyond the token itself: fetched once per
// connection, only when the query asks for it, alongside the first request.
type rowContext struct {
	done      chan struct{}
	err       error
	email     *string
	currentID *string
}

func (s *source) loadRowContext(ctx context.Context, q *providers.Query) *rowContext {
	rc := &rowContext{done: make(chan struct{})}
	go func() {
		defer close(rc.done)
		var wg sync.WaitGroup
		var errEmail, errCurrent error
		if q.NeedOwners {
			wg.Go(func() {
				u, err := s.account.Get(ctx, s.client.User)
				if errEmail = err; err == nil && u.Email != "" {
					rc.email = &u.Email
				}
			})
		}
		if q.NeedCurrent {
			wg.Go(func() {
				id, err := s.current.Get(ctx, s.currentTokenID)
				if errCurrent = err; err == nil {
					rc.currentID = &id
				}
			})
		}
		wg.Wait()
		rc.err = errors.Join(errEmail, errCurrent)
	}()
	return rc
}

func (s *source) currentTokenID(ctx context.Context) (string, error) {
	t, err := s.client.CurrentToken(ctx)
	if err != nil || t == nil {
		return "", err // Vercel does not know the calling token: nothing is current
	}
	return t.ID, nil
}

// errStop ends a listing early without an error.
var errStop = errors.New("stop")

// ready waits for the context; errStop when an email condition rules Vercel out.
func (rc *rowContext) ready(q *providers.Query) error {
	<-rc.done
	if rc.err != nil {
		return rc.err
	}
	if !q.Emails.AllowsPtr(rc.email) {
		return errStop
	}
	return nil
}

// ListTokens lists the account's tokens: one GET per id for `id = ...`, else the
// pages of the list, newest first.
func (s *source) ListTokens(ctx context.Context, q *providers.Query, rows providers.Rows) error {
	rc := s.loadRowContext(ctx, q)
	send := func(tokens []api.Token) (bool, error) {
		if err := rc.ready(q); err != nil {
			return false, err
		}
		for i := range tokens {
			if !rows.Send(row(&tokens[i], rc, q)) {
				return false, nil
			}
		}
		return true, nil
	}
	err := func() error {
		if q.IDs.Constrained {
			return s.getTokens(ctx, q, rows, send)
		}
		opts := api.ListOptions{BeforeNext: func(ctx context.Context) error {
			if err := rc.ready(q); err != nil {
				return err
			}
			rows.WaitForRateLimit(ctx)
			return nil
		}}
		switch {
		case !q.Limited:
			opts.Ahead = 2 // the SDK's row buffer holds a page: keep requests off the rows' path
		case !q.FiltersRows():
			// Under a LIMIT, ask for no more rows than it still needs when every row fetched is returned.
			opts.PageSize = func() int { return int(min(rows.Remaining(), api.MaxPageSize)) }
		}
		for page, err := range s.client.Tokens(ctx, opts) {
			if err != nil {
				return err
			}
			if more, err := send(page); err != nil || !more {
				return err
			}
		}
		return nil
	}()
	<-rc.done
	if errors.Is(err, errStop) {
		return nil
	}
	return s.Explain(err)
}

// getTokens answers `id = ...`: one GET per id that can be a token id. Others name
// no token, and cost nothing.
func (s *source) getTokens(ctx context.Context, q *providers.Query, rows providers.Rows, send func([]api.Token) (bool, error)) error {
	asked := 0
	for _, id := range q.IDs.List {
		if !api.ValidTokenID(id) {
			continue
		}
		if asked++; asked > 1 {
			rows.WaitForRateLimit(ctx)
		}
		t, err := s.client.GetToken(ctx, id)
		if err != nil {
			return err
		}
		if t == nil || t.ID != id {
			continue
		}
		if more, err := send([]api.Token{*t}); err != nil || !more {
			return err
		}
	}
	return nil
}

func row(t *api.Token, rc *rowContext, q *providers.Query) *providers.UserToken {
	expires, revoked := t.ExpiresAt.Ptr(), t.RevokedAt.Ptr()
	active := revoked == nil && (expires == nil || expires.After(q.Now))
	r := &providers.UserToken{
		Provider:   Provider.Name,
		ID:         t.ID,
		Name:       providers.NonEmpty(t.Name),
		Email:      rc.email,
		Type:       providers.NonEmpty(t.Type),
		Origin:     t.Origin,
		Prefix:     t.Prefix,
		Suffix:     t.Suffix,
		CanWrite:   providers.Ptr(true), // Vercel has no read-only tokens
		Active:     &active,
		CreatedAt:  t.CreatedAt.Ptr(),
		ExpiresAt:  expires,
		LastUsedAt: t.ActiveAt.Ptr(),
		RevokedAt:  revoked,
		LeakedAt:   t.LeakedAt.Ptr(),
		LeakedURL:  t.LeakedURL,
	}
	if s := t.ScopesJSON(); s != nil {
		r.Scopes = json.RawMessage(s)
	}
	if q.NeedTeam {
		r.TeamID = t.TeamID()
	}
	if rc.currentID != nil {
		r.IsCurrent = providers.Ptr(t.ID == *rc.currentID)
	}
	r.Title = cmp.Or(r.Name, r.Email)
	return r
}
