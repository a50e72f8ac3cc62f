package tokens

import (
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
	sdkquals "github.com/turbot/steampipe-plugin-sdk/v5/plugin/quals"
)

// FuzzQualSet: stringQuals and int64Quals give exactly what the `=` quals on a column
// allow together. A value is allowed iff every `=` qual on the column admits it (a list
// admits its members; a value of another type admits nothing); other operators and
// other columns do not count; values come once each, in the order of first appearance.
//
// Fuzzed: values, split on "|", and layout, one byte per qual:
//
//	bits 0-1  kind: 0 `=` one string, 1 `=` a list of strings, 2 another operator,
//	          3 `=` a value of another type (bit 6 clear) or a list mixing types (bit 6 set)
//	bits 2-3  list length (0-3) / choice of type
//	bits 4-5  which other operator
//	bit 7     the qual is on another column
func FuzzQualSet(f *testing.F) {
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 6}}) // real ids as values; no server, no logs
	var ids []string
	for _, t := range sb.VercelTokens() {
		ids = append(ids, t.ID)
	}
	ids = append(ids, sandbox.ClerkUsers...)
	for _, u := range sb.QueryServerUserTokens() {
		ids = append(ids, strconv.FormatInt(u.ID, 10))
	}
	all := strings.Join(ids, "|")
	for _, layout := range [][]byte{
		{}, {0}, {1 | 2<<2}, {1 | 3<<2, 1 | 3<<2}, {0, 0}, {1 | 3<<2, 0}, {2, 0}, {2 | 1<<4, 1 | 2<<2, 0x80},
		{1}, {1 | 3<<2, 1}, {3}, {3 | 1<<2}, {3 | 2<<2}, {3 | 0x40 | 3<<2}, {0x80 | 1 | 3<<2}, {1 | 3<<2, 1 | 3<<2, 1 | 3<<2, 0},
	} {
		f.Add(all, layout)
	}
	f.Add("a|b|a|c|b", []byte{1 | 3<<2, 1 | 3<<2})
	f.Add("5|05|+5|5.0|x", []byte{1 | 3<<2, 3 | 0x40 | 3<<2})
	f.Add("9223372036854775807|9223372036854775808|-0|NaN|1e3", []byte{1 | 3<<2, 3, 3 | 0x40 | 3<<2})
	f.Add("", []byte{0, 1, 1 | 1<<2})
	f.Fuzz(func(t *testing.T, values string, layout []byte) {
		vals := strings.Split(values, "|")
		next := 0
		value := func() string {
			v := vals[next%len(vals)]
			next++
			return v
		}
		var onColumn, onOther sdkquals.QualSlice
		for _, b := range layout[:min(len(layout), 8)] {
			kind, n := b&3, int(b>>2&3)
			q := &sdkquals.Qual{Column: "id", Operator: sdkquals.QualOperatorEqual}
			switch kind {
			case 0:
				q.Value = fqString(value())
			case 1:
				var list []*proto.QualValue
				for range n {
					list = append(list, fqString(value()))
				}
				q.Value = fqList(list...)
			case 2:
				q.Operator = []string{"<>", "~~", ">=", "<"}[b>>4&3]
				q.Value = fqString(value())
			case 3:
				if b&0x40 == 0 {
					q.Value = fqOther(value(), n)
					break
				}
				var list []*proto.QualValue
				for i := range n + 1 {
					if i%2 == 0 {
						list = append(list, fqString(value()))
					} else {
						list = append(list, fqOther(value(), i))
					}
				}
				q.Value = fqList(list...)
			}
			if b&0x80 != 0 {
				q.Column = "other"
				onOther = append(onOther, q)
			} else {
				onColumn = append(onColumn, q)
			}
		}
		d := &plugin.QueryData{Quals: plugin.KeyColumnQualMap{}}
		if onColumn != nil || len(layout)%2 == 1 { // present with no quals, or absent
			d.Quals["id"] = &plugin.KeyColumnQuals{Name: "id", Quals: onColumn}
		}
		if onOther != nil {
			d.Quals["other"] = &plugin.KeyColumnQuals{Name: "other", Quals: onOther}
		}

		fqCheck(t, "stringQuals", stringQuals(d, "id"), fqExpect(onColumn, fqAsString), vals)
		var probes []int64
		for _, v := range vals {
			if i, ok := fqAsInt64(fqString(v)); ok {
				probes = append(probes, i)
			}
			probes = append(probes, int64(len(v)))
		}
		fqCheck(t, "int64Quals", int64Quals(d, "id"), fqExpect(onColumn, fqAsInt64), append(probes, math.MinInt64, math.MaxInt64))
		if s := stringQuals(d, "nothing"); s.Constrained {
			t.Fatal("a column without quals is constrained")
		}
	})
}

