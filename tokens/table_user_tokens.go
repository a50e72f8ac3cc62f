package tokens

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/queryserver"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// userToken is one row of user_tokens. Nil means SQL NULL: a value the upstream does
// not have, never an invented default.
type userToken struct {
	Provider   string
	ID         string
	Name       *string
	Title      *string
	Email      *string
	TeamID     *string
	Type       *string
	Origin     *string
	Scopes     any
	Prefix     *string
	Suffix     *string
	CanWrite   *bool
	Active     *bool
	IsCurrent  *bool
	CreatedAt  *time.Time
	UpdatedAt  *time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	LeakedAt   *time.Time
	LeakedURL  *string
}

func tableUserTokens(_ context.Context) *plugin.Table {
	return &plugin.Table{
		Name: "user_tokens",
		Description: "API tokens of people, one row per token: Vercel personal access tokens and the user tokens of a " +
			"Query Server. Secrets are never returned.",
		// One list per upstream, run in parallel; the `upstream` value also scopes the
		// rate limiters. It is not a column: `provider` quals are applied in the list.
		GetMatrixItemFunc: func(context.Context, *plugin.QueryData) []map[string]any {
			return []map[string]any{{"upstream": upstreamVercel}, {"upstream": upstreamQueryServer}}
		},
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
				"Where the token lives: 'vercel' or 'query_server'. A `provider = ...` condition skips the other upstream entirely."),
			column("id", proto.ColumnType_STRING, func(r *userToken) any { return r.ID },
				"The token's identifier at its provider (for the Query Server, the row id as text). With `id = ...`, Vercel is asked for that one token."),
			column("name", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Name) },
				"The token's name. Query Server user tokens have none."),
			column("title", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Title) },
				"A display name: the token's name, else its owner's email."),
			column("email", proto.ColumnType_STRING, func(r *userToken) any { return opt(r.Email) },
				"The owner's email: the Vercel account's email, or the Query Server user's email."),
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

// userTokenQuery is what the quals and the column list ask of one scan.
type userTokenQuery struct {
	providers, ids, teamIDs, emails  valueSet[string]
	needEmail, needCurrent, needTeam bool
	limited                          bool // the query has a LIMIT the SDK tracks for us
	now                              time.Time
}

func newUserTokenQuery(d *plugin.QueryData) *userTokenQuery {
	q := &userTokenQuery{
		providers: stringQuals(d, "provider"),
		ids:       stringQuals(d, "id"),
		teamIDs:   stringQuals(d, "team_id"),
		emails:    stringQuals(d, "email"),
		limited:   d.QueryContext.Limit != nil,
		now:       time.Now(),
	}
	q.needEmail = q.emails.constrained || wants(d, "email", "title")
	q.needCurrent = wants(d, "is_current")
	q.needTeam = q.teamIDs.constrained || wants(d, "team_id") // parsing each token's scopes costs
	return q
}

// keep applies the quals to a finished row, so that what the list streams is exact
// even where the upstream cannot filter.
func (q *userTokenQuery) keep(r *userToken) bool {
	return q.ids.allows(r.ID) && q.teamIDs.allowsPtr(r.TeamID) && q.emails.allowsPtr(r.Email)
}

func listUserTokens(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	start := time.Now()
	return nil, settled(start, listUserTokensOf(ctx, d))
}

