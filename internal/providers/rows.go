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
	Network     any // where the token may be used from, in the provider's shape, as JSON
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

// Query is what the conditions and the column list ask of a listing. A provider may
// use any of the conditions to ask its upstream for less, as long as it asks for no
// fewer rows than match: the table applies every condition to every row (Matches).
type Query struct {
	IDs, TeamIDs, Emails Values[string]
	Active               Values[bool]
	CreatedAt            Range
	LastUsedAt           Range
	Columns              map[string]bool // the columns the query asks for
	NeedOwners           bool            // email, title or owner_active is asked for, or email constrained
	NeedCurrent          bool            // is_current is asked for
	NeedTeam             bool            // team_id is asked for or constrained
	Limited              bool            // the query has a LIMIT the table tracks
	Now                  time.Time
}

// Wants reports whether the query asks for any of the columns.
func (q *Query) Wants(columns ...string) bool {
	for _, c := range columns {
		if q.Columns[c] {
			return true
		}
	}
	return false
}

// Nothing reports conditions that contradict each other: no row can match.
func (q *Query) Nothing() bool {
	return q.IDs.None() || q.TeamIDs.None() || q.Emails.None() || q.Active.None() || q.CreatedAt.Empty() || q.LastUsedAt.Empty()
}

// FiltersRows reports conditions a row must pass beyond its id and owner: a listing
// under a LIMIT cannot count on every row it fetches being returned.
func (q *Query) FiltersRows() bool {
	return q.TeamIDs.Constrained || q.Active.Constrained || q.CreatedAt.Set() || q.LastUsedAt.Set()
}

// Matches applies the conditions to a finished row.
func (q *Query) Matches(r *UserToken) bool {
	return q.IDs.Allows(r.ID) && q.TeamIDs.AllowsPtr(r.TeamID) && q.Emails.AllowsPtr(r.Email) &&
		q.Active.AllowsPtr(r.Active) && q.CreatedAt.Allows(r.CreatedAt) && q.LastUsedAt.Allows(r.LastUsedAt)
}

// Range is what a timestamp column's comparisons allow: nil bounds are open. Several
// comparisons intersect, as in PostgreSQL.
type Range struct {
	After, Before         *time.Time
	AfterOrAt, BeforeOrAt bool // the bound itself is allowed (>=, <=)
}

// Set reports whether any comparison bounds the range.
func (r Range) Set() bool { return r.After != nil || r.Before != nil }

// Empty reports bounds no time can satisfy.
func (r Range) Empty() bool {
	if r.After == nil || r.Before == nil {
		return false
	}
	return r.After.After(*r.Before) || (r.After.Equal(*r.Before) && !(r.AfterOrAt && r.BeforeOrAt))
}

// Allows: a NULL time never satisfies a comparison.
func (r Range) Allows(t *time.Time) bool {
	if !r.Set() {
		return true
	}
	if t == nil {
		return false
	}
	if r.After != nil && (t.Before(*r.After) || (t.Equal(*r.After) && !r.AfterOrAt)) {
		return false
	}
	return r.Before == nil || !(t.After(*r.Before) || (t.Equal(*r.Before) && !r.BeforeOrAt))
}

// Add narrows the range by one comparison (">", ">=", "<" or "<="); false for another operator.
func (r *Range) Add(op string, t time.Time) bool {
	switch op {
	case ">", ">=":
		orAt := op == ">="
		if r.After == nil || t.After(*r.After) || (t.Equal(*r.After) && !orAt) {
			r.After, r.AfterOrAt = &t, orAt
		}
	case "<", "<=":
		orAt := op == "<="
		if r.Before == nil || t.Before(*r.Before) || (t.Equal(*r.Before) && !orAt) {
			r.Before, r.BeforeOrAt = &t, orAt
		}
	default:
		return false
	}
	return true
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
