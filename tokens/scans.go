package tokens

import (
	"runtime"
	"sync"
	"weak"

	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// scanStates keeps state shared by the lists the SDK runs for one scan: the lists of
// a matrix, and the copies it makes for each value of an IN list. They all share one
// *plugin.QueryContext, which is what identifies a scan (nothing public identifies a
// whole SQL statement across the scans of a join). An entry lives exactly as long as
// its scan's QueryContext: a cleanup drops it when the garbage collector frees that.
// The state must not point back at the QueryContext, or it would never be freed.
type scanStates[T any] struct {
	mu  sync.Mutex
	m   map[weak.Pointer[plugin.QueryContext]]T
	new func() T
}

// of returns the scan's state, creating it on first use.
func (r *scanStates[T]) of(d *plugin.QueryData) T {
	key := weak.Make(d.QueryContext)
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.m[key]; ok {
		return v
	}
	if r.m == nil {
		r.m = map[weak.Pointer[plugin.QueryContext]]T{}
	}
	v := r.new()
	r.m[key] = v
	runtime.AddCleanup(d.QueryContext, r.forget, key)
	return v
}

func (r *scanStates[T]) forget(key weak.Pointer[plugin.QueryContext]) {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
}

// claims remembers which keys a scan has handled, so that each is handled once.
type claims struct {
	mu   sync.Mutex
	done map[string]bool
}

// claim returns true the first time key is claimed.
func (c *claims) claim(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done[key] {
		return false
	}
	if c.done == nil {
		c.done = map[string]bool{}
	}
	c.done[key] = true
	return true
}
