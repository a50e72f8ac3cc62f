package tokens

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/queryserver"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// tokenAction is one row of user_token_actions: the outcome of one action.
type tokenAction struct {
	Action, Provider string
	ID               *string
	Email            *string
	Name             *string
	TeamID           *string
	CanWrite         *bool
	ExpiresAt        *time.Time
	Status           string
	Token            *string
	CreatedAt        *time.Time
	Note             *string
}

const userTokenActionForms = `user_token_actions carries out one kind of action per query, given as conditions:
  create a Vercel token:       action = 'create' and provider = 'vercel' and name = '...' [and team_id = 'team_...'] [and expires_at = ...]
                               (select the token column: Vercel shows the new secret once)
  revoke Vercel tokens:        action = 'revoke' and provider = 'vercel' and id = '...' (or id in (...); 'current' is the connection's own token)
  create a Query Server token: action = 'create' and provider = 'query_server' and email = '...' [and can_write = true|false] [and expires_at = ...]
  update a Query Server token: action = 'update' and provider = 'query_server' and email = '...' and can_write = ... and/or expires_at = ...
  revoke Query Server tokens:  action = 'revoke' and provider = 'query_server' and email = '...' (or email in (...))`

// actionForm is the inputs one action of one provider takes.
type actionForm struct {
	provider, action string
	flag             argument
	required         string   // the input that names what to act on; an IN list acts on each
	optional         []string // inputs that take one value
	status           string   // the outcome's status
}

var actionForms = []actionForm{
	{providerVercel, "create", argAllowTokenCreate, "name", []string{"team_id", "expires_at"}, "created"},
	{providerVercel, "revoke", argAllowTokenRevoke, "id", nil, "revoked"},
	{providerQueryServer, "create", argAllowTokenCreate, "email", []string{"can_write", "expires_at"}, "created"},
	{providerQueryServer, "update", argAllowTokenUpdate, "email", []string{"can_write", "expires_at"}, "updated"},
	{providerQueryServer, "revoke", argAllowTokenRevoke, "email", nil, "revoked"},
}

func tableUserTokenActions(_ context.Context) *plugin.Table {
	t := &plugin.Table{
		Name: "user_token_actions",
		Description: "Create, update and revoke the tokens of user_tokens from SQL: the conditions are the action's inputs, " +
			"and each row is the outcome of one action. Each kind of action is off until the connection allows it.",
		Cache:             &plugin.TableCacheOptions{Enabled: false}, // every query acts: never answer one from the cache
		GetMatrixItemFunc: actionProviderMatrix,
		List:              &plugin.ListConfig{Hydrate: listUserTokenActions},
		Columns: []*plugin.Column{
			column("action", proto.ColumnType_STRING, func(r *tokenAction) any { return r.Action },
				"Required: 'create', 'update' or 'revoke'."),
			column("provider", proto.ColumnType_STRING, func(r *tokenAction) any { return r.Provider },
				"Required: 'vercel' or 'query_server'."),
			column("id", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.ID) },
				"The Vercel token to revoke ('current' is the connection's own token); otherwise the id of the token acted on, as user_tokens shows it."),
			column("email", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.Email) },
				"The Query Server user whose token to create, update or revoke."),
			column("name", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.Name) },
				"The new Vercel token's name (required to create one)."),
			column("team_id", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.TeamID) },
				"The Vercel team to limit a new token to; without it the token acts on the whole account."),
			column("can_write", proto.ColumnType_BOOL, func(r *tokenAction) any { return opt(r.CanWrite) },
				"Whether the Query Server token may run statements that write (the server's default for a new token: true)."),
			column("expires_at", proto.ColumnType_TIMESTAMP, func(r *tokenAction) any { return opt(r.ExpiresAt) },
				"When the token expires; to create or update, as given (the Query Server keeps whole seconds); null: never."),
			column("status", proto.ColumnType_STRING, func(r *tokenAction) any { return r.Status },
				"The outcome: 'created', 'updated' or 'revoked'."),
			column("token", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.Token) },
				"A new Vercel token's secret, shown this once; null otherwise (the Query Server's secrets stay with its CLI)."),
			column("created_at", proto.ColumnType_TIMESTAMP, func(r *tokenAction) any { return opt(r.CreatedAt) },
				"When the token acted on was created, where the provider says."),
			column("note", proto.ColumnType_STRING, func(r *tokenAction) any { return opt(r.Note) },
				"What else the provider did that the token's holder must know, such as a Query Server update re-minting the token."),
		},
	}
	t.List.KeyColumns = actionKeyColumns(t.Columns, "id", "email", "name")
	return t
}

