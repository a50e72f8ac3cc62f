package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// Fuzz targets. Their seed corpora are real bodies from the sandbox, fetched when the
// target starts, plus the bodies of the sandbox's fault variants.

var cursorModes = []string{"number", "string", "mixed"}

const listPath = "/v6/user/tokens"

// sandboxBodies are list, get and user bodies in every cursor mode and under every
// body fault the sandbox has.
func sandboxBodies(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, mode := range cursorModes {
		sb := sandbox.New(sandbox.Config{Generate: map[string]int{"vercel": 12}, Options: map[string]string{"vercel.cursor": mode}})
		srv := httptest.NewServer(sb)
		auth := "Bearer " + sb.VercelToken()
		get := func(path string) []byte {
			return testkit.FetchRaw(tb, http.MethodGet, srv.URL+"/vercel"+path, auth, "")
		}
		first := get(listPath + "?limit=5")
		out = append(out, first)
		// the next pages, following the cursor as the pager would
		next, _ := pageCursor(first)
		for next != "" {
			page := get(listPath + "?limit=5&until=" + url.QueryEscape(next))
			out = append(out, page)
			next, _ = pageCursor(page)
		}
		if mode == "mixed" {
			out = append(out, get("/v5/user/tokens/current"), get("/v5/user/tokens/"+sb.VercelTokens()[3].ID),
				get("/v2/user"), get("/v5/user/tokens/nope"))
			for _, kind := range []string{"repeat_cursor", "empty_page_with_next", "oversized_page", "wrong_shape", "html", "empty", "truncate"} {
				sb.ClearFaults()
				sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Kind: kind, Times: 1})
				out = append(out, get(listPath+"?limit=3"))
			}
			for _, status := range []int{400, 403, 404, 429, 500} {
				sb.ClearFaults()
				sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Kind: "status", Status: status, Times: 1})
				out = append(out, get(listPath))
			}
		}
		srv.Close()
	}
	return append(out, []byte(`{"tokens":[],"pagination":{}}`)) // an empty account, as the CLI's fixture has it
}

// pageCursor is the next cursor of a list body, for following pages in the setup.
func pageCursor(body []byte) (string, error) {
	_, c, err := decodePage(&upstream.Response{Status: 200, Body: body})
	return c, err
}

// FuzzDecodePage: decodePage never panics; a page it accepts has an id on every token
// and a cursor that survives being sent back; a page it refuses gets a KindDecode
// *upstream.Error that describes the body without quoting it.
func FuzzDecodePage(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"tokens":[],"pagination":{}}`, `{"tokens":[]}`, `{"tokens":null}`, `{"tokens":[{}]}`, `{"tokens":[{"id":""}]}`,
		`{"tokens":[{"id":"a"}],"pagination":{"next":true}}`, `{"tokens":[{"id":"a"}],"pagination":{"next":"0"}}`,
		`{"tokens":[{"id":"a"}],"pagination":{"next":-0}}`, `{"tokens":[{"id":"a"}],"pagination":{"next":1e999}}`,
		`{"tokens":[{"id":"a","createdAt":"soon"}]}`, `{"tokens":[{"id":"a","createdAt":1e400}]}`,
		`{"tokens":[{"id":"a"}],"pagination":null}`, `{"pagination":{"next":1}}`, `[]`, `null`, `"x"`, ` `,
		`{"tokens":[{"id":"vcp` + `_secretsecretsecret","name":5}]}`, `{"TOKENS":[{"ID":"a"}],"Pagination":{"Next":"\u00e9"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tokens, cursor, err := decodePage(&upstream.Response{Status: 200, Body: bytes.Clone(body)})
		if err != nil {
			testkit.CheckRefusal(t, body, err)
			// The text of the refusal depends on the body's shape, never on its strings.
			if json.Valid(body) {
				_, _, err2 := decodePage(&upstream.Response{Status: 200, Body: testkit.MaskStrings(body)})
				if err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("the error depends on string contents: %v / with strings masked: %v", err, err2)
				}
			}
			return
		}
		if !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("accepted a body that is not JSON")
		}
		for i, tok := range tokens {
			if tok.ID == "" {
				t.Fatalf("token %d has no id", i)
			}
		}
		if cursor != "" {
			if !utf8.ValidString(cursor) {
				t.Fatalf("cursor %q is not valid UTF-8", cursor)
			}
			raw, err := json.Marshal(cursor)
			if err != nil {
				t.Fatal(err)
			}
			if back, ok := cursorText(raw); !ok || back != cursor {
				t.Fatalf("cursor %q reads back as %q, %v", cursor, back, ok)
			}
		}
	})
}

