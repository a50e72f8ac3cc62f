package providers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Two queries share one lookup; the first is cancelled while the lookup runs. The
// second, still live, gets the value (from a fetch of its own), not the first
// query's cancellation.
func TestMemoWaiterOutlivesACancelledFetch(t *testing.T) {
	var m Memo[string]
	var fetches atomic.Int32
	started := make(chan struct{})
	fetch := func(ctx context.Context) (string, error) {
		if fetches.Add(1) == 1 {
			close(started)
			<-ctx.Done() // the first fetch lasts until its query is cancelled
			return "", ctx.Err()
		}
		return "account", nil
	}
	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := m.Get(first, fetch); firstErr <- err }()
	<-started
	second := make(chan string, 1)
	go func() {
		v, err := m.Get(context.Background(), fetch)
		if err != nil {
			v = "error: " + err.Error()
		}
		second <- v
	}()
	time.Sleep(20 * time.Millisecond) // the second query waits on the first's fetch
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("the cancelled query got %v, want its cancellation", err)
	}
	if v := <-second; v != "account" {
		t.Fatalf("the live query got %q, want the value", v)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if v, err := m.Get(context.Background(), fetch); v != "account" || err != nil || fetches.Load() != 2 {
		t.Fatalf("later: %q %v after %d fetches; want the kept value and no new fetch", v, err, fetches.Load())
	}
}

// A fetch that fails is not kept: the next query fetches again.
func TestMemoKeepsNoFailure(t *testing.T) {
	var m Memo[int]
	calls := 0
	fetch := func(context.Context) (int, error) {
		calls++
		if calls == 1 {
			return 0, errors.New("503")
		}
		return 7, nil
	}
	if _, err := m.Get(context.Background(), fetch); err == nil {
		t.Fatal("want the first fetch's error")
	}
	if v, err := m.Get(context.Background(), fetch); v != 7 || err != nil || calls != 2 {
		t.Fatalf("%d %v after %d calls", v, err, calls)
	}
}
