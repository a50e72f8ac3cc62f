package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Fuzz targets. Their seed corpora are real bodies from the sandbox, fetched when the
// target starts, plus the bodies of the sandbox's fault variants.

// sandboxBodies are the user-token and user lists as the server sends them, under every
// body fault, and its error bodies; owns are tokens to look for in them.
func sandboxBodies(tb testing.TB) (bodies [][]byte, owns []string) {
	tb.Helper()
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"query_server": 8}})
	var dev string
	for _, t := range sb.QueryServerUserTokens() {
		if t.ID == 2 {
			dev = t.Token
		}
	}
	srv := httptest.NewServer(sb)
	defer srv.Close()
	admin := sb.QueryServerAdminToken()
	get := func(path string) []byte {
		return testkit.FetchRaw(tb, http.MethodGet, srv.URL+"/query"+path, "Bearer "+admin, "")
	}
	bodies = append(bodies, get(UserTokenPath), get("/_/user"), get("/_/nope"),
		testkit.FetchRaw(tb, http.MethodGet, srv.URL+"/query"+UserTokenPath, "Bearer "+dev, ""),
		[]byte(`{"data":[{"id":1,"token":"a\"b\\/c","user_uuid":"u"}]}`)) // a token with JSON escapes
	for _, kind := range []string{"wrong_shape", "html", "empty", "truncate"} {
		for _, path := range []string{UserTokenPath, "/_/user"} {
			sb.ClearFaults()
			sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Kind: kind, Times: 1})
			bodies = append(bodies, get(path))
		}
	}
	for _, status := range []int{400, 500, 503} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderQueryServer, Kind: "status", Status: status, Times: 1})
		bodies = append(bodies, get(UserTokenPath))
	}
	return bodies, []string{admin, dev, `a"b\/c`, ""}
}

// visibleText is every key and value of a JSON text except the values of "token" keys
// (matched as encoding/json matches field names): what a decoder may show.
func visibleText(body []byte) string {
	var b strings.Builder
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct{ object, expectKey bool }
	var stack []frame
	skip := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return b.String()
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].expectKey = true
				}
				stack = append(stack, frame{object: d == '{', expectKey: true})
			default:
				stack = stack[:top]
			}
			skip = false
			continue
		}
		if top >= 0 && stack[top].object && stack[top].expectKey {
			key := tok.(string)
			fmt.Fprintf(&b, "%s\n", key)
			skip = strings.EqualFold(key, "token")
			stack[top].expectKey = false
			continue
		}
		if top >= 0 && stack[top].object {
			stack[top].expectKey = true
		}
		if !skip {
			fmt.Fprintf(&b, "%v\n", tok)
		}
		skip = false
	}
}

// rowTokens is, for each row of a list body, the token encoding/json would decode
// into a "token" field: the last key that folds to it holding a string (null is no
// change). ok is false when the body has no such rows.
func rowTokens(body []byte) (tokens []string, ok bool) {
	var env struct {
		Data *[]json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil || env.Data == nil {
		return nil, false
	}
	for _, raw := range *env.Data {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil, false
		}
		token := ""
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, false
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, false
			}
			if strings.EqualFold(k.(string), "token") && string(v) != "null" {
				if json.Unmarshal(v, &token) != nil {
					return nil, false
				}
			}
		}
		tokens = append(tokens, token)
	}
	return tokens, true
}

