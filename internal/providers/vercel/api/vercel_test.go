package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

func newTestClient(t testing.TB, token, base string) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: base + "/vercel", Timeout: 5 * time.Second, MaxRetries: 3,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// walk lists every page, returning the tokens and the error that ended the walk.
func walk(c *Client, o ListOptions) ([]Token, error) {
	var all []Token
	for page, err := range c.Tokens(context.Background(), o) {
		if err != nil {
			return all, err
		}
		all = append(all, page...)
	}
	return all, nil
}

func ids(tokens []Token) []string {
	var out []string
	for _, t := range tokens {
		out = append(out, t.ID)
	}
	return out
}

func sandboxIDs(sb *sandbox.Sandbox) []string {
	var out []string
	for _, t := range sb.VercelTokens() {
		out = append(out, t.ID)
	}
	return out
}

func TestTokensWalksEveryTokenOnceInEachCursorMode(t *testing.T) {
	for _, mode := range []string{"number", "string", "mixed"} {
		for _, ahead := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/ahead=%d", mode, ahead), func(t *testing.T) {
				t.Parallel()
				sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 239}, Options: map[string]string{"vercel.cursor": mode}})
				got, err := walk(newTestClient(t, sb.VercelToken(), u), ListOptions{Ahead: ahead})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids(got), sandboxIDs(sb)) {
					t.Fatalf("%d tokens, not the sandbox's %d in order", len(got), len(sandboxIDs(sb)))
				}
				var untils []string
				for _, r := range sb.Requests() {
					q, _ := url.ParseQuery(r.RawQuery)
					untils = append(untils, q.Get("until"))
				}
				if len(untils) != 3 || untils[0] != "" || untils[1] == "" || untils[2] == "" {
					t.Fatalf("pages asked with until %q", untils)
				}
			})
		}
	}
}

func TestPageSizeIsAskedBeforeEachPage(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 109}})
	sizes := []int{5, 250, 0}
	var asked int
	got, err := walk(newTestClient(t, sb.VercelToken(), u), ListOptions{PageSize: func() int {
		n := sizes[min(asked, len(sizes)-1)]
		asked++
		return n
	}})
	if err != nil || len(got) != 120 {
		t.Fatalf("%d tokens, %v", len(got), err)
	}
	var limits []string
	for _, r := range sb.Requests() {
		q, _ := url.ParseQuery(r.RawQuery)
		limits = append(limits, q.Get("limit"))
	}
	// clamped to 1..100: 5, then 100 (250 asked), then 1 (0 asked) until the end
	if len(limits) < 3 || limits[0] != "5" || limits[1] != "100" || limits[2] != "1" {
		t.Fatalf("limits %v", limits)
	}
}

func TestBeforeNextRunsBetweenPagesAndCanStop(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 289}})
	var calls atomic.Int32
	stop := errors.New("enough")
	got, err := walk(newTestClient(t, sb.VercelToken(), u), ListOptions{Ahead: 2, BeforeNext: func(context.Context) error {
		if calls.Add(1) == 2 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || len(got) != 200 || sb.Count(sandbox.ProviderVercel, "GET", "/v6/user/tokens") != 2 {
		t.Fatalf("%d tokens, %v, %d pages", len(got), err, sb.Count(sandbox.ProviderVercel, "GET", "/v6/user/tokens"))
	}
}

// Breaking out of the loop stops the fetcher, and no request follows: under -race
// this is the check that the fetcher and the consumer share nothing unguarded.
func TestBreakingOutStopsTheFetcher(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 989}, Latency: 5 * time.Millisecond})
	c := newTestClient(t, sb.VercelToken(), u)
	for page, err := range c.Tokens(context.Background(), ListOptions{Ahead: 2}) {
		if err != nil || len(page) != 100 {
			t.Fatalf("%d tokens, %v", len(page), err)
		}
		break
	}
	time.Sleep(50 * time.Millisecond) // requests cut short are logged as their handlers end
	n := sb.Count(sandbox.ProviderVercel, "", "")
	time.Sleep(100 * time.Millisecond)
	if n > 3 || sb.Count(sandbox.ProviderVercel, "", "") != n {
		t.Fatalf("%d requests, then %d: the fetcher went on", n, sb.Count(sandbox.ProviderVercel, "", ""))
	}
}

