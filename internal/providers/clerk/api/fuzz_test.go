package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Fuzz targets. Their seed corpora are real bodies from the sandbox, fetched when the
// target starts: sign-in tokens, every error Clerk gives here, and the fault variants.

func sandboxBodies(tb testing.TB) [][]byte {
	tb.Helper()
	sb := sandbox.New(sandbox.Config{Options: map[string]string{"clerk.rate_limit": "-1"}})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	base := srv.URL + "/clerk/v1"
	key := sb.ClerkSecretKey()
	users, orgs := sandbox.ClerkUsers, sandbox.ClerkOrgs
	post := func(path, body string) []byte {
		return testkit.FetchRaw(tb, http.MethodPost, base+path, "Bearer "+key, body)
	}
	var out [][]byte
	created := post("/sign_in_tokens", `{"user_id":"`+users[0]+`","org_id":"`+orgs[0]+`","expires_in_seconds":600}`)
	out = append(out, created)
	var t SignInToken
	if err := json.Unmarshal(created, &t); err != nil || t.ID == "" {
		tb.Fatalf("create: %s", created)
	}
	out = append(out,
		post("/sign_in_tokens/"+t.ID+"/revoke", ""),
		post("/sign_in_tokens/"+t.ID+"/revoke", ""), // 400: not pending
		post("/sign_in_tokens/sit_unknown/revoke", ""),
		post("/sign_in_tokens", `{"user_id":"user_nobody"}`),
		post("/sign_in_tokens", `{"user_id":"`+users[0]+`","org_id":"`+orgs[1]+`"}`),
		post("/sign_in_tokens", `{"user_id":"`+users[1]+`","expires_in_seconds":0}`),
		post("/sign_in_tokens", `{"user_id":"`+users[1]+`","color":"red"}`),
		post("/sign_in_tokens", `{}`),
		post("/sign_in_tokens", `not json`),
		testkit.FetchRaw(tb, http.MethodPost, base+"/sign_in_tokens", "Bearer "+"sk_test_wrong", `{}`),
		testkit.FetchRaw(tb, http.MethodPost, base+"/sign_in_tokens", "Bearer "+sb.ClerkPublishableKey(), `{}`),
		testkit.FetchRaw(tb, http.MethodGet, base+"/sign_in_tokens", "Bearer "+key, ""),
	)
	for _, kind := range []string{"wrong_shape", "html", "empty", "truncate"} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Kind: kind, Times: 2})
		out = append(out, post("/sign_in_tokens", `{"user_id":"`+users[2]+`"}`), post("/sign_in_tokens/sit_unknown/revoke", ""))
	}
	for _, status := range []int{400, 401, 402, 403, 404, 409, 410, 422, 423, 429, 500, 502, 503} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderClerk, Kind: "status", Status: status, Times: 1})
		out = append(out, post("/sign_in_tokens", `{"user_id":"`+users[2]+`"}`))
	}
	return out
}

var handmade = []string{
	``, ` `, `null`, `[]`, `{}`, `"x"`, `{"errors":null}`, `{"errors":[]}`, `{"errors":[null]}`, `{"errors":{}}`,
	`{"errors":[{"code":5}]}`, `{"errors":[{"code":"a","long_message":"\u00e9\ud800"}]}`, "{\"errors\":[{\"message\":\"\xff\xfe\"}]}",
	"plain \xff\xfe text", `<html>oops</html>`, `{"id":""}`, `{"id":"sit_1","created_at":"soon"}`, `{"id":"sit_1","url":5}`,
	`{"ID":"sit_1","Token":"eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl","created_at":1e400}`,
}

// FuzzParseError: parseError never panics, and what it returns is valid UTF-8, or the
// body's own text when the body is not Clerk's JSON.
func FuzzParseError(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		f.Add(b)
	}
	for _, s := range handmade {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := bytes.Clone(body)
		code, msg := parseError(in)
		if !bytes.Equal(in, body) {
			t.Fatal("parseError changed the body")
		}
		if !utf8.ValidString(code) {
			t.Fatalf("code %q is not valid UTF-8", code)
		}
		if !utf8.ValidString(msg) && msg != string(bytes.TrimSpace(body)) {
			t.Fatalf("message %q is neither valid UTF-8 nor the body's text", msg)
		}
		if code != "" && !json.Valid(body) {
			t.Fatalf("a code %q from a body that is not JSON", code)
		}
		code2, msg2 := parseError(body)
		if code2 != code || msg2 != msg {
			t.Fatal("parseError is not deterministic")
		}
	})
}

// FuzzDecode: decode never panics; a token it accepts has an id and text that is valid
// UTF-8; a body it refuses gets a KindDecode *upstream.Error that quotes none of it
// (a sign-in token body holds a live ticket).
func FuzzDecode(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		f.Add(b)
	}
	for _, s := range handmade {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := decode(&upstream.Response{Status: 200, Body: bytes.Clone(body)})
		if err != nil {
			if tok != nil {
				t.Fatal("a token with an error")
			}
			testkit.CheckRefusal(t, body, err)
			if json.Valid(body) {
				// The text of the refusal depends on the body's shape, never on its strings.
				_, err2 := decode(&upstream.Response{Status: 200, Body: testkit.MaskStrings(body)})
				if err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("the error depends on string contents: %v / with strings masked: %v", err, err2)
				}
			}
			return
		}
		if tok.ID == "" {
			t.Fatal("accepted a token without an id")
		}
		texts := []string{tok.ID, tok.Status, tok.UserID, tok.Token}
		if tok.URL != nil {
			texts = append(texts, *tok.URL)
		}
		for _, s := range texts {
			if !utf8.ValidString(s) {
				t.Fatalf("%q is not valid UTF-8", s)
			}
		}
	})
}
