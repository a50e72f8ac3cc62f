// Package vercel is the Vercel provider: personal access tokens of the account whose
// token the connection holds, as rows of user_tokens; created and revoked by
// user_token_actions. Its client is in api/.
package vercel

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
)

var (
	argToken = providers.Argument{Name: "vercel_api_token", Env: "VERCEL_API_TOKEN", Shown: providers.Secret,
		Meaning: "Vercel personal token; Vercel's rows appear when it is set"}
	argBaseURL = providers.Argument{Name: "vercel_base_url", Env: "VERCEL_BASE_URL", Shown: providers.Address,
		Default: "`" + api.DefaultBaseURL + "`", Meaning: "for a proxy or a test emulation"}
)

// Provider is Vercel, as the registry lists it.
var Provider = &providers.Provider{
	Name:      "vercel",
	Title:     "Vercel",
	Table:     providers.UserTokens,
	Arguments: []providers.Argument{argToken, argBaseURL},
	Required:  []providers.Argument{argToken},
	Advice: providers.Advice{Credential: argToken, Address: argBaseURL,
		Hint: "it must be a classic personal token with full account scope (https://vercel.com/account/tokens)"},
	Limiter: providers.Limiter{FillRate: 50, BucketSize: 50},
	// Every Vercel token can write: Vercel has no read-only tokens. All belong to the
	// connection's own account, so the owner's status is not a question.
	Capabilities: providers.Capabilities{RecordsLastUse: true, RecordsRevocationTime: true, DetectsLeaks: true,
		LimitsToTeam: true, KnowsCurrentToken: true},
	Actions: []providers.ActionForm{
		{Verb: "create", Target: "name", Options: []string{"team_id", "expires_at"}, Status: "created", Secret: "token",
			Usage: "name = '...' [and team_id = 'team_...'] [and expires_at = ...]\n(select the token column: Vercel shows the new secret once)"},
		{Verb: "revoke", Target: "id", Status: "revoked",
			Usage: "id = '...' (or id in (...); 'current' is the connection's own token)"},
	},
	Refusals: map[string]string{"update": "Vercel tokens cannot be changed: create a new one, then revoke the old one"},
	Connect:  connect,
}

// source is Vercel on one connection.
type source struct {
	providers.Base
	client  *api.Client
	account providers.Memo[*api.User] // the account behind the token, for every row's email
	current providers.Memo[string]    // the id of the token the connection uses; "" when Vercel does not say
}

// connect uses Vercel when a token is set; a base URL alone is a mistake worth naming.
func connect(p *providers.Provider, c *providers.Connection) providers.Source {
	s := &source{Base: providers.Base{Provider: p, Conn: c}}
	token, url := c.Value(argToken), c.Value(argBaseURL)
	switch {
	case token.Set():
		s.Set = true
		if s.URL, s.Err = c.URL(argBaseURL, api.DefaultBaseURL); s.Err == nil {
			s.client, s.Err = api.New(c.ClientOptions(s.URL, p.Name), token.Text)
		}
	case url.Set():
		s.Set = true
		s.Err = c.Missing(argToken, argBaseURL.Name+" is set ("+url.Source+")")
	}
	return s
}
