package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Built from pieces so that no secret-shaped literal sits in the repository.
var secret = "vcp" + "_TESTSECRETabcdefghijklmnop"

// server answers with handler and counts requests.
func server(t *testing.T, handler func(n int, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler(int(n.Add(1)), w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

func client(t *testing.T, base string, mod ...func(*Options)) *Client {
	t.Helper()
	o := Options{Provider: "Test", BaseURL: base, Authorization: "Bearer " + secret, MaxRetries: 3,
		Timeout: 2 * time.Second, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		ParseError: func(b []byte) (string, string) { return "", PlainMessage(b) }}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(c *Client) (*Response, error) {
	return c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/things", Idempotent: true})
}

func post(c *Client) (*Response, error) {
	return c.Do(context.Background(), Request{Method: http.MethodPost, Path: "/things", Body: map[string]string{"a": "b"}})
}

func TestRetryPolicyByStatusAndKind(t *testing.T) {
	cases := []struct {
		status     int
		idempotent bool
		wantCalls  int32
	}{
		{429, true, 4}, {429, false, 4},
		{503, true, 4}, {503, false, 4},
		{500, true, 4}, {500, false, 1},
		{502, true, 4}, {502, false, 1},
		{504, true, 4}, {504, false, 1},
		{501, true, 1},
		{400, true, 1}, {401, true, 1}, {403, true, 1}, {404, true, 1}, {422, false, 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d_idempotent_%v", tc.status, tc.idempotent), func(t *testing.T) {
			ts, n := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, "nope")
			})
			c := client(t, ts.URL)
			var err error
			if tc.idempotent {
				_, err = get(c)
			} else {
				_, err = post(c)
			}
			if got := n.Load(); got != tc.wantCalls {
				t.Fatalf("requests = %d, want %d", got, tc.wantCalls)
			}
			e, ok := As(err)
			if !ok || e.Status != tc.status || e.Attempts != int(tc.wantCalls) {
				t.Fatalf("error = %#v", err)
			}
			if tc.status == 429 && e.Kind != KindThrottled {
				t.Fatalf("429 kind = %v", e.Kind)
			}
		})
	}
}

func TestTransientFailureThenSuccess(t *testing.T) {
	for _, status := range []int{429, 500, 502, 503} {
		ts, n := server(t, func(i int, w http.ResponseWriter, _ *http.Request) {
			if i == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(status)
				return
			}
			fmt.Fprint(w, `{"ok":true}`)
		})
		resp, err := get(client(t, ts.URL))
		if err != nil || string(resp.Body) != `{"ok":true}` || n.Load() != 2 || resp.Attempts != 2 {
			t.Fatalf("%d then 200: resp=%v err=%v calls=%d", status, resp, err, n.Load())
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var first time.Time
	var gap time.Duration
	ts, _ := server(t, func(i int, w http.ResponseWriter, _ *http.Request) {
		if i == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			return
		}
		gap = time.Since(first)
		fmt.Fprint(w, `{}`)
	})
	if _, err := get(client(t, ts.URL)); err != nil {
		t.Fatal(err)
	}
	if gap < 950*time.Millisecond {
		t.Fatalf("retried after %s, Retry-After asked for 1s", gap)
	}
}

// Vercel, GitLab and Okta each name the reset of their window in a header of their own.
func TestRateLimitResetIsHonouredWithoutRetryAfter(t *testing.T) {
	for _, header := range []string{"X-RateLimit-Reset", "RateLimit-Reset", "X-Rate-Limit-Reset"} {
		t.Run(header, func(t *testing.T) {
			t.Parallel()
			var first time.Time
			var gap time.Duration
			ts, _ := server(t, func(i int, w http.ResponseWriter, _ *http.Request) {
				if i == 1 {
					first = time.Now()
					w.Header().Set(header, strconv.FormatInt(time.Now().Add(2*time.Second).Unix(), 10))
					w.WriteHeader(429)
					return
				}
				gap = time.Since(first)
				fmt.Fprint(w, `{}`)
			})
			if _, err := get(client(t, ts.URL)); err != nil {
				t.Fatal(err)
			}
			if gap < time.Second {
				t.Fatalf("retried after %s, before the reset", gap)
			}
		})
	}
}

