package tokens

import (
	"cmp"
	"context"
	"slices"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/clerk"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

const signInTokenForms = `Clerk cannot list or look up sign-in tokens, so this table only creates and revokes them:
  create: select id, url, expires_at from sign_in_tokens where user_id = 'user_...' [and expires_in_seconds = 3600] [and org_id = 'org_...']
  revoke: select id, status from sign_in_tokens where id = 'sit_...' and status = 'revoked'`

func (h *house) tableSignInTokens() *plugin.Table {
	type signInToken = clerk.SignInToken
	t := &plugin.Table{
		Name: "sign_in_tokens",
		Description: "Clerk sign-in tokens, created and revoked from SQL. Clerk cannot list them: a query with " +
			"`user_id = ...` creates one (when allow_sign_in_token_create is true), and `id = ... and status = 'revoked'` " +
			"revokes one (when allow_sign_in_token_revoke is true).",
		// Every query is an action: never answer one from the cache.
		Cache: &plugin.TableCacheOptions{Enabled: false},
		List: &plugin.ListConfig{
			Hydrate: settledList(h.signInTokenActions),
			Tags:    map[string]string{"provider": clerk.Provider.Name},
		},
		Columns: []*plugin.Column{
			column("id", proto.ColumnType_STRING, func(r *signInToken) any { return r.ID },
				"The sign-in token's id (sit_...). With `status = 'revoked'`, the token to revoke."),
			column("user_id", proto.ColumnType_STRING, func(r *signInToken) any { return r.UserID },
				"The Clerk user who can sign in with the token. A `user_id = ...` condition creates a token for that user."),
			column("org_id", proto.ColumnType_STRING, func(r *signInToken) any { return opt(r.OrgID) },
				"The organization to activate at sign-in, as given in the query (Clerk does not echo it)."),
			column("status", proto.ColumnType_STRING, func(r *signInToken) any { return r.Status },
				"The token's status: 'pending', 'accepted' or 'revoked'."),
			column("url", proto.ColumnType_STRING, func(r *signInToken) any { return opt(r.URL) },
				"The sign-in link carrying the token: a live credential, shown only when the token is created."),
			column("token", proto.ColumnType_STRING, func(r *signInToken) any { return opt(r.Token) },
				"The token's secret value: a live credential, shown only when the token is created."),
			column("expires_in_seconds", proto.ColumnType_INT, func(r *signInToken) any { return opt(r.ExpiresInSeconds) },
				"The token's lifetime as given in the query; Clerk's default (30 days) applies when not given, and the column is then null."),
			column("expires_at", proto.ColumnType_TIMESTAMP, func(r *signInToken) any { return opt(r.ExpiresAt) },
				"When the token expires: created_at plus expires_in_seconds, when the query set it; else null."),
			column("created_at", proto.ColumnType_TIMESTAMP, func(r *signInToken) any { return opt(r.CreatedAt) },
				"When the token was created."),
			column("updated_at", proto.ColumnType_TIMESTAMP, func(r *signInToken) any { return opt(r.UpdatedAt) },
				"When the token last changed."),
		},
	}
	t.List.KeyColumns = actionKeyColumns(t.Columns)
	return t
}

// signInTokenActions creates or revokes what the conditions name, one row each.
func (h *house) signInTokenActions(ctx context.Context, d *plugin.QueryData) error {
	c, err := h.connection(ctx, d)
	if err != nil {
		return err
	}
	s := c.settings
	src, _ := c.sources[clerk.Provider.Name].(*clerk.Source)
	if src == nil {
		return &providers.UsageError{Table: "sign_in_tokens", Message: "this plugin is built without Clerk"}
	}
	if err := cmp.Or(s.err, src.Ready(), s.flagsErr); err != nil {
		return err
	}
	ids, users := stringQuals(d, "id"), stringQuals(d, "user_id")
	orgs, statuses := stringQuals(d, "org_id"), stringQuals(d, "status")
	lifetimes := int64Quals(d, "expires_in_seconds")
	in := actionInputs{table: "sign_in_tokens", forms: signInTokenForms,
		allowed: []string{"user_id", "org_id", "expires_in_seconds", "id", "status", "sp_connection_name"}}
	// the inputs arrive as key columns, which only the `=` quals of are read here;
	// any other condition is refused by in.check
	if err := in.check(d); err != nil {
		return err
	}

	switch {
	case ids.Constrained && !users.Constrained:
		in.allowed = []string{"id", "status", "sp_connection_name"}
		if err := in.check(d); err != nil {
			return err
		}
		if !slices.Equal(statuses.List, []string{"revoked"}) {
			return in.usage("to revoke, give the id and status = 'revoked'")
		}
		if !s.allowed[argAllowSignInRevoke.Name] {
			return flagOff("sign_in_tokens", s, argAllowSignInRevoke, "revoke a sign-in token")
		}
		var actions []providers.Action
		for _, id := range ids.List {
			if id == "" {
				continue // no token has an empty id, and /sign_in_tokens//revoke is another route
			}
			actions = append(actions, providers.Action{Key: "revoke " + id, Do: func(ctx context.Context) (any, *providers.Undo, error) {
				t, err := src.Revoke(ctx, id)
				return t, nil, err
			}})
		}
		return runActions(ctx, d, actions)

	case users.Constrained && !ids.Constrained:
		in.allowed, in.creating, in.secrets = []string{"user_id", "org_id", "expires_in_seconds", "status", "sp_connection_name"}, true, []string{"url", "token"}
		if err := in.check(d); err != nil {
			return err
		}
		if statuses.Constrained && !statuses.Allows("pending") {
			return in.usage("a new token is 'pending'; to revoke one, give its id and status = 'revoked'")
		}
		if len(orgs.List) > 1 || len(lifetimes.List) > 1 {
			return in.usage("give at most one org_id and one expires_in_seconds per query")
		}
		if !s.allowed[argAllowSignInCreate.Name] {
			return flagOff("sign_in_tokens", s, argAllowSignInCreate, "create a sign-in token")
		}
		if orgs.None() || lifetimes.None() || statuses.None() {
			return nil // contradictory conditions: no row could match
		}
		params := clerk.CreateParams{OrgID: orgs.Only(), ExpiresInSeconds: lifetimes.Only()}
		if l := params.ExpiresInSeconds; l != nil && *l < 1 {
			return in.usage("expires_in_seconds must be at least 1")
		}
		var actions []providers.Action
		for _, user := range users.List {
			if user == "" {
				continue // no user has an empty id
			}
			p := params
			p.UserID = user
			actions = append(actions, providers.Action{Key: "create " + user, Do: func(ctx context.Context) (any, *providers.Undo, error) {
				t, undo, err := src.Create(ctx, p)
				return t, undo, err
			}})
		}
		return runActions(ctx, d, actions)
	}
	return in.usage("this query gives neither a user_id to create a token for nor an id to revoke")
}
