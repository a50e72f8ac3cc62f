package providers

import (
	"context"
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

// Get returns the value, fetching it first when no fetch has succeeded yet.
func (m *Memo[T]) Get(ctx context.Context, fetch func(context.Context) (T, error)) (T, error) {
	m.mu.Lock()
	if m.ok {
		defer m.mu.Unlock()
		return m.val, nil
	}
	if c := m.call; c != nil {
		m.mu.Unlock()
		select {
		case <-c.done:
			return c.val, c.err
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	c := &memoCall[T]{done: make(chan struct{})}
	m.call = c
	m.mu.Unlock()

	c.val, c.err = fetch(ctx)
	m.mu.Lock()
	if c.err == nil {
		m.val, m.ok = c.val, true
	}
	m.call = nil
	m.mu.Unlock()
	close(c.done)
	return c.val, c.err
}