// actionProviderMatrix runs the list for the providers; a provider condition naming
// none of them gets a list of its own, so that the query is told instead of answered
// with nothing.
func actionProviderMatrix(ctx context.Context, d *plugin.QueryData) []map[string]any {
	m := providerMatrix(providerVercel, providerQueryServer)(ctx, d)
	for _, p := range setOf(unsafeQuals(d, "provider"), asString).values {
		if p != providerVercel && p != providerQueryServer {
			m = append(m, map[string]any{"provider": p})
		}
	}
	return m
}

func listUserTokenActions(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	start := time.Now()
	return nil, settled(start, userTokenActionsOf(ctx, d, matrixProvider(ctx)))
}

func userTokenActionsOf(ctx context.Context, d *plugin.QueryData, provider string) error {
	in := actionInputs{table: "user_token_actions", forms: userTokenActionForms}
	providers := setOf(unsafeQuals(d, "provider"), asString)
	actions := setOf(unsafeQuals(d, "action"), asString)
	switch {
	case !providers.constrained || !actions.constrained:
		return in.usage("give the action and the provider")
	case len(providers.values) != 1 || len(actions.values) != 1:
		if providers.none() || actions.none() {
			return nil // contradictory conditions: no row could match
		}
		return in.usage("give one action and one provider per query")
	case providers.values[0] != provider:
		return nil // another list call of this scan acts
	}
	i := slices.IndexFunc(actionForms, func(f actionForm) bool { return f.provider == provider && f.action == actions.values[0] })
	if i < 0 {
		switch {
		case provider != providerVercel && provider != providerQueryServer:
			return in.usage(fmt.Sprintf("provider %q is neither 'vercel' nor 'query_server'", provider))
		case provider == providerVercel && actions.values[0] == "update":
			return in.usage("Vercel tokens cannot be changed: create a new one, then revoke the old one")
		}
		return in.usage(fmt.Sprintf("action %q is not one of 'create', 'update' and 'revoke'", actions.values[0]))
	}
	form := actionForms[i]
	in.allowed = append([]string{"action", "provider", "status", "sp_connection_name", form.required}, form.optional...)
	in.creating = form.action == "create"
	if provider == providerVercel {
		in.secrets = []string{"token"}
	}
	if err := in.check(d); err != nil {
		return err
	}
	targets := stringQuals(d, form.required)
	if !targets.constrained { // given another of id, email, name: the SDK requires one
		return in.usage(fmt.Sprintf("to %s a %s token, give %s", form.action, provider, form.required))
	}
	for _, col := range form.optional {
		if n := valueCount(unsafeQuals(d, col)); n > 1 {
			return in.usage(fmt.Sprintf("give at most one %s per query", col))
		}
	}
	if st := stringQuals(d, "status"); st.constrained && !st.allows(form.status) {
		return in.usage(fmt.Sprintf("the outcome of %s is status '%s'", form.action, form.status))
	}
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	s := c.settings
	if err := firstErr(s.commonErr, s.flagsErr); err != nil {
		return err
	}
	if !form.flag.allows(s) {
		return flagOff("user_token_actions", s, form.flag, form.action+" a "+providerTitle(provider)+" token")
	}
	opts := actionOptions{
		teamID:    setOf(quals(d, "team_id"), asString),
		canWrite:  setOf(quals(d, "can_write"), asBool),
		expiresAt: setOf(quals(d, "expires_at"), asTime),
	}
	if opts.teamID.none() || opts.canWrite.none() || opts.expiresAt.none() {
		return nil
	}
	if e := opts.expiresAt; e.constrained && !e.values[0].After(time.Now()) {
		return in.usage("expires_at must be in the future")
	}
	if form.action == "update" && !opts.canWrite.constrained && !opts.expiresAt.constrained {
		return in.usage("to update a Query Server token, give can_write and/or expires_at")
	}
	var list []action
	switch provider {
	case providerVercel:
		if err := firstErr(s.vercelErr, s.vercelMissing()); err != nil {
			return err
		}
		list = vercelActions(c, form.action, targets.values, opts)
	case providerQueryServer:
		if err := firstErr(s.queryServerErr, s.queryServerMissing()); err != nil {
			return err
		}
		list = queryServerActions(c, d, form.action, targets.values, opts)
	}
	return runActions(ctx, d, list)
}

