package tokens

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// signInToken is one row of sign_in_tokens: a token this query created or revoked.
type signInToken struct {
	ID               string
	UserID           string
	OrgID            *string
	Status           string
	URL              *string
	Token            *string
	ExpiresInSeconds *int64
	ExpiresAt        *time.Time
	CreatedAt        *time.Time
	UpdatedAt        *time.Time
}

const signInTokenForms = `Clerk cannot list or look up sign-in tokens, so this table only creates and revokes them:
  create: select id, url, expires_at from sign_in_tokens where user_id = 'user_...' [and expires_in_seconds = 3600] [and org_id = 'org_...']
  revoke: select id, status from sign_in_tokens where id = 'sit_...' and status = 'revoked'`

func tableSignInTokens(_ context.Context) *plugin.Table {
	t := &plugin.Table{
		Name: "sign_in_tokens",
		Description: "Clerk sign-in tokens, created and revoked from SQL. Clerk cannot list them: a query with " +
			"`user_id = ...` creates one (when allow_sign_in_token_create is true), and `id = ... and status = 'revoked'` " +
			"revokes one (when allow_sign_in_token_revoke is true).",
		// Every query is an action: never answer one from the cache.
		Cache: &plugin.TableCacheOptions{Enabled: false},
		List: &plugin.ListConfig{
			Hydrate: listSignInTokens,
			Tags:    map[string]string{"provider": providerClerk},
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

func listSignInTokens(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	start := time.Now()
	return nil, settled(start, signInTokenActions(ctx, d))
}

// signInTokenActions creates or revokes what the conditions name, one row each.
func signInTokenActions(ctx context.Context, d *plugin.QueryData) error {
	c, err := connect(ctx, d)
	if err != nil {
		return err
	}
	s := c.settings
	if err := firstErr(s.commonErr, s.clerkErr, s.flagsErr); err != nil {
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
	case ids.constrained && !users.constrained:
		in.allowed = []string{"id", "status", "sp_connection_name"}
		if err := in.check(d); err != nil {
			return err
		}
		if !slices.Equal(statuses.values, []string{"revoked"}) {
			return in.usage("to revoke, give the id and status = 'revoked'")
		}
		if !s.allowSignInRevoke {
			return flagOff("sign_in_tokens", s, argAllowSignInRevoke, "revoke a sign-in token")
		}
		var actions []action
		for _, id := range ids.values {
			if id == "" {
				continue // no token has an empty id, and /sign_in_tokens//revoke is another route
			}
			actions = append(actions, action{key: "revoke " + id, do: func(ctx context.Context) (any, *undo, error) {
				t, err := c.clerk.Revoke(ctx, id)
				if err != nil {
					return nil, nil, s.explainClerk(err, "revoking "+shortID(id), "Clerk has no sign-in token "+shortID(id))
				}
				return &signInToken{ID: t.ID, UserID: t.UserID, Status: t.Status, CreatedAt: t.CreatedAt.Ptr(), UpdatedAt: t.UpdatedAt.Ptr()}, nil, nil
			}})
		}
		return runActions(ctx, d, actions)

	case users.constrained && !ids.constrained:
		in.allowed, in.creating, in.secrets = []string{"user_id", "org_id", "expires_in_seconds", "status", "sp_connection_name"}, true, []string{"url", "token"}
		if err := in.check(d); err != nil {
			return err
		}
		if statuses.constrained && !statuses.allows("pending") {
			return in.usage("a new token is 'pending'; to revoke one, give its id and status = 'revoked'")
		}
		if len(orgs.values) > 1 || len(lifetimes.values) > 1 {
			return in.usage("give at most one org_id and one expires_in_seconds per query")
		}
		if !s.allowSignInCreate {
			return flagOff("sign_in_tokens", s, argAllowSignInCreate, "create a sign-in token")
		}
		if orgs.none() || lifetimes.none() || statuses.none() {
			return nil // contradictory conditions: no row could match
		}
		params := clerk.CreateParams{}
		if orgs.constrained {
			params.OrgID = &orgs.values[0]
		}
		if lifetimes.constrained {
			if lifetimes.values[0] < 1 {
				return in.usage("expires_in_seconds must be at least 1")
			}
			params.ExpiresInSeconds = &lifetimes.values[0]
		}
		var actions []action
		for _, user := range users.values {
			if user == "" {
				continue // no user has an empty id
			}
			p := params
			p.UserID = user
			actions = append(actions, action{key: "create " + user, do: func(ctx context.Context) (any, *undo, error) {
				t, err := c.clerk.Create(ctx, p)
				if err != nil {
					return nil, nil, s.explainClerkCreate(err, user)
				}
				return createdRow(t, p), &undo{what: "sign-in token " + t.ID, run: func(ctx context.Context) error {
					_, err := c.clerk.Revoke(ctx, t.ID)
					return err
				}}, nil
			}})
		}
		return runActions(ctx, d, actions)
	}
	return in.usage("this query gives neither a user_id to create a token for nor an id to revoke")
}

func createdRow(t *clerk.SignInToken, p clerk.CreateParams) *signInToken {
	r := &signInToken{ID: t.ID, UserID: t.UserID, OrgID: p.OrgID, Status: t.Status, URL: t.URL,
		Token: nonEmpty(t.Token), ExpiresInSeconds: p.ExpiresInSeconds,
		CreatedAt: t.CreatedAt.Ptr(), UpdatedAt: t.UpdatedAt.Ptr()}
	if r.CreatedAt != nil && p.ExpiresInSeconds != nil {
		r.ExpiresAt = ptr(r.CreatedAt.Add(time.Duration(*p.ExpiresInSeconds) * time.Second))
	}
	return r
}

// explainClerkCreate adds, when Clerk may have created a token it did not show, that
// such a token may exist: it cannot be listed, and lapses after its lifetime.
func (s *settings) explainClerkCreate(err error, user string) error {
	err = s.explainClerk(err, "creating a sign-in token for "+shortID(user), "Clerk has no user "+shortID(user))
	ue, ok := err.(*UpstreamError)
	if !ok {
		return err
	}
	switch ue.Cause.Acted() {
	case upstream.ActedYes:
		ue.Advice += " Clerk created the token (it answered " + strconv.Itoa(ue.Cause.Status) + ") but its answer was cut off, " +
			"so the token cannot be shown; it cannot be listed either, and lapses after expires_in_seconds (30 days by default)"
	case upstream.ActedMaybe:
		ue.Advice += " Clerk may have created the token anyway: it cannot be listed, and it lapses " +
			"after expires_in_seconds (30 days by default); the create was not repeated, so there is at most one"
	}
	return ue
}

// explainClerk says what was being done, and for a 404 what Clerk does not have.
func (s *settings) explainClerk(err error, doing, notFound string) error {
	err = s.explain(clerkArgs, s.clerkBaseURL, err)
	if e, ok := err.(*UpstreamError); ok {
		e.Advice = "While " + doing + ". " + e.Advice
		if e.Cause.Kind == upstream.KindStatus && e.Cause.Status == http.StatusNotFound {
			e.Advice = "While " + doing + ". " + notFound + " in the instance of " + argClerkKey.named() +
				" (sk_test_ and sk_live_ keys are different instances)"
		}
	}
	return err
}

// shortID keeps a user-supplied id readable in a message.
func shortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
