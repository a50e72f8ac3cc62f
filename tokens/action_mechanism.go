package tokens

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// The action mechanism, shared by every table that creates, changes or revokes
// (sign_in_tokens, user_token_actions). Steampipe is read-only, so an action is a
// SELECT whose conditions are its inputs and whose rows are its outcomes. The rules,
// per scan (docs/reliability.md, "Actions"; the unit is the scan: nothing identifies a statement):
//
//   - Every input is an exact condition the plugin sees; any other condition, and a
//     LIMIT, is refused before anything happens: PostgreSQL could drop an outcome's
//     row after the action, and a created secret with it.
//   - One action per distinct input: claims are shared by the lists the SDK runs in
//     parallel for an IN list.
//   - An action in flight is finished even when the scan is cancelled, since only its
//     answer says what to undo. A row handed to the SDK counts as delivered and is
//     never undone; a creation whose row was not delivered (cancelled meanwhile, or
//     the scan failed) is revoked again.
//   - A scan that fails delivers nothing: PostgreSQL discards its rows, so what it
//     created is revoked and the error lists it. The failure waits for the actions in
//     flight to finish; once it has failed, a list call that has not begun acting
//     starts no action (the SDK usually cancels those first).
//   - Never cached (each table turns the query cache off) and never retried by the
//     SDK (no retry config); the clients repeat a request only when the upstream
//     certainly did not act on it.

type actionScan struct {
	claims
	mu        sync.Mutex
	failed    bool
	created   []*providers.Undo // what this scan created and delivered, in order
	revoked   []string          // what it undid, in order
	unrevoked []string          // ... and could not undo
	inFlight  sync.WaitGroup    // actions started and not yet kept or failed
	failOnce  sync.Once
	failure   error    // the scan's one error, which every failing list call returns
	shared    sync.Map // what providers keep per scan (providers.Scan)
}

// Shared is a provider's state for this scan, made on first use.
func (s *actionScan) Shared(key string, newState func() any) any {
	v, _ := s.shared.LoadOrStore(key, sync.OnceValue(newState))
	return v.(func() any)()
}

var actionScans = scanStates[*actionScan]{new: func() *actionScan { return &actionScan{} }}

// runActions carries out a list call's actions in order, streaming each outcome. The
// SDK runs one list call per value of an IN list, in parallel: they share the scan.
func runActions(ctx context.Context, d *plugin.QueryData, actions []providers.Action) error {
	scan := actionScans.of(d)
	for _, a := range actions {
		if !scan.claim(a.Key) {
			continue
		}
		if !scan.begin() {
			return nil // the scan failed: another list call returns its error
		}
		row, u, err := a.Do(context.WithoutCancel(ctx))
		if err != nil {
			scan.inFlight.Done()
			return scan.fail(ctx, err)
		}
		kept := scan.record(ctx, u)
		scan.inFlight.Done()
		if !kept {
			return ctx.Err()
		}
		d.StreamListItem(ctx, row)
	}
	return nil
}

// begin counts an action in flight, unless the scan has failed: it then acts no more.
func (s *actionScan) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed {
		return false
	}
	s.inFlight.Add(1)
	return true
}

// record keeps a creation for the scan's undo, or revokes it at once when its row can
// no longer be delivered: the scan was cancelled or has failed.
func (s *actionScan) record(ctx context.Context, u *providers.Undo) bool {
	s.mu.Lock()
	gone := s.failed || ctx.Err() != nil
	if !gone && u != nil {
		s.created = append(s.created, u)
	}
	s.mu.Unlock()
	if gone && u != nil {
		s.undo(ctx, u)
	}
	return !gone
}

// undo revokes a creation now, recording the outcome for the failure's message.
func (s *actionScan) undo(ctx context.Context, u *providers.Undo) {
	err := u.Run(context.WithoutCancel(ctx))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.unrevoked = append(s.unrevoked, u.What)
	} else {
		s.revoked = append(s.revoked, u.What)
	}
}

