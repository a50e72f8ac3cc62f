//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// BenchmarkPostgres runs a few of the benchmark scenarios as SQL through the
// extension (scripts/bench.sh starts the sandbox with 10,000 Vercel tokens, 1,000
// Query Server users and 25 ms of latency). It reports what tokens/bench_test.go
// does, with the backend's peak resident set instead of the Go heap.
func BenchmarkPostgres(b *testing.B) {
	const latency = 25 * time.Millisecond
	vercelTokens := len(sb.VercelTokens())
	pages := (vercelTokens + 99) / 100
	scenarios := []struct {
		name   string
		sql    string
		args   []any
		warm   bool
		needed int
		floor  time.Duration
	}{
		{"count(*)", "select count(*) from user_tokens", nil, false, pages + 1, time.Duration(pages) * latency},
		{"provider=vercel", "select count(*) from user_tokens where provider = 'vercel'", nil, false, pages, time.Duration(pages) * latency},
		{"id=<vercel id>", "select * from user_tokens where id = $1", []any{sandbox.CurrentVercelTokenID}, true, 1, latency},
		{"limit_5", "select * from user_tokens limit 5", nil, true, 1, latency},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			c := connect(b)
			// A new session loads the extension and starts the plugin on its first query:
			// pay that with a query that asks no upstream, as a long-lived session would have.
			mustRows(b, c, "select id from user_tokens where provider = 'none'")
			if sc.warm { // the connection's cached account and current-token lookups
				mustRows(b, c, sc.sql, sc.args...)
			}
			var pid int
			if err := c.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
				b.Fatal(err)
			}
			var reqs, ratio float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sb.ResetRequests()
				b.StartTimer()
				start := time.Now()
				rows, err := c.Query(context.Background(), sc.sql, sc.args...) // just the query: no secret scan in the timing
				if err == nil {
					_, err = pgx.CollectRows(rows, pgx.RowToMap)
				}
				wall := time.Since(start)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				reqs += float64(len(sb.Requests()))
				ratio += float64(wall) / float64(sc.floor)
				b.StartTimer()
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(reqs/n, "reqs")
			b.ReportMetric(float64(sc.needed), "needed")
			b.ReportMetric(float64(sc.floor)/float64(time.Millisecond), "floor-ms")
			b.ReportMetric(ratio/n, "wall/floor")
			b.ReportMetric(peakRSS(b, pid), "rss-MB")
		})
	}
}

// peakRSS reads a backend's high-water resident set from /proc.
func peakRSS(b *testing.B, pid int) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
