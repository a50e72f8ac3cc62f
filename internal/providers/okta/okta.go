// Package okta is the Okta provider: the API tokens of one Okta org, with their
// owners' status and admin power, as rows of user_tokens; revoked by
// user_token_actions. Its client is in api/.
package okta

import (
	"net/url"
	"slices"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/okta/api"
)

var (
	argDomain = providers.Argument{Name: "okta_domain", Env: "OKTA_DOMAIN", Shown: providers.Address,
		Meaning: "the Okta org's address, e.g. `https://acme.okta.com`; needs `okta_api_token`"}
	argToken = providers.Argument{Name: "okta_api_token", Env: "OKTA_API_TOKEN", Shown: providers.Secret,
		Meaning: "an Okta API token of that org (a read-only admin's lists; revoking needs a super admin's); needs `okta_domain`"}
)

// Provider is Okta, as the registry lists it.
var Provider = &providers.Provider{
	Name:      "okta",
	Title:     "Okta",
	Table:     providers.UserTokens,
	Arguments: []providers.Argument{argDomain, argToken},
	Required:  []providers.Argument{argDomain, argToken},
	Advice: providers.Advice{Credential: argToken, Address: argDomain,
		Hint: "it must be an API token (Security > API > Tokens) of an active admin of that org: a read-only admin can list tokens, revoking needs a super admin"},
	// Okta allows 100 (a free developer org) to 1,200 requests a minute to the token
	// list and to a user's roles, and a token half of that by default: 5 a second with
	// a burst of 20 is half an Enterprise org's 600. Past the org's limit Okta answers
	// 429 and the client waits for X-Rate-Limit-Reset.
	Limiter: providers.Limiter{FillRate: 5, BucketSize: 20},
	// A token acts with its owner's admin roles, which can be read-only; it may be
	// limited to network zones; it lapses 30 days after its last use.
	Capabilities: providers.Capabilities{HasReadOnlyTokens: true, RestrictsNetwork: true, KnowsOwnerActive: true, ExtendsExpiryOnUse: true},
	Actions: []providers.ActionForm{
		{Verb: "revoke", Target: "id", Status: "revoked",
			Usage: "id = '00T...' (or id in (...); 'current' is the connection's own token)"},
	},
	Refusals: map[string]string{
		"create": "Okta's API cannot create API tokens: an admin creates them in the Admin Console (Security > API > Tokens)",
		"rotate": "Okta's API cannot rotate API tokens: create a new one in the Admin Console, then revoke the old one",
		"update": "Okta's API changes only a token's network condition, which this table does not take: edit it in the Admin Console (Security > API > Tokens)",
	},
	Connect: connect,
}

// source is one Okta org on one connection.
type source struct {
	providers.Base
	client *api.Client
}

// connect needs both the org's address and a token, or neither.
func connect(p *providers.Provider, c *providers.Connection) providers.Source {
	s := &source{Base: providers.Base{Provider: p, Conn: c}}
	domain, token := c.Value(argDomain), c.Value(argToken)
	s.Set = domain.Set() || token.Set()
	switch {
	case domain.Set() && token.Set():
		if s.URL, s.Err = c.URL(argDomain, ""); s.Err == nil {
			if s.Err = adminConsole(c, domain, s.URL); s.Err == nil {
				s.client, s.Err = api.New(c.ClientOptions(s.URL, p.Name), token.Text)
			}
		}
	case domain.Set():
		s.Err = c.Missing(argToken, argDomain.Name+" is set ("+domain.Source+"); give an API token of that org")
	case token.Set():
		s.Err = c.Missing(argDomain, argToken.Name+" is set ("+token.Source+"); give the org's address, e.g. https://acme.okta.com")
	}
	return s
}

// adminConsole refuses the Admin Console's address (acme-admin.okta.com), which is
// not the one the API answers at.
func adminConsole(c *providers.Connection, v providers.Value, address string) error {
	u, err := url.Parse(address)
	if err != nil {
		return nil
	}
	label, domain, _ := strings.Cut(u.Hostname(), ".")
	org, admin := strings.CutSuffix(label, "-admin")
	okta := slices.ContainsFunc([]string{"okta.com", "oktapreview.com", "okta-emea.com", "okta-gov.com", "okta.mil"}, func(d string) bool {
		return strings.EqualFold(domain, d)
	})
	if admin && okta {
		return c.Bad(argDomain, v, "is the Admin Console's address; the API answers at the org's: %s://%s.%s", u.Scheme, org, domain)
	}
	return nil
}
