package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

var big = func() func() *sandbox.Sandbox {
	var sb *sandbox.Sandbox
	return func() *sandbox.Sandbox {
		if sb == nil {
			sb = sandbox.New(sandbox.Config{VercelTokens: 100000})
		}
		return sb
	}
}()

// BenchmarkVercelListPage is the sandbox's own cost for one page of 100
// tokens out of 100,000, mid-list (binary search, append-only encoding).
func BenchmarkVercelListPage(b *testing.B) {
	sb := big()
	auth := "Bearer " + sb.VercelToken()
	mid := sb.VercelTokens()[50000].CreatedAt
	for _, cursor := range []string{"number", "string"} {
		b.Run(cursor, func(b *testing.B) {
			until := url.QueryEscape(jsonNumber(mid))
			if cursor == "string" {
				// Fetch a real string cursor from the mixed variant's second page.
				req := httptest.NewRequest(http.MethodGet, "/vercel/v6/user/tokens?limit=100&until="+until, nil)
				req.Header.Set("Authorization", auth)
				w := httptest.NewRecorder()
				sb.ServeHTTP(w, req)
				var p struct{ Pagination struct{ Next any } }
				_ = json.Unmarshal(w.Body.Bytes(), &p)
				until = url.QueryEscape(p.Pagination.Next.(string))
			}
			req := httptest.NewRequest(http.MethodGet, "/vercel/v6/user/tokens?limit=100&until="+until, nil)
			req.Header.Set("Authorization", auth)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				sb.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
			sb.ResetRequests()
		})
	}
}

func jsonNumber(v int64) string { b, _ := json.Marshal(v); return string(b) }

// BenchmarkVercelWalk100k walks all 1,000 pages in-process.
func BenchmarkVercelWalk100k(b *testing.B) {
	sb := big()
	auth := "Bearer " + sb.VercelToken()
	b.ReportAllocs()
	for b.Loop() {
		until, n := "", 0
		for {
			u := "/vercel/v6/user/tokens?limit=100"
			if until != "" {
				u += "&until=" + url.QueryEscape(until)
			}
			req := httptest.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", auth)
			w := httptest.NewRecorder()
			sb.ServeHTTP(w, req)
			var p struct {
				Tokens     []json.RawMessage
				Pagination struct{ Next json.RawMessage }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				b.Fatal(err)
			}
			n += len(p.Tokens)
			if string(p.Pagination.Next) == "null" {
				break
			}
			until = cursorParam(b, p.Pagination.Next)
		}
		if n != 100000 {
			b.Fatalf("walked %d", n)
		}
		sb.ResetRequests()
	}
}

func BenchmarkNew100k(b *testing.B) {
	for b.Loop() {
		sandbox.New(sandbox.Config{VercelTokens: 100000})
	}
}