func TestCancelledListingStops(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 989}, Latency: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var err error
	for _, err = range newTestClient(t, sb.VercelToken(), u).Tokens(ctx, ListOptions{Ahead: 2}) {
		if err != nil {
			break
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestLoopingCursorsStop(t *testing.T) {
	for kind, want := range map[string]string{
		"repeat_cursor":        "page 2 repeats an earlier pagination cursor; stopping rather than looping",
		"empty_page_with_next": "page 2 is empty but names a next page; stopping rather than looping",
	} {
		t.Run(kind, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 189}})
			sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Path: "/v6/user/tokens", After: 1, Kind: kind})
			_, err := walk(newTestClient(t, sb.VercelToken(), u), ListOptions{})
			e := testkit.AsUpstream(t, err)
			if e.Kind != upstream.KindProtocol || !strings.Contains(err.Error(), want) || sb.Count("", "", "") != 2 {
				t.Fatalf("%v after %d requests", err, sb.Count("", "", ""))
			}
		})
	}
}

func TestOversizedPageIsTakenWhole(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{Generate: map[string]int{"vercel": 389}})
	sb.AddFault(sandbox.Fault{Provider: sandbox.ProviderVercel, Path: "/v6/user/tokens", Kind: "oversized_page"})
	got, err := walk(newTestClient(t, sb.VercelToken(), u), ListOptions{PageSize: func() int { return 50 }})
	if err != nil || !slices.Equal(ids(got), sandboxIDs(sb)) {
		t.Fatalf("%d tokens, %v", len(got), err)
	}
}

// serve answers every request with body (and status 200).
func serve(t *testing.T, body string) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
	t.Cleanup(ts.Close)
	return ts.URL
}

// Vercel's bodies vary: unknown keys, optional keys absent or null, an empty list
// answered with pagination {}, cursors of two types. All decode.
func TestTolerantBodies(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		ids  []string
	}{
		"unknown keys":            {`{"tokens":[{"id":"a","name":"x","type":"t","createdAt":1,"activeAt":2,"newField":{"x":1}}],"pagination":{"count":1,"next":null,"prev":null,"more":true}}`, []string{"a"}},
		"optional keys null":      {`{"tokens":[{"id":"a","name":"x","type":"t","createdAt":1,"activeAt":2,"prefix":null,"expiresAt":null,"scopes":null}],"pagination":{"next":null}}`, []string{"a"}},
		"an empty account":        {`{"tokens":[],"pagination":{}}`, nil},
		"no pagination":           {`{"tokens":[{"id":"a","name":"x","type":"t","createdAt":1,"activeAt":2}]}`, []string{"a"}},
		"a float timestamp":       {`{"tokens":[{"id":"a","name":"x","type":"t","createdAt":1.7e12,"activeAt":2}],"pagination":{"next":null}}`, []string{"a"}},
		"next of zero is the end": {`{"tokens":[{"id":"a","name":"x","type":"t","createdAt":1,"activeAt":2}],"pagination":{"next":0}}`, []string{"a"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := walk(newTestClient(t, "tok", serve(t, tc.body)), ListOptions{})
			if err != nil || !slices.Equal(ids(got), tc.ids) {
				t.Fatalf("%v %v", ids(got), err)
			}
			for _, tok := range got {
				if tok.Prefix != nil || tok.ExpiresAt.Ptr() != nil || tok.ScopesJSON() != nil || tok.TeamID() != nil {
					t.Fatalf("an absent or null optional field is not nil: %#v", tok)
				}
			}
		})
	}
}

