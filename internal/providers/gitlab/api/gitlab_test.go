package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/testkit"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
)

func client(tb testing.TB, base, token string) *Client {
	tb.Helper()
	c, err := New(upstream.Options{BaseURL: base, MaxRetries: 2, Timeout: 10 * time.Second, MinBackoff: time.Millisecond}, token)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func sandboxClient(tb testing.TB, cfg sandbox.Config) (*sandbox.Sandbox, *Client) {
	sb, u := testkit.StartSandbox(tb, cfg)
	return sb, client(tb, u+"/gitlab", sb.GitLabToken())
}

// Every token once, in creation order, with GitLab's own page count: no page asked
// for past it.
func TestListingEveryPageOnce(t *testing.T) {
	for _, inFlight := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d in flight", inFlight), func(t *testing.T) {
			sb, c := sandboxClient(t, sandbox.Config{Generate: map[string]int{"gitlab": 239}})
			seen := map[int64]bool{}
			var last time.Time
			for page, err := range c.Tokens(context.Background(), ListOptions{InFlight: inFlight}) {
				if err != nil {
					t.Fatal(err)
				}
				for _, tok := range page {
					if seen[tok.ID] || tok.CreatedAt.Before(last) {
						t.Fatalf("token %d twice or out of order", tok.ID)
					}
					seen[tok.ID], last = true, *tok.CreatedAt
				}
			}
			if len(seen) != 250 || sb.Count(sandbox.ProviderGitLab, "GET", "/api/v4/personal_access_tokens") != 3 {
				t.Fatalf("%d tokens, requests %v", len(seen), sb.Requests())
			}
		})
	}
}

// A page that names a next page is followed, whatever x-total-pages says: a count
// taken before tokens were created is stale (1 here, for 150 tokens).
func TestAStalePageCountLosesNoPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("x-total-pages", "1")
		tokens := 100
		if n == 1 {
			w.Header().Set("x-next-page", "2")
		} else {
			tokens = 50
		}
		var items []string
		for i := range tokens {
			items = append(items, fmt.Sprintf(`{"id":%d,"name":"t","scopes":["api"],"created_at":"2026-01-01T00:00:00Z"}`, (n-1)*100+i+1))
		}
		fmt.Fprint(w, "["+strings.Join(items, ",")+"]")
	}))
	defer srv.Close()
	got := 0
	for page, err := range client(t, srv.URL, "x").Tokens(context.Background(), ListOptions{InFlight: 8}) {
		if err != nil {
			t.Fatal(err)
		}
		got += len(page)
	}
	if got != 150 {
		t.Fatalf("%d tokens, want 150", got)
	}
}

// Pages in flight: several without a word from GitLab, one when RateLimit-Remaining
// says one request remains.
func TestPagesInFlightFollowRateLimitRemaining(t *testing.T) {
	for _, tc := range []struct {
		remaining string
		wantMax   func(int32) bool
	}{
		{"", func(n int32) bool { return n > 1 }},
		{"1", func(n int32) bool { return n == 1 }},
	} {
		t.Run("RateLimit-Remaining "+tc.remaining, func(t *testing.T) {
			var now, peak atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := now.Add(1)
				defer now.Add(-1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(20 * time.Millisecond)
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				if tc.remaining != "" {
					w.Header().Set("RateLimit-Remaining", tc.remaining)
				}
				var items []string
				if page <= 10 {
					w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
					for i := range 100 {
						items = append(items, fmt.Sprintf(`{"id":%d}`, page*1000+i))
					}
				}
				fmt.Fprint(w, "["+strings.Join(items, ",")+"]")
			}))
			defer srv.Close()
			n := 0
			for page, err := range client(t, srv.URL, "x").Tokens(context.Background(), ListOptions{InFlight: 8}) {
				if err != nil {
					t.Fatal(err)
				}
				n += len(page)
			}
			if n != 1000 || !tc.wantMax(peak.Load()) {
				t.Fatalf("%d tokens, at most %d requests at once", n, peak.Load())
			}
		})
	}
}

// A consumer that stops early leaves no request running.
func TestStoppingEndsTheFetches(t *testing.T) {
	var active sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Done()
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		fmt.Fprintf(w, `[{"id":%d}]`, page)
	}))
	defer srv.Close()
	for range client(t, srv.URL, "x").Tokens(context.Background(), ListOptions{InFlight: 8, PerPage: 1}) {
		break
	}
	active.Wait()
}

// GitLab's error bodies, as the user sees them.
func TestErrorsCarryGitLabsMessage(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		want   string
	}{
		{403, `{"message":"403 Forbidden"}`, "403 Forbidden: 403 Forbidden"},
		{403, `{"error":"insufficient_scope","error_description":"The request requires higher privileges than provided by the access token.","scope":"api"}`,
			"403 Forbidden insufficient_scope: The request requires higher privileges than provided by the access token."},
		{400, `{"message":{"expires_at":["must be in the future"]}}`, `400 Bad Request: {"expires_at":["must be in the future"]}`},
		{400, `{"error":"expires_at is invalid"}`, "400 Bad Request: expires_at is invalid"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tc.status)
			fmt.Fprint(w, tc.body)
		}))
		_, err := client(t, srv.URL, "x").Caller(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
}

// A rotation is a POST that GitLab may have carried out: never repeated after a 500.
func TestRotateIsNotRepeated(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(500)
	}))
	defer srv.Close()
	_, err := client(t, srv.URL, "x").Rotate(context.Background(), Personal, 3, nil)
	if e := testkit.AsUpstream(t, err); e.Acted() != upstream.ActedMaybe || n.Load() != 1 {
		t.Fatalf("%v after %d requests", err, n.Load())
	}
}

// The credential goes in PRIVATE-TOKEN, under the instance's /api/v4 (a path in the
// address kept), and never into an error.
func TestRequestsGoToAPIv4WithTheCredentialHeader(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(401)
		fmt.Fprint(w, `{"message":"401 Unauthorized"}`)
	}))
	defer srv.Close()
	secret := "glpat-" + "k3yk3yk3yk3yk3yk3yk3"
	_, err := client(t, srv.URL+"/gitlab", secret).Self(context.Background())
	if got.URL.Path != "/gitlab/api/v4/personal_access_tokens/self" || got.Header.Get("PRIVATE-TOKEN") != secret ||
		got.Header.Get("Authorization") != "" || err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("path %s, headers %v, err %v", got.URL.Path, got.Header, err)
	}
}
