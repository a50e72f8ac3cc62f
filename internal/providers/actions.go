package providers

import (
	"context"
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
