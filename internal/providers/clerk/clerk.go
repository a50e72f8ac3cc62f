// Package clerk is the Clerk provider: sign-in tokens, which Clerk can only create and
// revoke (no list, no get), through the sign_in_tokens table. Its client is in api/.
package clerk

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/clerk/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

var (
	argKey = providers.Argument{Name: "clerk_secret_key", Env: "CLERK_SECRET_KEY", Shown: providers.Secret,
		Meaning: "Clerk instance secret key, for `sign_in_tokens`"}
	argBaseURL = providers.Argument{Name: "clerk_base_url", Env: "CLERK_API_URL", Shown: providers.Address,
		Default: "`" + api.DefaultBaseURL + "`", Meaning: "Clerk's Backend API address"}
)

// Provider is Clerk, as the registry lists it.
var Provider = &providers.Provider{
	Name:      "clerk",
	Title:     "Clerk",
	Table:     "sign_in_tokens",
	Arguments: []providers.Argument{argKey, argBaseURL},
	Required:  []providers.Argument{argKey},
	Advice: providers.Advice{Credential: argKey, Address: argBaseURL,
		Hint: "it must be the instance's secret key (sk_live_... or sk_test_...) from the Clerk dashboard"},
	// Clerk allows 100 requests per 10 s on development instances (1000 on
	// production); a bucket of 10 refilled at 10/s stays within the smaller.
	Limiter: providers.Limiter{FillRate: 10, BucketSize: 10},
	Actions: []providers.ActionForm{
		{Verb: "create", Target: "user_id", Options: []string{"org_id", "expires_in_seconds"}, Status: "pending", Secret: "url"},
		{Verb: "revoke", Target: "id", Status: "revoked"},
	},
	Connect: connect,
}

// Source is Clerk on one connection.
type Source struct {
	providers.Base
	client *api.Client
}

// connect needs a secret key, never a publishable one.
func connect(p *providers.Provider, c *providers.Connection) providers.Source {
	s := &Source{Base: providers.Base{Provider: p, Conn: c}}
	key := c.Value(argKey)
	s.Set = c.AnySet(argKey, argBaseURL)
	switch {
	case key.Set() && !strings.HasPrefix(key.Text, "sk_"):
		s.Err = c.Bad(argKey, key, "must be a Clerk secret key (sk_live_... or sk_test_...); publishable keys (pk_...) cannot call the Backend API")
	case key.Set():
		if s.URL, s.Err = c.URL(argBaseURL, api.DefaultBaseURL); s.Err == nil {
			s.client, s.Err = api.New(c.ClientOptions(s.URL, p.Name), key.Text)
		}
	default:
		s.Err = c.Missing(argKey, "sign_in_tokens needs an instance secret key (sk_live_... or sk_test_...)")
	}
	return s
}

// SignInToken is one row of sign_in_tokens: a token this query created or revoked.
type SignInToken struct {
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

// CreateParams are what a new sign-in token is made of.
type CreateParams = api.CreateParams

// Create mints a sign-in token and says how to revoke it again.
func (s *Source) Create(ctx context.Context, p CreateParams) (*SignInToken, *providers.Undo, error) {
	t, err := s.client.Create(ctx, p)
	if err != nil {
		return nil, nil, s.explainCreate(err, p.UserID)
	}
	r := &SignInToken{ID: t.ID, UserID: t.UserID, OrgID: p.OrgID, Status: t.Status, URL: t.URL,
		Token: providers.NonEmpty(t.Token), ExpiresInSeconds: p.ExpiresInSeconds,
		CreatedAt: t.CreatedAt.Ptr(), UpdatedAt: t.UpdatedAt.Ptr()}
	if r.CreatedAt != nil && p.ExpiresInSeconds != nil {
		r.ExpiresAt = providers.Ptr(r.CreatedAt.Add(time.Duration(*p.ExpiresInSeconds) * time.Second))
	}
	return r, &providers.Undo{What: "sign-in token " + t.ID, Run: func(ctx context.Context) error {
		_, err := s.client.Revoke(ctx, t.ID)
		return err
	}}, nil
}

// Revoke revokes a sign-in token.
func (s *Source) Revoke(ctx context.Context, id string) (*SignInToken, error) {
	t, err := s.client.Revoke(ctx, id)
	if err != nil {
		return nil, s.explain(err, "revoking "+providers.ShortID(id), "Clerk has no sign-in token "+providers.ShortID(id))
	}
	return &SignInToken{ID: t.ID, UserID: t.UserID, Status: t.Status, CreatedAt: t.CreatedAt.Ptr(), UpdatedAt: t.UpdatedAt.Ptr()}, nil
}

// explainCreate adds, when Clerk may have created a token it did not show, that such
// a token may exist: it cannot be listed, and lapses after its lifetime.
func (s *Source) explainCreate(err error, user string) error {
	err = s.explain(err, "creating a sign-in token for "+providers.ShortID(user), "Clerk has no user "+providers.ShortID(user))
	ue, ok := err.(*providers.UpstreamError)
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

// explain says what was being done, and for a 404 what Clerk does not have.
func (s *Source) explain(err error, doing, notFound string) error {
	err = s.Explain(err)
	if e, ok := err.(*providers.UpstreamError); ok {
		e.Advice = "While " + doing + ". " + e.Advice
		if e.Cause.Kind == upstream.KindStatus && e.Cause.Status == http.StatusNotFound {
			e.Advice = "While " + doing + ". " + notFound + " in the instance of " + s.Conn.Named(argKey) +
				" (sk_test_ and sk_live_ keys are different instances)"
		}
	}
	return err
}
