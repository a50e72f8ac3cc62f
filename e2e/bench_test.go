//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
)

// Benchmarks through PostgreSQL: the extension in the e2e cluster, queried over a
// connection, with TOKENS_E2E_BENCH=1 (make bench runs them through
// internal/tools/benchreport). The sandboxes then hold real-sized estates: schema
// tokens 10,000 Vercel + 1,000 Query Server tokens (and the hand-made GitLab and Okta
// ones: 11 and 7) at 25 ms a request, schema big 100,000 Vercel tokens at 25 ms, schema
// gitlab_big 10,000 GitLab tokens at 25 ms, schema soak 1,050 tokens at 10 ms. Each
// reports:
//
//	reqs, needed   requests the upstreams saw, and the requests the query needs
//	floor-ms       the least time those requests can take (see each scenario)
//	wall/floor     how close the query comes to that floor
//	rss-MB         the backend's peak resident set (VmHWM) since the session began
const benchLatency = 25 * time.Millisecond

// GitLab's offset pages run 8 at a time under a limiter of 30 requests a second
// with a bucket of 30 (internal/providers/gitlab): P requests starting with a full
// bucket cannot finish before max(ceil(P/8)×L, (P-30)/30 s + L).
func gitlabFloor(requests int) time.Duration {
	limited := time.Duration(max(requests-30, 0))*time.Second/30 + benchLatency
	return max(time.Duration((requests+7)/8)*benchLatency, limited)
}

