package okta

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/okta/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ListTokens lists the org's tokens: one GET per id for `id = ...`, else the pages of
// the list. The owners of the tokens it hands over are read once each per query (the
// user, and its roles when can_write is asked for), never per token.
func (s *source) ListTokens(ctx context.Context, q *providers.Query, rows providers.Rows) error {
	// No Okta token has a team or a recorded last use: such conditions match nothing.
	if q.TeamIDs.Constrained || q.LastUsedAt.Set() {
		return nil
	}
	o := &owners{s: s, rows: rows, q: q, byID: map[string]*owner{},
		needUser:  q.Emails.Constrained || q.Active.Constrained || q.Wants("email", "owner_active", "active"),
		needRoles: q.Wants("can_write")}
	var err error
	if q.IDs.Constrained {
		var tokens []api.Token
		if tokens, err = s.getTokens(ctx, q, rows); err == nil {
			_, err = o.send(ctx, tokens)
		}
	} else {
		next := func(ctx context.Context) error {
			if rows.Remaining() <= 0 {
				return errStop
			}
			rows.WaitForRateLimit(ctx)
			return nil
		}
		for page, perr := range s.client.Tokens(ctx, next) {
			if err = perr; err != nil {
				break
			}
			if more, serr := o.send(ctx, page); serr != nil || !more {
				err = serr
				break
			}
		}
	}
	if errors.Is(err, errStop) {
		return nil
	}
	return s.Explain(err)
}

// errStop ends a listing early without an error.
var errStop = errors.New("stop")

// getTokens answers `id = ...`: one GET per id that can be a token id. Others name no
// token, and cost nothing.
func (s *source) getTokens(ctx context.Context, q *providers.Query, rows providers.Rows) ([]api.Token, error) {
	var tokens []api.Token
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
			return nil, err
		}
		if t != nil && t.ID == id {
			tokens = append(tokens, *t)
		}
	}
	return tokens, nil
}

// owner is what a query learnt of one token's owner.
type owner struct {
	read     bool      // the user was asked for
	user     *api.User // nil when read: Okta has no such user (any more)
	canWrite *bool     // nil: not asked, or the roles could not be read
}

// owners reads the owners of the tokens a query hands over: at most two requests per
// distinct owner per query, in parallel within the connection's limiter.
type owners struct {
	s                   *source
	rows                providers.Rows
	q                   *providers.Query
	needUser, needRoles bool
	byID                map[string]*owner
}

// inFlight bounds the owner requests running at once, below the fewest concurrent
// requests Okta lets an org make (its concurrency limit).
const inFlight = 8

// send hands over the tokens the query may return, their owners read first. Under a
// LIMIT whose rows are all returned, only as many owners are read as rows are wanted.
// False when no more rows are wanted.
func (o *owners) send(ctx context.Context, tokens []api.Token) (bool, error) {
	q := o.q
	tokens = keepTokens(tokens, q)
	for len(tokens) > 0 {
		n := len(tokens)
		if q.Limited && !q.Emails.Constrained && !q.Active.Constrained {
			if n = int(min(o.rows.Remaining(), int64(n))); n <= 0 {
				return false, nil
			}
		}
		chunk := tokens[:n]
		tokens = tokens[n:]
		if err := o.read(ctx, chunk); err != nil {
			return false, err
		}
		for i := range chunk {
			if !o.rows.Send(row(&chunk[i], o.byID[chunk[i].UserID], q)) {
				return false, nil
			}
		}
	}
	return true, nil
}

// keepTokens drops the tokens that conditions on the token itself rule out, so that
// their owners cost nothing.
func keepTokens(tokens []api.Token, q *providers.Query) []api.Token {
	var kept []api.Token
	for _, t := range tokens {
		expires := t.ExpiresAt.Ptr()
		expired := expires != nil && !expires.After(q.Now)
		if q.IDs.Allows(t.ID) && q.CreatedAt.Allows(t.Created.Ptr()) && !(expired && !q.Active.Allows(false)) {
			kept = append(kept, t)
		}
	}
	return kept
}

// read fetches the owners of the tokens that no earlier page named.
func (o *owners) read(ctx context.Context, tokens []api.Token) error {
	if !o.needUser && !o.needRoles {
		return nil
	}
	var ids []string
	for _, t := range tokens {
		if _, ok := o.byID[t.UserID]; !ok && t.UserID != "" {
			o.byID[t.UserID] = &owner{}
			ids = append(ids, t.UserID)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	call := func(f func() error) {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			o.rows.WaitForRateLimit(ctx)
			if err := f(); err != nil {
				cancel(err)
			}
		})
	}
	for _, id := range ids {
		ow := o.byID[id]
		roles := func() error { return o.roles(ctx, id, ow) }
		switch {
		case !o.needUser:
			call(roles)
		case o.needRoles && o.q.Emails.Constrained:
			// the roles of an owner the email rules out are never asked for
			call(func() error {
				if err := o.user(ctx, id, ow); err != nil || ow.user == nil || !o.q.Emails.AllowsPtr(ow.user.Profile.Email) {
					return err
				}
				o.rows.WaitForRateLimit(ctx)
				return roles()
			})
		case o.needRoles:
			call(func() error { return o.user(ctx, id, ow) })
			call(roles)
		default:
			call(func() error { return o.user(ctx, id, ow) })
		}
	}
	wg.Wait()
	return context.Cause(ctx)
}

func (o *owners) user(ctx context.Context, id string, ow *owner) error {
	u, err := o.s.client.User(ctx, id)
	ow.read, ow.user = err == nil, u
	return err
}

// roles: a 403 (the connection's admin may not read roles) or a user gone leaves
// can_write unknown; any other failure fails the query.
func (o *owners) roles(ctx context.Context, id string, ow *owner) error {
	roles, err := o.s.client.Roles(ctx, id)
	switch {
	case err == nil:
		ow.canWrite = providers.Ptr(api.CanWrite(roles))
	case errors.Is(err, api.ErrNoSuchUser), upstream.IsStatus(err, http.StatusForbidden):
		return nil
	}
	return err
}

func row(t *api.Token, ow *owner, q *providers.Query) *providers.UserToken {
	r := &providers.UserToken{
		Provider:  Provider.Name,
		ID:        t.ID,
		Name:      providers.NonEmpty(t.Name),
		Origin:    nonEmpty(t.ClientName),
		CreatedAt: t.Created.Ptr(),
		UpdatedAt: t.LastUpdated.Ptr(),
		ExpiresAt: t.ExpiresAt.Ptr(),
	}
	if n := t.NetworkJSON(); n != nil {
		r.Network = n
	}
	usable := r.ExpiresAt == nil || r.ExpiresAt.After(q.Now)
	switch {
	case ow == nil:
		if t.UserID == "" { // no owner to be deactivated
			r.Active = &usable
		}
	case ow.read && ow.user == nil: // the owner's account is deleted
		r.OwnerActive, r.Active = providers.Ptr(false), providers.Ptr(false)
	case ow.read:
		r.Email = nonEmpty(ow.user.Profile.Email)
		r.OwnerActive = providers.Ptr(ow.user.Active())
		r.Active = providers.Ptr(usable && !ow.user.Deprovisioned())
	}
	if ow != nil {
		r.CanWrite = ow.canWrite
	}
	r.Title = cmp.Or(r.Name, r.Email)
	return r
}

func nonEmpty(s *string) *string {
	if s == nil {
		return nil
	}
	return providers.NonEmpty(*s)
}
