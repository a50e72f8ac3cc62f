package okta

import (
	"context"
	"errors"
	"fmt"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/okta/api"
)

// TokenActions revokes one token per id.
func (s *source) TokenActions(verb string, in providers.ActionInput, _ providers.Scan) []providers.Action {
	var list []providers.Action
	for _, target := range in.Targets {
		id := target
		row := &providers.ActionOutcome{Action: verb, Provider: Provider.Name, ID: &id, Status: "revoked"}
		if id == "current" {
			row.Note = providers.Ptr("This was the connection's own token: the connection cannot call Okta until " + argToken.Name + " is replaced.")
		}
		list = append(list, providers.Action{Key: "revoke " + id, Do: func(ctx context.Context) (any, *providers.Undo, error) {
			err := api.ErrNoSuchToken // an id that cannot be a token's costs no request
			if id == "current" || api.ValidTokenID(id) {
				err = s.client.RevokeToken(ctx, id)
			}
			if errors.Is(err, api.ErrNoSuchToken) {
				return nil, nil, &providers.UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
					"Okta has no API token %q to revoke (user_tokens lists the ids: select id, name from user_tokens where provider = 'okta')", providers.ShortID(id))}
			}
			if err != nil {
				return nil, nil, s.Explain(err)
			}
			return row, nil, nil
		}})
	}
	return list
}