// A credential sent in another header than Authorization (GitLab's PRIVATE-TOKEN).
func TestCredentialInItsOwnHeader(t *testing.T) {
	var got http.Header
	ts, _ := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		fmt.Fprint(w, `{}`)
	})
	c, err := New(Options{Provider: "GitLab", BaseURL: ts.URL, Authorization: "glpat-x", AuthHeader: "PRIVATE-TOKEN", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(context.Background(), Request{Method: "GET", Path: "/x", Idempotent: true}); err != nil {
		t.Fatal(err)
	}
	if got.Get("PRIVATE-TOKEN") != "glpat-x" || got.Get("Authorization") != "" {
		t.Fatalf("headers %v", got)
	}
}

func TestTooLongWaitGivesUpAtOnce(t *testing.T) {
	ts, n := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(429)
	})
	_, err := get(client(t, ts.URL))
	e, _ := As(err)
	if n.Load() != 1 || e == nil || e.Kind != KindThrottled || e.RetryAfter != time.Hour {
		t.Fatalf("calls=%d err=%v", n.Load(), err)
	}
	if !strings.Contains(err.Error(), "asked to wait 1h0m0s") {
		t.Fatalf("message does not say how long it was asked to wait: %v", err)
	}
}

func TestThrottledForeverSaysHowLong(t *testing.T) {
	ts, n := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(429)
		fmt.Fprint(w, "slow down")
	})
	_, err := get(client(t, ts.URL))
	if n.Load() != 4 {
		t.Fatalf("calls = %d, want 1 + 3 retries", n.Load())
	}
	msg := err.Error()
	for _, want := range []string{"Test: GET /things: throttled", "429 Too Many Requests: slow down", "gave up after 4 attempts over"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%q lacks %q", msg, want)
		}
	}
}

func TestTimeoutIsRetriedThenReported(t *testing.T) {
	ts, n := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	c := client(t, ts.URL, func(o *Options) { o.Timeout = 100 * time.Millisecond; o.MaxRetries = 1 })
	_, err := get(c)
	e, _ := As(err)
	if e == nil || e.Kind != KindTimeout || n.Load() != 2 {
		t.Fatalf("calls=%d err=%v", n.Load(), err)
	}
}

func TestCancelledContextStopsAtOnce(t *testing.T) {
	ts, _ := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := client(t, ts.URL).Do(ctx, Request{Method: http.MethodGet, Path: "/x", Idempotent: true})
	if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("err=%v after %s", err, time.Since(start))
	}
}

func TestCutOffBodyIsRetriedForReadsOnly(t *testing.T) {
	handler := func(i int, w http.ResponseWriter, _ *http.Request) {
		if i == 1 {
			w.Header().Set("Content-Length", "100")
			fmt.Fprint(w, `{"tokens":[{"id":`)
			return // the server closes with 82 bytes missing
		}
		fmt.Fprint(w, `{"tokens":[]}`)
	}
	ts, n := server(t, handler)
	if resp, err := get(client(t, ts.URL)); err != nil || string(resp.Body) != `{"tokens":[]}` || n.Load() != 2 {
		t.Fatalf("read: calls=%d err=%v", n.Load(), err)
	}
	ts2, n2 := server(t, handler)
	if _, err := post(client(t, ts2.URL)); err == nil || n2.Load() != 1 {
		t.Fatalf("create must not be repeated after a cut-off answer: calls=%d err=%v", n2.Load(), err)
	}
}

func TestConnectionRefusedIsRetriedEvenForCreates(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = post(client(t, "http://"+addr))
	e, _ := As(err)
	if e == nil || e.Kind != KindNetwork || e.Attempts != 4 || !e.NeverSent {
		t.Fatalf("err = %#v", err)
	}
}

