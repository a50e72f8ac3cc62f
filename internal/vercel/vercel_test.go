package vercel

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

// The client against the sandbox's Vercel, over real HTTP.

const listPath = "/v6/user/tokens"

var cursorModes = []string{"number", "string", "mixed"}

// newTestClient has fast retries: 3 after the first attempt, backoff of milliseconds.
func newTestClient(t testing.TB, sb *sandbox.Sandbox, serverURL string) *Client {
	t.Helper()
	return newClientWithToken(t, serverURL, sb.VercelToken(), 3)
}

func newClientWithToken(t testing.TB, serverURL, token string, retries int) *Client {
	t.Helper()
	c, err := New(upstream.Options{BaseURL: serverURL + "/vercel", Authorization: "Bearer " + token,
		MaxRetries: retries, Timeout: 5 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// walk pages until the pager says there is no more, or fails.
func walk(t *testing.T, p *Pager) ([]Token, error) {
	t.Helper()
	var all []Token
	for p.More() {
		page, err := p.Next(context.Background())
		if err != nil {
			return all, err
		}
		all = append(all, page...)
		if p.Pages() > 1000 {
			t.Fatal("the pager does not stop")
		}
	}
	return all, nil
}

func ids(tokens []Token) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = t.ID
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

// listQueries are the query strings of the list requests the sandbox received, in order.
func listQueries(t *testing.T, sb *sandbox.Sandbox) []url.Values {
	t.Helper()
	var out []url.Values
	for _, r := range sb.Requests() {
		if r.Upstream != sandbox.UpstreamVercel || r.Path != listPath {
			continue
		}
		q, err := url.ParseQuery(r.RawQuery)
		if err != nil {
			t.Fatalf("list request with an unparseable query %q: %v", r.RawQuery, err)
		}
		out = append(out, q)
	}
	return out
}

func assertEveryTokenOnce(t *testing.T, sb *sandbox.Sandbox, got []Token) {
	t.Helper()
	want := sandboxIDs(sb)
	seen := map[string]bool{}
	for _, id := range ids(got) {
		if seen[id] {
			t.Fatalf("token %s listed twice", id)
		}
		seen[id] = true
	}
	if !reflect.DeepEqual(ids(got), want) {
		t.Fatalf("listed %d tokens %v\nwant %d in list order %v", len(got), ids(got), len(want), want)
	}
}

func isNumeric(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func TestPagerWalksEveryTokenOnceInEachCursorMode(t *testing.T) {
	for _, mode := range cursorModes {
		sb, u := testkit.StartSandbox(t, sandbox.Config{VercelCursor: mode})
		c := newTestClient(t, sb, u)
		n := len(sb.VercelTokens())
		for _, size := range []int{1, 7, 10, n, MaxPageSize} {
			t.Run(mode+"/"+strconv.Itoa(size), func(t *testing.T) {
				sb.ResetRequests()
				p := c.Tokens(size)
				got, err := walk(t, p)
				if err != nil {
					t.Fatal(err)
				}
				assertEveryTokenOnce(t, sb, got)
				pages := (n + size - 1) / size
				qs := listQueries(t, sb)
				if len(qs) != pages || p.Pages() != pages || p.More() {
					t.Fatalf("%d requests, Pages %d, More %v; want %d pages then stop at next: null", len(qs), p.Pages(), p.More(), pages)
				}
				for i, q := range qs {
					if q.Get("limit") != strconv.Itoa(size) {
						t.Fatalf("request %d asked limit=%q, want %d", i, q.Get("limit"), size)
					}
					until := q.Get("until")
					if i == 0 {
						if q.Has("until") {
							t.Fatalf("the first request sent until=%q", until)
						}
						continue
					}
					// Each mode's cursor type reaches the next request unchanged.
					wantNumber := mode == "number" || (mode == "mixed" && i%2 == 1)
					if until == "" || isNumeric(until) != wantNumber {
						t.Fatalf("request %d sent until=%q; a %s cursor was expected", i, until, map[bool]string{true: "number", false: "string"}[wantNumber])
					}
				}
			})
		}
	}
}

func TestPagerEmptyAccount(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{VercelTokens: -1})
	p := newTestClient(t, sb, u).Tokens(10)
	got, err := walk(t, p)
	if err != nil || len(got) != 0 || p.Pages() != 1 {
		t.Fatalf("empty account (pagination {}): %d tokens, %d pages, err %v", len(got), p.Pages(), err)
	}
}

func TestSetPageSize(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	p := c.Tokens(5)
	var got []Token
	for _, next := range []int{12, 0, 1000} {
		page, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		p.SetPageSize(next)
	}
	rest, err := walk(t, p)
	if err != nil {
		t.Fatal(err)
	}
	assertEveryTokenOnce(t, sb, append(got, rest...))
	var limits []string
	for _, q := range listQueries(t, sb) {
		limits = append(limits, q.Get("limit"))
	}
	// 5, then 12, then 0 clamped to 1, then 1000 clamped to 100 (the rest in one page).
	if want := []string{"5", "12", "1", "100"}; !reflect.DeepEqual(limits, want) {
		t.Fatalf("limits sent %v, want %v", limits, want)
	}

	for size, want := range map[int]string{-3: "1", 0: "1", 1: "1", 100: "100", 101: "100", 1 << 30: "100"} {
		sb.ResetRequests()
		if _, err := c.Tokens(size).Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := listQueries(t, sb)[0].Get("limit"); got != want {
			t.Errorf("Tokens(%d) asked limit=%s, want %s", size, got, want)
		}
	}
}

// A cursor that names the page just served, or an empty page that claims a successor,
// must end the listing with a protocol error instead of looping.
func TestPagerStopsOnLoopingCursors(t *testing.T) {
	for _, mode := range cursorModes {
		for _, kind := range []string{"repeat_cursor", "empty_page_with_next"} {
			for _, after := range []int{0, 2} {
				t.Run(mode+"/"+kind+"/after_"+strconv.Itoa(after), func(t *testing.T) {
					sb, u := testkit.StartSandbox(t, sandbox.Config{VercelCursor: mode})
					sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: kind, After: after})
					p := newTestClient(t, sb, u).Tokens(5)
					got, err := walk(t, p)
					e := testkit.AsUpstream(t, err)
					if e.Kind != upstream.KindProtocol {
						t.Fatalf("kind %v, want KindProtocol: %v", e.Kind, err)
					}
					// repeat_cursor from the first page: that page's cursor is new, so the
					// loop shows on the second request. Otherwise the faulty page itself fails.
					want := after + 1
					if kind == "repeat_cursor" && after == 0 {
						want = 2
					}
					if n := sb.Count(sandbox.UpstreamVercel, "GET", listPath); n != want {
						t.Fatalf("%d list requests, want %d", n, want)
					}
					if p.More() {
						t.Fatal("More() after the protocol error")
					}
					if len(got) != 5*(want-1) {
						t.Fatalf("%d tokens before the error, want %d", len(got), 5*(want-1))
					}
				})
			}
		}
	}
}

func TestPagerAcceptsOversizedPageWhole(t *testing.T) {
	for _, mode := range cursorModes {
		t.Run(mode, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{VercelCursor: mode})
			sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: "oversized_page", Times: 1})
			p := newTestClient(t, sb, u).Tokens(4)
			first, err := p.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != 20 {
				t.Fatalf("first page has %d tokens, want all 20 the server sent for limit 4", len(first))
			}
			rest, err := walk(t, p)
			if err != nil {
				t.Fatal(err)
			}
			assertEveryTokenOnce(t, sb, append(first, rest...))
		})
	}
}