func BenchmarkPostgres(b *testing.B) {
	if !benchmarking {
		b.Skip("set TOKENS_E2E_BENCH=1 (make bench): the benchmarks need the sized sandboxes")
	}
	pages := func(tokens int) int { return (tokens + 99) / 100 }
	sequential := func(requests int) time.Duration { return time.Duration(requests) * benchLatency }
	v, qs, g, okta, bigV, bigG := len(sb.VercelTokens()), len(sb.QueryServerUserTokens()), len(sb.GitLabTokens()), len(sb.OktaTokens()),
		len(big.VercelTokens()), len(glBig.GitLabTokens())
	// GitLab's owner lookups in a full select: the 15 of the hand-made estate (8 users,
	// 4 bots' memberships, 3 group and project paths) and, in gitlab_big, one per 200
	// generated tokens (50 people); and the caller and its current token, once.
	const gitlabOwners, gitlabBigOwners = 15, 15 + 50
	for _, sc := range []struct {
		name string
		sql  string
		rows int
		// needed: every Vercel page, the Query Server's tokens, GitLab's and Okta's page,
		// and what the columns need: the Query Server's users (email), Vercel's account
		// (email) and current token (is_current), GitLab's caller, current token and
		// owners, each Okta owner's user and roles, each looked up once per query
		// alongside the pages.
		needed int
		floor  time.Duration // Vercel's pages are sequential; GitLab's, gitlabFloor
		single bool
		// refill: wait a second before each run (untimed), so GitLab's bucket is full
		refill bool
	}{
		{"count(*)", "select count(*) from tokens.user_tokens", 1, pages(v) + 3, sequential(pages(v)), false, false},
		{"provider=vercel", "select count(*) from tokens.user_tokens where provider = 'vercel'", 1, pages(v), sequential(pages(v)), false, false},
		{"select_*", "select * from tokens.user_tokens", v + qs + g + okta, pages(v) + 4 + 3 + gitlabOwners + 1 + 2*len(sb.OktaUsers()),
			sequential(pages(v)), false, false},
		// Vercel's GET of the token, and Okta's 404 for an id it does not have
		{"id=<vercel id>", "select * from tokens.user_tokens where id = '" + sandbox.CurrentVercelTokenID + "'", 1, 2, sequential(1), true, false},
		{"limit_5", "select * from tokens.user_tokens limit 5", 5, 1, sequential(1), true, false},
		{"100000_provider=vercel", "select count(*) from big.user_tokens where provider = 'vercel'", 1, pages(bigV), sequential(pages(bigV)), false, false},
		{"100000_select_*", "select * from big.user_tokens where provider = 'vercel'", bigV, pages(bigV) + 2, sequential(pages(bigV)), false, false},
		{"10000_provider=gitlab", "select count(*) from gitlab_big.user_tokens where provider = 'gitlab'", 1, pages(bigG), gitlabFloor(pages(bigG)), false, true},
		{"10000_gitlab_select_*", "select * from gitlab_big.user_tokens where provider = 'gitlab'", bigG, pages(bigG) + 2 + gitlabBigOwners,
			gitlabFloor(pages(bigG) + 2 + gitlabBigOwners), false, true},
	} {
		b.Run(sc.name, func(b *testing.B) {
			c, pid := session(b)
			if sc.single { // measured after the session's first query of this shape
				listing(b, c, sc.sql)
			}
			var reqs, ratio float64
			for b.Loop() {
				b.StopTimer()
				if sc.refill {
					time.Sleep(time.Second)
				}
				sb.ResetRequests()
				big.ResetRequests()
				glBig.ResetRequests()
				b.StartTimer()
				start := time.Now()
				n := listing(b, c, sc.sql)
				wall := time.Since(start)
				b.StopTimer()
				if n != sc.rows {
					b.Fatalf("%d rows, want %d", n, sc.rows)
				}
				reqs += float64(len(sb.Requests()) + len(big.Requests()) + len(glBig.Requests()))
				ratio += float64(wall) / float64(sc.floor)
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(reqs/n, "reqs")
			b.ReportMetric(float64(sc.needed), "needed")
			b.ReportMetric(float64(sc.floor)/float64(time.Millisecond), "floor-ms")
			b.ReportMetric(ratio/n, "wall/floor")
			b.ReportMetric(procStatus(b, pid, "VmHWM")/1024, "rss-MB")
		})
	}
}

// BenchmarkPostgresSoak: one session runs the same full listing (1,050 rows) 250
// times; its resident set after the 250th must be within 10 % of that after the 10th.
func BenchmarkPostgresSoak(b *testing.B) {
	if !benchmarking {
		b.Skip("set TOKENS_E2E_BENCH=1 (make bench)")
	}
	const listings = 250
	rows := len(soak.VercelTokens()) + len(soak.QueryServerUserTokens())
	for b.Loop() {
		c, pid := session(b)
		rss := map[int]float64{}
		for i := 1; i <= listings; i++ {
			if n := listing(b, c, "select * from soak.user_tokens"); n != rows {
				b.Fatalf("%d rows, want %d", n, rows)
			}
			if i == 1 || i == 10 || i == 50 || i == listings {
				rss[i] = procStatus(b, pid, "VmRSS") / 1024
			}
		}
		b.ReportMetric(rss[1], "rss-after-1-MB")
		b.ReportMetric(rss[10], "rss-after-10-MB")
		b.ReportMetric(rss[50], "rss-after-50-MB")
		b.ReportMetric(rss[listings], "rss-after-250-MB")
		b.ReportMetric(rss[listings]/rss[10], "rss-250/10")
	}
}

// BenchmarkPostgresConcurrent: 8 sessions each run 12 full listings of 1,050 rows at
// once; it reports listings per second, the backends' CPU per row (user + system) and
// the largest backend's resident set.
func BenchmarkPostgresConcurrent(b *testing.B) {
	if !benchmarking {
		b.Skip("set TOKENS_E2E_BENCH=1 (make bench)")
	}
	const sessions, each = 8, 12
	rows := len(soak.VercelTokens()) + len(soak.QueryServerUserTokens())
	for _, q := range []struct{ name, sql string }{
		{"count(*)", "select count(*) from soak.user_tokens"},
		{"select_*", "select * from soak.user_tokens"},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				conns := make([]*pgx.Conn, sessions)
				pids := make([]int, sessions)
				for i := range conns {
					conns[i], pids[i] = session(b)
				}
				cpu0 := 0.0
				for _, pid := range pids {
					cpu0 += cpuSeconds(b, pid)
				}
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, sessions)
				for _, c := range conns {
					wg.Go(func() {
						for range each {
							if _, err := collect(c, q.sql); err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				wall := time.Since(start)
				close(errs)
				for err := range errs {
					checkNoSecret(b, err.Error(), q.sql)
					b.Fatal(err)
				}
				cpu, rss := 0.0, 0.0
				for _, pid := range pids {
					cpu += cpuSeconds(b, pid)
					rss = max(rss, procStatus(b, pid, "VmHWM")/1024)
				}
				for _, c := range conns { // each iteration's sessions end with it
					c.Close(context.Background())
				}
				b.ReportMetric(float64(sessions*each)/wall.Seconds(), "listings/s")
				b.ReportMetric((cpu-cpu0)*1e6/float64(sessions*each*rows), "cpu-µs/row")
				b.ReportMetric(rss, "rss-MB")
			}
		})
	}
}

// session opens a connection and pays the session's one-time costs (loading the
// extension, starting the plugin) with a query that asks no upstream.
func session(b *testing.B) (*pgx.Conn, int) {
	c := connect(b)
	listing(b, c, "select id from tokens.user_tokens where provider = 'none'")
	var pid int
	if err := c.QueryRow(context.Background(), "select pg_backend_pid()").Scan(&pid); err != nil {
		b.Fatal(err)
	}
	return c, pid
}

// listing runs a query and counts its rows, reading every value as a client would.
func listing(b *testing.B, c *pgx.Conn, sql string) int {
	n, err := collect(c, sql)
	if err != nil {
		checkNoSecret(b, err.Error(), sql) // the output is kept in build/bench
		b.Fatalf("%s: %v", sql, err)
	}
	return n
}

func collect(c *pgx.Conn, sql string) (int, error) {
	rows, err := c.Query(context.Background(), sql)
	if err != nil {
		return 0, err
	}
	n := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

// procStatus reads a kB figure of /proc/PID/status.
func procStatus(b *testing.B, pid int, field string) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// cpuSeconds is a process's user + system time (/proc/PID/stat fields 14 and 15).
func cpuSeconds(b *testing.B, pid int) float64 {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name may hold spaces: count fields after its closing parenthesis.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}
