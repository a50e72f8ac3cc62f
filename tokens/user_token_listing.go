package tokens

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// tokenQuery is what the conditions and the column list ask of one list call of
// user_tokens: the providers' part, and which providers the query allows.
type tokenQuery struct {
	providers.Query
	providers providers.Values[string]
}

func newTokenQuery(d *plugin.QueryData) *tokenQuery {
	q := &tokenQuery{
		// The SDK replaces the provider condition with the matrix item's: read the query's own.
		providers: setOf(unsafeQuals(d, "provider"), asString),
		Query: providers.Query{
			IDs:        stringQuals(d, "id"),
			TeamIDs:    stringQuals(d, "team_id"),
			Emails:     stringQuals(d, "email"),
			Active:     setOf(quals(d, "active"), asBool),
			CreatedAt:  rangeQuals(d, "created_at"),
			LastUsedAt: rangeQuals(d, "last_used_at"),
			Columns:    map[string]bool{},
			Limited:    d.QueryContext.Limit != nil,
			Now:        time.Now(),
		},
	}
	for _, c := range d.QueryContext.Columns {
		q.Columns[c] = true
	}
	q.NeedOwners = q.Emails.Constrained || wants(d, "email", "title", "owner_active")
	q.NeedCurrent = wants(d, "is_current")
	q.NeedTeam = q.TeamIDs.Constrained || wants(d, "team_id") // parsing each token's scopes costs
	return q
}

// rowsOut hands a provider's rows to the SDK, applying the query's conditions so that
// what the list streams is exact even where the provider cannot filter.
type rowsOut struct {
	ctx context.Context
	d   *plugin.QueryData
	q   *providers.Query
}

func (o *rowsOut) Send(r *providers.UserToken) bool {
	if o.d.RowsRemaining(o.ctx) == 0 {
		return false
	}
	if o.q.Matches(r) {
		o.d.StreamListItem(o.ctx, r)
	}
	return o.d.RowsRemaining(o.ctx) > 0
}

func (o *rowsOut) Remaining() int64                     { return o.d.RowsRemaining(o.ctx) }
func (o *rowsOut) WaitForRateLimit(ctx context.Context) { o.d.WaitForListRateLimit(ctx) }

// userTokenScan is shared by the list calls of one scan (one per provider, and one
// per value of an IN list).
type userTokenScan struct {
	claims
	mu   sync.Mutex
	done map[string]chan struct{} // closed when a provider's list ends, however it ends
}

var userTokenScans = scanStates[*userTokenScan]{new: func() *userTokenScan {
	return &userTokenScan{done: map[string]chan struct{}{}}
}}

func (s *userTokenScan) doneOf(provider string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.done[provider]
	if !ok {
		ch = make(chan struct{})
		s.done[provider] = ch
	}
	return ch
}

// listed marks a provider's list of this scan as ended: the first of its list calls
// to end (an IN list on a key column makes several).
func (s *userTokenScan) listed(provider string) {
	ch := s.doneOf(provider)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// waitForEarlier keeps a LIMIT from costing requests it does not need: the providers
// list one after another, in the registry's order, and a provider whose turn comes
// once the LIMIT is filled asks for nothing. False when no more rows are wanted.
func (s *userTokenScan) waitForEarlier(ctx context.Context, d *plugin.QueryData, order []*providers.Provider,
	provider string, allowed providers.Values[string]) bool {
	i := slices.IndexFunc(order, func(p *providers.Provider) bool { return p.Name == provider })
	for _, p := range order[:max(i, 0)] {
		if !allowed.Allows(p.Name) {
			continue
		}
		select {
		case <-s.doneOf(p.Name):
		case <-ctx.Done():
			return false
		}
	}
	return d.RowsRemaining(ctx) > 0
}
