package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/queryserver"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// userToken is one row of user_tokens. Nil means SQL NULL: a value the provider does
// not have, never an invented default.
type userToken struct {
	Provider    string
	ID          string
	Name        *string
	Title       *string
	Email       *string
	OwnerActive *bool
	TeamID      *string
	Type        *string
	Origin      *string
	Scopes      any
	Prefix      *string
	Suffix      *string
	CanWrite    *bool
	Active      *bool
	IsCurrent   *bool
	CreatedAt   *time.Time
	UpdatedAt   *time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
	LeakedAt    *time.Time
	LeakedURL   *string
}

func tableUserTokens(_ context.Context) *plugin.Table {
	return &plugin.Table{
		Name: "user_tokens",
		Description: "API tokens of people, one row per token: Vercel personal access tokens and the user tokens of a " +
			"Query Server. Secrets are never returned.",
		GetMatrixItemFunc: providerMatrix(providerVercel, providerQueryServer),
		List: &plugin.ListConfig{
			Hydrate: listUserTokens,
			KeyColumns: plugin.KeyColumnSlice{
				{Name: "provider", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "team_id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "email", Require: plugin.Optional, Operators: []string{"="}},
			},
		},
		Columns: []*plugin.Column{
			column("provider", proto.ColumnType_STRING, func(r *userToken) any { return r.Provider },
				"Where the token lives: 'vercel' or 'query_server'. A `provider = ...` condition skips the other provider entirely."),
			column("id", proto.ColumnType_STRING, func(r *userToken) any { return r.ID },
				"The token's identifier at its provider (for the Query Server, the row id as text). With `id = ...`, Vercel is asked for that one token."),
			column("name", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Name) },
				"The token's name. Query Server user tokens have none."),
			column("title", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Title) },
				"A display name: the token's name, else its owner's email."),
			column("email", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Email) },
				"The owner's email: the Vercel account's email, or the Query Server user's email."),
			column("owner_active", proto.ColumnType_BOOL, func(r *userToken) any { return opt(r.OwnerActive) },
				"Whether the Query Server user who owns the token is active (a deactivated user's token is refused by the server). Null for Vercel, whose tokens all belong to the connection's own account."),
			column("team_id", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.TeamID) },
				"The Vercel team the token is limited to (its first scope of type team); null for tokens with account-wide access and for the Query Server."),
			column("type", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Type) },
				"The kind of token: Vercel's own type (for example 'oauth2-token' or 'classic'); 'user_token' for the Query Server."),
			column("origin", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Origin) },
				"How the Vercel token was created (for example 'manual', 'github', 'email')."),
			column("scopes", proto.ColumnType_JSON, func(r *userToken) any { return r.Scopes },
				"The Vercel token's scopes exactly as Vercel returns them: objects with type ('user' or 'team'), teamId, origin, createdAt, expiresAt and sudo."),
			column("prefix", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Prefix) },
				"The first characters of the Vercel token's secret (for example 'vcp_'), safe to show."),
			column("suffix", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Suffix) },
				"The last characters of the Vercel token's secret, safe to show; match it against a leaked value."),
			column("can_write", proto.ColumnType_BOOL, func(r *userToken) any { return opt(r.CanWrite) },
				"Whether the Query Server token may run statements that write. Null for Vercel, which has no such flag."),
			column("active", proto.ColumnType_BOOL, func(r *userToken) any { return opt(r.Active) },
				"Whether the token is usable now: not revoked and not expired; for the Query Server, its active flag is set and the server's own expiry rule passes."),
			column("is_current", proto.ColumnType_BOOL, func(r *userToken) any { return opt(r.IsCurrent) },
				"Whether this is the token the connection itself authenticates with."),
			column("created_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.CreatedAt) },
				"When the token was created."),
			column("updated_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.UpdatedAt) },
				"When the Query Server token was last changed. Null for Vercel."),
			column("expires_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.ExpiresAt) },
				"When the token expires; null means it never expires."),
			column("last_used_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.LastUsedAt) },
				"When the Vercel token was last used (Vercel's activeAt). Null for the Query Server, which does not record it."),
			column("revoked_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.RevokedAt) },
				"When the Vercel token was revoked."),
			column("leaked_at", proto.ColumnType_TIMESTAMP, func(r *userToken) any { return opt(r.LeakedAt) },
				"When Vercel found the token's secret exposed in public."),
			column("leaked_url", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.LeakedURL) },
				"Where Vercel found the token's secret exposed."),
		},
	}
}

