package tokens

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// TestFastFailuresAreNeverLost runs many queries that fail at once (a configuration
// error makes no request) side by side. In the SDK a list error that is ready before
// streamRows first waits can be dropped, leaving no rows and no error: without
// errorSettle about 1 in 2,400 such queries "succeeded" empty (measured with 16×150),
// so this stress test catches a regression often, not always.
func TestFastFailuresAreNeverLost(t *testing.T) {
	e := newEnv(t, sandbox.Config{}, func(*sandbox.Sandbox, string) string { return `max_retries = "x"` })
	var lost, total atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := e.run(query{table: "user_tokens", columns: []string{"id"}}); err == nil {
					lost.Add(1)
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	if lost.Load() != 0 {
		t.Fatalf("%d of %d failing queries returned no error", lost.Load(), total.Load())
	}
}
