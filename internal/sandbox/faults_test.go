package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// endpoint is one successful call per upstream, for running every fault
// kind against each.
type endpoint struct {
	upstream, method, path, body string
	auth                         func(*sandbox.Sandbox) string
	url                          string // under the server root
}

func endpoints(sb *sandbox.Sandbox) []endpoint {
	return []endpoint{
		{upstream: "vercel", method: "GET", path: "/v6/user/tokens", url: "/vercel/v6/user/tokens?limit=3",
			auth: func(s *sandbox.Sandbox) string { return bearerOf(s.VercelToken()) }},
		{upstream: "query_server", method: "GET", path: "/_/user/token", url: "/query/_/user/token",
			auth: func(s *sandbox.Sandbox) string { return bearerOf(s.QueryServerAdminToken()) }},
		{upstream: "clerk", method: "POST", path: "/v1/sign_in_tokens", url: "/clerk/v1/sign_in_tokens",
			body: `{"user_id":"` + sb.ClerkUserIDs()[0] + `"}`,
			auth: func(s *sandbox.Sandbox) string { return bearerOf(s.ClerkSecretKey()) }},
	}
}

// noReuse never reuses connections, so Go's transport does not silently
// retry a GET whose connection was reset.
var noReuse = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func send(t *testing.T, base string, e endpoint, sb *sandbox.Sandbox) (*http.Response, []byte, error) {
	t.Helper()
	var body io.Reader
	if e.body != "" {
		body = strings.NewReader(e.body)
	}
	req, _ := http.NewRequest(e.method, base+e.url, body)
	req.Header.Set("Authorization", e.auth(sb))
	resp, err := noReuse.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaultStatus(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	eps := endpoints(sb)

	// Vercel 429: error.limit, X-RateLimit-* and Retry-After only if set.
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 429, RateLimitReset: 30, Times: 1})
	resp, body, err := send(t, srv.URL, eps[0], sb)
	if err != nil || resp.StatusCode != 429 {
		t.Fatalf("%v %v", resp, err)
	}
	var v struct {
		Error struct {
			Code, Message string
			Limit         struct{ Remaining, Reset, ResetMs, Total int64 }
		}
	}
	_ = json.Unmarshal(body, &v)
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	now := time.Now().Unix()
	if v.Error.Code != "too_many_requests" || v.Error.Limit.Reset != reset || v.Error.Limit.ResetMs != reset*1000 ||
		reset < now+29 || reset > now+31 || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("429 %s headers %v", body, resp.Header)
	}
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 429, RetryAfter: "2", Times: 1})
	resp, _, _ = send(t, srv.URL, eps[0], sb)
	if resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	resp, _, _ = send(t, srv.URL, eps[0], sb)
	if resp.StatusCode != 200 {
		t.Fatal("Times not honoured")
	}

	// Query Server: plain-text bodies, 401 empty.
	for status, want := range map[int]string{500: "Internal Server Error", 401: "", 404: "404 Not Found", 400: "The body is empty"} {
		sb.AddFault(sandbox.Fault{Upstream: "query_server", Kind: "status", Status: status, Times: 1})
		resp, body, _ := send(t, srv.URL, eps[1], sb)
		if resp.StatusCode != status || string(body) != want || resp.Header.Get("Content-Type") != "" {
			t.Errorf("query %d: %d %q %v", status, resp.StatusCode, body, resp.Header)
		}
	}

	// Clerk: ClerkErrors, and 429 always carries Retry-After.
	for _, status := range []int{429, 500, 503, 401} {
		sb.AddFault(sandbox.Fault{Upstream: "clerk", Kind: "status", Status: status, Times: 1})
		resp, body, _ := send(t, srv.URL, eps[2], sb)
		var e clerkErrors
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != status || len(e.Errors) != 1 || e.ClerkTraceID == "" {
			t.Errorf("clerk %d: %d %s", status, resp.StatusCode, body)
		}
		if status == 429 && (resp.Header.Get("Retry-After") == "" || e.Errors[0].Code != "too_many_requests") {
			t.Errorf("clerk 429 without Retry-After: %v", resp.Header)
		}
	}
}