// valueCount is how many values the conditions give (an IN list gives several).
func valueCount(qs []qual) int {
	n := 0
	for _, q := range qs {
		if list := q.value.GetListValue(); list != nil {
			n += len(list.Values)
		} else {
			n++
		}
	}
	return n
}

// actionOptions are the optional inputs, each at most one value.
type actionOptions struct {
	teamID    valueSet[string]
	canWrite  valueSet[bool]
	expiresAt valueSet[time.Time]
}

func first[T comparable](s valueSet[T]) *T {
	if !s.constrained {
		return nil
	}
	return &s.values[0]
}

func (a argument) allows(s *settings) bool {
	switch a {
	case argAllowTokenCreate:
		return s.allowTokenCreate
	case argAllowTokenUpdate:
		return s.allowTokenUpdate
	case argAllowTokenRevoke:
		return s.allowTokenRevoke
	}
	return false
}

func providerTitle(p string) string {
	if p == providerVercel {
		return "Vercel"
	}
	return "Query Server"
}

func (s *settings) vercelMissing() error {
	if s.vercelToken == "" {
		return &NoUpstreamError{Connection: s.connection, Table: "user_token_actions", Need: "set " + argVercelToken.named() + " to act on Vercel tokens"}
	}
	return nil
}

func (s *settings) queryServerMissing() error {
	if s.queryServerToken == "" {
		return &NoUpstreamError{Connection: s.connection, Table: "user_token_actions",
			Need: "set " + argQueryServerURL.named() + " with " + argQueryServerToken.named() + " to act on Query Server tokens"}
	}
	return nil
}

// ---- Vercel ----

func vercelActions(c *clients, verb string, targets []string, o actionOptions) []action {
	s := c.settings
	var list []action
	for _, target := range targets {
		row := &tokenAction{Action: verb, Provider: providerVercel}
		switch verb {
		case "create":
			p := vercel.CreateParams{Name: target, ExpiresAt: first(o.expiresAt)}
			if t := first(o.teamID); t != nil {
				p.TeamID = *t
			}
			row.Name, row.TeamID, row.ExpiresAt, row.Status = &p.Name, first(o.teamID), p.ExpiresAt, "created"
			list = append(list, action{key: "create " + target, do: func(ctx context.Context) (any, *undo, error) {
				made, err := c.vercel.CreateToken(ctx, p)
				if err != nil {
					return nil, nil, s.explainVercelCreate(err, p.Name)
				}
				row.ID, row.Token, row.CreatedAt = &made.Token.ID, &made.BearerToken, made.Token.CreatedAt.Ptr()
				return row, &undo{what: "Vercel token " + made.Token.ID, run: func(ctx context.Context) error {
					return c.vercel.DeleteToken(ctx, made.Token.ID)
				}}, nil
			}})
		case "revoke":
			id := target
			row.ID, row.Status = &id, "revoked"
			if id == "current" {
				row.Note = ptr("This was the connection's own token: the connection cannot call Vercel until " + argVercelToken.name + " is replaced.")
			}
			list = append(list, action{key: "revoke " + id, do: func(ctx context.Context) (any, *undo, error) {
				err := vercel.ErrNoSuchToken // an id that cannot be a token's costs no request
				if id == "current" || vercel.ValidTokenID(id) {
					err = c.vercel.DeleteToken(ctx, id)
				}
				if errors.Is(err, vercel.ErrNoSuchToken) {
					return nil, nil, &UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
						"Vercel has no token %q to revoke (user_tokens lists the ids: select id, name from user_tokens where provider = 'vercel')", shortID(id))}
				}
				if err != nil {
					return nil, nil, s.explain(vercelArgs, s.vercelBaseURL, err)
				}
				return row, nil, nil
			}})
		}
	}
	return list
}

