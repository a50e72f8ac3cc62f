package vercel

import (
	"context"
	"fmt"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// TokenActions creates a token per name, or revokes one per id.
func (s *source) TokenActions(verb string, in providers.ActionInput, _ providers.Scan) []providers.Action {
	revoke := providers.RevokeByID{Provider: Provider, Noun: "token", OwnToken: argToken, ValidID: api.ValidTokenID,
		NoSuch: api.ErrNoSuchToken, Revoke: s.client.DeleteToken, Explain: s.Explain}
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
			list = append(list, revoke.Action(verb, target))
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