// FuzzTokenPath: whatever the id, a GET for it can only reach /v5/user/tokens/<one
// segment> holding exactly that id; ids that could address anything else are refused by
// ValidTokenID, and cost no request.
func FuzzTokenPath(f *testing.F) {
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	f.Cleanup(srv.Close)
	c, err := New(upstream.Options{BaseURL: srv.URL + "/vercel", Timeout: 5 * time.Second}, sb.VercelToken())
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{}
	for i, tok := range sb.VercelTokens() {
		known[tok.ID] = true
		if i%7 == 0 {
			f.Add(tok.ID)
		}
	}
	for _, id := range []string{"current", "Current", "", ".", "..", "a/b", "/", "a?b", "a#b", "%2F", "%", "a b", "ünï",
		strings.Repeat("a", 256), strings.Repeat("a", 257), "tok_abc-DEF_123", "a\x00b", "a\nb", "\t", "..%2F", "a.b"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		seg := upstream.Segment(id)
		if strings.Contains(seg, "/") || seg == "." || seg == ".." {
			t.Fatalf("Segment(%q) = %q", id, seg)
		}
		if back, err := url.PathUnescape(seg); err != nil || back != id {
			t.Fatalf("Segment(%q) = %q unescapes to %q, %v", id, seg, back, err)
		}
		addressable := ValidTokenID(id)
		if addressable && (id == "" || id == "." || id == ".." || id == "current" || len(id) > 256 ||
			strings.ContainsAny(id, "/?#%.") || strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || r >= utf8.RuneSelf })) {
			t.Fatalf("ValidTokenID(%q) = true", id)
		}
		if !addressable {
			return // no token has such an id: the table asks nothing
		}
		sb.ResetRequests()
		tok, err := c.GetToken(context.Background(), id)
		if err != nil {
			t.Fatalf("GetToken(%q): %v", id, err)
		}
		reqs := sb.Requests()
		if len(reqs) != 1 {
			t.Fatalf("GetToken(%q) made %d requests", id, len(reqs))
		}
		r := reqs[0]
		rest, ok := strings.CutPrefix(r.Path, "/v5/user/tokens/")
		if r.Method != http.MethodGet || !ok || rest == "" || strings.Contains(rest, "/") || r.RawQuery != "" {
			t.Fatalf("GetToken(%q) requested %s %s?%s", id, r.Method, r.Path, r.RawQuery)
		}
		if back, err := url.PathUnescape(rest); err != nil || back != id {
			t.Fatalf("GetToken(%q) requested segment %q (%q)", id, rest, back)
		}
		if known[id] != (tok != nil) || (tok != nil && tok.ID != id) {
			t.Fatalf("GetToken(%q) = %+v (known: %v)", id, tok, known[id])
		}
	})
}

// FuzzPeekedPage: reading a page's cursor before decoding it (so that the next
// request leaves first) ends as decoding first would: the same tokens and next
// cursor, or the same error. The one exception is valid JSON that gives a key
// twice, which the peek and Go's decoder read differently: the listing stops with a
// decode error rather than follow either.
func FuzzPeekedPage(f *testing.F) {
	for _, b := range sandboxBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"tokens":[{"id":"a"}],"pagination":{"next":1},"pagination":{"next":2}}`,
		`{"tokens":[{"id":"a"}],"pagination":{"next":1},"Pagination":{"next":1}}`,
		`{"tokens":[{"id":"a"}],"tokens":[{"id":"a"},{"id":"b"}],"pagination":{"next":1}}`,
		`{"TOKENS":[{"ID":"a"}],"Pagination":{"Next":"x"}}`, `{"tokens":[{"id":"a"}],"tokenſ":[{"id":"a"},{"id":"b"}],"pagination":{"next":1}}`, `{"tok\u0065ns":[{"id":"a"}],"pagination":{"next":"x"}}`,
		`{"pagination":{"next":7},"tokens":[{"id":"a"}`, `{"pagination":{"next":7},"tokens":[{"name":"a"}]}`,
		`{"pagination":{"next":7},"tokens":[]}`, `{"pagination":{"next":[7]},"tokens":[{"id":"a"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := &pager{seen: map[string]bool{}, pages: 1, peek: true}
		got, err := p.read(&upstream.Response{Status: 200, Body: bytes.Clone(body)}).decode()
		first := &pager{seen: map[string]bool{}, pages: 1} // decodes first
		want, wantErr := first.read(&upstream.Response{Status: 200, Body: bytes.Clone(body)}).decode()
		cursor := first.until
		switch {
		case wantErr != nil:
			if err == nil || err.Error() != wantErr.Error() {
				t.Fatalf("peeked: %v; decoded first: %v", err, wantErr)
			}
		case err != nil:
			if !strings.Contains(err.Error(), "(pagination or tokens given twice)") || !givesAKeyTwice(body) {
				t.Fatalf("peeked: %v; decoded first: %d tokens, cursor %q", err, len(want), cursor)
			}
		case !reflect.DeepEqual(got, want) || p.until != cursor || p.done != first.done:
			t.Fatalf("peeked: %d tokens, next %q (done %v); decoded first: %d tokens, next %q", len(got), p.until, p.done, len(want), cursor)
		}
	})
}

// givesAKeyTwice: body is a JSON object with "tokens" or "pagination" twice, or
// "next" twice in a "pagination", the keys compared as Go's decoder matches them
// (unescaped, in any case).
func givesAKeyTwice(body []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return false
	}
	twice := func(obj []byte, keys ...string) bool {
		dec := json.NewDecoder(bytes.NewReader(obj))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return false
		}
		seen := make([]int, len(keys))
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return false
			}
			for i, want := range keys {
				if strings.EqualFold(k.(string), want) { // Go's folding: ſ is s, K is k
					seen[i]++
				}
			}
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return false
			}
		}
		return slices.ContainsFunc(seen, func(n int) bool { return n > 1 })
	}
	if twice(body, "tokens", "pagination") {
		return true
	}
	for k, v := range top {
		if strings.EqualFold(k, "pagination") && twice(v, "next") {
			return true
		}
	}
	return false
}