// Bodies no client may accept. html is a proxy's 502 page (a status error after the
// retries); truncate declares a Content-Length and hangs up half-way (a network error
// carrying the 200 it was cut from, after the retries).
func TestUnusableBodies(t *testing.T) {
	cases := []struct {
		kind     string
		want     upstream.Kind
		status   int
		attempts int
	}{
		{"wrong_shape", upstream.KindDecode, 200, 1},
		{"empty", upstream.KindDecode, 200, 1},
		{"html", upstream.KindStatus, 502, 4},
		{"truncate", upstream.KindNetwork, 200, 4},
	}
	calls := map[string]func(*Client, *sandbox.Sandbox) error{
		"list": func(c *Client, _ *sandbox.Sandbox) error {
			_, err := c.Tokens(10).Next(context.Background())
			return err
		},
		"get": func(c *Client, sb *sandbox.Sandbox) error {
			_, err := c.GetToken(context.Background(), sb.VercelTokens()[2].ID)
			return err
		},
		"current": func(c *Client, _ *sandbox.Sandbox) error { _, err := c.CurrentToken(context.Background()); return err },
		"user":    func(c *Client, _ *sandbox.Sandbox) error { _, err := c.User(context.Background()); return err },
	}
	for _, tc := range cases {
		for name, call := range calls {
			t.Run(tc.kind+"/"+name, func(t *testing.T) {
				sb, u := testkit.StartSandbox(t, sandbox.Config{})
				sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: tc.kind, Times: 100})
				err := call(newTestClient(t, sb, u), sb)
				e := testkit.AsUpstream(t, err)
				if e.Kind != tc.want || e.Status != tc.status || e.Attempts != tc.attempts {
					t.Fatalf("kind %v status %d attempts %d, want %v %d %d: %v", e.Kind, e.Status, e.Attempts, tc.want, tc.status, tc.attempts, err)
				}
				if n := sb.Count(sandbox.UpstreamVercel, "", ""); n != tc.attempts {
					t.Fatalf("%d requests, want %d", n, tc.attempts)
				}
				if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), sb.VercelToken()) {
					t.Fatalf("error quotes the body or the token: %v", err)
				}
			})
		}
	}
}

