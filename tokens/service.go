package tokens

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/queryserver"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/vercel"
	"github.com/turbot/steampipe-plugin-sdk/v5/memoize"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// clients is what a connection needs: its checked settings and one client per
// configured upstream, built once and shared by every query on the connection.
type clients struct {
	settings    *settings
	vercel      *vercel.Client
	queryServer *queryserver.Client
	clerk       *clerk.Client
}

func cacheKey(key string) plugin.MemoizeOption {
	return memoize.WithCacheKeyFunction(func(context.Context, *plugin.QueryData, *plugin.HydrateData) (any, error) {
		return key, nil
	})
}

// connectCached builds a connection's clients once; the SDK drops them when the
// connection's config changes.
var connectCached = plugin.HydrateFunc(connectUncached).Memoize(cacheKey("tokens.clients"))

func connect(ctx context.Context, d *plugin.QueryData) (*clients, error) {
	v, err := connectCached(ctx, d, nil)
	if err != nil {
		return nil, err
	}
	c, ok := v.(*clients)
	if !ok {
		return nil, errors.New("tokens: connection cache holds an unexpected value")
	}
	return c, nil
}

func connectUncached(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	s := loadSettings(d.Connection.Name, GetConfig(d.Connection))
	return newClients(s, plugin.Logger(ctx).ResetNamed("tokens")), nil
}

// newClients builds a client for every upstream whose settings are usable. A failure
// to build one is kept as that upstream's error, like any other configuration problem.
func newClients(s *settings, logger hclog.Logger) *clients {
	c := &clients{settings: s}
	if s.commonErr != nil {
		return c
	}
	opts := func(base string, name string) upstream.Options {
		return upstream.Options{BaseURL: base, MaxRetries: s.maxRetries, Timeout: s.requestTimeout, Logger: logger.Named(name)}
	}
	var err error
	if s.vercelToken != "" && s.vercelErr == nil {
		if c.vercel, err = vercel.New(opts(s.vercelBaseURL, "vercel"), s.vercelToken); err != nil {
			s.vercelErr = err
		}
	}
	if s.queryServerToken != "" && s.queryServerErr == nil {
		if c.queryServer, err = queryserver.New(opts(s.queryServerURL, "query_server"), s.queryServerToken); err != nil {
			s.queryServerErr = err
		}
	}
	if s.clerkKey != "" && s.clerkErr == nil {
		if c.clerk, err = clerk.New(opts(s.clerkBaseURL, "clerk"), s.clerkKey); err != nil {
			s.clerkErr = err
		}
	}
	return c
}
