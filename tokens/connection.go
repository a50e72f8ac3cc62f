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
	name := d.Connection.Name
	return h.newConnection(name, h.block.read(name, d.Connection.Config), plugin.Logger(ctx).ResetNamed("tokens")), nil
}

// newConnection resolves a connection's settings and connects every provider: a
// provider the user mapping replaces reads the mapping alone.
func (h *house) newConnection(name string, cfg configRead, logger hclog.Logger) *connection {
	lookup := resolver(cfg.server)
	s := loadSettings(name, lookup)
	if cfg.err != nil {
		s.err = cfg.err // before any bad number: nothing else of the config is known good
	}
	c := &connection{settings: s, sources: map[string]providers.Source{}}
	for _, p := range h.providers {
		pc := &providers.Connection{Name: name, MaxRetries: s.maxRetries, RequestTimeout: s.requestTimeout, Logger: logger, Lookup: lookup}
		if cfg.mapped[p.Name] {
			pc.Lookup, pc.Mapped = mappedLookup(cfg.mapping), true
		}
		c.sources[p.Name] = p.Connect(p, pc)
	}
	return c
}