// Unknown keys, and optional keys left out or sent as null, decode; the optional
// fields are then nil.
func TestTolerantBodies(t *testing.T) {
	sb0, u0 := testkit.StartSandbox(t, sandbox.Config{})
	plain, err := walk(t, newTestClient(t, sb0, u0).Tokens(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"extra_fields", "missing_optional", "null_optional"} {
		t.Run(kind, func(t *testing.T) {
			sb, u := testkit.StartSandbox(t, sandbox.Config{})
			sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: kind})
			c := newTestClient(t, sb, u)
			got, err := walk(t, c.Tokens(7))
			if err != nil {
				t.Fatal(err)
			}
			assertEveryTokenOnce(t, sb, got)
			current, err := c.CurrentToken(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			one, err := c.GetToken(context.Background(), got[3].ID)
			if err != nil || one == nil || one.ID != got[3].ID {
				t.Fatalf("get %s: %v %v", got[3].ID, one, err)
			}
			user, err := c.User(context.Background())
			if err != nil || user.Email != sb.VercelAccount().Email {
				t.Fatalf("user: %+v %v", user, err)
			}
			all := append(got, *current, *one)
			for i := range all {
				tok := &all[i]
				if tok.ID == "" || tok.Name == "" || tok.CreatedAt.Ptr() == nil || tok.ActiveAt == nil {
					t.Fatalf("required fields lost: %#v", tok)
				}
				if kind == "extra_fields" {
					continue
				}
				optional := []any{tok.Prefix, tok.Suffix, tok.Origin, tok.ExpiresAt, tok.RevokedAt, tok.LeakedAt, tok.LeakedURL}
				for j, v := range optional {
					if !reflect.ValueOf(v).IsNil() {
						t.Fatalf("token %s: optional field %d is %v, want nil", tok.ID, j, v)
					}
				}
				if tok.ScopesJSON() != nil || tok.TeamID() != nil {
					t.Fatalf("token %s: scopes %s, team %v; want nil", tok.ID, tok.ScopesJSON(), tok.TeamID())
				}
			}
			if kind == "extra_fields" {
				// Same tokens as without the extra keys, field by field (scopes aside:
				// they are kept as sent, extra keys included).
				for i := range got {
					a, b := got[i], plain[i]
					a.Scopes, b.Scopes = nil, nil
					if !reflect.DeepEqual(a, b) {
						t.Fatalf("token %d differs with extra fields:\n%#v\n%#v", i, a, b)
					}
				}
			}
		})
	}
}

