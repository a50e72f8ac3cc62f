package tokens

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/memoize"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// connection is what a connection needs: the plugin's settings and one Source per
// provider, built once and shared by every query on the connection. The SDK drops it
// when the connection's config changes.
type connection struct {
	settings *settings
	sources  map[string]providers.Source // by provider name
}

func cacheKey(key string) plugin.MemoizeOption {
	return memoize.WithCacheKeyFunction(func(context.Context, *plugin.QueryData, *plugin.HydrateData) (any, error) {
		return key, nil
	})
}

func (h *house) connection(ctx context.Context, d *plugin.QueryData) (*connection, error) {
	v, err := h.connect(ctx, d, nil)
	if err != nil {
		return nil, err
	}
	c, ok := v.(*connection)
	if !ok {
		return nil, errors.New("tokens: connection cache holds an unexpected value")
	}
	return c, nil
}

func (h *house) connectUncached(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
	return h.newConnection(d.Connection.Name, h.block.values(d.Connection.Config), plugin.Logger(ctx).ResetNamed("tokens")), nil
}

// newConnection resolves a connection's settings and connects every provider.
func (h *house) newConnection(name string, config map[string]providers.Value, logger hclog.Logger) *connection {
	lookup := resolver(config)
	s := loadSettings(name, lookup)
	pc := &providers.Connection{Name: name, MaxRetries: s.maxRetries, RequestTimeout: s.requestTimeout, Logger: logger, Lookup: lookup}
	c := &connection{settings: s, sources: map[string]providers.Source{}}
	for _, p := range h.providers {
		c.sources[p.Name] = p.Connect(p, pc)
	}
	return c
}
