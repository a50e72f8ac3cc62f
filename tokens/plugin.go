// Package tokens is the Steampipe plugin that turns API tokens scattered across
// services into SQL tables.
package tokens

import (
	"context"

	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"github.com/turbot/steampipe-plugin-sdk/v5/rate_limiter"
)

// Rate limiter names; users override them in a `plugin "tokens" { limiter ... }` block.
const (
	limiterVercel      = "tokens_vercel"
	limiterQueryServer = "tokens_query_server"
	limiterClerk       = "tokens_clerk"
)

// Upstream names, used as the `upstream` rate-limiter scope value.
const (
	upstreamVercel      = "vercel"
	upstreamQueryServer = "query_server"
	upstreamClerk       = "clerk"
)

// Plugin returns the tokens plugin definition.
func Plugin(ctx context.Context) *plugin.Plugin {
	return &plugin.Plugin{
		Name: "steampipe-plugin-tokens",
		ConnectionConfigSchema: &plugin.ConnectionConfigSchema{
			NewInstance: ConfigInstance,
		},
		// One limiter per upstream and connection. Requests are retried inside the
		// clients (per request, honouring Retry-After), so the SDK's own retry stays off:
		// it cannot retry a list once rows have streamed, and would multiply attempts.
		RateLimiters: []*rate_limiter.Definition{
			{Name: limiterVercel, FillRate: 50, BucketSize: 50, Scope: []string{"connection", "upstream"}, Where: "upstream = 'vercel'"},
			{Name: limiterQueryServer, FillRate: 50, BucketSize: 50, Scope: []string{"connection", "upstream"}, Where: "upstream = 'query_server'"},
			// Clerk allows 100 requests per 10 s on development instances (1000 on
			// production); a bucket of 10 refilled at 10/s stays within the smaller.
			{Name: limiterClerk, FillRate: 10, BucketSize: 10, Scope: []string{"connection", "upstream"}, Where: "upstream = 'clerk'"},
		},
		TableMap: map[string]*plugin.Table{
			"user_tokens":    tableUserTokens(ctx),
			"sign_in_tokens": tableSignInTokens(ctx),
		},
	}
}
