package tokens

import (
	"context"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/clerk"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// These run without the SDK's execution path, so they also run under -race.

func TestStatementClaimsAreExclusive(t *testing.T) {
	a := &statementActions{done: map[string]bool{}}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			if a.claim("create:user_1") {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d goroutines won the same claim", wins.Load())
	}
}

func TestScansAreKeptApartAndForgotten(t *testing.T) {
	d1 := &plugin.QueryData{Connection: &plugin.Connection{Name: "a"}, QueryContext: &plugin.QueryContext{}}
	d2 := &plugin.QueryData{Connection: &plugin.Connection{Name: "a"}, QueryContext: &plugin.QueryContext{}}
	if actionsFor(d1) == actionsFor(d2) || actionsFor(d1) != actionsFor(d1) {
		t.Fatal("a scan's record must be its own and stable")
	}
	statements.mu.Lock()
	e := statements.m[scanKey{"a", d1.QueryContext}]
	e.started = time.Now().Add(-2 * scanMemory)
	statements.m[scanKey{"a", d1.QueryContext}] = e
	statements.mu.Unlock()
	actionsFor(d2) // any call forgets expired scans
	statements.mu.Lock()
	_, kept := statements.m[scanKey{"a", d1.QueryContext}]
	statements.mu.Unlock()
	if kept {
		t.Fatal("an expired scan record was kept")
	}
}

// Concurrent creates racing with a failure: every token minted ends revoked.
func TestFailureRevokesEveryMintConcurrently(t *testing.T) {
	sb := sandbox.New(sandbox.Config{ClerkUsers: 20, ClerkRateLimit: -1})
	ts := httptest.NewServer(sb)
	defer ts.Close()
	cl, err := clerk.New(upstream.Options{BaseURL: ts.URL + "/clerk/v1", Timeout: 5 * time.Second}, sb.ClerkSecretKey())
	if err != nil {
		t.Fatal(err)
	}
	c := &clients{clerk: cl}
	a := &statementActions{done: map[string]bool{}}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i, user := range sb.ClerkUserIDs() {
		wg.Go(func() {
			if i == 7 {
				_ = a.fail(ctx, c, context.DeadlineExceeded)
				return
			}
			tok, err := cl.Create(ctx, clerk.CreateParams{UserID: user})
			if err != nil {
				t.Error(err)
				return
			}
			a.minted(ctx, c, tok.ID)
		})
	}
	wg.Wait()
	for _, m := range sb.ClerkSignInTokens() {
		if m.Status != "revoked" {
			t.Fatalf("token %s still %s after the statement failed", m.ID, m.Status)
		}
	}
	if len(sb.ClerkSignInTokens()) != 19 {
		t.Fatalf("%d tokens minted", len(sb.ClerkSignInTokens()))
	}
}