// explainVercelCreate says, when Vercel may have created a token whose secret nobody
// saw, how to find it.
func (s *settings) explainVercelCreate(err error, name string) error {
	err = s.explain(vercelArgs, s.vercelBaseURL, err)
	ue, ok := err.(*UpstreamError)
	if !ok {
		return err
	}
	find := fmt.Sprintf("select id, created_at from user_tokens where provider = 'vercel' and name = %s order by created_at desc", quoteSQL(name))
	switch ue.Cause.Acted() {
	case upstream.ActedYes:
		ue.Advice += fmt.Sprintf(" Vercel created the token (it answered %d) but its answer, with the secret, was cut off: "+
			"find it with `%s` and revoke it", ue.Cause.Status, find)
	case upstream.ActedMaybe:
		ue.Advice += " Vercel may have created the token anyway (the create was not repeated, so there is at most one): " +
			"look for it with `" + find + "` and revoke it"
	}
	return ue
}

func quoteSQL(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// ---- Query Server ----

// qsSnapshot is the Query Server's users and tokens as one scan first read them:
// whether a user exists and has a token, and the token's current values.
type qsSnapshot struct {
	once   sync.Once
	err    error
	users  map[string]queryserver.User      // by email
	tokens map[string]queryserver.UserToken // by user uuid
}

var qsSnapshots = scanStates[*qsSnapshot]{new: func() *qsSnapshot { return &qsSnapshot{} }}

func (q *qsSnapshot) load(ctx context.Context, c *queryserver.Client) error {
	q.once.Do(func() {
		var users []queryserver.User
		var tokens []queryserver.UserToken
		var errUsers, errTokens error
		var wg sync.WaitGroup
		wg.Go(func() { users, errUsers = c.Users(ctx) })
		tokens, errTokens = c.UserTokens(ctx)
		wg.Wait()
		if q.err = firstErr(errTokens, errUsers); q.err != nil {
			return
		}
		q.users, q.tokens = map[string]queryserver.User{}, map[string]queryserver.UserToken{}
		for _, u := range users {
			q.users[u.Email] = u
		}
		for _, t := range tokens {
			q.tokens[t.UserUUID] = t
		}
	})
	return q.err
}

// tokenOf is the user's token as the scan first read it; a usage error names what is missing.
func (q *qsSnapshot) tokenOf(email string) (queryserver.User, *queryserver.UserToken, error) {
	u, ok := q.users[email]
	if !ok {
		return u, nil, &UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
			"the Query Server has no user %q (select email from user_tokens where provider = 'query_server' lists those with a token)", shortID(email))}
	}
	if t, ok := q.tokens[u.UUID]; ok {
		return u, &t, nil
	}
	return u, nil, nil
}

const remintNote = "The Query Server re-minted this token's value: its holder must fetch the new one (query CLI). " +
	"A Query Server defect may keep the new value from authenticating (its iat is the previous updated_at); " +
	"if it is refused, revoke the token and create it again."

