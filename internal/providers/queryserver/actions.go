package queryserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/queryserver/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// snapshot is the Query Server's users and tokens as one scan first read them:
// whether a user exists and has a token, and the token's current values.
type snapshot struct {
	once   sync.Once
	err    error
	users  map[string]api.User      // by email
	tokens map[string]api.UserToken // by user uuid
}

func (q *snapshot) load(ctx context.Context, c *api.Client) error {
	q.once.Do(func() {
		var users []api.User
		var tokens []api.UserToken
		var errUsers, errTokens error
		var wg sync.WaitGroup
		wg.Go(func() { users, errUsers = c.Users(ctx) })
		tokens, errTokens = c.UserTokens(ctx)
		wg.Wait()
		if q.err = cmp.Or(errTokens, errUsers); q.err != nil {
			return
		}
		q.users, q.tokens = map[string]api.User{}, map[string]api.UserToken{}
		for _, u := range users {
			q.users[u.Email] = u
		}
		for _, t := range tokens {
			q.tokens[t.UserUUID] = t
		}
	})
	return q.err
}

// tokenOf is the user's token as the scan first read it; a usage error names what is missing.
func (q *snapshot) tokenOf(email string) (api.User, *api.UserToken, error) {
	u, ok := q.users[email]
	if !ok {
		return u, nil, usage(fmt.Sprintf(
			"the Query Server has no user %q (select email from user_tokens where provider = 'query_server' lists those with a token)", providers.ShortID(email)))
	}
	if t, ok := q.tokens[u.UUID]; ok {
		return u, &t, nil
	}
	return u, nil, nil
}

func usage(msg string) error { return &providers.UsageError{Table: "user_token_actions", Message: msg} }

const remintNote = "The Query Server re-minted this token's value: its holder must fetch the new one (query CLI). " +
	"A Query Server defect may keep the new value from authenticating (its iat is the previous updated_at); " +
	"if it is refused, revoke the token and create it again."

// TokenActions creates, updates or revokes the token of each user named by email.
func (s *source) TokenActions(verb string, in providers.ActionInput, scan providers.Scan) []providers.Action {
	snap := scan.Shared("queryserver.snapshot", func() any { return &snapshot{} }).(*snapshot)
	var list []providers.Action
	for _, email := range in.Targets {
		list = append(list, providers.Action{Key: verb + " " + email, Do: func(ctx context.Context) (any, *providers.Undo, error) {
			if err := snap.load(ctx, s.client); err != nil {
				return nil, nil, s.Explain(err)
			}
			user, tok, err := snap.tokenOf(email)
			if err != nil {
				return nil, nil, err
			}
			row := &providers.ActionOutcome{Action: verb, Provider: Provider.Name, Email: &user.Email, Status: verb + "d"}
			if tok != nil {
				row.ID, row.CreatedAt = providers.Ptr(strconv.FormatInt(tok.ID, 10)), upstream.EpochAuto(tok.CreatedAt)
			}
			w := api.TokenWrite{Email: email, Write: in.CanWrite}
			if e := in.ExpiresAt; e != nil {
				w.ExpirationDate = providers.Ptr(e.Unix()) // the server compares seconds (upstream-apis.md 2.6)
			}
			switch verb {
			case "create":
				return s.create(ctx, user, tok, w, in, row)
			case "update":
				return s.update(ctx, tok, w, in, row)
			default:
				return s.revoke(ctx, tok, email, row)
			}
		}})
	}
	return list
}

func (s *source) create(ctx context.Context, user api.User, tok *api.UserToken, w api.TokenWrite, in providers.ActionInput,
	row *providers.ActionOutcome) (any, *providers.Undo, error) {
	if tok != nil {
		return nil, nil, usage(fmt.Sprintf(
			"%s already has a token (id %d): the Query Server's create changes nothing for a user who has one; "+
				"revoke it first (action = 'revoke'), or change it (action = 'update')", w.Email, tok.ID))
	}
	if err := s.client.CreateUserToken(ctx, w); err != nil {
		return nil, nil, s.Explain(err)
	}
	made, err := createdToken(ctx, s.client, user.UUID)
	if err != nil {
		return nil, nil, s.Explain(err)
	}
	row.ID, row.CreatedAt, row.CanWrite = providers.Ptr(strconv.FormatInt(made.ID, 10)), upstream.EpochAuto(made.CreatedAt), &made.Write
	row.ExpiresAt = cmp.Or(in.ExpiresAt, made.ExpiresAt())
	return row, &providers.Undo{What: "the Query Server token of " + w.Email, Run: func(ctx context.Context) error {
		return s.client.DeleteUserToken(ctx, w.Email)
	}}, nil
}

func (s *source) update(ctx context.Context, tok *api.UserToken, w api.TokenWrite, in providers.ActionInput,
	row *providers.ActionOutcome) (any, *providers.Undo, error) {
	switch {
	case tok == nil:
		return nil, nil, usage(w.Email + " has no token to update: create one (action = 'create')")
	case tok.IsCurrent:
		return nil, nil, usage(w.Email + "'s token is the one this connection " +
			"authenticates with: an update re-mints it, which would lock the connection out; " +
			"change it from a connection that uses another admin's token, or with the query CLI")
	}
	// The server resets what it is not sent: send the current values of the rest.
	if w.Write == nil {
		w.Write = &tok.Write
	}
	row.CanWrite, row.ExpiresAt = w.Write, in.ExpiresAt
	if w.ExpirationDate == nil && !tok.NeverExpires() {
		if tok.ExpirationDate <= time.Now().Unix() {
			return nil, nil, usage(w.Email + "'s token has expired, " +
				"and the Query Server refuses to keep a past expiry: give expires_at too")
		}
		w.ExpirationDate, row.ExpiresAt = &tok.ExpirationDate, tok.ExpiresAt()
	}
	if err := s.client.UpdateUserToken(ctx, w); err != nil {
		return nil, nil, s.Explain(err)
	}
	row.Note = providers.Ptr(remintNote)
	return row, nil, nil
}

func (s *source) revoke(ctx context.Context, tok *api.UserToken, email string, row *providers.ActionOutcome) (any, *providers.Undo, error) {
	if tok == nil {
		return nil, nil, usage(email + " has no token to revoke")
	}
	if err := s.client.DeleteUserToken(ctx, email); err != nil {
		return nil, nil, s.Explain(err)
	}
	if tok.IsCurrent {
		row.Note = providers.OwnTokenNote("the Query Server", argToken)
	}
	return row, nil, nil
}

// createdToken reads back the token a create made: the create's answer is empty.
func createdToken(ctx context.Context, c *api.Client, uuid string) (*api.UserToken, error) {
	tokens, err := c.UserTokens(ctx)
	if err != nil {
		return nil, err
	}
	for i := range tokens {
		if tokens[i].UserUUID == uuid {
			return &tokens[i], nil
		}
	}
	return nil, errors.New("the Query Server answered 201 to the create, but lists no token for the user")
}
