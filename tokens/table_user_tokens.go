package tokens

import (
	"context"
	"strings"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// user_tokens: one row per token of every provider that feeds it. What each column
// means for every provider is in docs/tables/user_tokens.md.
func (h *house) tableUserTokens() *plugin.Table {
	type r = providers.UserToken
	return &plugin.Table{
		Name: "user_tokens",
		Description: "API tokens, one row per token, across providers (" + h.titles(providers.UserTokens) + "). " +
			"Secrets are never returned.",
		GetMatrixItemFunc: func(context.Context, *plugin.QueryData) []map[string]any {
			return providerMatrix(h.feeding(providers.UserTokens))
		},
		List: &plugin.ListConfig{
			Hydrate: settledList(h.listUserTokens),
			KeyColumns: plugin.KeyColumnSlice{
				{Name: "provider", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "team_id", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "email", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "active", Require: plugin.Optional, Operators: []string{"="}},
				{Name: "created_at", Require: plugin.Optional, Operators: comparisons},
				{Name: "last_used_at", Require: plugin.Optional, Operators: comparisons},
			},
		},
		Columns: []*plugin.Column{
			column("provider", proto.ColumnType_STRING, func(r *r) any { return r.Provider },
				"Where the token lives: "+h.names(providers.UserTokens)+". A `provider = ...` condition skips the other providers entirely."),
			column("id", proto.ColumnType_STRING, func(r *r) any { return r.ID },
				"The token's identifier at its provider, as text. With `id = ...`, providers that can fetch one token do so."),
			column("name", proto.ColumnType_STRING, func(r *r) any { return opt(r.Name) },
				"The token's name, where the provider gives tokens names."),
			column("title", proto.ColumnType_STRING, func(r *r) any { return opt(r.Title) },
				"A display name: the token's name, else its owner's email."),
			column("email", proto.ColumnType_STRING, func(r *r) any { return opt(r.Email) },
				"The email of the token's owner, where the provider shows it."),
			column("owner_active", proto.ColumnType_BOOL, func(r *r) any { return opt(r.OwnerActive) },
				"Whether the person or account behind the token is active; null where the provider does not say (token_providers.knows_owner_active)."),
			column("team_id", proto.ColumnType_STRING, func(r *r) any { return opt(r.TeamID) },
				"The narrowest team, group or project the token is limited to, in the provider's own identifier; null for a token not limited to one."),
			column("type", proto.ColumnType_STRING, func(r *r) any { return opt(r.Type) },
				"The kind of token, in the provider's words."),
			column("origin", proto.ColumnType_STRING, func(r *r) any { return opt(r.Origin) },
				"What created the token, as the provider names it (for example 'manual', 'github')."),
			column("scopes", proto.ColumnType_JSON, func(r *r) any { return r.Scopes },
				"The provider's own scope list, exactly as the provider returns it."),
			column("prefix", proto.ColumnType_STRING, func(r *r) any { return opt(r.Prefix) },
				"The first characters of the token's secret (for example 'vcp_'), safe to show."),
			column("suffix", proto.ColumnType_STRING, func(r *r) any { return opt(r.Suffix) },
				"The last characters of the token's secret, safe to show; match it against a leaked value."),
			column("can_write", proto.ColumnType_BOOL, func(r *r) any { return opt(r.CanWrite) },
				"Whether the token can change anything at all: true where the provider has no read-only tokens; null only where the provider cannot tell."),
			column("active", proto.ColumnType_BOOL, func(r *r) any { return opt(r.Active) },
				"Whether the token is usable now, by the provider's own rule: not revoked, not expired, not switched off."),
			column("is_current", proto.ColumnType_BOOL, func(r *r) any { return opt(r.IsCurrent) },
				"Whether this is the token the connection itself authenticates with; null where the provider cannot tell."),
			column("created_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.CreatedAt) },
				"When the token was created."),
			column("updated_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.UpdatedAt) },
				"When the token was last changed, where the provider records it."),
			column("expires_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.ExpiresAt) },
				"When the token expires; null means it never expires."),
			column("last_used_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.LastUsedAt) },
				"When the token was last used; null where the provider does not record it (token_providers.records_last_use)."),
			column("revoked_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.RevokedAt) },
				"When the token was revoked, where the provider records it."),
			column("leaked_at", proto.ColumnType_TIMESTAMP, func(r *r) any { return opt(r.LeakedAt) },
				"When the provider found the token's secret exposed in public."),
			column("leaked_url", proto.ColumnType_STRING, func(r *r) any { return opt(r.LeakedURL) },
				"Where the provider found the token's secret exposed."),
			column("network", proto.ColumnType_JSON, func(r *r) any { return r.Network },
				"Where the token may be used from, as the provider states it; null where the provider has no such limit (token_providers.restricts_network)."),
		},
	}
}

// comparisons are the operators a timestamp key column takes: a provider may ask its
// upstream for a looser range, and every row is checked against the exact one.
var comparisons = []string{">", ">=", "<", "<="}

// listUserTokens is one provider's list call of a scan.
func (h *house) listUserTokens(ctx context.Context, d *plugin.QueryData) error {
	name := matrixProvider(ctx)
	scan := userTokenScans.of(d)
	if !claimFirstList(&scan.claims, d, name) {
		return nil
	}
	defer scan.listed(name) // however this list ends
	q := newTokenQuery(d)
	if !q.providers.Allows(name) || q.Nothing() {
		return nil
	}
	c, err := h.connection(ctx, d)
	if err != nil {
		return err
	}
	if err := h.userTokensProblem(c); err != nil {
		// A connection-wide problem is reported once, by the first provider asked for.
		if name == h.reportingProvider(q) {
			return err
		}
		return nil
	}
	src, _ := c.sources[name].(providers.TokenLister)
	if src == nil || !src.Configured() {
		return nil // a provider without credentials contributes no rows
	}
	if err := src.Ready(); err != nil {
		return err
	}
	if q.Limited && !scan.waitForEarlier(ctx, d, h.feeding(providers.UserTokens), name, q.providers) {
		return nil
	}
	return src.ListTokens(ctx, &q.Query, &rowsOut{ctx: ctx, d: d, q: &q.Query})
}

// userTokensProblem stops every user_tokens query on the connection.
func (h *house) userTokensProblem(c *connection) error {
	if c.settings.err != nil {
		return c.settings.err
	}
	var needs []string
	for _, p := range h.feeding(providers.UserTokens) {
		if c.sources[p.Name].Configured() {
			return nil
		}
		needs = append(needs, p.Setup()+" for "+p.Title)
	}
	return &providers.NoUpstreamError{Connection: c.settings.connection, Table: "user_tokens", Need: "set " + joinList(needs, "and/or")}
}

// reportingProvider is the first provider the query asks for: it reports a
// connection-wide problem, so that the problem is reported once.
func (h *house) reportingProvider(q *tokenQuery) string {
	for _, p := range h.feeding(providers.UserTokens) {
		if q.providers.Allows(p.Name) {
			return p.Name
		}
	}
	return ""
}

// titles are the providers of a table for people, by their titles.
func (h *house) titles(table string) string {
	var t []string
	for _, p := range h.feeding(table) {
		t = append(t, p.Title)
	}
	return strings.Join(t, ", ")
}

// names are the provider column's values for a table: "'a' or 'b'".
func (h *house) names(table string) string { return joinList(h.nameList(table), "or") }

func (h *house) nameList(table string) []string {
	var n []string
	for _, p := range h.feeding(table) {
		n = append(n, "'"+p.Name+"'")
	}
	return n
}

// joinList joins "a, b or c", the last two with conj, as a sentence would.
func joinList(items []string, conj string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " " + conj + " " + items[len(items)-1]
}