func TestGetTokenCurrentTokenAndUser(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newTestClient(t, sb, u)
	ctx := context.Background()
	for _, want := range sb.VercelTokens()[:5] {
		got, err := c.GetToken(ctx, want.ID)
		if err != nil || got == nil || got.ID != want.ID || got.Name != want.Name || got.CreatedAt.UnixMilli() != want.CreatedAt {
			t.Fatalf("GetToken(%s) = %+v, %v", want.ID, got, err)
		}
	}
	sb.ResetRequests()
	got, err := c.GetToken(ctx, "0000unknown0000")
	if got != nil || err != nil {
		t.Fatalf("unknown id: %+v, %v; want nil, nil", got, err)
	}
	if n := sb.Count(sandbox.UpstreamVercel, "GET", "/v5/user/tokens/0000unknown0000"); n != 1 {
		t.Fatalf("a 404 is final: %d requests", n)
	}

	cur, err := c.CurrentToken(ctx)
	if err != nil || cur.ID != sb.CurrentVercelTokenID() {
		t.Fatalf("CurrentToken = %+v, %v; want id %s", cur, err, sb.CurrentVercelTokenID())
	}
	user, err := c.User(ctx)
	want := sb.VercelAccount()
	if err != nil || user.ID != want.ID || user.Email != want.Email || user.Username != want.Username || user.DefaultTeamID != want.DefaultTeamID {
		t.Fatalf("User = %+v, %v; want %+v", user, err, want)
	}
}

func TestInvalidTokenIsAStatusErrorWithVercelsCode(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	c := newClientWithToken(t, u, "vcp_not_a_token_of_this_account", 3)
	_, err := c.User(context.Background())
	e := testkit.AsUpstream(t, err)
	if e.Kind != upstream.KindStatus || e.Status != 403 || e.Code != "forbidden" || e.Message != "Not authorized" || e.Attempts != 1 {
		t.Fatalf("%#v", e)
	}
	if _, err := c.GetToken(context.Background(), "abc"); !upstream.IsStatus(err, 403) {
		t.Fatalf("GetToken with a bad credential must not look like a missing token: %v", err)
	}
	if n := sb.Count("", "", ""); n != 2 {
		t.Fatalf("%d requests, want 2 (no retries of a 403)", n)
	}
}

func TestThrottledListIsRetried(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	sb.AddFault(sandbox.Fault{Upstream: sandbox.UpstreamVercel, Kind: "status", Status: 429, RetryAfter: "0", Times: 2})
	got, err := walk(t, newTestClient(t, sb, u).Tokens(100))
	if err != nil {
		t.Fatal(err)
	}
	assertEveryTokenOnce(t, sb, got)
	if n := sb.Count(sandbox.UpstreamVercel, "GET", listPath); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

func TestAddressable(t *testing.T) {
	yes := []string{"a", "abc123", "tok_ABC-def_9", strings.Repeat("f", 64), strings.Repeat("a", 256), "Current", "-", "_", "0"}
	no := []string{"", "current", ".", "..", "a/b", "/", "a?b", "a#b", "a%2Fb", "%", "a b", " a", "a\t", "a\n", "ünï",
		"tok\u00a0", "a.b", strings.Repeat("a", 257), "a+b", "a=b", "a:b", "a;b", `a\b`, "a\x00"}
	for _, id := range yes {
		if !Addressable(id) {
			t.Errorf("Addressable(%q) = false", id)
		}
	}
	for _, id := range no {
		if Addressable(id) {
			t.Errorf("Addressable(%q) = true", id)
		}
	}
}

func TestCursorText(t *testing.T) {
	cases := []struct {
		raw  string
		want string
		ok   bool
	}{
		{"", "", true}, {"null", "", true}, {`""`, "", true}, {"false", "", true}, {"0", "", true},
		{"1751000000000", "1751000000000", true}, {" 17 ", "17", true}, {"-5", "-5", true}, {"1.5e3", "1.5e3", true},
		{`"dG9rLnYx"`, "dG9rLnYx", true}, {`"a+b/c="`, "a+b/c=", true}, {`"\u00e9"`, "é", true},
		{"true", "", false}, {"{}", "", false}, {"[1]", "", false}, {"-", "", false}, {`"unterminated`, "", false},
	}
	for _, tc := range cases {
		got, ok := cursorText([]byte(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("cursorText(%q) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCancelledListStops(t *testing.T) {
	sb, u := testkit.StartSandbox(t, sandbox.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newTestClient(t, sb, u).Tokens(10).Next(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
