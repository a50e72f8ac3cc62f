package tokens

// Workarounds for defects of steampipe-plugin-sdk v5.14.1 that the plugin's own code
// carries, each with the report that measures it (docs/upstream/) and the condition
// for deleting it. The defects only a patched build can fix are in patches/.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin/transform"
)

// Defect 1: a list error raised before the SDK awaits the rows can be lost to the end
// of the rows (docs/upstream/sdk-lost-list-error.md). A list's error is returned no
// sooner than errorSettle after the list started. Patch 0013 fixes it for every error
// in patched builds; this stays for builds against the released SDK. Delete when the
// SDK drains its error channel before taking the end of the rows.
const errorSettle = 25 * time.Millisecond

// settled returns err, but not sooner than errorSettle after start.
func settled(start time.Time, err error) error {
	if err != nil {
		if wait := errorSettle - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
	}
	return err
}

// settledList is every table's list function: f's error, settled.
func settledList(f func(context.Context, *plugin.QueryData) error) plugin.HydrateFunc {
	return func(ctx context.Context, d *plugin.QueryData, _ *plugin.HydrateData) (any, error) {
		start := time.Now()
		return nil, settled(start, f(ctx, d))
	}
}

// Defect 2: an IN list on a key column that is also the matrix key lists every matrix
// item once per value, so every row comes back twice
// (docs/upstream/sdk-matrix-in-list.md). claimFirstList lets the first list of each
// (matrix item, own conditions) through and skips the repeats. Delete when the SDK
// splits IN lists on a matrix column by matrix item.
func claimFirstList(c *claims, d *plugin.QueryData, provider string) bool {
	var key strings.Builder
	key.WriteString(provider)
	for _, col := range slices.Sorted(maps.Keys(d.Quals)) {
		if col == "provider" {
			continue // the matrix item's, which the SDK writes over
		}
		for _, q := range quals(d, col) {
			fmt.Fprintf(&key, "|%s %s %v", col, q.op, q.value)
		}
	}
	return c.claim(key.String())
}

// Defect 3: the SDK's FromGo and FromField transforms find a field by reflection and
// compile a regular expression for every value they read
// (docs/upstream/sdk-transforms-reflect-per-value.md). column reads its row through a
// typed getter instead. Delete when the SDK's transforms stop compiling per value.
func column[R any](name string, typ proto.ColumnType, get func(*R) any, description string) *plugin.Column {
	return &plugin.Column{Name: name, Type: typ, Description: description,
		Transform: transform.From(func(_ context.Context, d *transform.TransformData) (any, error) {
			if r, ok := d.HydrateItem.(*R); ok {
				return get(r), nil
			}
			return nil, nil
		})}
}

// opt is a nullable column value: nil for a nil pointer, else what it points to.
func opt[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// Defect 4: adding a connection re-initialises the plugin's shared tables while
// queries of other connections read them
// (docs/upstream/sdk-tables-reinitialised-during-queries.md). SDK patch 0010 initialises
// each table once in patched builds; Steampipe and the wrapper add connections between
// queries, and the test harness serialises connection changes against queries
// (harness_test.go, configMu). Delete the patch and that lock when the SDK stops
// writing shared tables.
