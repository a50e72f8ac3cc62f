// Package tokens is the Steampipe plugin that turns API tokens scattered across
// services into SQL tables. The providers it reads are listed in registry.go; each
// lives in its own package under internal/providers.
package tokens

import (
	"context"
	"slices"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"github.com/turbot/steampipe-plugin-sdk/v5/rate_limiter"
	"golang.org/x/time/rate"
)

// Plugin returns the tokens plugin definition.
func Plugin(context.Context) *plugin.Plugin { return newPlugin(registry) }

// house is the plugin built over a list of providers: the tables, the connection
// block and the rate limiters all derive from it.
type house struct {
	providers []*providers.Provider
	block     *connectionBlock
	connect   plugin.HydrateFunc // memoized per connection
}

func newPlugin(reg []*providers.Provider) *plugin.Plugin {
	h := &house{providers: reg, block: newConnectionBlock(reg)}
	h.connect = plugin.HydrateFunc(h.connectUncached).Memoize(cacheKey("tokens.connection"))
	return &plugin.Plugin{
		Name:                   "steampipe-plugin-tokens",
		ConnectionConfigSchema: &plugin.ConnectionConfigSchema{NewInstance: h.block.newInstance},
		// Requests are retried inside the clients (per request, honouring Retry-After),
		// so the SDK's own retry stays off: it cannot retry a list once rows have
		// streamed, and would repeat actions.
		RateLimiters: h.rateLimiters(),
		TableMap: map[string]*plugin.Table{
			"user_tokens":        h.tableUserTokens(),
			"user_token_actions": h.tableUserTokenActions(),
			"sign_in_tokens":     h.tableSignInTokens(),
			"token_providers":    h.tableTokenProviders(),
		},
	}
}

// rateLimiters are one limiter per provider and connection, scoped by the matrix's
// (or the table's) provider value.
func (h *house) rateLimiters() []*rate_limiter.Definition {
	var defs []*rate_limiter.Definition
	for _, p := range h.providers {
		defs = append(defs, &rate_limiter.Definition{Name: p.LimiterName(), FillRate: rate.Limit(p.Limiter.FillRate),
			BucketSize: p.Limiter.BucketSize, Scope: []string{"connection", "provider"}, Where: "provider = '" + p.Name + "'"})
	}
	return defs
}

// feeding are the providers whose tokens are rows of table.
func (h *house) feeding(table string) []*providers.Provider {
	return slices.DeleteFunc(slices.Clone(h.providers), func(p *providers.Provider) bool { return p.Table != table })
}

// providerMatrix runs a table's list once per provider, in parallel; the matrix's
// provider value also scopes the rate limiters.
func providerMatrix(ps []*providers.Provider) []map[string]any {
	m := make([]map[string]any, len(ps))
	for i, p := range ps {
		m[i] = map[string]any{"provider": p.Name}
	}
	return m
}

// matrixProvider is the provider of the list call running.
func matrixProvider(ctx context.Context) string {
	p, _ := plugin.GetMatrixItem(ctx)["provider"].(string)
	return p
}

// ProviderArguments are every provider's connection arguments, in the registry's order
// (for the demo, which reads real credentials from their environment variables).
func ProviderArguments() []providers.Argument {
	var args []providers.Argument
	for _, p := range registry {
		args = append(args, p.Arguments...)
	}
	return args
}
