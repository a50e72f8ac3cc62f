package upstream

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"time"
)

// Millis is an epoch time in milliseconds, as Vercel and Clerk send them. It accepts
// integers and floats; JSON null leaves a *Millis nil.
type Millis struct{ time.Time }

func (m *Millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string", Type: timeType}
	}
	ms, ok := toInt64(f)
	if !ok {
		return &json.UnmarshalTypeError{Value: "number " + string(b), Type: timeType}
	}
	m.Time = time.UnixMilli(ms).UTC()
	return nil
}

// toInt64 converts a float that has an int64 value (truncating any fraction); NaN,
// infinities and values outside int64's range have none. Go leaves their conversion
// to the platform, so they must be refused before it.
func toInt64(f float64) (int64, bool) {
	if math.IsNaN(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// Ptr returns the time, or nil for a nil or zero value.
func (m *Millis) Ptr() *time.Time {
	if m == nil || m.IsZero() || m.Unix() == 0 {
		return nil
	}
	t := m.Time
	return &t
}

var (
	timeType   = reflect.TypeOf(time.Time{})
	int64Type  = reflect.TypeOf(int64(0))
	stringType = reflect.TypeOf("")
)

// EpochAuto converts an epoch that may be seconds or milliseconds: values above 1e11
// (year 5138 in seconds) can only be milliseconds. Zero and below are no time at all.
func EpochAuto(v int64) *time.Time {
	if v <= 0 {
		return nil
	}
	var t time.Time
	if v > 1e11 {
		t = time.UnixMilli(v).UTC()
	} else {
		t = time.Unix(v, 0).UTC()
	}
	return &t
}

// Number is a JSON number that also accepts a numeric string, a boolean (as 0/1) and null.
// The Query Server sends SQLite values as they are stored, so a column's JSON type can vary.
type Number struct {
	Value int64
	Valid bool
}

func (n *Number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "null":
		*n = Number{}
		return nil
	case "true":
		*n = Number{1, true}
		return nil
	case "false":
		*n = Number{0, true}
		return nil
	}
	s := string(b)
	if len(b) > 1 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Number{i, true}
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	i, ok := toInt64(f)
	if err != nil || !ok {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: int64Type}
	}
	*n = Number{i, true}
	return nil
}

// Text is a JSON string that also accepts a number (kept as its digits) and null.
type Text string

func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err == nil {
		*t = Text(b)
		return nil
	}
	return &json.UnmarshalTypeError{Value: "object", Type: stringType}
}

// PlainMessage turns a non-JSON error body into message text.
func PlainMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		return ""
	case body[0] == '<':
		return "an HTML error page"
	}
	return string(body)
}
