package providers

import (
	"context"
	"errors"
	"sync"
)

// Memo holds a value a connection fetches once (its account, its own token): callers
// at the same time share one fetch, and a failure is not kept, so the next query
// tries again. It lives as long as the connection's Source, which the plugin builds
// anew when the connection's config changes.
type Memo[T any] struct {
	mu   sync.Mutex
	ok   bool
	val  T
	call *memoCall[T]
}

type memoCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// errFetchUnfinished is what waiters get from a shared fetch that panicked.
var errFetchUnfinished = errors.New("providers: a shared lookup did not finish")

// Get returns the value, fetching it first when no fetch has succeeded yet. The fetch
// runs with the context of the query that started it: one that ends with that
// query's cancellation is no answer for a waiter whose own query goes on, which
// starts a fetch of its own.
func (m *Memo[T]) Get(ctx context.Context, fetch func(context.Context) (T, error)) (T, error) {
	for {
		m.mu.Lock()
		if m.ok {
			defer m.mu.Unlock()
			return m.val, nil
		}
		c := m.call
		if c == nil {
			c = &memoCall[T]{done: make(chan struct{}), err: errFetchUnfinished}
			m.call = c
			m.mu.Unlock()
			return m.run(ctx, c, fetch)
		}
		m.mu.Unlock()
		select {
		case <-c.done:
			if ctx.Err() == nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
				continue
			}
			return c.val, c.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}

// run is one shared fetch; its waiters are released however it ends.
func (m *Memo[T]) run(ctx context.Context, c *memoCall[T], fetch func(context.Context) (T, error)) (T, error) {
	defer func() {
		m.mu.Lock()
		if c.err == nil {
			m.val, m.ok = c.val, true
		}
		m.call = nil
		m.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fetch(ctx)
	return c.val, c.err
}
