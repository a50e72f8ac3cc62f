package providers

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// Two queries share one lookup; the first is cancelled while the lookup runs. The
// second, still live, gets the value (from a fetch of its own), not the first
// query's cancellation.
func TestMemoWaiterOutlivesACancelledFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Memo[string]
		var fetches atomic.Int32
		fetch := func(ctx context.Context) (string, error) {
			if fetches.Add(1) == 1 {
				<-ctx.Done() // the first fetch lasts until its query is cancelled
				return "", ctx.Err()
			}
			return "account", nil
		}
		first, cancel := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() { _, err := m.Get(first, fetch); firstErr <- err }()
		synctest.Wait() // the first fetch runs
		second := make(chan string, 1)
		go func() {
			v, err := m.Get(context.Background(), fetch)
			if err != nil {
				v = "error: " + err.Error()
			}
			second <- v
		}()
		synctest.Wait() // the second query waits on the first's fetch
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches while the first runs, want 1", n)
		}
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
	})
}

// Queries at the same time share one fetch and its value.
func TestMemoSharesOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Memo[string]
		var fetches atomic.Int32
		release := make(chan struct{})
		fetch := func(context.Context) (string, error) {
			fetches.Add(1)
			<-release
			return "account", nil
		}
		got := make(chan string, 3)
		for range 3 {
			go func() { v, _ := m.Get(context.Background(), fetch); got <- v }()
		}
		synctest.Wait() // one fetch runs, two queries wait on it
		close(release)
		for range 3 {
			if v := <-got; v != "account" {
				t.Fatalf("a query got %q, want the value", v)
			}
		}
		if n := fetches.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1", n)
		}
	})
}

// A fetch that panics releases its waiters with an error, and keeps nothing: the
// next query fetches again.
func TestMemoReleasesWaitersOfAPanickedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var m Memo[string]
		release := make(chan struct{})
		panicked := make(chan any, 1)
		go func() {
			defer func() { panicked <- recover() }()
			m.Get(context.Background(), func(context.Context) (string, error) { <-release; panic("a bug in a fetch") })
		}()
		synctest.Wait()
		waiter := make(chan error, 1)
		go func() {
			_, err := m.Get(context.Background(), func(context.Context) (string, error) { return "unused", nil })
			waiter <- err
		}()
		synctest.Wait() // the second query waits on the first's fetch
		close(release)
		if p := <-panicked; p != "a bug in a fetch" {
			t.Fatalf("the fetching query recovered %v, want its panic", p)
		}
		if err := <-waiter; !errors.Is(err, errFetchUnfinished) {
			t.Fatalf("the waiting query got %v, want %v", err, errFetchUnfinished)
		}
		if v, err := m.Get(context.Background(), func(context.Context) (string, error) { return "account", nil }); v != "account" || err != nil {
			t.Fatalf("the next query got %q %v, want a fetch of its own", v, err)
		}
	})
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
