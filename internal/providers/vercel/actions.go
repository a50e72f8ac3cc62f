package vercel

import (
	"context"
	"errors"
	"fmt"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// TokenActions creates a token per name, or revokes one per id.
func (s *source) TokenActions(verb string, in providers.ActionInput, _ providers.Scan) []providers.Action {
	var list []providers.Action
	for _, target := range in.Targets {
		row := &providers.ActionOutcome{Action: verb, Provider: Provider.Name}
		switch verb {
		case "create":
			p := api.CreateParams{Name: target, ExpiresAt: in.ExpiresAt}
			if in.TeamID != nil {
				p.TeamID = *in.TeamID
			}
			row.Name, row.TeamID, row.ExpiresAt, row.Status = &p.Name, in.TeamID, p.ExpiresAt, "created"
			list = append(list, providers.Action{Key: "create " + target, Do: func(ctx context.Context) (any, *providers.Undo, error) {
				made, err := s.client.CreateToken(ctx, p)
				if err != nil {
					return nil, nil, s.explainCreate(err, p.Name)
				}
				row.ID, row.Token, row.CreatedAt = &made.Token.ID, &made.BearerToken, made.Token.CreatedAt.Ptr()
				return row, &providers.Undo{What: "Vercel token " + made.Token.ID, Run: func(ctx context.Context) error {
					return s.client.DeleteToken(ctx, made.Token.ID)
				}}, nil
			}})
		case "revoke":
			id := target
			row.ID, row.Status = &id, "revoked"
			if id == "current" {
				row.Note = providers.Ptr("This was the connection's own token: the connection cannot call Vercel until " + argToken.Name + " is replaced.")
			}
			list = append(list, providers.Action{Key: "revoke " + id, Do: func(ctx context.Context) (any, *providers.Undo, error) {
				err := api.ErrNoSuchToken // an id that cannot be a token's costs no request
				if id == "current" || api.ValidTokenID(id) {
					err = s.client.DeleteToken(ctx, id)
				}
				if errors.Is(err, api.ErrNoSuchToken) {
					return nil, nil, &providers.UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
						"Vercel has no token %q to revoke (user_tokens lists the ids: select id, name from user_tokens where provider = 'vercel')", providers.ShortID(id))}
				}
				if err != nil {
					return nil, nil, s.Explain(err)
				}
				return row, nil, nil
			}})
		}
	}
	return list
}

// explainCreate says, when Vercel may have created a token whose secret nobody saw,
// how to find it.
func (s *source) explainCreate(err error, name string) error {
	err = s.Explain(err)
	ue, ok := err.(*providers.UpstreamError)
	if !ok {
		return err
	}
	find := fmt.Sprintf("select id, created_at from user_tokens where provider = 'vercel' and name = %s order by created_at desc", providers.QuoteSQL(name))
	switch ue.Cause.Acted() {
	case upstream.ActedYes:
		ue.Advice += fmt.Sprintf(" Vercel created the token (it answered %d) but its answer, with the secret, was cut off: "+
			"find it with `%s` and revoke it", ue.Cause.Status, find)
	case upstream.ActedMaybe:
		ue.Advice += " Vercel may have created the token anyway (the create was not repeated, so there is at most one): " +
			"look for it with `" + find + "` and revoke it"
	}
	return ue
}
