package tokens

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// user_token_actions: the conditions are an action's inputs, each row one outcome.
// What each provider can do is its Actions (internal/providers); how an action query
// runs is action_mechanism.go.
func (h *house) tableUserTokenActions() *plugin.Table {
	type r = providers.ActionOutcome
	t := &plugin.Table{
		Name: "user_token_actions",
		Description: "Create, update, rotate and revoke the tokens of user_tokens from SQL: the conditions are an action's inputs, " +
			"and each row is the outcome of one action. Each kind of action is off until the connection allows it.",
		Cache: &plugin.TableCacheOptions{Enabled: false}, // every query acts: never answer one from the cache
		GetMatrixItemFunc: func(_ context.Context, d *plugin.QueryData) []map[string]any {
			return h.actionMatrix(d)
		},
		List: &plugin.ListConfig{Hydrate: settledList(h.listUserTokenActions)},
		Columns: []*plugin.Column{
			column("action", proto.ColumnType_STRING, func(r *r) any { return r.Action },
				"Required: "+joinList(quoted(verbs), "or")+"."),
			column("provider", proto.ColumnType_STRING, func(r *r) any { return r.Provider },
				"Required: "+h.names(providers.UserTokens)+"."),
			column("id", proto.ColumnType_STRING, func(r *r) any { return opt(r.ID) },
				"The token to act on, where the provider names tokens by id; otherwise the id of the token acted on, as user_tokens shows it."),
			column("new_id", proto.ColumnType_STRING, func(r *r) any { return opt(r.NewID) },
				"A rotation's new token, which replaced the token id names; null otherwise."),
			column("email", proto.ColumnType_STRING, func(r *r) any { return opt(r.Email) },
				"The user whose token to act on, where the provider names tokens by their owner's email."),
			column("name", proto.ColumnType_STRING, func(r *r) any { return opt(r.Name) },
				"The new token's name, where the provider names new tokens."),
			column("team_id", proto.ColumnType_STRING, func(r *r) any { return opt(r.TeamID) },
				"The team to limit a new token to; without it the token acts on the whole account."),
			column("can_write", proto.ColumnType_BOOL, func(r *r) any { return opt(r.CanWrite) },
				"Whether the token may write, where the provider has read-only tokens."),
			column("expires_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.ExpiresAt) },
				"When the token expires; to create or update, as given (some providers keep whole seconds); null: never."),
			column("status", proto.ColumnType_STRING, func(r *r) any { return r.Status },
				"The outcome: 'created', 'updated', 'rotated' or 'revoked'."),
			column("token", proto.ColumnType_STRING, func(r *r) any { return opt(r.Token) },
				"A new token's secret, where the provider shows it: shown this once; null otherwise."),
			column("created_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.CreatedAt) },
				"When the token acted on was created, where the provider says."),
			column("note", proto.ColumnType_STRING, func(r *r) any { return opt(r.Note) },
				"What else the provider did that the token's holder must know, such as an update re-minting the token."),
		},
	}
	t.List.KeyColumns = actionKeyColumns(t.Columns, "id", "email", "name")
	return t
}

// verbs are the actions user_token_actions knows, in the order the usage shows them.
var verbs = []string{"create", "update", "rotate", "revoke"}

// actionMatrix runs the list for the providers; a provider condition naming none of
// them gets a list of its own, so that the query is told instead of answered with
// nothing.
func (h *house) actionMatrix(d *plugin.QueryData) []map[string]any {
	m := providerMatrix(h.feeding(providers.UserTokens))
	for _, p := range setOf(unsafeQuals(d, "provider"), asString).List {
		if h.userTokenProvider(p) == nil {
			m = append(m, map[string]any{"provider": p})
		}
	}
	return m
}

