package tokens

import (
	"cmp"
	"context"
	"errors"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// tokenProvider is one row of token_providers.
type tokenProvider struct {
	*providers.Provider
	configured  bool
	address     *string
	configError *string
}

// capabilities are token_providers' columns of what a provider records and supports.
var capabilities = []struct {
	column      string
	has         func(p *providers.Provider) bool
	description string
}{
	{"records_last_use", func(p *providers.Provider) bool { return p.Capabilities.RecordsLastUse },
		"Whether the provider records when a token was last used (user_tokens.last_used_at)."},
	{"records_revocation_time", func(p *providers.Provider) bool { return p.Capabilities.RecordsRevocationTime },
		"Whether the provider keeps revoked tokens and when they were revoked (user_tokens.revoked_at)."},
	{"detects_leaks", func(p *providers.Provider) bool { return p.Capabilities.DetectsLeaks },
		"Whether the provider detects tokens exposed in public (user_tokens.leaked_at)."},
	{"has_read_only_tokens", func(p *providers.Provider) bool { return p.Capabilities.HasReadOnlyTokens },
		"Whether the provider has tokens that cannot write, so that user_tokens.can_write can be false."},
	{"limits_to_team", func(p *providers.Provider) bool { return p.Capabilities.LimitsToTeam },
		"Whether a token can be limited to a team, group or project (user_tokens.team_id)."},
	{"restricts_network", func(p *providers.Provider) bool { return p.Capabilities.RestrictsNetwork },
		"Whether a token can be limited to where it is used from."},
	{"knows_owner_active", func(p *providers.Provider) bool { return p.Capabilities.KnowsOwnerActive },
		"Whether the provider says if a token's owner is active (user_tokens.owner_active)."},
	{"knows_current_token", func(p *providers.Provider) bool { return p.Capabilities.KnowsCurrentToken },
		"Whether the provider tells which token the connection uses (user_tokens.is_current)."},
	{"extends_expiry_on_use", func(p *providers.Provider) bool { return p.Capabilities.ExtendsExpiryOnUse },
		"Whether using a token moves its expiry forward, so that user_tokens.expires_at is when it lapses if nobody uses it."},
	{"supports_create", func(p *providers.Provider) bool { return p.Supports("create") },
		"Whether the plugin can create the provider's tokens (user_token_actions, or the provider's own table)."},
	{"supports_update", func(p *providers.Provider) bool { return p.Supports("update") },
		"Whether the plugin can change the provider's tokens in place."},
	{"supports_rotate", func(p *providers.Provider) bool { return p.Supports("rotate") },
		"Whether the plugin can rotate the provider's tokens (a new secret replaces the old)."},
	{"supports_revoke", func(p *providers.Provider) bool { return p.Supports("revoke") },
		"Whether the plugin can revoke the provider's tokens."},
}

// token_providers: one row per provider the plugin knows, with what it records and
// supports, so that queries and the Powerpipe mod read capabilities instead of
// naming providers. It makes no request.
func (h *house) tableTokenProviders() *plugin.Table {
	type r = tokenProvider
	t := &plugin.Table{
		Name: "token_providers",
		Description: "The providers of tokens the plugin knows, one row each: whether the connection configures it, " +
			"and what it records and supports.",
		List: &plugin.ListConfig{Hydrate: settledList(h.listTokenProviders)},
		Columns: []*plugin.Column{
			column("provider", proto.ColumnType_STRING, func(r *r) any { return r.Name },
				"The provider, as the provider column of its table names it."),
			column("title", proto.ColumnType_STRING, func(r *r) any { return r.Title }, "The provider's name for people."),
			column("table_name", proto.ColumnType_STRING, func(r *r) any { return r.Table },
				"The table its tokens are rows of (or are acted on through)."),
			column("configured", proto.ColumnType_BOOL, func(r *r) any { return r.configured },
				"Whether this connection sets any of the provider's arguments."),
			column("address", proto.ColumnType_STRING, func(r *r) any { return opt(r.address) },
				"The base URL this connection calls for the provider, without credentials, query or fragment; null when it is not configured."),
			column("config_error", proto.ColumnType_STRING, func(r *r) any { return opt(r.configError) },
				"Why the provider cannot be used on this connection, when it is configured but cannot be; null when it can."),
		},
	}
	for _, c := range capabilities {
		t.Columns = append(t.Columns, column(c.column, proto.ColumnType_BOOL, func(r *r) any { return c.has(r.Provider) }, c.description))
	}
	return t
}

func (h *house) listTokenProviders(ctx context.Context, d *plugin.QueryData) error {
	c, err := h.connection(ctx, d)
	if err != nil {
		return err
	}
	// a config the plugin cannot read leaves every provider unconfigured: say why instead
	if bad := (*ConfigBodyError)(nil); errors.As(c.settings.err, &bad) {
		return bad
	}
	for _, p := range h.providers {
		row := &tokenProvider{Provider: p}
		if src := c.sources[p.Name]; src != nil && src.Configured() {
			row.configured, row.address = true, providers.NonEmpty(src.Address())
			if err := cmp.Or(c.settings.err, src.Ready()); err != nil {
				row.configError = providers.Ptr(err.Error())
			}
		}
		d.StreamListItem(ctx, row)
	}
	return nil
}
