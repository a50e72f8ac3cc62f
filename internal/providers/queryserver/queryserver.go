// Package queryserver is the Query Server provider: the user tokens of one of
// gc-victor's Query Servers, as rows of user_tokens; created, updated and revoked by
// user_token_actions. Its client is in api/.
package queryserver

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/queryserver/api"
)

var (
	argURL = providers.Argument{Name: "query_server_url", Env: "QUERY_SERVER_URL", Shown: providers.Address,
		Meaning: "the Query Server's address; needs `query_server_token`"}
	argToken = providers.Argument{Name: "query_server_token", Env: "QUERY_SERVER_TOKEN", Shown: providers.Secret,
		Meaning: "an admin user token of that server; needs `query_server_url`"}
)

// Provider is the Query Server, as the registry lists it.
var Provider = &providers.Provider{
	Name:      "query_server",
	Title:     "Query Server",
	Table:     providers.UserTokens,
	Arguments: []providers.Argument{argURL, argToken},
	Required:  []providers.Argument{argURL, argToken},
	Advice: providers.Advice{Credential: argToken, Address: argURL,
		Hint: "it must be the token of an active admin user that has not expired (the server answers 401 with no detail)"},
	Limiter:      providers.Limiter{FillRate: 50, BucketSize: 50},
	Capabilities: providers.Capabilities{HasReadOnlyTokens: true, KnowsOwnerActive: true, KnowsCurrentToken: true},
	Actions: []providers.ActionForm{
		{Verb: "create", Target: "email", Options: []string{"can_write", "expires_at"}, Status: "created",
			Usage: "email = '...' [and can_write = true|false] [and expires_at = ...]"},
		{Verb: "update", Target: "email", Options: []string{"can_write", "expires_at"}, Status: "updated",
			Usage: "email = '...' and can_write = ... and/or expires_at = ..."},
		{Verb: "revoke", Target: "email", Status: "revoked",
			Usage: "email = '...' (or email in (...))"},
	},
	Connect: connect,
}

// source is one Query Server on one connection.
type source struct {
	providers.Base
	client *api.Client
}

// connect needs both the URL and an admin token, or neither.
func connect(p *providers.Provider, c *providers.Connection) providers.Source {
	s := &source{Base: providers.Base{Provider: p, Conn: c}}
	url, token := c.Value(argURL), c.Value(argToken)
	s.Set = url.Set() || token.Set()
	switch {
	case url.Set() && token.Set():
		if s.URL, s.Err = c.URL(argURL, ""); s.Err == nil {
			s.client, s.Err = api.New(c.ClientOptions(s.URL, p.Name), token.Text)
		}
	case url.Set():
		s.Err = c.Missing(argToken, argURL.Name+" is set ("+url.Source+"); give an admin user token of that server")
	case token.Set():
		s.Err = c.Missing(argURL, argToken.Name+" is set ("+token.Source+"); give the server's address, e.g. https://query.example.com")
	}
	return s
}