// Bodies that are JSON but not a token list: the error says which part, and quotes nothing.
func TestWrongShapes(t *testing.T) {
	for body, want := range map[string]string{
		`{"pagination":{}}`:                           "no tokens array",
		`{"tokens":[{"name":"x"}]}`:                   "tokens[0] has no id",
		`{"tokens":{},"pagination":[]}`:               "JSON of an unexpected shape",
		`{"tokens":[],"pagination":{"next":{"a":1}}}`: "pagination.next is neither a number, a string nor null",
	} {
		_, err := walk(newTestClient(t, "tok", serve(t, body)), ListOptions{})
		e := testkit.AsUpstream(t, err)
		if e.Kind != upstream.KindDecode || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// A page whose cursor reads one way to the peek and another to the decoder (a key
// given twice) stops a prefetching listing with its error: no rows of it or of the
// pages fetched after it, and at most Ahead+1 requests beyond it.
func TestPageReadTwoWaysStopsAPrefetchingListing(t *testing.T) {
	pages := map[string]string{
		"":  `{"tokens":[{"id":"a"}],"pagination":{"next":1}}`,
		"1": `{"tokens":[{"id":"b"}],"pagination":{"next":2},"pagination":{"next":3}}`,
		"2": `{"tokens":[{"id":"c"}],"pagination":{"next":4}}`,
		"3": `{"tokens":[{"id":"x"}],"pagination":{"next":null}}`,
		"4": `{"tokens":[{"id":"d"}],"pagination":{"next":5}}`,
		"5": `{"tokens":[{"id":"e"}],"pagination":{"next":null}}`,
	}
	var requests atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, pages[r.URL.Query().Get("until")])
	}))
	t.Cleanup(ts.Close)
	got, err := walk(newTestClient(t, "tok", ts.URL), ListOptions{Ahead: 2})
	e := testkit.AsUpstream(t, err)
	if !slices.Equal(ids(got), []string{"a"}) || e.Kind != upstream.KindDecode ||
		!strings.Contains(err.Error(), "JSON of an unexpected shape (pagination or tokens given twice)") {
		t.Fatalf("%v %v", ids(got), err)
	}
	if n := requests.Load(); n < 2 || n > 2+3 {
		t.Fatalf("%d requests, want 2 to 5", n)
	}
}

func TestGetCurrentAndUser(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.VercelToken(), u)
	ctx := context.Background()
	one, err := c.GetToken(ctx, "tok_Rayc4stM1n1mal0K3y")
	if err != nil || one == nil || one.Name != "raycast" {
		t.Fatalf("get: %+v %v", one, err)
	}
	if missing, err := c.GetToken(ctx, "tok_none"); err != nil || missing != nil {
		t.Fatalf("a token Vercel does not know: %+v %v", missing, err)
	}
	current, err := c.CurrentToken(ctx)
	if err != nil || current.ID != sandbox.CurrentVercelTokenID {
		t.Fatalf("current: %+v %v", current, err)
	}
	user, err := c.User(ctx)
	if err != nil || user.Email != "ada@example.com" {
		t.Fatalf("user: %+v %v", user, err)
	}
	if sb.Requests()[0].Path != "/v5/user/tokens/tok_Rayc4stM1n1mal0K3y" || sb.Requests()[2].Path != "/v5/user/tokens/current" {
		t.Fatalf("paths %v", sb.Requests())
	}
}

func TestCreateAndDelete(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb.VercelToken(), u)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	made, err := c.CreateToken(ctx, CreateParams{Name: "bot", ExpiresAt: &exp, TeamID: sandbox.TeamAnalytics})
	if err != nil || made.Token.Name != "bot" || made.BearerToken == "" || *made.Token.TeamID() != sandbox.TeamAnalytics || !made.Token.ExpiresAt.Equal(exp) {
		t.Fatalf("create: %+v %v", made, err)
	}
	if err := c.DeleteToken(ctx, made.Token.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteToken(ctx, made.Token.ID); !errors.Is(err, ErrNoSuchToken) {
		t.Fatalf("deleting it again: %v", err)
	}
}