// userTokenQuery is what the conditions and the column list ask of one list call.
type userTokenQuery struct {
	providers, ids, teamIDs, emails  valueSet[string]
	needUsers, needCurrent, needTeam bool
	limited                          bool // the query has a LIMIT the SDK tracks for us
	now                              time.Time
}

func newUserTokenQuery(d *plugin.QueryData) *userTokenQuery {
	q := &userTokenQuery{
		// The SDK replaces the provider condition with the matrix item's: read the query's own.
		providers: setOf(unsafeQuals(d, "provider"), asString),
		ids:       stringQuals(d, "id"),
		teamIDs:   stringQuals(d, "team_id"),
		emails:    stringQuals(d, "email"),
		limited:   d.QueryContext.Limit != nil,
		now:       time.Now(),
	}
	q.needUsers = q.emails.constrained || wants(d, "email", "title", "owner_active")
	q.needCurrent = wants(d, "is_current")
	q.needTeam = q.teamIDs.constrained || wants(d, "team_id") // parsing each token's scopes costs
	return q
}

// nothing: the conditions contradict each other, so no row can match.
func (q *userTokenQuery) nothing() bool {
	return q.ids.none() || q.teamIDs.none() || q.emails.none()
}

// keep applies the conditions to a finished row, so that what the list streams is
// exact even where the provider cannot filter.
func (q *userTokenQuery) keep(r *userToken) bool {
	return q.ids.allows(r.ID) && q.teamIDs.allowsPtr(r.TeamID) && q.emails.allowsPtr(r.Email)
}

// userTokenScan is shared by the lists of one scan (one per provider, and one per value
// of an IN list).
type userTokenScan struct {
	claims
	vercelListed chan struct{} // closed when the Vercel list ends, however it ends
	once         sync.Once
}

func (s *userTokenScan) vercelDone() { s.once.Do(func() { close(s.vercelListed) }) }

var userTokenScans = scanStates[*userTokenScan]{new: func() *userTokenScan {
	return &userTokenScan{vercelListed: make(chan struct{})}
}}

func listUserTokens(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	start := time.Now()
	return nil, settled(start, listUserTokensOf(ctx, d, matrixProvider(ctx)))
}

func listUserTokensOf(ctx context.Context, d *plugin.QueryData, provider string) error {
	scan := userTokenScans.of(d)
	if !firstListOf(&scan.claims, d, provider) {
		return nil
	}
	if provider == providerVercel {
		defer scan.vercelDone() // however this list ends
	}
	q := newUserTokenQuery(d)
	if !q.providers.allows(provider) || q.nothing() {
		return nil
	}
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	s := c.settings
	if err := s.userTokensErr(); err != nil {
		// A connection-wide problem is reported once, by the first provider asked for.
		if provider == q.firstProvider() {
			return err
		}
		return nil
	}
	switch provider {
	case providerVercel:
		if s.vercelErr != nil || c.vercel == nil {
			return s.vercelErr
		}
		return s.explain(vercelArgs, s.vercelBaseURL, listVercelTokens(ctx, d, c.vercel, q))
	case providerQueryServer:
		if s.queryServerErr != nil || c.queryServer == nil {
			return s.queryServerErr
		}
		if q.limited && q.providers.allows(providerVercel) {
			// Under a LIMIT, Vercel's first pages may fill it: then this costs nothing.
			select {
			case <-scan.vercelListed:
			case <-ctx.Done():
				return nil
			}
			if d.RowsRemaining(ctx) == 0 {
				return nil
			}
		}
		return s.explain(queryServerArgs, s.queryServerURL, listQueryServerTokens(ctx, d, c.queryServer, q))
	}
	return nil
}

func (q *userTokenQuery) firstProvider() string {
	for _, p := range []string{providerVercel, providerQueryServer} {
		if q.providers.allows(p) {
			return p
		}
	}
	return ""
}

