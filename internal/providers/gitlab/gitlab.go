// Package gitlab is the GitLab provider: personal, group, project and service-account
// tokens of one GitLab instance as rows of user_tokens; revoked and rotated by
// user_token_actions. An administrator's token sees every token of the instance; any
// other sees its own, and with gitlab_groups the group and project access tokens of
// the groups it owns. Its client is in api/.
package gitlab

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/gitlab/api"
)

var (
	argURL = providers.Argument{Name: "gitlab_url", Env: "GITLAB_URL", Shown: providers.Address,
		Default: "`" + api.DefaultBaseURL + "`", Meaning: "the GitLab instance; requests go to its `/api/v4`"}
	argToken = providers.Argument{Name: "gitlab_token", Env: "GITLAB_TOKEN", Shown: providers.Secret,
		Meaning: "a personal, group, project or service-account token (`read_api` lists; an administrator's sees every token)"}
	argGroups = providers.Argument{Name: "gitlab_groups", List: true,
		Meaning: "group ids or full paths whose group and project access tokens (subgroups included) are listed too, for a token that is not an administrator's"}
)

// Provider is GitLab, as the registry lists it.
var Provider = &providers.Provider{
	Name:      "gitlab",
	Title:     "GitLab",
	Table:     providers.UserTokens,
	Arguments: []providers.Argument{argURL, argToken, argGroups},
	Required:  []providers.Argument{argToken},
	Advice: providers.Advice{Credential: argToken, Address: argURL,
		Hint: "it must be an active token of an active user with the read_api or api scope"},
	// GitLab.com allows about 2,000 authenticated requests a minute; a self-managed
	// instance often more. 30 a second stays within GitLab.com's.
	Limiter: providers.Limiter{FillRate: 30, BucketSize: 30},
	// GitLab records last use but no revocation time and no leak; read_* scopes make
	// read-only tokens; group and project tokens are limited to their group or project.
	Capabilities: providers.Capabilities{RecordsLastUse: true, HasReadOnlyTokens: true, LimitsToTeam: true,
		KnowsOwnerActive: true, KnowsCurrentToken: true},
	Actions: []providers.ActionForm{
		{Verb: "rotate", Target: "id", Options: []string{"expires_at"}, Status: "rotated", Secret: "token",
			Usage: "id = '...' [and expires_at = '2027-01-06 00:00Z']\n(select the token column: GitLab shows the new secret once)"},
		{Verb: "revoke", Target: "id", Status: "revoked", Usage: "id = '...' (or id in (...))"},
	},
	Refusals: map[string]string{
		"create": "GitLab tokens are created in GitLab (a person's own, or a group's or project's by its owners): rotate an existing one instead (action = 'rotate')",
		"update": "GitLab tokens cannot be changed: rotate one to give it a new expiry (action = 'rotate')",
	},
	Connect: connect,
}

// source is one GitLab instance on one connection.
type source struct {
	providers.Base
	client *api.Client
	groups []string                   // gitlab_groups
	caller providers.Memo[*api.User]  // the user behind the token, whether an administrator
	self   providers.Memo[*api.Token] // the token the connection uses
}

// connect uses GitLab when a token is set; an address or groups alone are a mistake worth naming.
func connect(p *providers.Provider, c *providers.Connection) providers.Source {
	s := &source{Base: providers.Base{Provider: p, Conn: c}}
	token := c.Value(argToken)
	s.groups = c.Value(argGroups).List
	switch {
	case token.Set():
		s.Set = true
		if s.URL, s.Err = c.URL(argURL, api.DefaultBaseURL); s.Err == nil {
			s.client, s.Err = api.New(c.ClientOptions(s.URL, p.Name), token.Text)
		}
	case c.AnySet(argURL, argGroups):
		s.Set = true
		s.Err = c.Missing(argToken, argURL.Name+" or "+argGroups.Name+" is set")
	}
	return s
}