func TestDecodeErrorsDescribeTheBodyWithoutQuotingIt(t *testing.T) {
	cases := map[string]string{
		"":                                      "an empty body instead of JSON",
		"<html><body>Bad gateway</body></html>": "an HTML page instead of JSON",
		`{"tokens":[{"id":"` + secret + `"`:     "JSON cut off after",
		`{"tokens": nope}`:                      "malformed JSON (invalid at byte",
		`{"tokens": {"id":"` + secret + `"}}`:   "JSON of an unexpected shape (tokens is an object, want slice)",
	}
	for body, want := range cases {
		ts, _ := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
		resp, err := get(client(t, ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Tokens []struct{ ID string } `json:"tokens"`
		}
		err = resp.JSON(&v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("body %q: error %v, want %q", body, err, want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("decode error quotes the body: %v", err)
		}
	}
}

func TestUpstreamTextIsScrubbedAndShortened(t *testing.T) {
	long := strings.Repeat("x", 1000)
	ts, _ := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, "bad token %s and %s and %s %s", secret, "eyJhbGciOiJIUzI1NiJ9"+"."+"eyJzdWIiOiIxIn0"+"."+"c2lnbmF0dXJl", "sk_"+"test_abcdef", long)
	})
	_, err := get(client(t, ts.URL))
	msg := err.Error()
	if strings.Contains(msg, secret) || strings.Contains(msg, "eyJhbGci") || strings.Contains(msg, "sk_test_abc") {
		t.Fatalf("secret in error: %s", msg)
	}
	if len(msg) > 400 || !strings.Contains(msg, "[redacted]") {
		t.Fatalf("message not shortened or not redacted: %d chars", len(msg))
	}
}

func TestAuthorizationNotSentToAnotherHost(t *testing.T) {
	other, otherCalls := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Error("credential reached another host")
		}
	})
	ts, _ := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	})
	_, err := get(client(t, ts.URL))
	if err == nil || otherCalls.Load() != 0 {
		t.Fatalf("redirect followed: err=%v calls=%d", err, otherCalls.Load())
	}
}

func TestSegmentNeverAddressesAnotherRoute(t *testing.T) {
	var paths []string
	ts, _ := server(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		fmt.Fprint(w, "{}")
	})
	c := client(t, ts.URL+"/api")
	for _, id := range []string{"a/b", "..", ".", "a?b=c", "a#b", "%2F", "a b", "ünï", ""} {
		if _, err := c.Do(context.Background(), Request{Method: http.MethodGet, Path: "/tokens/" + Segment(id), Idempotent: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range paths {
		rest, ok := strings.CutPrefix(p, "/api/tokens/")
		if !ok || strings.Contains(rest, "/") || rest == ".." || rest == "." {
			t.Fatalf("request went to %q", p)
		}
	}
}

func TestBaseURLChecks(t *testing.T) {
	for _, bad := range []string{"ftp://x", "not a url", "http://", "https://user:pass@host", "https://h/?q=1", "https://h/?",
		"https://h/#f", "://x", "http://api.vercel.com", "http://10.0.0.1:8080", "http://127.example.com"} {
		if _, err := ParseBaseURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "q=1") {
			t.Errorf("%q: the error quotes the URL: %v", bad, err)
		}
	}
	for raw, want := range map[string]string{
		"https://api.example.com/v1/":  "https://api.example.com/v1",
		"http://127.0.0.1:8080/vercel": "http://127.0.0.1:8080/vercel",
		"http://localhost:3000":        "http://localhost:3000",
		"http://[::1]:3000/":           "http://[::1]:3000",
		"HTTPS://Query.Example.com":    "https://Query.Example.com",
	} {
		u, err := ParseBaseURL(raw)
		if err != nil || u.String() != want {
			t.Errorf("%q: %v %v, want %s", raw, u, err, want)
		}
	}
}

func TestRedactURLHidesCredentialsAndQueries(t *testing.T) {
	for raw, want := range map[string]string{
		"https://admin:pw@query.example.com/base":   "https://[redacted]@query.example.com/base",
		"https://api.example.com/x?token=abc&b=1":   "https://api.example.com/x?[redacted]",
		"https://api.example.com/x#frag":            "https://api.example.com/x#[redacted]",
		"https://user:pa/ss@host/x":                 "https://[redacted]@host/x",
		"admin:pw@host":                             "[redacted]@host",
		"not a url at all ?token=abc":               "not a url at all ?[redacted]",
		"https://plain.example.com":                 "https://plain.example.com",
		"https://u@h.example.com:8443/p?x=1#y":      "https://[redacted]@h.example.com:8443/p?[redacted]#[redacted]",
		"http://127.0.0.1:3000/query?key=" + secret: "http://127.0.0.1:3000/query?[redacted]",
	} {
		if got := RedactURL(raw); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestRedirectToPlainHTTPIsRefused(t *testing.T) {
	var plainCalls atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainCalls.Add(1) }))
	t.Cleanup(plain.Close)
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// same host and port as far as the client can tell: only the scheme drops
		http.Redirect(w, r, "http://"+r.Host+"/down", http.StatusFound)
	}))
	t.Cleanup(tls.Close)
	c := client(t, tls.URL, func(o *Options) { o.Transport = tls.Client().Transport })
	_, err := get(c)
	if err == nil || !strings.Contains(err.Error(), "refusing redirect from https to plain http") {
		t.Fatalf("err = %v", err)
	}
	if plainCalls.Load() != 0 {
		t.Fatal("the request went out over plain http")
	}
}