// userTokensErr is a problem that stops every user_tokens query on the connection.
func (s *settings) userTokensErr() error {
	if s.commonErr != nil {
		return s.commonErr
	}
	if !s.vercelConfigured() && !s.queryServerConfigured() {
		return &NoUpstreamError{Connection: s.connection, Table: "user_tokens",
			Need: "set " + argVercelToken.named() + " for Vercel, and/or " + argQueryServerURL.named() +
				" with " + argQueryServerToken.named() + " for a Query Server"}
	}
	return nil
}

// ---- Vercel ----

// vercelContext is what every Vercel row may need beyond the token itself: fetched
// once per connection, only when the query asks for it, alongside the first request.
type vercelContext struct {
	done      chan struct{}
	err       error
	email     *string
	currentID *string
}

var (
	vercelAccount = plugin.HydrateFunc(func(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
		c, err := connect(ctx, d)
		if err != nil {
			return nil, err
		}
		return c.vercel.User(ctx)
	}).Memoize(cacheKey("tokens.vercel.account"))

	vercelCurrentToken = plugin.HydrateFunc(func(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
		c, err := connect(ctx, d)
		if err != nil {
			return nil, err
		}
		t, err := c.vercel.CurrentToken(ctx)
		if err != nil || t == nil {
			return "", err // Vercel does not know the calling token: nothing is current
		}
		return t.ID, nil
	}).Memoize(cacheKey("tokens.vercel.current"))
)

func loadVercelContext(ctx context.Context, d *plugin.QueryData, q *userTokenQuery) *vercelContext {
	vc := &vercelContext{done: make(chan struct{})}
	go func() {
		defer close(vc.done)
		var wg sync.WaitGroup
		var errEmail, errCurrent error
		if q.needUsers {
			wg.Go(func() {
				v, err := vercelAccount(ctx, d, nil)
				if errEmail = err; err == nil {
					if u, ok := v.(*vercel.User); ok && u.Email != "" {
						vc.email = &u.Email
					}
				}
			})
		}
		if q.needCurrent {
			wg.Go(func() {
				v, err := vercelCurrentToken(ctx, d, nil)
				if errCurrent = err; err == nil {
					id, _ := v.(string)
					vc.currentID = &id
				}
			})
		}
		wg.Wait()
		vc.err = errors.Join(errEmail, errCurrent)
	}()
	return vc
}

// errStop ends a listing early without an error.
var errStop = errors.New("stop")

// ready waits for the context; errStop when an email condition rules Vercel out.
func (vc *vercelContext) ready(q *userTokenQuery) error {
	<-vc.done
	if vc.err != nil {
		return vc.err
	}
	if !q.emails.allowsPtr(vc.email) {
		return errStop
	}
	return nil
}

