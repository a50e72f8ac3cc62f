package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// appendString appends s as a JSON string. Hand-rolled (rather than
// json.Marshal) because list pages are built by appending to one buffer and
// this path runs for every field of every token on every page.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendKey(dst []byte, k string) []byte {
	dst = appendString(dst, k)
	return append(dst, ':')
}

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// jobj is a JSON object that keeps its key order. Faults rewrite real bodies
// through it so that everything they do not touch stays byte-identical in
// meaning and order.
type jobj struct {
	keys []string
	vals []any
}

func (o *jobj) get(k string) (any, bool) {
	for i, key := range o.keys {
		if key == k {
			return o.vals[i], true
		}
	}
	return nil, false
}

func (o *jobj) set(k string, v any) {
	for i, key := range o.keys {
		if key == k {
			o.vals[i] = v
			return
		}
	}
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

func (o *jobj) del(k string) {
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			o.vals = append(o.vals[:i], o.vals[i+1:]...)
			return
		}
	}
}

// parseTree decodes JSON into *jobj, []any, string, json.Number, bool or nil.
func parseTree(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &jobj{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				o.keys = append(o.keys, k)
				o.vals = append(o.vals, v)
			}
			_, err := dec.Token()
			return o, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			return arr, err
		}
		return nil, errors.New("unexpected delimiter")
	default:
		return tok, nil
	}
}

func appendTree(dst []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, t)
	case json.Number:
		return append(dst, t...)
	case string:
		return appendString(dst, t)
	case []any:
		dst = append(dst, '[')
		for i, e := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendTree(dst, e)
		}
		return append(dst, ']')
	case *jobj:
		dst = append(dst, '{')
		for i, k := range t.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendKey(dst, k)
			dst = appendTree(dst, t.vals[i])
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// optionalKeys names, per object path, the keys a schema marks optional. A
// path is the chain of object keys from the root; arrays add nothing, so
// "tokens.scopes" is the object inside tokens[i].scopes[j].
type optionalKeys map[string][]string

// walkObjects calls fn for every object in v with its path.
func walkObjects(v any, path string, fn func(o *jobj, path string)) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			walkObjects(e, path, fn)
		}
	case *jobj:
		fn(t, path)
		for i, k := range t.keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walkObjects(t.vals[i], p, fn)
		}
	}
}

// addExtraFields adds unknown keys to every object, as a newer API version
// would; clients must ignore them.
func addExtraFields(v any) {
	// Collect first: the added objects must not be visited themselves.
	var all []*jobj
	walkObjects(v, "", func(o *jobj, _ string) { all = append(all, o) })
	for _, o := range all {
		o.keys = append(o.keys, "x_sandbox_extra", "x_sandbox_extra_object")
		o.vals = append(o.vals, "unexpected but harmless", &jobj{
			keys: []string{"nested", "flag", "list"},
			vals: []any{&jobj{keys: []string{"deeper"}, vals: []any{json.Number("42")}}, true, []any{json.Number("1"), "two", nil}},
		})
	}
}

// rewriteOptional drops (or nulls) every key the schema marks optional.
func rewriteOptional(v any, opt optionalKeys, toNull bool) {
	walkObjects(v, "", func(o *jobj, path string) {
		for _, k := range opt[path] {
			if _, ok := o.get(k); !ok {
				continue
			}
			if toNull {
				o.set(k, nil)
			} else {
				o.del(k)
			}
		}
	})
}