func TestFaultConnectionKinds(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	for _, e := range endpoints(sb) {
		t.Run(e.upstream, func(t *testing.T) {
			sb.ClearFaults()
			sb.ResetRequests()
			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "reset", Times: 1})
			if _, _, err := send(t, srv.URL, e, sb); err == nil {
				t.Fatal("reset: got a response")
			}
			log := sb.Requests()
			if len(log) != 1 || log[0].Fault != "reset" || log[0].Status != 0 {
				t.Fatalf("log %+v", log)
			}

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "truncate", Times: 1})
			resp, body, err := send(t, srv.URL, e, sb)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncate: err %v body %q", err, body)
			}
			_ = resp

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "hang", Delay: 150 * time.Millisecond, Times: 1})
			start := time.Now()
			resp, _, err = send(t, srv.URL, e, sb)
			if err != nil || resp.StatusCode >= 300 || time.Since(start) < 150*time.Millisecond {
				t.Fatalf("hang with Delay: %v %v after %v", resp, err, time.Since(start))
			}

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "hang", Times: 1})
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, e.method, srv.URL+e.url, strings.NewReader(e.body))
			req.Header.Set("Authorization", e.auth(sb))
			if _, err := noReuse.Do(req); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("hang forever: %v", err)
			}

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "html", Times: 1})
			resp, body, _ = send(t, srv.URL, e, sb)
			if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<html>") {
				t.Fatalf("html: %d %v %q", resp.StatusCode, resp.Header, body)
			}

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "empty", Times: 1})
			resp, body, _ = send(t, srv.URL, e, sb)
			if resp.StatusCode != 200 || len(body) != 0 {
				t.Fatalf("empty: %d %q", resp.StatusCode, body)
			}

			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "wrong_shape", Times: 1})
			_, body, _ = send(t, srv.URL, e, sb)
			want := map[string]string{"vercel": `{"tokens":{}`, "query_server": `{"data":"x"}`, "clerk": `[]`}[e.upstream]
			if !json.Valid(body) || !strings.HasPrefix(string(body), want) {
				t.Fatalf("wrong_shape: %s", body)
			}
			// The abandoned hang is logged when the server notices.
			deadline := time.Now().Add(2 * time.Second)
			for sb.Count(e.upstream, "", "") < 7 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := sb.Count(e.upstream, "", ""); got != 7 {
				for _, r := range sb.Requests() {
					t.Logf("%+v", r)
				}
				t.Fatalf("logged %d requests, want 7", got)
			}
		})
	}
}

// objects collects every JSON object in v.
func objects(v any, out *[]map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		*out = append(*out, t)
		for _, e := range t {
			objects(e, out)
		}
	case []any:
		for _, e := range t {
			objects(e, out)
		}
	}
}

func TestFaultBodyRewrites(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	optional := map[string][]string{
		"vercel":       {"prefix", "suffix", "origin", "scopes", "expiresAt"},
		"query_server": {"created_at", "updated_at"},
		"clerk":        {"token", "url"},
	}
	for _, e := range endpoints(sb) {
		t.Run(e.upstream, func(t *testing.T) {
			sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: "extra_fields", Times: 1})
			_, body, err := send(t, srv.URL, e, sb)
			var tree any
			if err != nil || json.Unmarshal(body, &tree) != nil {
				t.Fatalf("extra_fields: %v %s", err, body)
			}
			var objs []map[string]any
			objects(tree, &objs)
			for _, o := range objs {
				if _, ok := o["x_sandbox_extra"]; !ok {
					if _, nested := o["deeper"]; !nested && o["flag"] == nil {
						t.Fatalf("object without extra keys: %v", o)
					}
				}
			}

			for _, kind := range []string{"missing_optional", "null_optional"} {
				sb.AddFault(sandbox.Fault{Upstream: e.upstream, Kind: kind, Times: 1})
				_, body, _ := send(t, srv.URL, e, sb)
				var tree any
				if err := json.Unmarshal(body, &tree); err != nil {
					t.Fatalf("%s: %s", kind, body)
				}
				var objs []map[string]any
				objects(tree, &objs)
				seen := 0
				for _, o := range objs {
					for _, k := range optional[e.upstream] {
						v, ok := o[k]
						if kind == "missing_optional" && ok && k != "expiresAt" {
							t.Fatalf("%s: %s still present in %v", kind, k, o)
						}
						if kind == "null_optional" && ok {
							if v != nil && k != "expiresAt" {
								t.Fatalf("%s: %s = %v", kind, k, v)
							}
							seen++
						}
					}
				}
				if kind == "null_optional" && seen == 0 {
					t.Fatalf("null_optional nulled nothing: %s", body)
				}
			}
		})
	}
}

