// Package tokens is the Steampipe plugin that turns API tokens scattered across
// services into SQL tables.
package tokens

import (
	"context"

	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"github.com/turbot/steampipe-plugin-sdk/v5/rate_limiter"
)

// The providers: the provider column's values, the matrix key's values and the
// rate limiters' provider scope.
const (
	providerVercel      = "vercel"
	providerQueryServer = "query_server"
	providerClerk       = "clerk"
)

// Rate limiter names; users override them in a `plugin "tokens" { limiter ... }` block.
const (
	limiterVercel      = "tokens_vercel"
	limiterQueryServer = "tokens_query_server"
	limiterClerk       = "tokens_clerk"
)

// Plugin returns the tokens plugin definition.
func Plugin(ctx context.Context) *plugin.Plugin {
	return &plugin.Plugin{
		Name: "steampipe-plugin-tokens",
		ConnectionConfigSchema: &plugin.ConnectionConfigSchema{
			NewInstance: ConfigInstance,
		},
		// One limiter per provider and connection. Requests are retried inside the
		// clients (per request, honouring Retry-After), so the SDK's own retry stays off:
		// it cannot retry a list once rows have streamed, and would repeat actions.
		RateLimiters: []*rate_limiter.Definition{
			{Name: limiterVercel, FillRate: 50, BucketSize: 50, Scope: []string{"connection", "provider"}, Where: "provider = 'vercel'"},
			{Name: limiterQueryServer, FillRate: 50, BucketSize: 50, Scope: []string{"connection", "provider"}, Where: "provider = 'query_server'"},
			// Clerk allows 100 requests per 10 s on development instances (1000 on
			// production); a bucket of 10 refilled at 10/s stays within the smaller.
			{Name: limiterClerk, FillRate: 10, BucketSize: 10, Scope: []string{"connection", "provider"}, Where: "provider = 'clerk'"},
		},
		TableMap: map[string]*plugin.Table{
			"user_tokens":        tableUserTokens(ctx),
			"user_token_actions": tableUserTokenActions(ctx),
			"sign_in_tokens":     tableSignInTokens(ctx),
		},
	}
}

// providerMatrix runs a table's list once per provider, in parallel; the matrix's
// provider value also scopes the rate limiters.
func providerMatrix(providers ...string) func(context.Context, *plugin.QueryData) []map[string]any {
	return func(context.Context, *plugin.QueryData) []map[string]any {
		m := make([]map[string]any, len(providers))
		for i, p := range providers {
			m[i] = map[string]any{"provider": p}
		}
		return m
	}
}

// matrixProvider is the provider of the list call running.
func matrixProvider(ctx context.Context) string {
	p, _ := plugin.GetMatrixItem(ctx)["provider"].(string)
	return p
}
