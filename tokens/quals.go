package tokens

import (
	"math"
	"slices"
	"strconv"

	"github.com/turbot/steampipe-plugin-sdk/v5/grpc"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// valueSet is what a column's `=` quals allow: anything (unconstrained), or exactly
// the listed values. Several quals on one column intersect, so `id = 'a' and id = 'b'`
// allows nothing, as in Postgres.
type valueSet[T comparable] struct {
	constrained bool
	values      []T // distinct, in the order given
}

func (s valueSet[T]) allows(v T) bool { return !s.constrained || slices.Contains(s.values, v) }
func (s valueSet[T]) none() bool      { return s.constrained && len(s.values) == 0 }

// allowsPtr: a NULL column value never satisfies an `=` qual.
func (s valueSet[T]) allowsPtr(v *T) bool {
	if !s.constrained {
		return true
	}
	return v != nil && slices.Contains(s.values, *v)
}

// qualSet reads the `=` quals of a column, converting each value with conv; values
// that conv rejects can match no row and are dropped.
func qualSet[T comparable](d *plugin.QueryData, column string, conv func(*proto.QualValue) (T, bool)) valueSet[T] {
	kq := d.Quals[column]
	if kq == nil || len(kq.Quals) == 0 {
		return valueSet[T]{}
	}
	var result valueSet[T]
	for i, q := range kq.Quals {
		if q.Operator != "=" {
			continue
		}
		var these []T
		add := func(v *proto.QualValue) {
			if t, ok := conv(v); ok && !slices.Contains(these, t) {
				these = append(these, t)
			}
		}
		if list := q.Value.GetListValue(); list != nil {
			for _, v := range list.Values {
				add(v)
			}
		} else {
			add(q.Value)
		}
		if i == 0 || !result.constrained {
			result = valueSet[T]{constrained: true, values: these}
			continue
		}
		result.values = slices.DeleteFunc(result.values, func(v T) bool { return !slices.Contains(these, v) })
	}
	return result
}

func stringQuals(d *plugin.QueryData, column string) valueSet[string] {
	return qualSet(d, column, func(v *proto.QualValue) (string, bool) {
		s, ok := grpc.GetQualValue(v).(string)
		return s, ok
	})
}

func int64Quals(d *plugin.QueryData, column string) valueSet[int64] {
	return qualSet(d, column, func(v *proto.QualValue) (int64, bool) {
		switch x := grpc.GetQualValue(v).(type) {
		case int64:
			return x, true
		case float64: // only whole numbers within int64's range (checked before converting)
			if x != math.Trunc(x) || x < -(1<<63) || x >= 1<<63 {
				return 0, false
			}
			return int64(x), true
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		}
		return 0, false
	})
}

// wants reports whether the query asks for any of the columns.
func wants(d *plugin.QueryData, columns ...string) bool {
	for _, c := range d.QueryContext.Columns {
		if slices.Contains(columns, c) {
			return true
		}
	}
	return false
}