// FuzzDecodeUserTokens: decodeUserTokens never panics, always clears the body, marks a
// row current exactly when its token is own, and shows own nowhere else.
func FuzzDecodeUserTokens(f *testing.F) {
	bodies, owns := sandboxBodies(f)
	for i, b := range bodies {
		for j, own := range owns {
			if i == 0 || j == 0 { // every body with the admin token; the first with each
				f.Add(b, own)
			}
		}
	}
	for _, s := range []string{
		`{"data":[]}`, `{"data":null}`, `{"data":[null]}`, `{"data":[{}]}`, `{"data":[1]}`, `{"data":{}}`, `[]`,
		`{"data":[{"id":1,"token":"eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig"}]}`,
		`{"data":[{"id":"7","TOKEN":"eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig","token":null,"active":true,"write":"1"}]}`,
		`{"data":[{"id":1.5e3,"user_uuid":12345678,"expiration_date":"1752067200000","active":false,"created_at":null}]}`,
		`{"data":[{"id":1,"token":"eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig"},{"id":2,"token":"eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig"}]}`,
		`{"data":[{"id":1,"token":5}]}`, `{"data":[{"id":1,"user_uuid":{"token":"x"}}]}`, `{"Data":[{"Id":1}],"DATA":null}`,
	} {
		f.Add([]byte(s), "eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig")
	}
	f.Fuzz(func(t *testing.T, body []byte, own string) {
		buf := bytes.Clone(body)
		rows, err := decodeUserTokens(&upstream.Response{Status: 200, Body: buf}, []byte(own))
		if i := bytes.IndexFunc(buf, func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("the body was not cleared: byte %d of %d is left", i, len(buf))
		}
		secret := len(own) >= 8
		if err != nil {
			if rows != nil {
				t.Fatalf("rows with an error")
			}
			testkit.CheckRefusal(t, body, err)
			if msg := err.Error(); secret && strings.Contains(msg, own) {
				if strings.ContainsFunc(own, testkit.NotInTemplates) {
					t.Fatalf("the error holds own: %s", msg)
				}
				_, err2 := decodeUserTokens(&upstream.Response{Status: 200, Body: testkit.MaskStrings(body)}, []byte(own))
				if err2 == nil || !strings.Contains(err2.Error(), own) {
					t.Fatalf("the error holds own: %s", msg)
				}
			}
			return
		}
		tokens, ok := rowTokens(body)
		if !ok || len(tokens) != len(rows) {
			t.Fatalf("%d rows decoded; the body has %d (%v)", len(rows), len(tokens), ok)
		}
		visible := ""
		if secret {
			visible = visibleText(body)
		}
		for i, r := range rows {
			if want := tokens[i] != "" && tokens[i] == own; r.IsCurrent != want {
				t.Fatalf("row %d: IsCurrent %v; its token %q, own %q", i, r.IsCurrent, tokens[i], own)
			}
			if secret && strings.Contains(r.UserUUID, own) && !strings.Contains(visible, own) {
				t.Fatalf("row %d shows own in user_uuid %q", i, r.UserUUID)
			}
			if !utf8.ValidString(r.UserUUID) {
				t.Fatalf("row %d: user_uuid %q is not valid UTF-8", i, r.UserUUID)
			}
		}
	})
}

// FuzzExpiry: ExpiresAt and Usable follow the server's rules for any pair of values.
func FuzzExpiry(f *testing.F) {
	sb := sandbox.New(sandbox.Config{Generate: map[string]int{"query_server": 14}})
	for _, r := range sb.QueryServerUserTokens() {
		f.Add(r.ExpirationDate, r.UpdatedAt)
	}
	for _, v := range [][2]int64{{0, 0}, {0, 1}, {-1, -1}, {-1, 5}, {1e11, 1}, {1e11 + 1, 1}, {1e11 + 1, 1e11 + 1},
		{math.MaxInt64, 0}, {math.MinInt64, 0}, {math.MaxInt64, math.MaxInt64}, {1, math.MinInt64}} {
		f.Add(v[0], v[1])
	}
	f.Fuzz(func(t *testing.T, exp, updated int64) {
		real := time.Now()
		nows := []time.Time{time.Unix(0, 0), time.Unix(1.75e9, 0), real, time.UnixMilli(exp)}
		if exp > math.MinInt64+1 && exp < math.MaxInt64-1 && exp > -1e15 && exp < 1e15 {
			nows = append(nows, time.Unix(exp-1, 0), time.Unix(exp, 0), time.Unix(exp+1, 0))
		}
		for _, active := range []bool{false, true} {
			tok := UserToken{ExpirationDate: exp, UpdatedAt: updated, Active: active, CreatedAt: updated}
			if tok.NeverExpires() != (exp == updated) {
				t.Fatalf("NeverExpires = %v for %d, %d", tok.NeverExpires(), exp, updated)
			}
			at := tok.ExpiresAt()
			if (at == nil) != (exp == updated || exp <= 0) {
				t.Fatalf("ExpiresAt(%d, updated %d) = %v", exp, updated, at)
			}
			if at != nil {
				if at.Location() != time.UTC {
					t.Fatalf("ExpiresAt is in %v", at.Location())
				}
				if exp > 1e11 && at.UnixMilli() != exp {
					t.Fatalf("ExpiresAt(%d) = %v, want it read as milliseconds", exp, at)
				}
				if exp <= 1e11 && (at.Unix() != exp || at.Nanosecond() != 0) {
					t.Fatalf("ExpiresAt(%d) = %v, want it read as seconds", exp, at)
				}
			}
			for _, now := range nows {
				want := active && (exp == updated || exp > now.Unix())
				if got := tok.Usable(now); got != want {
					t.Fatalf("Usable(%d, updated %d, active %v) at %d = %v", exp, updated, active, now.Unix(), got)
				}
			}
		}
	})
}