func listVercelTokens(ctx context.Context, d *plugin.QueryData, client *vercel.Client, q *userTokenQuery) error {
	vc := loadVercelContext(ctx, d, q)
	stream := func(tokens []vercel.Token) (bool, error) {
		if err := vc.ready(q); err != nil {
			return false, err
		}
		for i := range tokens {
			row := vercelRow(&tokens[i], vc, q)
			if !q.keep(row) {
				continue
			}
			d.StreamListItem(ctx, row)
			if d.RowsRemaining(ctx) == 0 {
				return false, nil
			}
		}
		return true, nil
	}
	err := func() error {
		if q.ids.constrained {
			return getVercelTokens(ctx, d, client, q, stream)
		}
		opts := vercel.ListOptions{BeforeNext: func(ctx context.Context) error {
			if err := vc.ready(q); err != nil {
				return err
			}
			d.WaitForListRateLimit(ctx)
			return nil
		}}
		switch {
		case !q.limited:
			opts.Ahead = 2 // the SDK's row buffer holds a page: keep requests off the rows' path
		case !q.teamIDs.constrained:
			// Under a LIMIT, ask for no more rows than it still needs when every row fetched is returned.
			opts.PageSize = func() int { return int(min(d.RowsRemaining(ctx), vercel.MaxPageSize)) }
		}
		for page, err := range client.Tokens(ctx, opts) {
			if err != nil {
				return err
			}
			if more, err := stream(page); err != nil || !more {
				return err
			}
		}
		return nil
	}()
	<-vc.done
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// getVercelTokens answers `id = ...`: one GET per id that can be a token id. Others
// name no token, and cost nothing.
func getVercelTokens(ctx context.Context, d *plugin.QueryData, client *vercel.Client, q *userTokenQuery,
	stream func([]vercel.Token) (bool, error)) error {
	asked := 0
	for _, id := range q.ids.values {
		if !vercel.ValidTokenID(id) {
			continue
		}
		if asked++; asked > 1 {
			d.WaitForListRateLimit(ctx)
		}
		t, err := client.GetToken(ctx, id)
		if err != nil {
			return err
		}
		if t == nil || t.ID != id {
			continue
		}
		if more, err := stream([]vercel.Token{*t}); err != nil || !more {
			return err
		}
	}
	return nil
}

func vercelRow(t *vercel.Token, vc *vercelContext, q *userTokenQuery) *userToken {
	expires, revoked := t.ExpiresAt.Ptr(), t.RevokedAt.Ptr()
	active := revoked == nil && (expires == nil || expires.After(q.now))
	r := &userToken{
		Provider:   providerVercel,
		ID:         t.ID,
		Name:       nonEmpty(t.Name),
		Email:      vc.email,
		Type:       nonEmpty(t.Type),
		Origin:     t.Origin,
		Prefix:     t.Prefix,
		Suffix:     t.Suffix,
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
	if q.needTeam {
		r.TeamID = t.TeamID()
	}
	if vc.currentID != nil {
		r.IsCurrent = ptr(t.ID == *vc.currentID)
	}
	r.Title = firstNonNil(r.Name, r.Email)
	return r
}

// ---- Query Server ----

func listQueryServerTokens(ctx context.Context, d *plugin.QueryData, client *queryserver.Client, q *userTokenQuery) error {
	// No Query Server row has a team, and its ids are decimal row ids.
	if q.teamIDs.constrained || (q.ids.constrained && !anyDecimal(q.ids.values)) {
		return nil
	}
	var owners map[string]queryserver.User
	var tokens []queryserver.UserToken
	var errTokens, errUsers error
	fetchUsers := func() {
		var users []queryserver.User
		if users, errUsers = client.Users(ctx); errUsers == nil {
			owners = queryserver.Owners(users)
		}
	}
	switch {
	case !q.needUsers:
		tokens, errTokens = client.UserTokens(ctx)
	case q.limited:
		// Under a LIMIT the other provider may fill it first: spare the second request then.
		if tokens, errTokens = client.UserTokens(ctx); errTokens == nil && d.RowsRemaining(ctx) > 0 {
			fetchUsers()
		}
	default:
		var wg sync.WaitGroup
		wg.Go(fetchUsers)
		tokens, errTokens = client.UserTokens(ctx)
		wg.Wait()
	}
	if err := firstErr(errTokens, errUsers); err != nil {
		return err
	}
	for i := range tokens {
		if d.RowsRemaining(ctx) == 0 {
			return nil
		}
		row := queryServerRow(&tokens[i], owners, q.now)
		if q.keep(row) {
			d.StreamListItem(ctx, row)
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

func queryServerRow(t *queryserver.UserToken, owners map[string]queryserver.User, now time.Time) *userToken {
	r := &userToken{
		Provider:  providerQueryServer,
		ID:        strconv.FormatInt(t.ID, 10),
		Type:      ptr("user_token"),
		CanWrite:  ptr(t.Write),
		Active:    ptr(t.Usable(now)),
		IsCurrent: ptr(t.IsCurrent),
		CreatedAt: upstream.EpochAuto(t.CreatedAt),
		UpdatedAt: upstream.EpochAuto(t.UpdatedAt),
		ExpiresAt: t.ExpiresAt(),
	}
	if u, ok := owners[t.UserUUID]; ok {
		r.Email, r.OwnerActive = nonEmpty(u.Email), ptr(u.Active)
	}
	r.Title = r.Email
	return r
}