func fqString(s string) *proto.QualValue {
	return &proto.QualValue{Value: &proto.QualValue_StringValue{StringValue: s}}
}

func fqList(vs ...*proto.QualValue) *proto.QualValue {
	return &proto.QualValue{Value: &proto.QualValue_ListValue{ListValue: &proto.QualValueList{Values: vs}}}
}

// fqOther is a value that is not a string, made from s: an integer, a double or a bool.
func fqOther(s string, choice int) *proto.QualValue {
	switch choice % 3 {
	case 0:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			i = int64(len(s))
		}
		return &proto.QualValue{Value: &proto.QualValue_Int64Value{Int64Value: i}}
	case 1:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			x = float64(len(s)) + 0.5
		}
		return &proto.QualValue{Value: &proto.QualValue_DoubleValue{DoubleValue: x}}
	}
	return &proto.QualValue{Value: &proto.QualValue_BoolValue{BoolValue: len(s)%2 == 0}}
}

// fqAsString and fqAsInt64 say what a single qual value stands for in a string or an
// integer column, independently of the code under test.
func fqAsString(v *proto.QualValue) (string, bool) {
	s, ok := v.GetValue().(*proto.QualValue_StringValue)
	if !ok {
		return "", false
	}
	return s.StringValue, true
}

func fqAsInt64(v *proto.QualValue) (int64, bool) {
	switch x := v.GetValue().(type) {
	case *proto.QualValue_Int64Value:
		return x.Int64Value, true
	case *proto.QualValue_DoubleValue:
		f := x.DoubleValue
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return 0, false
		}
		return int64(f), true
	case *proto.QualValue_StringValue:
		i, err := strconv.ParseInt(x.StringValue, 10, 64)
		return i, err == nil
	}
	return 0, false
}

type fqWant[T comparable] struct {
	constrained bool
	values      []T
}

// expect intersects the `=` quals' value sets, keeping the first set's order.
func fqExpect[T comparable](qs sdkquals.QualSlice, conv func(*proto.QualValue) (T, bool)) fqWant[T] {
	var sets [][]T
	for _, q := range qs {
		if q.Operator != "=" {
			continue
		}
		members := []*proto.QualValue{q.Value}
		if l, ok := q.Value.GetValue().(*proto.QualValue_ListValue); ok {
			members = l.ListValue.Values
		}
		var set []T
		for _, m := range members {
			if v, ok := conv(m); ok && !slices.Contains(set, v) {
				set = append(set, v)
			}
		}
		sets = append(sets, set)
	}
	if len(sets) == 0 {
		return fqWant[T]{}
	}
	w := fqWant[T]{constrained: true}
	for _, v := range sets[0] {
		if !slices.ContainsFunc(sets[1:], func(s []T) bool { return !slices.Contains(s, v) }) {
			w.values = append(w.values, v)
		}
	}
	return w
}

func fqCheck[T comparable](t *testing.T, name string, got providers.Values[T], w fqWant[T], probes []T) {
	t.Helper()
	if got.Constrained != w.constrained || !slices.Equal(got.List, w.values) {
		t.Fatalf("%s = constrained %v %#v; want constrained %v %#v", name, got.Constrained, got.List, w.constrained, w.values)
	}
	if got.None() != (w.constrained && len(w.values) == 0) || got.AllowsPtr(nil) != !w.constrained {
		t.Fatalf("%s: none %v, allows NULL %v; want %v %v", name, got.None(), got.AllowsPtr(nil), w.constrained && len(w.values) == 0, !w.constrained)
	}
	for _, p := range append(probes, w.values...) {
		allowed := !w.constrained || slices.Contains(w.values, p)
		if got.Allows(p) != allowed || got.AllowsPtr(&p) != allowed {
			t.Fatalf("%s: allows(%v) = %v, allowsPtr %v; want %v", name, p, got.Allows(p), got.AllowsPtr(&p), allowed)
		}
	}
}
