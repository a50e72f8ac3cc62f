// Package testkit holds what the upstream clients' tests share: a sandbox over real
// HTTP, typed-error assertions, and helpers that look at a JSON body's strings, so a
// fuzz target can check that an error describes a body without quoting it.
package testkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// StartSandbox serves a new sandbox over HTTP for the test and returns its base URL.
func StartSandbox(tb testing.TB, cfg sandbox.Config) (*sandbox.Sandbox, string) {
	tb.Helper()
	sb := sandbox.New(cfg)
	srv := httptest.NewServer(sb)
	tb.Cleanup(srv.Close)
	return sb, srv.URL
}

// AsUpstream returns the *upstream.Error in err, failing the test if there is none.
func AsUpstream(tb testing.TB, err error) *upstream.Error {
	tb.Helper()
	var e *upstream.Error
	if !errors.As(err, &e) {
		tb.Fatalf("want an *upstream.Error, got %T: %v", err, err)
	}
	return e
}

// NotInTemplates: characters no error template or Go field path has, so a body string
// holding one can only be in a message if the message quoted it.
func NotInTemplates(r rune) bool {
	return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(" .,:()[]_", r)))
}

// jsonStrings are the byte ranges of the string literals of a JSON text that are
// values (not object keys), contents only, without the quotes. An unterminated string
// runs to the end of the text.
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

// MaskStrings replaces the contents of every string value with as many 'x': the same
// shape and length, none of the text.
func MaskStrings(body []byte) []byte {
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

// CheckRefusal: a body the client refused gives exactly an *upstream.Error of
// KindDecode, in valid UTF-8, that quotes neither the body nor any distinctive
// string of it.
func CheckRefusal(tb testing.TB, body []byte, err error) {
	tb.Helper()
	var e *upstream.Error
	if !errors.As(err, &e) || e != err {
		tb.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	if e.Kind != upstream.KindDecode {
		tb.Fatalf("kind %v, want KindDecode: %v", e.Kind, err)
	}
	msg := err.Error()
	if len(body) > 20 && strings.Contains(msg, string(body)) {
		tb.Fatalf("the error quotes the body: %s", msg)
	}
	if !utf8.ValidString(msg) {
		tb.Fatalf("the error is not valid UTF-8: %q", msg)
	}
	for _, s := range stringValues(body) {
		if len(s) >= 8 && strings.ContainsFunc(s, NotInTemplates) && strings.Contains(msg, s) {
			tb.Fatalf("the error quotes the body's string %q: %s", s, msg)
		}
	}
}

// FetchRaw sends one request to the sandbox and returns the body as sent: for a body
// cut off mid-way, the part that arrived. authorization is the whole header value.
func FetchRaw(tb testing.TB, method, url, authorization, body string) []byte {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	return b
}

// AssertNoSecret fails the test if any secret the sandbox knows is in the values
// (rendered with %#v, so struct fields count).
func AssertNoSecret(tb testing.TB, sb *sandbox.Sandbox, values ...any) {
	tb.Helper()
	text := fmt.Sprintf("%#v", values)
	for _, secret := range sb.Secrets() {
		if strings.Contains(text, secret) {
			tb.Fatalf("a secret (%d chars, starting %q) reached a value or message", len(secret), secret[:min(4, len(secret))])
		}
	}
}
