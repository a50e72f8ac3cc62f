package tokens

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	return &plugin.Table{
		Name: "sign_in_tokens",
		Description: "Clerk sign-in tokens, created and revoked from SQL. Clerk cannot list them: a query with " +
			"`user_id = ...` creates one (when allow_sign_in_token_create is true), and `id = ... and status = 'revoked'` " +
			"revokes one (when allow_sign_in_token_revoke is true).",
		// Every query is an action: never answer one from the cache.
		Cache: &plugin.TableCacheOptions{Enabled: false},
		List: &plugin.ListConfig{
			Hydrate: listSignInTokens,
			Tags:    map[string]string{"upstream": upstreamClerk},
			KeyColumns: plugin.KeyColumnSlice{
				{Name: "user_id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "org_id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "expires_in_seconds", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "status", Require: plugin.Optional, Operators: []string{"="}},
			},
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
}

func listSignInTokens(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	start := time.Now()
	return nil, settled(start, signInTokenAction(ctx, d))
}

// signInTokenAction creates or revokes what the quals name, streaming each token.
func signInTokenAction(ctx context.Context, d *plugin.QueryData) error {
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
	actions := actionsFor(d)

	switch {
	case ids.constrained && !users.constrained:
		if !statuses.constrained || !slices.Equal(statuses.values, []string{"revoked"}) || orgs.constrained || lifetimes.constrained {
			return usage("to revoke, give the id and status = 'revoked', and nothing else.")
		}
		if !s.allowRevoke {
			return flagOff(s, argAllowRevoke, "revoke")
		}
		for _, id := range ids.values {
			if id == "" || !actions.claim("revoke:"+id) {
				continue // no token has an empty id; and never revoke twice in one statement
			}
			t, err := c.clerk.Revoke(ctx, id)
			if err != nil {
				err = s.explainClerk(err, "revoking "+shortID(id))
				if ue, ok := err.(*UpstreamError); ok && ue.Cause.Kind == upstream.KindStatus && ue.Cause.Status == http.StatusNotFound {
					ue.Advice = "Clerk has no sign-in token " + shortID(id) + " in the instance of " + argClerkKey.named() +
						" (sk_test_ and sk_live_ keys are different instances)"
				}
				return err
			}
			d.StreamListItem(ctx, &signInToken{ID: t.ID, UserID: t.UserID, Status: t.Status,
				CreatedAt: t.CreatedAt.Ptr(), UpdatedAt: t.UpdatedAt.Ptr()})
		}
		return nil

	case users.constrained && !ids.constrained:
		if statuses.constrained && !statuses.allows("pending") {
			return usage("a new token is 'pending'; to revoke one, give its id and status = 'revoked'.")
		}
		if len(orgs.values) > 1 || len(lifetimes.values) > 1 {
			return usage("give at most one org_id and one expires_in_seconds per query.")
		}
		if !s.allowCreate {
			return flagOff(s, argAllowCreate, "create")
		}
		params := clerk.CreateParams{}
		if orgs.constrained {
			if len(orgs.values) == 0 {
				return nil // contradictory org_id quals: no row could match
			}
			params.OrgID = &orgs.values[0]
		}
		if lifetimes.constrained {
			if len(lifetimes.values) == 0 {
				return nil
			}
			if lifetimes.values[0] < 1 {
				return usage("expires_in_seconds must be at least 1.")
			}
			params.ExpiresInSeconds = &lifetimes.values[0]
		}
		for _, user := range users.values {
			if user == "" || !actions.claim("create:"+user) {
				continue // no user has an empty id; and one token per user per statement
			}
			params.UserID = user
			// A create in flight is finished even if the statement is cancelled meanwhile:
			// only its answer tells which token to revoke.
			t, err := c.clerk.Create(context.WithoutCancel(ctx), params)
			if err != nil {
				return actions.fail(ctx, c, s.explainCreate(err, user))
			}
			if !actions.minted(ctx, c, t.ID) {
				return nil // another part of this statement failed; this token was revoked
			}
			if ctx.Err() != nil { // cancelled: nobody will see this token
				return actions.fail(ctx, c, ctx.Err())
			}
			d.StreamListItem(ctx, createdRow(t, params))
		}
		return nil
	}
	return usage("this query gives neither a user_id to create a token for nor an id to revoke.")
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

func usage(problem string) error {
	return &UsageError{Table: "sign_in_tokens", Message: problem + "\n" + signInTokenForms}
}

func flagOff(s *settings, flag argument, action string) error {
	return &UsageError{Table: "sign_in_tokens", Message: fmt.Sprintf(
		"this query would %s a sign-in token, which connection %q does not allow: set %s = true in its connection config to allow it",
		action, s.connection, flag.name)}
}

// explainCreate adds, when Clerk may have acted on a create it did not confirm (a 5xx
// other than 503, a connection lost after sending, an unreadable answer), that a
// token may exist that this query cannot show.
func (s *settings) explainCreate(err error, user string) error {
	err = s.explainClerk(err, "creating a sign-in token for "+shortID(user))
	ue, ok := err.(*UpstreamError)
	switch {
	case !ok:
	case ue.Cause.Kind == upstream.KindStatus && ue.Cause.Status == http.StatusNotFound:
		ue.Advice = "Clerk has no user " + shortID(user) + " in the instance of " + argClerkKey.named() +
			" (sk_test_ and sk_live_ keys are different instances)"
	case ue.Cause.Kind == upstream.KindNetwork && ue.Cause.Status >= 200 && ue.Cause.Status < 300:
		ue.Advice += " Clerk created the token (it answered " + strconv.Itoa(ue.Cause.Status) + ") but its answer was cut off, " +
			"so the token cannot be shown; it cannot be listed either, and lapses after expires_in_seconds (30 days by default)"
	case createMayHaveHappened(ue.Cause):
		ue.Advice += " Clerk may have created the token anyway: it cannot be listed, and it lapses " +
			"after expires_in_seconds (30 days by default); the create was not repeated, so there is at most one"
	}
	return err
}

func createMayHaveHappened(e *upstream.Error) bool {
	switch e.Kind {
	case upstream.KindDecode, upstream.KindTimeout:
		return true
	case upstream.KindNetwork:
		return !e.NeverSent // a connection that was never made left nothing behind
	case upstream.KindStatus:
		return e.Status >= 500 && e.Status != http.StatusServiceUnavailable
	}
	return false
}

// shortID keeps a user-supplied id readable in a message.
func shortID(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}

func (s *settings) explainClerk(err error, doing string) error {
	err = s.explain(clerkArgs, s.clerkBaseURL, err)
	if e, ok := err.(*UpstreamError); ok {
		e.Advice = strings.TrimSpace("While " + doing + ". " + e.Advice)
	}
	return err
}

// statementActions remembers what one statement has done, across the parallel lists
// the SDK runs for an IN list: each user gets one token, each id one revoke, and if
// any create fails, the tokens the statement already minted are revoked, so a failed
// statement leaves no live sign-in link that nobody saw.
type statementActions struct {
	mu     sync.Mutex
	done   map[string]bool
	mints  []string
	failed bool
}

var statements = scanRegistry[*statementActions]{new: func() *statementActions {
	return &statementActions{done: map[string]bool{}}
}}

func actionsFor(d *plugin.QueryData) *statementActions { return statements.get(d) }

// claim returns true the first time an action is asked for in the statement.
func (a *statementActions) claim(action string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done[action] {
		return false
	}
	a.done[action] = true
	return true
}

// minted records a new token; if the statement has already failed it revokes the
// token instead and returns false.
func (a *statementActions) minted(ctx context.Context, c *clients, id string) bool {
	a.mu.Lock()
	failed := a.failed
	if !failed {
		a.mints = append(a.mints, id)
	}
	a.mu.Unlock()
	if failed {
		_, _ = c.clerk.Revoke(context.WithoutCancel(ctx), id)
	}
	return !failed
}

// fail marks the statement failed and revokes what it minted, saying so in the error.
func (a *statementActions) fail(ctx context.Context, c *clients, err error) error {
	a.mu.Lock()
	a.failed = true
	mints := a.mints
	a.mints = nil
	a.mu.Unlock()
	if len(mints) == 0 {
		return err
	}
	var kept []string
	for _, id := range mints {
		if _, rerr := c.clerk.Revoke(context.WithoutCancel(ctx), id); rerr != nil {
			kept = append(kept, id)
		}
	}
	note := fmt.Sprintf("%d sign-in token(s) this statement had already created were revoked", len(mints)-len(kept))
	if len(kept) > 0 {
		note += fmt.Sprintf("; these could not be and are still pending: %s", strings.Join(kept, ", "))
	}
	return fmt.Errorf("%w (%s)", err, note)
}
