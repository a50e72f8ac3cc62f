package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// Fuzz targets. Their seed corpora are real bodies and Link headers from the
// sandbox, fetched when the target starts, plus the bodies of its fault variants.

// sandboxAnswers are the bodies and Link headers of every kind of answer the client
// reads: list pages, tokens, users, roles, errors, and the body faults.
func sandboxAnswers(tb testing.TB) (bodies [][]byte, links []string) {
	tb.Helper()
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/okta"+path, nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("Authorization", "SSWS "+sb.OktaAPIToken())
		resp, err := client.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		bodies = append(bodies, b.Bytes())
		links = append(links, strings.Join(resp.Header.Values("Link"), ", "))
	}
	// small pages: the fuzzing engine slows to a crawl on seeds of several kilobytes
	get(ListPath + "?limit=2")
	get(ListPath + "?limit=2&after=" + sb.OktaTokens()[1].ID)
	get(ListPath + "/" + sandbox.OktaTokenOnLeave)
	get(ListPath + "/nope")
	for _, u := range sb.OktaUsers()[:6] {
		get("/api/v1/users/" + u.ID)
		get("/api/v1/users/" + u.ID + "/roles")
	}
	for _, kind := range []string{"repeat_cursor", "empty_page_with_next", "foreign_next", "wrong_shape", "html", "empty", "truncate"} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Kind: kind, Times: 1})
		get(ListPath + "?limit=3")
	}
	for _, status := range []int{400, 401, 403, 404, 429, 500} {
		sb.ClearFaults()
		sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderOkta, Kind: "status", Status: status, Times: 1})
		get(ListPath)
	}
	return bodies, links
}

// FuzzDecodePage: decodePage never panics; a page it accepts is a JSON array whose
// every token has an id, and a network that is JSON or nothing; a page it refuses
// gets a KindDecode *upstream.Error that describes the body without quoting it.
func FuzzDecodePage(f *testing.F) {
	bodies, _ := sandboxAnswers(f)
	for _, b := range bodies {
		f.Add(b)
	}
	for _, s := range []string{
		`[]`, `[{}]`, `[{"id":""}]`, `null`, `{}`, `[{"id":"a","created":"soon"}]`, `[{"id":"a","created":1}]`,
		`[{"id":"a","expiresAt":null,"network":null}]`, `[{"id":"a","network":"x"}]`, `[{"ID":"a","NETWORK":{"connection":"ZONE"}}]`,
		`[{"id":"a","name":"00` + strings.Repeat("Zq", 20) + `","created":"2026-01-01T00:00:00.000Z"}]`, `[{"id":"a"}`, ` `, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tokens, next, err := decodePage(&upstream.Response{Status: 200, Body: bytes.Clone(body)})
		if err != nil {
			testkit.CheckRefusal(t, body, err)
			return
		}
		if next != nil {
			t.Fatalf("a page without a Link header names a next page: %v", next)
		}
		if !json.Valid(bytes.TrimSpace(body)) || bytes.TrimSpace(body)[0] != '[' {
			t.Fatalf("accepted a body that is not a JSON array")
		}
		for i, tok := range tokens {
			if tok.ID == "" {
				t.Fatalf("token %d has no id", i)
			}
			if n := tok.NetworkJSON(); n != nil && !json.Valid(n) {
				t.Fatalf("token %d's network is not JSON: %q", i, n)
			}
		}
	})
}

// linkErrors are every error NextQuery gives: none quotes the header.
var linkErrors = []string{"the Link header's next page is not a URL", "the Link header's next page is another list than the tokens'",
	"the Link header's next page has a query that does not parse"}

