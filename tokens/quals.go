package tokens

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// qual is one condition on a column, as the SDK or the wrapper passed it.
type qual struct {
	op    string
	value *proto.QualValue
}

// quals are a column's key-column quals, as this list call sees them (for an IN list
// the SDK may have split, its own value).
func quals(d *plugin.QueryData, column string) []qual {
	kq := d.Quals[column]
	if kq == nil {
		return nil
	}
	out := make([]qual, 0, len(kq.Quals))
	for _, q := range kq.Quals {
		out = append(out, normal(q.Operator, q.Value))
	}
	return out
}

// normal writes a boolean condition with =: PostgreSQL hands `not can_write` (and
// `can_write = false`) over as can_write <> true.
func normal(op string, v *proto.QualValue) qual {
	if b, ok := v.GetValue().(*proto.QualValue_BoolValue); ok && op == "<>" {
		return qual{"=", &proto.QualValue{Value: &proto.QualValue_BoolValue{BoolValue: !b.BoolValue}}}
	}
	return qual{op, v}
}

// unsafeQuals are every condition PostgreSQL passed on a column, key column or not,
// as the query wrote them (the SDK rewrites a matrix column's key-column quals).
func unsafeQuals(d *plugin.QueryData, column string) []qual {
	pq := d.QueryContext.UnsafeQuals[column]
	if pq == nil {
		return nil
	}
	out := make([]qual, 0, len(pq.Quals))
	for _, q := range pq.Quals {
		out = append(out, normal(q.GetStringValue(), q.Value))
	}
	return out
}

// setOf reads the `=` quals, converting each value with conv; values conv rejects can
// match no row and are dropped.
func setOf[T comparable](qs []qual, conv func(*proto.QualValue) (T, bool)) providers.Values[T] {
	var result providers.Values[T]
	for _, q := range qs {
		if q.op != "=" {
			continue
		}
		var these []T
		add := func(v *proto.QualValue) {
			if t, ok := conv(v); ok && !slices.Contains(these, t) {
				these = append(these, t)
			}
		}
		if list := q.value.GetListValue(); list != nil {
			for _, v := range list.Values {
				add(v)
			}
		} else {
			add(q.value)
		}
		if !result.Constrained {
			result = providers.Values[T]{Constrained: true, List: these}
			continue
		}
		result.List = slices.DeleteFunc(result.List, func(v T) bool { return !slices.Contains(these, v) })
	}
	return result
}

func asString(v *proto.QualValue) (string, bool) {
	s, ok := grpc.GetQualValue(v).(string)
	return s, ok
}

func asInt64(v *proto.QualValue) (int64, bool) {
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
}

func asBool(v *proto.QualValue) (bool, bool) {
	b, ok := grpc.GetQualValue(v).(bool)
	return b, ok
}

func asTime(v *proto.QualValue) (time.Time, bool) {
	if ts := v.GetTimestampValue(); ts != nil {
		return ts.AsTime().UTC(), true
	}
	return time.Time{}, false
}

func stringQuals(d *plugin.QueryData, column string) providers.Values[string] {
	return setOf(quals(d, column), asString)
}

// rangeQuals reads a timestamp column's comparisons.
func rangeQuals(d *plugin.QueryData, column string) providers.Range {
	var r providers.Range
	for _, q := range quals(d, column) {
		if t, ok := asTime(q.value); ok {
			r.Add(q.op, t)
		}
	}
	return r
}

func int64Quals(d *plugin.QueryData, column string) providers.Values[int64] {
	return setOf(quals(d, column), asInt64)
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