func (h *house) userTokenProvider(name string) *providers.Provider {
	for _, p := range h.feeding(providers.UserTokens) {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// listUserTokenActions checks an action query and carries it out, if this list
// call's provider is the one the query names.
func (h *house) listUserTokenActions(ctx context.Context, d *plugin.QueryData) error {
	provider := matrixProvider(ctx)
	in := actionInputs{table: "user_token_actions", forms: h.actionUsage()}
	names, actions := setOf(unsafeQuals(d, "provider"), asString), setOf(unsafeQuals(d, "action"), asString)
	switch {
	case !names.Constrained || !actions.Constrained:
		return in.usage("give the action and the provider")
	case len(names.List) != 1 || len(actions.List) != 1:
		if names.None() || actions.None() {
			return nil // contradictory conditions: no row could match
		}
		return in.usage("give one action and one provider per query")
	case names.List[0] != provider:
		return nil // another list call of this scan acts
	}
	p, verb := h.userTokenProvider(provider), actions.List[0]
	switch {
	case p == nil:
		return in.usage(fmt.Sprintf("provider %q is %s", provider, noneOf(h.nameList(providers.UserTokens))))
	case !slices.Contains(verbs, verb):
		return in.usage(fmt.Sprintf("action %q is not one of %s", verb, joinList(quoted(verbs), "and")))
	case p.Form(verb) == nil && p.Refusals[verb] != "":
		return in.usage(p.Refusals[verb])
	case p.Form(verb) == nil:
		return in.usage(fmt.Sprintf("%s tokens cannot be %s here", p.Title, pastTense(verb)))
	}
	form := p.Form(verb)
	in.allowed = append([]string{"action", "provider", "status", "sp_connection_name", form.Target}, form.Options...)
	if form.Secret != "" {
		in.creating, in.secrets = true, []string{form.Secret}
	}
	if err := in.check(d); err != nil {
		return err
	}
	targets := stringQuals(d, form.Target)
	if !targets.Constrained { // given another of id, email, name: the SDK requires one
		return in.usage(fmt.Sprintf("to %s a %s token, give %s", verb, provider, form.Target))
	}
	for _, col := range form.Options {
		if n := valueCount(unsafeQuals(d, col)); n > 1 {
			return in.usage(fmt.Sprintf("give at most one %s per query", col))
		}
	}
	if st := stringQuals(d, "status"); st.Constrained && !st.Allows(form.Status) {
		return in.usage(fmt.Sprintf("the outcome of %s is status '%s'", verb, form.Status))
	}
	c, err := h.connection(ctx, d)
	if err != nil {
		return err
	}
	if err := cmp.Or(c.settings.err, c.settings.flagsErr); err != nil {
		return err
	}
	if allow := userTokenFlags[verb]; !c.settings.allowed[allow.Name] {
		return flagOff("user_token_actions", c.settings, allow, verb+" a "+p.Title+" token")
	}
	teamID, canWrite, expiresAt := setOf(quals(d, "team_id"), asString), setOf(quals(d, "can_write"), asBool), setOf(quals(d, "expires_at"), asTime)
	if teamID.None() || canWrite.None() || expiresAt.None() {
		return nil
	}
	if e := expiresAt.Only(); e != nil && !e.After(time.Now()) {
		return in.usage("expires_at must be in the future")
	}
	if verb == "update" && !canWrite.Constrained && !expiresAt.Constrained {
		return in.usage(fmt.Sprintf("to update a %s token, give can_write and/or expires_at", p.Title))
	}
	src, _ := c.sources[provider].(providers.TokenActor)
	switch {
	case src == nil:
		return in.usage(fmt.Sprintf("%s tokens cannot be acted on here", p.Title))
	case !src.Configured():
		return &providers.NoUpstreamError{Connection: c.settings.connection, Table: "user_token_actions",
			Need: "set " + p.Setup() + " to act on " + p.Title + " tokens"}
	}
	if err := src.Ready(); err != nil {
		return err
	}
	input := providers.ActionInput{Targets: targets.List, TeamID: teamID.Only(), CanWrite: canWrite.Only(), ExpiresAt: expiresAt.Only()}
	return runActions(ctx, d, src.TokenActions(verb, input, actionScans.of(d)))
}

// actionUsage shows every action query the table takes, from the providers' forms.
func (h *house) actionUsage() string {
	type line struct{ label, form string }
	var lines []line
	width := 0
	for _, p := range h.feeding(providers.UserTokens) {
		for _, f := range p.Actions {
			usage := strings.Split(f.Usage, "\n")
			l := line{fmt.Sprintf("%s %s tokens:", f.Verb, p.Title),
				fmt.Sprintf("action = '%s' and provider = '%s' and %s", f.Verb, p.Name, usage[0])}
			lines = append(lines, l)
			for _, more := range usage[1:] {
				lines = append(lines, line{"", more})
			}
			width = max(width, len(l.label))
		}
	}
	var b strings.Builder
	b.WriteString("user_token_actions carries out one kind of action per query, given as conditions:")
	for _, l := range lines {
		fmt.Fprintf(&b, "\n  %-*s %s", width, l.label, l.form)
	}
	return b.String()
}

// noneOf reads "neither 'a' nor 'b'", or "not one of 'a', 'b' and 'c'".
func noneOf(items []string) string {
	if len(items) == 2 {
		return "neither " + items[0] + " nor " + items[1]
	}
	return "not one of " + joinList(items, "and")
}

func quoted(items []string) []string {
	out := make([]string, len(items))
	for i, s := range items {
		out[i] = "'" + s + "'"
	}
	return out
}

func pastTense(verb string) string {
	if strings.HasSuffix(verb, "e") {
		return verb + "d"
	}
	return verb + "ed"
}

// valueCount is how many values the conditions give (an IN list gives several).
func valueCount(qs []qual) int {
	n := 0
	for _, q := range qs {
		if list := q.value.GetListValue(); list != nil {
			n += len(list.Values)
		} else {
			n++
		}
	}
	return n
}
