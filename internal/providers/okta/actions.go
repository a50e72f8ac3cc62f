package okta

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/okta/api"
)

// TokenActions revokes one token per id.
func (s *source) TokenActions(verb string, in providers.ActionInput, _ providers.Scan) []providers.Action {
	revoke := providers.RevokeByID{Provider: Provider, Noun: "API token", OwnToken: argToken, ValidID: api.ValidTokenID,
		NoSuch: api.ErrNoSuchToken, Revoke: s.client.RevokeToken, Explain: s.Explain}
	var list []providers.Action
	for _, id := range in.Targets {
		list = append(list, revoke.Action(verb, id))
	}
	return list
}
