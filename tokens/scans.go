package tokens

import (
	"sync"
	"time"

	"github.com/turbot/steampipe-plugin-sdk/v5/plugin"
)

// scanRegistry keeps state shared by the lists the SDK runs in parallel for one scan:
// the lists of a matrix, and the copies it makes for each value of an IN list. They
// share one *plugin.QueryContext, which is what identifies the scan; nothing public
// identifies a whole SQL statement across the scans of a join.
type scanRegistry[T any] struct {
	mu  sync.Mutex
	m   map[scanKey]scanEntry[T]
	new func() T
}

type scanKey struct {
	connection string
	qc         *plugin.QueryContext
}

type scanEntry[T any] struct {
	value   T
	started time.Time
}

// scanMemory is how long a scan's state is kept; scans end long before.
const scanMemory = 10 * time.Minute

// get returns the scan's state, creating it on first use, and forgets old scans.
func (r *scanRegistry[T]) get(d *plugin.QueryData) T {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.m == nil {
		r.m = map[scanKey]scanEntry[T]{}
	}
	for k, e := range r.m {
		if now.Sub(e.started) > scanMemory {
			delete(r.m, k)
		}
	}
	key := scanKey{d.Connection.Name, d.QueryContext}
	e, ok := r.m[key]
	if !ok {
		e = scanEntry[T]{value: r.new(), started: now}
		r.m[key] = e
	}
	return e.value
}