// What a failed write leaves behind is the error's Acted(); the table turns it into words.
func TestWriteOutcomes(t *testing.T) {
	cases := []struct {
		name    string
		fault   sandbox.Fault
		call    func(c *Client) error
		acted   upstream.Acted
		ok      bool
		creates int
	}{
		{"create refused", sandbox.Fault{Kind: "status", Status: 400}, create, upstream.ActedNo, false, 1},
		{"create answered 500: not repeated", sandbox.Fault{Kind: "status", Status: 500}, create, upstream.ActedMaybe, false, 1},
		{"create throttled once: repeated", sandbox.Fault{Kind: "status", Status: 429, RetryAfter: "0", Times: 1}, create, 0, true, 2},
		{"create answer cut off: not repeated", sandbox.Fault{Kind: "truncate"}, create, upstream.ActedYes, false, 1},
		{"delete answer cut off: done", sandbox.Fault{Kind: "truncate", Method: "DELETE"}, remove, 0, true, 0},
		{"delete answered 502 after deleting, then 404: done", sandbox.Fault{Kind: "acted_then_status", Status: 502, Method: "DELETE", Times: 1}, remove, 0, true, 0},
		{"delete of an unknown token", sandbox.Fault{Kind: "status", Status: 404, Method: "GET"}, removeUnknown, 0, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			tc.fault.Provider = sandbox.ProviderVercel
			sb.AddFault(tc.fault)
			err := tc.call(newTestClient(t, sb.VercelToken(), u))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
			} else if e := testkit.AsUpstream(t, err); e.Acted() != tc.acted {
				t.Fatalf("Acted() = %v, want %v: %v", e.Acted(), tc.acted, err)
			}
			if n := sb.Count(sandbox.ProviderVercel, "POST", "/v3/user/tokens"); n != tc.creates {
				t.Fatalf("%d creates, want %d", n, tc.creates)
			}
		})
	}
}

func create(c *Client) error {
	_, err := c.CreateToken(context.Background(), CreateParams{Name: "bot"})
	return err
}

func remove(c *Client) error { return c.DeleteToken(context.Background(), "tok_Rayc4stM1n1mal0K3y") }

func removeUnknown(c *Client) error {
	if err := c.DeleteToken(context.Background(), "tok_none"); !errors.Is(err, ErrNoSuchToken) {
		return fmt.Errorf("want ErrNoSuchToken, got %w", err)
	}
	return nil
}

func TestValidTokenID(t *testing.T) {
	for id, want := range map[string]bool{
		sandbox.CurrentVercelTokenID: true, "tok_abc-DEF_123": true, "current": false, "": false, "a/b": false,
		"..": false, "x y": false, "ünï": false, strings.Repeat("a", 256): true, strings.Repeat("a", 257): false,
	} {
		if ValidTokenID(id) != want {
			t.Errorf("ValidTokenID(%q) = %v", id, !want)
		}
	}
}

func TestCursorText(t *testing.T) {
	for raw, want := range map[string]string{`null`: "", ``: "", `""`: "", `0`: "", `1754400000000`: "1754400000000",
		`1.7544e12`: "1.7544e12", `"opaque+/="`: "opaque+/=", `-5`: "-5"} {
		if got, ok := cursorText([]byte(raw)); !ok || got != want {
			t.Errorf("cursorText(%s) = %q %v", raw, got, ok)
		}
	}
	for _, bad := range []string{`{}`, `[]`, `true`, `"unterminated`} {
		if _, ok := cursorText([]byte(bad)); ok {
			t.Errorf("cursorText(%s) accepted", bad)
		}
	}
}