func TestFaultVercelListKinds(t *testing.T) {
	sb, srv := start(t, sandbox.Config{VercelCursor: "mixed"})
	auth := bearerOf(sb.VercelToken())
	page := func(until string, limit int) vercelPage {
		u := srv.URL + "/vercel/v6/user/tokens?limit=" + strconv.Itoa(limit)
		if until != "" {
			u += "&until=" + queryEscape(until)
		}
		r := call(t, http.MethodGet, u, auth, "")
		wantStatus(t, r, http.StatusOK)
		var p vercelPage
		r.json(t, &p)
		return p
	}
	first := page("", 4)
	until := cursorParam(t, first.Pagination["next"])

	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "repeat_cursor", Times: 1})
	p := page(until, 4)
	if cursorParam(t, p.Pagination["next"]) != until || len(p.Tokens) != 4 {
		t.Fatalf("repeat_cursor: next %s, sent %s", p.Pagination["next"], until)
	}

	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "empty_page_with_next", Times: 1})
	p = page(until, 4)
	if len(p.Tokens) != 0 || jsonKind(p.Pagination["next"]) == "null" {
		t.Fatalf("empty_page_with_next: %+v", p)
	}
	again := page(cursorParam(t, p.Pagination["next"]), 4)
	if string(again.Tokens[0]["id"]) != string(page(until, 4).Tokens[0]["id"]) {
		t.Fatal("following the empty page's next skipped tokens")
	}

	// Oversized pages on every request still walk every token exactly once.
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "oversized_page"})
	p = page("", 3)
	if len(p.Tokens) != 15 {
		t.Fatalf("oversized_page: %d tokens for limit 3", len(p.Tokens))
	}
	ids, _ := walkVercel(t, srv.URL, auth, 2, 10)
	if len(ids) != len(sb.VercelTokens()) {
		t.Fatalf("walk with oversized pages: %d tokens, want %d", len(ids), len(sb.VercelTokens()))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s twice", id)
		}
		seen[id] = true
	}
	sb.ClearFaults()

	// List-only kinds never touch other routes.
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "empty_page_with_next"})
	r := call(t, http.MethodGet, srv.URL+"/vercel/v2/user", auth, "")
	wantStatus(t, r, http.StatusOK)
	if reqs := sb.Requests(); reqs[len(reqs)-1].Fault != "" {
		t.Fatal("list-only fault applied to /v2/user")
	}
}

func queryEscape(s string) string {
	r := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D")
	return r.Replace(s)
}

func TestFaultSchedule(t *testing.T) {
	sb, srv := start(t, sandbox.Config{})
	e := endpoints(sb)[0]
	statuses := func(n int) []int {
		var out []int
		for range n {
			resp, _, err := send(t, srv.URL, e, sb)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.StatusCode)
		}
		return out
	}
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 500, After: 2, Times: 2})
	if got := statuses(6); !slices.Equal(got, []int{200, 200, 500, 500, 200, 200}) {
		t.Fatalf("After 2 Times 2: %v", got)
	}
	sb.ClearFaults()
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 503, Every: 3})
	if got := statuses(7); !slices.Equal(got, []int{200, 200, 503, 200, 200, 503, 200}) {
		t.Fatalf("Every 3: %v", got)
	}
	sb.ClearFaults()
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 502, After: 1, Every: 2})
	if got := statuses(5); !slices.Equal(got, []int{200, 200, 502, 200, 502}) {
		t.Fatalf("After 1 Every 2: %v", got)
	}
	sb.ClearFaults()
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 500, Method: "POST"})
	sb.AddFault(sandbox.Fault{Upstream: "vercel", Kind: "status", Status: 502, Path: "/v5/*"})
	sb.AddFault(sandbox.Fault{Upstream: "clerk", Kind: "status", Status: 500, Path: "/sign_in_tokens"})
	if got := statuses(1); got[0] != 200 {
		t.Fatal("filters matched the wrong request")
	}
	r := call(t, http.MethodGet, srv.URL+"/vercel/v5/user/tokens/current", bearerOf(sb.VercelToken()), "")
	wantStatus(t, r, 502)
	r = call(t, http.MethodPost, srv.URL+"/clerk/v1/sign_in_tokens", bearerOf(sb.ClerkSecretKey()), `{"user_id":"`+sb.ClerkUserIDs()[0]+`"}`)
	wantStatus(t, r, 500)

	for _, bad := range []sandbox.Fault{
		{Upstream: "nope", Kind: "reset"}, {Upstream: "vercel", Kind: "nope"},
		{Upstream: "clerk", Kind: "repeat_cursor"}, {Upstream: "vercel", Kind: "status"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
