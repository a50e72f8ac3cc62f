package queryserver

import (
	"cmp"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/queryserver/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// ListTokens lists every user token in one request (the server has no paging), and
// the users for the owners' emails when the query asks for them.
func (s *source) ListTokens(ctx context.Context, q *providers.Query, rows providers.Rows) error {
	// No Query Server row has a team, and its ids are decimal row ids.
	if q.TeamIDs.Constrained || (q.IDs.Constrained && !anyDecimal(q.IDs.List)) {
		return nil
	}
	var owners map[string]api.User
	var tokens []api.UserToken
	var errTokens, errUsers error
	fetchUsers := func() {
		var users []api.User
		if users, errUsers = s.client.Users(ctx); errUsers == nil {
			owners = api.Owners(users)
		}
	}
	switch {
	case !q.NeedOwners:
		tokens, errTokens = s.client.UserTokens(ctx)
	case q.Limited:
		// Under a LIMIT another provider may fill it first: spare the second request then.
		if tokens, errTokens = s.client.UserTokens(ctx); errTokens == nil && rows.Remaining() > 0 {
			fetchUsers()
		}
	default:
		var wg sync.WaitGroup
		wg.Go(fetchUsers)
		tokens, errTokens = s.client.UserTokens(ctx)
		wg.Wait()
	}
	if err := cmp.Or(errTokens, errUsers); err != nil {
		return s.Explain(err)
	}
	for i := range tokens {
		if !rows.Send(row(&tokens[i], owners, q.Now)) {
			return nil
		}
	}
	return nil
}

func anyDecimal(ids []string) bool {
	for _, id := range ids {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && strconv.FormatInt(n, 10) == id {
			return true
		}
	}
	return false
}

func row(t *api.UserToken, owners map[string]api.User, now time.Time) *providers.UserToken {
	r := &providers.UserToken{
		Provider:  Provider.Name,
		ID:        strconv.FormatInt(t.ID, 10),
		Type:      providers.Ptr("user_token"),
		CanWrite:  providers.Ptr(t.Write),
		Active:    providers.Ptr(t.Usable(now)),
		IsCurrent: providers.Ptr(t.IsCurrent),
		CreatedAt: upstream.EpochAuto(t.CreatedAt),
		UpdatedAt: upstream.EpochAuto(t.UpdatedAt),
		ExpiresAt: t.ExpiresAt(),
	}
	if u, ok := owners[t.UserUUID]; ok {
		r.Email, r.OwnerActive = providers.NonEmpty(u.Email), providers.Ptr(u.Active)
	}
	r.Title = r.Email
	return r
}
