package tokens

import (
	"context"

	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin/transform"
)

// column defines a column read straight from a table's row type R. The SDK's
// FromGo and FromField transforms find the field by reflection and compile a
// regular expression for every value they read (about 200 KB of allocation per row
// of user_tokens, measured in BENCHMARKS.md); a typed getter costs nothing.
func column[R any](name string, typ proto.ColumnType, get func(*R) any, description string) *plugin.Column {
	return &plugin.Column{Name: name, Type: typ, Description: description,
		Transform: transform.From(func(_ context.Context, d *transform.TransformData) (any, error) {
			if r, ok := d.HydrateItem.(*R); ok {
				return get(r), nil
			}
			return nil, nil
		})}
}

// opt is a nullable value: nil for a nil pointer, else what it points to.
func opt[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