// A credential with no recognisable shape (Vercel's own example is 24 bare
// alphanumerics) is still redacted when an upstream echoes it, header or not.
func TestBareCredentialEchoedByTheUpstreamIsRedacted(t *testing.T) {
	bare := "Xq7" + "Lm2Pz9Rt4Vw8Ky1Nb6Hc3Dj"
	ts, _ := server(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(403)
		fmt.Fprintf(w, "token %s is not allowed (header Bearer %s)", bare, bare)
	})
	c := client(t, ts.URL, func(o *Options) { o.Authorization, o.Secrets = "Bearer "+bare, []string{bare} })
	_, err := get(c)
	if err == nil || strings.Contains(err.Error(), bare) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("err = %v", err)
	}
}

// How a failure of a request that changes something is classified: the one place
// the plugin decides whether an upstream may have acted.
func TestActedByStatusAndKind(t *testing.T) {
	cases := []struct {
		name string
		err  Error
		want Acted
	}{
		{"400", Error{Kind: KindStatus, Status: 400}, ActedNo},
		{"404", Error{Kind: KindStatus, Status: 404}, ActedNo},
		{"429", Error{Kind: KindThrottled, Status: 429}, ActedNo},
		{"503", Error{Kind: KindStatus, Status: 503}, ActedNo},
		{"500", Error{Kind: KindStatus, Status: 500}, ActedMaybe},
		{"502", Error{Kind: KindStatus, Status: 502}, ActedMaybe},
		{"timeout", Error{Kind: KindTimeout}, ActedMaybe},
		{"connection lost", Error{Kind: KindNetwork}, ActedMaybe},
		{"connection never made", Error{Kind: KindNetwork, NeverSent: true}, ActedNo},
		{"200 cut off", Error{Kind: KindNetwork, Status: 200}, ActedYes},
		{"201 unreadable", Error{Kind: KindDecode, Status: 201}, ActedYes},
	}
	for _, tc := range cases {
		if got := tc.err.Acted(); got != tc.want {
			t.Errorf("%s: Acted() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestEpochAuto(t *testing.T) {
	if got := EpochAuto(1749475200); got.Unix() != 1749475200 {
		t.Fatalf("seconds: %v", got)
	}
	if got := EpochAuto(1752067200000); got.Unix() != 1752067200 {
		t.Fatalf("milliseconds: %v", got)
	}
	if EpochAuto(0) != nil || EpochAuto(-5) != nil {
		t.Fatal("zero and negative must be no time")
	}
}
