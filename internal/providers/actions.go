package providers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ActionForm is one kind of action a provider supports in user_token_actions: the
// conditions it takes and the outcome it reports.
type ActionForm struct {
	Verb    string   // "create", "update", "rotate" or "revoke"
	Target  string   // the input naming what to act on; an IN list acts on each value
	Options []string // other inputs, at most one value each
	Status  string   // the outcome's status
	Secret  string   // a column the query must select, a new secret being shown once ("" none)
	Usage   string   // the conditions, as the usage text shows them
}

// ActionInput is what the conditions give one list call of an action query.
type ActionInput struct {
	Targets   []string
	TeamID    *string
	CanWrite  *bool
	ExpiresAt *time.Time
}

// TokenActor is a Source whose tokens user_token_actions acts on.
type TokenActor interface {
	Source
	// TokenActions are the actions one list call carries out, one per target, in order.
	TokenActions(verb string, in ActionInput, scan Scan) []Action
}

// Scan is what the list calls of one scan share (the SDK runs one per value of an IN
// list): a provider keeps there what it reads once per scan.
type Scan interface {
	Shared(key string, newState func() any) any
}

// Action is one create, update, rotate or revoke.
type Action struct {
	Key string // the distinct input: one action per key per scan
	// Do acts and returns the outcome's row and, for a creation, how to undo it.
	Do func(ctx context.Context) (row any, undo *Undo, err error)
}

// Undo revokes something an action created.
type Undo struct {
	What string // "Vercel token tok_...", as a message names it
	Run  func(ctx context.Context) error
}

// ActionOutcome is one row of user_token_actions.
type ActionOutcome struct {
	Action, Provider string
	ID               *string
	NewID            *string // a rotation's new token
	Email            *string
	Name             *string
	TeamID           *string
	CanWrite         *bool
	ExpiresAt        *time.Time
	Status           string
	Token            *string
	CreatedAt        *time.Time
	Note             *string
}

// RevokeByID is a revoke of a token named by its id, "current" naming the connection's
// own. An id that cannot be a token's costs no request, and one the upstream does not
// know is the user's mistake (a UsageError), not an upstream failure.
type RevokeByID struct {
	Provider *Provider
	Noun     string   // what the provider calls its tokens, e.g. "API token"
	OwnToken Argument // the argument that holds the connection's own token
	ValidID  func(id string) bool
	NoSuch   error // what Revoke returns for an id the upstream does not know
	Revoke   func(ctx context.Context, id string) error
	Explain  func(error) error
}

// Action revokes the token id.
func (r RevokeByID) Action(verb, id string) Action {
	row := &ActionOutcome{Action: verb, Provider: r.Provider.Name, ID: &id, Status: "revoked"}
	if id == "current" {
		row.Note = OwnTokenNote(r.Provider.Title, r.OwnToken)
	}
	return Action{Key: "revoke " + id, Do: func(ctx context.Context) (any, *Undo, error) {
		err := r.NoSuch
		if id == "current" || r.ValidID(id) {
			err = r.Revoke(ctx, id)
		}
		if errors.Is(err, r.NoSuch) {
			return nil, nil, &UsageError{Table: "user_token_actions", Message: fmt.Sprintf(
				"%s has no %s %q to revoke (user_tokens lists the ids: select id, name from user_tokens where provider = '%s')", r.Provider.Title, r.Noun, ShortID(id), r.Provider.Name)}
		}
		if err != nil {
			return nil, nil, r.Explain(err)
		}
		return row, nil, nil
	}}
}

// OwnTokenNote is the note on a revoke of the connection's own token: callee (e.g.
// "GitLab") cannot be called until arg is replaced.
func OwnTokenNote(callee string, arg Argument) *string {
	return Ptr("This was the connection's own token: the connection cannot call " + callee + " until " + arg.Name + " is replaced.")
}