func queryServerActions(c *clients, d *plugin.QueryData, verb string, emails []string, o actionOptions) []action {
	s := c.settings
	snap := qsSnapshots.of(d)
	var list []action
	for _, email := range emails {
		list = append(list, action{key: verb + " " + email, do: func(ctx context.Context) (any, *undo, error) {
			explain := func(err error) error { return s.explain(queryServerArgs, s.queryServerURL, err) }
			if err := snap.load(ctx, c.queryServer); err != nil {
				return nil, nil, explain(err)
			}
			user, tok, err := snap.tokenOf(email)
			if err != nil {
				return nil, nil, err
			}
			row := &tokenAction{Action: verb, Provider: providerQueryServer, Email: &user.Email, Status: verb + "d"}
			if tok != nil {
				row.ID, row.CreatedAt = ptr(strconv.FormatInt(tok.ID, 10)), upstream.EpochAuto(tok.CreatedAt)
			}
			w := queryserver.TokenWrite{Email: email, Write: first(o.canWrite)}
			if e := first(o.expiresAt); e != nil {
				w.ExpirationDate = ptr(e.Unix()) // the server compares seconds (upstream-apis.md 2.6)
			}
			switch verb {
			case "create":
				if tok != nil {
					return nil, nil, &UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
						"%s already has a token (id %d): the Query Server's create changes nothing for a user who has one; "+
							"revoke it first (action = 'revoke'), or change it (action = 'update')", email, tok.ID)}
				}
				if err := c.queryServer.CreateUserToken(ctx, w); err != nil {
					return nil, nil, explain(err)
				}
				made, err := createdToken(ctx, c.queryServer, user.UUID)
				if err != nil {
					return nil, nil, explain(err)
				}
				row.ID, row.CreatedAt, row.CanWrite = ptr(strconv.FormatInt(made.ID, 10)), upstream.EpochAuto(made.CreatedAt), &made.Write
				row.ExpiresAt = firstNonNil(first(o.expiresAt), made.ExpiresAt())
				return row, &undo{what: "the Query Server token of " + email, run: func(ctx context.Context) error {
					return c.queryServer.DeleteUserToken(ctx, email)
				}}, nil
			case "update":
				switch {
				case tok == nil:
					return nil, nil, &UsageError{Table: "user_token_actions", Message: email + " has no token to update: create one (action = 'create')"}
				case tok.IsCurrent:
					return nil, nil, &UsageError{Table: "user_token_actions", Message: email + "'s token is the one this connection " +
						"authenticates with: an update re-mints it, which would lock the connection out; " +
						"change it from a connection that uses another admin's token, or with the query CLI"}
				}
				// The server resets what it is not sent: send the current values of the rest.
				if w.Write == nil {
					w.Write = &tok.Write
				}
				row.CanWrite, row.ExpiresAt = w.Write, first(o.expiresAt)
				if w.ExpirationDate == nil && !tok.NeverExpires() {
					if tok.ExpirationDate <= time.Now().Unix() {
						return nil, nil, &UsageError{Table: "user_token_actions", Message: email + "'s token has expired, " +
							"and the Query Server refuses to keep a past expiry: give expires_at too"}
					}
					w.ExpirationDate, row.ExpiresAt = &tok.ExpirationDate, tok.ExpiresAt()
				}
				if err := c.queryServer.UpdateUserToken(ctx, w); err != nil {
					return nil, nil, explain(err)
				}
				row.Note = ptr(remintNote)
				return row, nil, nil
			default: // revoke
				if tok == nil {
					return nil, nil, &UsageError{Table: "user_token_actions", Message: email + " has no token to revoke"}
				}
				if err := c.queryServer.DeleteUserToken(ctx, email); err != nil {
					return nil, nil, explain(err)
				}
				if tok.IsCurrent {
					row.Note = ptr("This was the connection's own token: the connection cannot call the Query Server until " +
						argQueryServerToken.name + " is replaced.")
				}
				return row, nil, nil
			}
		}})
	}
	return list
}

// createdToken reads back the token a create made: the create's answer is empty.
func createdToken(ctx context.Context, c *queryserver.Client, uuid string) (*queryserver.UserToken, error) {
	tokens, err := c.UserTokens(ctx)
	if err != nil {
		return nil, err
	}
	for i := range tokens {
		if tokens[i].UserUUID == uuid {
			return &tokens[i], nil
		}
	}
	return nil, errors.New("the Query Server answered 201 to the create, but lists no token for the user")
}