// listUserTokensOf lists one upstream (the matrix item's) into the scan.
func listUserTokensOf(ctx context.Context, d *plugin.QueryData) error {
	up, _ := plugin.GetMatrixItem(ctx)["upstream"].(string)
	scan := scanFor(d)
	if up == upstreamVercel {
		defer scan.vercelDone() // however the Vercel list ends
	}
	q := newUserTokenQuery(d)
	if !q.providers.allows(up) || q.ids.none() || q.teamIDs.none() || q.emails.none() {
		return nil
	}
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	s := c.settings
	if err := s.userTokensErr(); err != nil {
		// Report a connection-wide problem once, from the first upstream this query asks for.
		if up == q.firstProvider() {
			return err
		}
		return nil
	}
	switch up {
	case upstreamVercel:
		if s.vercelErr != nil {
			return s.vercelErr
		}
		if c.vercel != nil {
			return s.explain(vercelArgs, s.vercelBaseURL, listVercelTokens(ctx, d, c.vercel, q))
		}
	case upstreamQueryServer:
		if s.queryServerErr != nil {
			return s.queryServerErr
		}
		if c.queryServer == nil {
			return nil
		}
		if q.limited {
			// With a LIMIT, let Vercel's first pages fill it: if they do, this costs nothing.
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

// userTokenScan is shared by the lists the SDK runs for one scan (one per upstream,
// and one per value of an IN list), which all see the same QueryContext.
type userTokenScan struct {
	vercelListed chan struct{}
	once         sync.Once
}

func (s *userTokenScan) vercelDone() { s.once.Do(func() { close(s.vercelListed) }) }

var userTokenScans = scanRegistry[*userTokenScan]{new: func() *userTokenScan {
	return &userTokenScan{vercelListed: make(chan struct{})}
}}

func scanFor(d *plugin.QueryData) *userTokenScan { return userTokenScans.get(d) }

func (q *userTokenQuery) firstProvider() string {
	for _, p := range []string{upstreamVercel, upstreamQueryServer} {
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

// vercelContext is what every Vercel row may need beyond the token itself, fetched
// once per connection and only when the query asks for it.
type vercelContext struct {
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
		if err != nil {
			return nil, err
		}
		if t == nil {
			return "", nil // Vercel does not know the calling token: nothing is current
		}
		return t.ID, nil
	}).Memoize(cacheKey("tokens.vercel.current"))
)

// loadVercelContext fetches the account email and the current token id in parallel,
// as far as the query needs them.
func loadVercelContext(ctx context.Context, d *plugin.QueryData, q *userTokenQuery) (*vercelContext, error) {
	vc := &vercelContext{}
	var wg sync.WaitGroup
	var errEmail, errCurrent error
	if q.needEmail {
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
	return vc, firstErr(errEmail, errCurrent)
}

func listVercelTokens(ctx context.Context, d *plugin.QueryData, client *vercel.Client, q *userTokenQuery) error {
	// Every Vercel token belongs to the one account, so an email qual is all or nothing.
	vcDone := make(chan struct{})
	var vc *vercelContext
	var vcErr error
	go func() { // alongside the first request, not before it
		defer close(vcDone)
		vc, vcErr = loadVercelContext(ctx, d, q)
	}()
	ready := func() error {
		<-vcDone
		if vcErr != nil {
			return vcErr
		}
		if q.emails.constrained && !q.emails.allowsPtr(vc.email) {
			return errStop
		}
		return nil
	}
	stream := func(tokens []vercel.Token) (bool, error) {
		if err := ready(); err != nil {
			return false, err
		}
		for i := range tokens {
			row := vercelRow(&tokens[i], vc, q.now, q.needTeam)
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
			return getVercelTokens(ctx, d, client, q, ready, stream)
		}
		return listVercelPages(ctx, d, client.Tokens(vercelPageSize(ctx, d, q)), q, ready, stream)
	}()
	<-vcDone
	if err == errStop {
		return nil
	}
	if err == nil && vcErr != nil {
		return vcErr
	}
	return err
}

// listVercelPages walks the list. With a LIMIT, one page at a time, each sized to
// what the LIMIT still needs, so no request is made that the query does not need.
// Without one every page is needed: a fetcher walks the list up to two pages ahead of
// the rows being streamed, so requests never wait for rows to be built (the SDK's row
// buffer holds one page, and the other upstream's rows share it).
func listVercelPages(ctx context.Context, d *plugin.QueryData, pager *vercel.Pager, q *userTokenQuery,
	ready func() error, stream func([]vercel.Token) (bool, error)) error {
	if q.limited {
		for pager.More() {
			if pager.Pages() > 0 {
				d.WaitForListRateLimit(ctx)
				pager.SetPageSize(vercelPageSize(ctx, d, q))
			}
			tokens, err := pager.Next(ctx)
			if err == nil {
				err = ready()
			}
			if err != nil {
				return err
			}
			if more, err := stream(tokens); err != nil || !more {
				return err
			}
		}
		return nil
	}

	type page struct {
		tokens []vercel.Token
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the fetcher when the rows stop being wanted
	pages := make(chan page, 2)
	go func() {
		defer close(pages)
		for pager.More() {
			if pager.Pages() > 0 {
				if ready() != nil { // an email qual may rule Vercel out: ask no more
					return
				}
				d.WaitForListRateLimit(ctx)
			}
			tokens, err := pager.Next(ctx)
			select {
			case pages <- page{tokens, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for p := range pages {
		err := p.err
		if err == nil {
			err = ready()
		}
		if err != nil {
			return err
		}
		if more, err := stream(p.tokens); err != nil || !more {
			return err
		}
	}
	return nil
}

// errStop ends a listing early without an error.
var errStop = stopError{}

type stopError struct{}

func (stopError) Error() string { return "stop" }

// vercelPageSize asks for no more rows than the LIMIT still needs, when every row
// fetched will be returned; otherwise (rows filtered by team or id) for full pages.
func vercelPageSize(ctx context.Context, d *plugin.QueryData, q *userTokenQuery) int {
	if q.limited && !q.teamIDs.constrained && !q.ids.constrained {
		return int(min(max(d.RowsRemaining(ctx), 1), vercel.MaxPageSize))
	}
	return vercel.MaxPageSize
}

// getVercelTokens answers `id = ...`: one GET per id that can be addressed, and one
// listing for any that cannot (it might still be a token id, so it must be looked for).
func getVercelTokens(ctx context.Context, d *plugin.QueryData, client *vercel.Client, q *userTokenQuery,
	ready func() error, stream func([]vercel.Token) (bool, error)) error {
	var unaddressable bool
	for i, id := range q.ids.values {
		if !vercel.Addressable(id) {
			unaddressable = true
			continue
		}
		if i > 0 {
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
	if !unaddressable {
		return nil
	}
	wanted := func(t *vercel.Token) bool { return !vercel.Addressable(t.ID) && q.ids.allows(t.ID) }
	return listVercelPages(ctx, d, client.Tokens(vercel.MaxPageSize), q, ready, func(page []vercel.Token) (bool, error) {
		return stream(filterTokens(page, wanted))
	})
}

func filterTokens(page []vercel.Token, keep func(*vercel.Token) bool) []vercel.Token {
	out := page[:0]
	for i := range page {
		if keep(&page[i]) {
			out = append(out, page[i])
		}
	}
	return out
}

func vercelRow(t *vercel.Token, vc *vercelContext, now time.Time, withTeam bool) *userToken {
	expires, revoked := t.ExpiresAt.Ptr(), t.RevokedAt.Ptr()
	active := revoked == nil && (expires == nil || expires.After(now))
	r := &userToken{
		Provider:   upstreamVercel,
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
	if withTeam {
		r.TeamID = t.TeamID()
	}
	if vc.currentID != nil {
		current := t.ID == *vc.currentID
		r.IsCurrent = &current
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
	var emails map[string]string
	var tokens []queryserver.UserToken
	var errTokens, errUsers error
	fetchUsers := func() {
		var users []queryserver.User
		if users, errUsers = client.Users(ctx); errUsers == nil {
			emails = queryserver.Emails(users)
		}
	}
	switch {
	case !q.needEmail:
		tokens, errTokens = client.UserTokens(ctx)
	case q.limited:
		// With a LIMIT the other upstream may fill it first: spare the second request then.
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
		row := queryServerRow(&tokens[i], emails, q.now)
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

func queryServerRow(t *queryserver.UserToken, emails map[string]string, now time.Time) *userToken {
	active, write, current := t.Usable(now), t.Write, t.IsCurrent
	r := &userToken{
		Provider:  upstreamQueryServer,
		ID:        strconv.FormatInt(t.ID, 10),
		Type:      ptr("user_token"),
		CanWrite:  &write,
		Active:    &active,
		IsCurrent: &current,
		CreatedAt: upstream.EpochAuto(t.CreatedAt),
		UpdatedAt: upstream.EpochAuto(t.UpdatedAt),
		ExpiresAt: t.ExpiresAt(),
	}
	if e, ok := emails[t.UserUUID]; ok {
		r.Email = &e
	}
	r.Title = r.Email
	return r
}
