package clerk

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Fuzz targets. Their seed corpora are real bodies from the sandbox, fetched when the
// target starts: sign-in tokens, every error Clerk gives here, and the fault variants.

func sandboxBodies(tb testing.TB) [][]byte {
	tb.Helper()
	sb := sandbox.New(sandbox.Config{ClerkRateLimit: -1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	base := srv.URL + "/clerk/v1"
	key := sb.ClerkSecretKey()
	users, orgs := sb.ClerkUserIDs(), sb.ClerkOrgIDs()
	post := func(path, body string) []byte { return fetchRaw(tb, http.MethodPost, base+path, key, body) }
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
		post("/sign_in_tokens", `{"user_id":"`+users[1]+`","org_id":"`+orgs[0]+`"}`),
		post("/sign_in_tokens", `{"user_id":"`+users[1]+`","expires_in_seconds":0}`),
		post("/sign_in_tokens", `{"user_id":"`+users[1]+`","color":"red"}`),
		post("/sign_in_tokens", `{}`),
		post("/sign_in_tokens", `not json`),
		fetchRaw(tb, http.MethodPost, base+"/sign_in_tokens", "sk_test_wrong", `{}`),
		fetchRaw(tb, http.MethodPost, base+"/sign_in_tokens", sb.ClerkPublishableKey(), `{}`),
		fetchRaw(tb, http.MethodGet, base+"/sign_in_tokens", key, ""),
	)
	for _, kind := range []string{"extra_fields", "missing_optional", "null_optional", "wrong_shape", "html", "empty", "truncate"} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: kind, Times: 2})
		out = append(out, post("/sign_in_tokens", `{"user_id":"`+users[2]+`"}`), post("/sign_in_tokens/sit_unknown/revoke", ""))
	}
	for _, status := range []int{400, 401, 402, 403, 404, 409, 410, 422, 423, 429, 500, 502, 503} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamClerk, Kind: "status", Status: status, Times: 1})
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
			checkRefusal(t, body, err)
			if json.Valid(body) {
				// The text of the refusal depends on the body's shape, never on its strings.
				_, err2 := decode(&upstream.Response{Status: 200, Body: maskStrings(body)})
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

func checkRefusal(t *testing.T, body []byte, err error) {
	t.Helper()
	var e *upstream.Error
	if !errors.As(err, &e) || e != err {
		t.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	if e.Kind != upstream.KindDecode {
		t.Fatalf("kind %v, want KindDecode: %v", e.Kind, err)
	}
	msg := err.Error()
	if len(body) > 20 && strings.Contains(msg, string(body)) {
		t.Fatalf("the error quotes the body: %s", msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("the error is not valid UTF-8: %q", msg)
	}
	for _, s := range stringValues(body) {
		if len(s) >= 8 && strings.ContainsFunc(s, notInTemplates) && strings.Contains(msg, s) {
			t.Fatalf("the error quotes the body's string %q: %s", s, msg)
		}
	}
}

// notInTemplates: characters no error template or Go field path has, so a body string
// holding one can only be in a message if the message quoted it.
func notInTemplates(r rune) bool {
	return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" .,:()[]_", r)))
}

// jsonStrings are the byte ranges of the string literals of a valid JSON text that are
// values (not object keys), contents only, without the quotes.
func jsonStrings(body []byte) [][2]int {
	var out [][2]int
	for i := 0; i < len(body); i++ {
		if body[i] != '"' {
			continue
		}
		start := i + 1
		j := start
		for ; j < len(body) && body[j] != '"'; j++ {
			if body[j] == '\\' {
				j++
			}
		}
		k := j + 1
		for k < len(body) && (body[k] == ' ' || body[k] == '\t' || body[k] == '\n' || body[k] == '\r') {
			k++
		}
		if k >= len(body) || body[k] != ':' {
			out = append(out, [2]int{start, min(j, len(body))})
		}
		i = j
	}
	return out
}

// maskStrings replaces the contents of every string value with as many 'x': the same
// shape and length, none of the text.
func maskStrings(body []byte) []byte {
	masked := bytes.Clone(body)
	for _, r := range jsonStrings(body) {
		for i := r[0]; i < r[1]; i++ {
			masked[i] = 'x'
		}
	}
	return masked
}

// stringValues decodes the strings of a JSON text (valid or not: as far as it parses).
func stringValues(body []byte) []string {
	var out []string
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
}