// fail marks the scan failed, waits for its other actions in flight (each revokes what
// it creates from then on), revokes what the scan created, and says so in the error.
// Every list call that fails returns that one error, once the revoking is done:
// whichever the SDK reports names everything revoked. A cancelled scan revokes
// nothing more: its rows may already have been read.
func (s *actionScan) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	s.failOnce.Do(func() { s.failure = s.revokeAll(ctx, err) })
	if s.failure == nil { // revokeAll panicked in another list call
		return err
	}
	return s.failure
}

func (s *actionScan) revokeAll(ctx context.Context, err error) error {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	s.inFlight.Wait()
	s.mu.Lock()
	created := s.created
	s.created = nil
	s.mu.Unlock()
	for _, u := range created {
		s.undo(ctx, u)
	}
	s.mu.Lock()
	revoked, kept := s.revoked, s.unrevoked
	s.mu.Unlock()
	if len(revoked) == 0 && len(kept) == 0 {
		return err
	}
	note := "the query failed, so what it had created was revoked again: " + strings.Join(revoked, ", ")
	if len(kept) > 0 {
		note = fmt.Sprintf("the query failed; revoked again: %s; COULD NOT BE REVOKED, revoke by hand: %s",
			orNone(revoked), strings.Join(kept, ", "))
	}
	return &ActionError{Err: err, Note: note}
}

// ActionError is an action's failure with what the plugin did about it.
type ActionError struct {
	Err  error
	Note string
}

func (e *ActionError) Error() string { return e.Err.Error() + " (" + e.Note + ")" }
func (e *ActionError) Unwrap() error { return e.Err }

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// everyOperator is every operator PostgreSQL hands over for a column.
var everyOperator = []string{"=", "<>", "<", "<=", ">", ">=", "~~", "!~~", "~~*", "!~~*", "~", "!~", "~*", "!~*", "is null", "is not null"}

// actionKeyColumns makes every column of an action table a key column with every
// operator: PostgreSQL then hands the plugin every condition it can convert, and the
// table refuses those it does not take, where PostgreSQL would otherwise drop an
// outcome's row after the action. The anyOf columns name what to act on: one of them
// is required, which also makes the planner hand them over per row of a join or an
// `in (select ...)` rather than read the table without them.
func actionKeyColumns(columns []*plugin.Column, anyOf ...string) plugin.KeyColumnSlice {
	var keys plugin.KeyColumnSlice
	for _, c := range columns {
		require := plugin.Optional
		if slices.Contains(anyOf, c.Name) {
			require = plugin.AnyOf
		}
		keys = append(keys, &plugin.KeyColumn{Name: c.Name, Require: require, Operators: everyOperator})
	}
	return keys
}

// actionInputs checks a query against the inputs its action takes: only `=`
// conditions (an IN list is several) on those columns, no LIMIT, and the columns
// that carry a new secret asked for. forms shows the valid queries.
type actionInputs struct {
	table    string
	forms    string
	allowed  []string // input columns of this action
	secrets  []string // a creation must select one of these: its secret is shown once
	creating bool
}

func (in actionInputs) check(d *plugin.QueryData) error {
	if d.QueryContext.Limit != nil {
		return in.usage("an action query cannot have a LIMIT: PostgreSQL would discard the outcome of every action past it")
	}
	for col := range d.QueryContext.UnsafeQuals {
		if !slices.Contains(in.allowed, col) {
			return in.usage(fmt.Sprintf("this action does not take %s", col))
		}
		for _, q := range unsafeQuals(d, col) {
			if q.op != "=" {
				return in.usage(fmt.Sprintf("%s %s ...: an input is given with = (or IN)", col, q.op))
			}
		}
	}
	if in.creating && len(in.secrets) > 0 && !wants(d, in.secrets...) {
		return in.usage(fmt.Sprintf("select the %s column: the new secret is shown once, and a creation whose secret no row shows is refused",
			strings.Join(in.secrets, " or ")))
	}
	return nil
}

func (in actionInputs) usage(problem string) error {
	return &providers.UsageError{Table: in.table, Message: problem + ".\n" + in.forms}
}

// flagOff is the refusal of an action the connection has not switched on.
func flagOff(table string, s *settings, flag providers.Argument, what string) error {
	return &providers.UsageError{Table: table, Message: fmt.Sprintf(
		"this query would %s, which connection %q does not allow: set %s = true in its connection config to allow it",
		what, s.connection, flag.Name)}
}
