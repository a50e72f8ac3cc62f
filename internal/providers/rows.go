package providers

import (
	"context"
	"slices"
	"time"
)

// UserToken is one row of user_tokens. Nil means SQL NULL: a value the provider does
// not have, never an invented default. docs/tables/user_tokens.md states what each
// column means for every provider.
type UserToken struct {
	Provider    string
	ID          string
	Name        *string
	Title       *string
	Email       *string
	OwnerActive *bool
	TeamID      *string
	Type        *string
	Origin      *string
	Scopes      any // the provider's own scope list, as JSON
	Prefix      *string
	Suffix      *string
	CanWrite    *bool
	Active      *bool
	IsCurrent   *bool
	CreatedAt   *time.Time
	UpdatedAt   *time.Time
	ExpiresAt   *time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
	LeakedAt    *time.Time
	LeakedURL   *string
}

// TokenLister is a Source whose tokens are rows of user_tokens.
type TokenLister interface {
	Source
	// ListTokens hands over the rows that may match q. It may hand over more (the
	// table applies q to each row), never fewer.
	ListTokens(ctx context.Context, q *Query, rows Rows) error
}

// Rows is where a listing hands its rows.
type Rows interface {
	// Send hands a row over, unless the query's conditions rule it out; false when
	// no more rows are wanted (a LIMIT is reached, or the query is cancelled).
	Send(r *UserToken) bool
	// Remaining is how many more rows a LIMIT still takes (a large number without one).
	Remaining() int64
	// WaitForRateLimit waits for the connection's limiter before another page.
	WaitForRateLimit(ctx context.Context)
}

// Query is what the conditions and the column list ask of a listing.
type Query struct {
	IDs, TeamIDs, Emails Values[string]
	NeedOwners           bool // email, title or owner_active is asked for, or email constrained
	NeedCurrent          bool // is_current is asked for
	NeedTeam             bool // team_id is asked for or constrained
	Limited              bool // the query has a LIMIT the table tracks
	Now                  time.Time
}

// Nothing reports conditions that contradict each other: no row can match.
func (q *Query) Nothing() bool { return q.IDs.None() || q.TeamIDs.None() || q.Emails.None() }

// Matches applies the conditions to a finished row.
func (q *Query) Matches(r *UserToken) bool {
	return q.IDs.Allows(r.ID) && q.TeamIDs.AllowsPtr(r.TeamID) && q.Emails.AllowsPtr(r.Email)
}

// Values is what a column's `=` conditions allow: anything (unconstrained), or exactly
// the listed values. Several conditions on one column intersect, as in PostgreSQL.
type Values[T comparable] struct {
	Constrained bool
	List        []T // distinct, in the order given
}

func (s Values[T]) Allows(v T) bool { return !s.Constrained || slices.Contains(s.List, v) }
func (s Values[T]) None() bool      { return s.Constrained && len(s.List) == 0 }

// AllowsPtr: a NULL column value never satisfies an `=` condition.
func (s Values[T]) AllowsPtr(v *T) bool {
	if !s.Constrained {
		return true
	}
	return v != nil && slices.Contains(s.List, *v)
}

// Only is the one value an input column was given, or nil when it was not given.
func (s Values[T]) Only() *T {
	if !s.Constrained || len(s.List) == 0 {
		return nil
	}
	return &s.List[0]
}

// Ptr returns a pointer to v.
func Ptr[T any](v T) *T { return &v }

// NonEmpty is nil for "", else a pointer to s.
func NonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