// FuzzNextQuery: whatever the Link header, NextQuery never panics, names a next page
// only when a link says rel next and points at the token list, and its errors are
// fixed texts. What it returns is a query only: the page is asked of the org's own
// address (TestNextQuery, "another host").
func FuzzNextQuery(f *testing.F) {
	_, links := sandboxAnswers(f)
	for _, l := range links {
		f.Add(l)
	}
	for _, s := range []string{``, `<>`, `<x>; rel=next`, `<` + ListPath + `?after=a>; rel="next"`, `<` + ListPath + `>; rel="prev next"`,
		`<` + ListPath + `?after=%>; rel=next`, `<a>;rel=next,<b>;rel=next`, `<` + ListPath + `?a=1>; title="x,<y>"; rel=next`,
		`<http://[::1/` + ListPath + `>; rel=next`, `<` + ListPath + `?after=ü>; rel=NEXT`, `rel=next <` + ListPath + `>`, `<<<>>>;;,,""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		q, err := NextQuery([]string{header})
		if err != nil {
			if !slices.Contains(linkErrors, err.Error()) {
				t.Fatalf("an error of its own words: %q", err)
			}
			return
		}
		if q == nil {
			return
		}
		unescaped, err := url.PathUnescape(header)
		if !strings.Contains(strings.ToLower(header), "next") || (err == nil && !strings.Contains(unescaped, ListPath)) {
			t.Fatalf("a next page from %q", header)
		}
		// the query survives being sent
		if back, err := url.ParseQuery(q.Encode()); err != nil || back.Encode() != q.Encode() {
			t.Fatalf("query %v does not read back: %v", q, err)
		}
	})
}

// FuzzOwner: decodeUser and decodeRoles never panic; what they accept has the fields
// the rows need; what they refuse is a KindDecode error that quotes nothing; and
// CanWrite is false exactly when every role is a read-only admin's.
func FuzzOwner(f *testing.F) {
	bodies, _ := sandboxAnswers(f)
	for _, b := range bodies {
		f.Add(b)
	}
	for _, s := range []string{`{"id":"u","status":"ACTIVE"}`, `{"id":"u"}`, `{"id":"u","status":"ACTIVE","profile":null}`,
		`{"id":"u","status":"X","profile":{"email":7}}`, `[{"type":"READ_ONLY_ADMIN"},{"type":"CUSTOM"}]`, `[{"type":null}]`, `[null]`, `[{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp := &upstream.Response{Status: 200, Body: bytes.Clone(body)}
		if u, err := decodeUser(resp); err != nil {
			testkit.CheckRefusal(t, body, err)
		} else if u.ID == "" || u.Status == "" || (u.Active() && u.Deprovisioned()) {
			t.Fatalf("accepted user %+v", u)
		}
		roles, err := decodeRoles(resp)
		if err != nil {
			testkit.CheckRefusal(t, body, err)
			return
		}
		readOnly := true
		for _, r := range roles {
			readOnly = readOnly && r.Type == "READ_ONLY_ADMIN"
		}
		if CanWrite(roles) == readOnly {
			t.Fatalf("CanWrite(%+v) = %v", roles, CanWrite(roles))
		}
	})
}

// FuzzTokenPath: whatever the id, a GET for it can only reach /api/v1/api-tokens/<one
// segment> holding exactly that id; ids that could address anything else are refused
// by ValidTokenID, and cost no request.
func FuzzTokenPath(f *testing.F) {
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	f.Cleanup(srv.Close)
	c, err := New(upstream.Options{BaseURL: srv.URL + "/okta", Timeout: 5 * time.Second}, sb.OktaAPIToken())
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{}
	for _, tok := range sb.OktaTokens() {
		known[tok.ID] = true
		f.Add(tok.ID)
	}
	for _, id := range []string{"current", "Current", "", ".", "..", "a/b", "/", "a?b", "a#b", "%2F", "%", "a b", "ünï",
		strings.Repeat("a", 256), strings.Repeat("a", 257), "00T_abc-DEF", "a\x00b", "..%2F", "a.b", "../users/x"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		addressable := ValidTokenID(id)
		if addressable && (id == "" || id == "current" || len(id) > 256 ||
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
		rest, ok := strings.CutPrefix(r.Path, ListPath+"/")
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
