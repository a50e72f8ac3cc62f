package tokens

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vercel "github.com/steampipe-tokens/steampipe-plugin-tokens/internal/providers/vercel/api"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/sandbox"
	"github.com/steampipe-tokens/steampipe-plugin-tokens/internal/upstream"
	"github.com/turbot/steampipe-plugin-sdk/v5/grpc/proto"
)

// Benchmarks: each scenario runs through the SDK's Execute, as Steampipe would,
// against the sandbox in its own process (so its data is not in the measured heap),
// with 25 ms of latency on every upstream request. Each reports, per query:
//   reqs        requests the upstreams saw
//   needed      requests the query needs (the floor's count)
//   floor-ms    the time those requests take at that latency, upstreams in parallel counting once
//   wall/floor  how close the plugin comes to that floor
//   peak-MB     peak live heap of the whole process (as each GC found it) while the query ran
// internal/tools/benchreport runs them (make bench) and writes BENCHMARKS.md.

const benchLatency = 25 * time.Millisecond

// remote is the sandbox in a process of its own.
type remote struct {
	url, config string
}

var (
	sandboxBinOnce sync.Once
	sandboxBin     string
	sandboxBinErr  error
)

func startRemote(b *testing.B, args ...string) *remote {
	b.Helper()
	sandboxBinOnce.Do(func() {
		sandboxBin = filepath.Join(os.TempDir(), fmt.Sprintf("tokens-sandbox-bench-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", sandboxBin, "../cmd/tokens-sandbox").CombinedOutput()
		if err != nil {
			sandboxBinErr = fmt.Errorf("building the sandbox: %v\n%s", err, out)
		}
	})
	if sandboxBinErr != nil {
		b.Fatal(sandboxBinErr)
	}
	dir := b.TempDir()
	cmd := exec.Command(sandboxBin, append([]string{"-listen", "127.0.0.1:0", "-latency", benchLatency.String(),
		"-config-out", filepath.Join(dir, "config"), "-ready-file", filepath.Join(dir, "addr")}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 600; i++ {
		if addr, err := os.ReadFile(filepath.Join(dir, "addr")); err == nil && len(addr) > 0 {
			cfg, err := os.ReadFile(filepath.Join(dir, "config"))
			if err != nil {
				b.Fatal(err)
			}
			return &remote{url: "http://" + strings.TrimSpace(string(addr)), config: string(cfg)}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("the sandbox did not start: %s", logs.String())
	return nil
}

// setting is an argument of the sandbox's connection config.
func (r *remote) setting(b *testing.B, name string) string {
	m := regexp.MustCompile(name + `\s*=\s*"([^"]+)"`).FindStringSubmatch(r.config)
	if m == nil {
		b.Fatalf("no %s in the sandbox's config", name)
	}
	return m[1]
}

func (r *remote) call(b *testing.B, method, path string, in, out any) {
	var body bytes.Buffer
	if in != nil {
		_ = json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, r.url+path, &body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	}
}

func (r *remote) requests(b *testing.B) []sandbox.Request {
	var reqs []sandbox.Request
	r.call(b, http.MethodGet, "/_sandbox/requests", nil, &reqs)
	return reqs
}

func (r *remote) state(b *testing.B) sandbox.State {
	var s sandbox.State
	r.call(b, http.MethodGet, "/_sandbox/state", nil, &s)
	return s
}

// connect adds a connection to the remote sandbox with the given extra arguments.
func (r *remote) connect(b *testing.B, extra ...string) string {
	e := &env{t: b}
	return e.connect(r.config + "\n" + strings.Join(extra, "\n"))
}

// heapPeak records the live heap after every garbage collection while a query runs:
// the value changes only when a collection ends, so one reading per collection (from a
// finalizer each collection runs) sees every value without waking a sampler (one
// waking every millisecond slowed listings by 1.5 %).
type heapPeak struct {
	peak    atomic.Uint64
	stopped atomic.Bool
}

// liveHeap is the heap the last GC found live: what the query holds, not the garbage
// it has not collected yet (which depends on GOGC, not on the plugin).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// gcSentinel is garbage as soon as it is made; its finalizer runs after the collection
// that finds it, and makes the next one. (Its pointer keeps it off the tiny allocator,
// whose objects may never be finalized.)
type gcSentinel struct{ h *heapPeak }

func (h *heapPeak) arm() {
	runtime.SetFinalizer(&gcSentinel{h}, func(g *gcSentinel) {
		if v := liveHeap(); v > g.h.peak.Load() {
			g.h.peak.Store(v)
		}
		if !g.h.stopped.Load() {
			g.h.arm()
		}
	})
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	h := &heapPeak{}
	h.peak.Store(liveHeap())
	h.arm()
	return h
}

func (h *heapPeak) end() float64 {
	h.stopped.Store(true)
	return float64(h.peak.Load()) / (1 << 20)
}

// count runs a scan and counts its rows without keeping them.
func count(b *testing.B, conn string, q query) int {
	n := 0
	if err := execute(context.Background(), b, conn, q, func(*proto.Row) { n++ }); err != nil {
		b.Fatal(err)
	}
	return n
}

// scenario is one benchmark: a query, what it needs, and its floor.
type scenario struct {
	name     string
	q        query
	extra    []string // connection arguments
	warm     bool     // run once untimed first (connection caches, or the query cache)
	rows     int      // rows the query must return
	needed   int
	floor    time.Duration
	setup    func(b *testing.B, r *remote)
	pause    time.Duration                                                  // untimed wait before each iteration (a rate limiter refilling)
	needFunc func(reqs []sandbox.Request) (needed int, floor time.Duration) // when they depend on what happened
	overlap  bool                                                           // check the two upstreams ran in parallel
}

func runScenario(b *testing.B, r *remote, sc scenario) {
	conn := r.connect(b, sc.extra...)
	if sc.setup != nil {
		sc.setup(b, r)
	}
	if sc.warm {
		count(b, conn, sc.q)
	}
	var reqs, needed, peakMB, ratio float64
	var floorMS float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(sc.pause)
		var n int
		wall, peak, log := timed(b, r, func() { n = count(b, conn, sc.q) })
		b.StopTimer()
		peakMB = max(peakMB, peak)
		if n != sc.rows {
			b.Fatalf("%d rows, want %d", n, sc.rows)
		}
		need, floor := sc.needed, sc.floor
		if sc.needFunc != nil {
			need, floor = sc.needFunc(log)
		}
		if sc.overlap && !overlapping(log) {
			b.Fatalf("the Vercel and Query Server requests did not overlap")
		}
		reqs += float64(len(log))
		needed += float64(need)
		floorMS += float64(floor) / float64(time.Millisecond)
		if floor > 0 {
			ratio += float64(wall) / float64(floor)
		}
		b.StartTimer()
	}
	b.StopTimer()
	nf := float64(b.N)
	b.ReportMetric(reqs/nf, "reqs")
	b.ReportMetric(needed/nf, "needed")
	b.ReportMetric(floorMS/nf, "floor-ms")
	if ratio > 0 {
		b.ReportMetric(ratio/nf, "wall/floor")
	}
	b.ReportMetric(peakMB, "peak-MB")
}

// overlapping: the Query Server was asked while Vercel's pages were still coming.
func overlapping(log []sandbox.Request) bool {
	var qsStart, vercelLast time.Time
	for _, r := range log {
		switch r.Provider {
		case sandbox.ProviderQueryServer:
			if qsStart.IsZero() || r.Start.Before(qsStart) {
				qsStart = r.Start
			}
		case sandbox.ProviderVercel:
			if r.Start.After(vercelLast) {
				vercelLast = r.Start
			}
		}
	}
	return !qsStart.IsZero() && qsStart.Before(vercelLast)
}

func pages(n int) time.Duration { return time.Duration(n) * benchLatency }

func BenchmarkUserTokens(b *testing.B) {
	r := startRemote(b, "-generate", "vercel=9989", "-generate", "query_server=994")
	var v sandbox.VercelState
	var q sandbox.QueryServerState
	var g sandbox.GitLabState // the 11 hand-made tokens: one page
	var o sandbox.OktaState   // the 7 hand-made tokens: one page
	state := r.state(b)
	if err := errors.Join(json.Unmarshal(state[sandbox.ProviderVercel], &v), json.Unmarshal(state[sandbox.ProviderQueryServer], &q),
		json.Unmarshal(state[sandbox.ProviderGitLab], &g), json.Unmarshal(state[sandbox.ProviderOkta], &o)); err != nil {
		b.Fatal(err)
	}
	all := v.Tokens + q.UserTokens + g.Tokens + o.APITokens
	vercelPages := (v.Tokens + 99) / 100
	var teamID string
	{
		conn := r.connect(b)
		rows, err := runOn(b, conn, query{table: "user_tokens", columns: []string{"team_id"}, quals: map[string]any{"provider": "vercel"}, limit: 500})
		if err != nil {
			b.Fatal(err)
		}
		for _, row := range rows {
			if id, ok := row["team_id"].(string); ok {
				teamID = id
				break
			}
		}
	}
	teamRows := func() int {
		conn := r.connect(b)
		return count(b, conn, query{table: "user_tokens", columns: []string{"id"}, quals: map[string]any{"team_id": teamID}})
	}()

	for _, sc := range []scenario{
		{name: "count(*)", q: query{table: "user_tokens", columns: []string{"provider"}},
			rows: all, needed: vercelPages + 3, floor: pages(vercelPages), overlap: true}, // + the Query Server's list, GitLab's and Okta's pages
		{name: "provider=vercel", q: query{table: "user_tokens", columns: []string{"provider"}, quals: map[string]any{"provider": "vercel"}},
			rows: v.Tokens, needed: vercelPages, floor: pages(vercelPages)},
		{name: "id=<vercel id>", q: query{table: "user_tokens", quals: map[string]any{"id": sandbox.CurrentVercelTokenID}},
			warm: true, rows: 1, needed: 2, floor: pages(1)}, // Okta is asked for it too, in parallel
		{name: "limit_5", q: query{table: "user_tokens", limit: 5},
			warm: true, rows: 5, needed: 1, floor: pages(1)},
		{name: "team_id=<team>", q: query{table: "user_tokens", columns: []string{"id", "team_id"}, quals: map[string]any{"team_id": teamID}},
			// GitLab: the caller, and whether the team is a group or a project it shows
			rows: teamRows, needed: vercelPages + 3, floor: pages(vercelPages)},
		{name: "count(*)_twice_cached", q: query{table: "user_tokens", columns: []string{"provider"}, cache: true},
			warm: true, rows: all, needed: 0},
		{name: "throttled_every_10th_429", q: query{table: "user_tokens", columns: []string{"provider"}, quals: map[string]any{"provider": "vercel"}},
			rows: v.Tokens,
			setup: func(b *testing.B, r *remote) {
				r.call(b, http.MethodPost, "/_sandbox/faults", sandbox.Fault{Provider: "vercel", Path: "/v6/user/tokens", Every: 10, Kind: "status", Status: 429, RetryAfter: "1"}, nil)
			},
			// every 429 asks for one more request and a one-second wait
			needFunc: func(log []sandbox.Request) (int, time.Duration) {
				throttled := 0
				for _, r := range log {
					if r.Status == http.StatusTooManyRequests {
						throttled++
					}
				}
				return vercelPages + throttled, pages(vercelPages+throttled) + time.Duration(throttled)*time.Second
			}},
	} {
		b.Run(sc.name, func(b *testing.B) {
			defer r.call(b, http.MethodDelete, "/_sandbox/faults", nil, nil)
			runScenario(b, r, sc)
		})
	}
}

// BenchmarkListingMemory lists 10,000 and then 100,000 Vercel tokens with the cache
// off: memory must stay flat as rows grow.
func BenchmarkListingMemory(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("%d_vercel_tokens", n), func(b *testing.B) {
			r := startRemote(b, "-generate", fmt.Sprintf("vercel=%d", n-11))
			p := (n + 99) / 100
			runScenario(b, r, scenario{q: query{table: "user_tokens", quals: map[string]any{"provider": "vercel"}},
				warm: true, rows: n, needed: p, floor: pages(p)})
		})
	}
}

// BenchmarkGitLab lists 10,000 GitLab tokens (100 offset pages, 8 in flight) within
// GitLab's limiter (a bucket of 30, refilled at 30 a second), which refills between
// runs: P requests cannot finish before max(ceil(P/8)×L, (P-30)/30 s + L). A full
// select also reads the caller and its current token, and looks up each owner once:
// 15 for the hand-made estate and one per 200 generated tokens (50 people).
func BenchmarkGitLab(b *testing.B) {
	const tokens, bucket, fill, inFlight = 10000, 30, 30, 8
	r := startRemote(b, "-generate", fmt.Sprintf("gitlab=%d", tokens-11))
	floor := func(requests int) time.Duration {
		limited := time.Duration(max(requests-bucket, 0))*time.Second/fill + benchLatency
		return max(pages((requests+inFlight-1)/inFlight), limited)
	}
	gitlab := map[string]any{"provider": "gitlab"}
	for _, sc := range []scenario{
		{name: "provider=gitlab", q: query{table: "user_tokens", columns: []string{"provider"}, quals: gitlab},
			rows: tokens, needed: 100, floor: floor(100), pause: time.Second},
		{name: "select_*", q: query{table: "user_tokens", quals: gitlab},
			rows: tokens, needed: 100 + 2 + 15 + 50, floor: floor(167), pause: time.Second},
	} {
		b.Run(sc.name, func(b *testing.B) { runScenario(b, r, sc) })
	}
}

// BenchmarkSignInTokens mints 50 tokens in one statement: concurrent creates within
// the Clerk rate limiter (a bucket of 10, refilled at 10 per second).
func BenchmarkSignInTokens(b *testing.B) {
	const n, bucket, fill = 50, 10, 10
	r := startRemote(b, "-generate", fmt.Sprintf("clerk=%d", n), "-option", "clerk.rate_limit=-1")
	var clerk sandbox.ClerkState
	if err := json.Unmarshal(r.state(b)[sandbox.ProviderClerk], &clerk); err != nil {
		b.Fatal(err)
	}
	users := clerk.Users[len(sandbox.ClerkUsers):]
	// The limiter's bucket refills between iterations; the floor is the time the
	// limiter needs to let n requests start, plus one request's latency.
	floor := time.Duration(n-bucket)*time.Second/fill + benchLatency
	runScenario(b, r, scenario{q: sit(map[string]any{"user_id": users}, "id", "url"),
		extra: []string{"allow_sign_in_token_create = true"}, rows: n, needed: n, floor: floor, pause: time.Second})
}

// BenchmarkRequestChain walks the 10,000 tokens' pages with the plugin's Vercel
// client alone (no SDK, no PostgreSQL): the fastest a full listing can go against this
// sandbox on this machine, since cursor pages are strictly sequential.
func BenchmarkRequestChain(b *testing.B) {
	r := startRemote(b, "-generate", "vercel=9989")
	c, err := vercel.New(upstream.Options{BaseURL: r.setting(b, "vercel_base_url"), MaxRetries: 1, Timeout: time.Minute}, r.setting(b, "vercel_api_token"))
	if err != nil {
		b.Fatal(err)
	}
	const tokens, pages = 10000, 100
	chain(b, r, pages, func() {
		n := 0
		for page, err := range c.Tokens(context.Background(), vercel.ListOptions{Ahead: 2}) {
			if err != nil {
				b.Fatal(err)
			}
			n += len(page)
		}
		if n != tokens {
			b.Fatalf("%d tokens, want %d", n, tokens)
		}
	})
}

// BenchmarkRoundTrip asks the sandbox for the first page 100 times with a bare
// net/http client, reading each body and decoding nothing: what a request costs on
// this machine beyond the sandbox's latency (loopback, and waking two idle
// processes), which no client can avoid.
func BenchmarkRoundTrip(b *testing.B) {
	r := startRemote(b, "-generate", "vercel=9989")
	base, token := r.setting(b, "vercel_base_url"), r.setting(b, "vercel_api_token")
	const n = 100
	chain(b, r, n, func() {
		for range n {
			req, _ := http.NewRequest(http.MethodGet, base+"/v6/user/tokens?limit=100", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("%v %s", err, resp.Status)
			}
		}
	})
}

// chain times run, a chain of needed requests to the sandbox, b.N times and reports
// the requests made and needed a run, its floor, the mean wall/floor and the peak
// live heap.
func chain(b *testing.B, r *remote, needed int, run func()) {
	var reqs, ratio, peakMB float64
	for b.Loop() {
		wall, peak, log := timed(b, r, run)
		peakMB = max(peakMB, peak)
		if os.Getenv("TIMELINE") != "" && len(log) > 0 {
			for _, q := range log {
				fmt.Fprintf(os.Stderr, "%6.0f %s %s %s\n", float64(q.Start.Sub(log[0].Start))/1e6, q.Provider, q.Path, q.RawQuery)
			}
		}
		reqs += float64(len(log))
		ratio += float64(wall) / float64(time.Duration(needed)*benchLatency)
	}
	b.ReportMetric(reqs/float64(b.N), "reqs")
	b.ReportMetric(float64(needed), "needed")
	b.ReportMetric(float64(time.Duration(needed)*benchLatency)/float64(time.Millisecond), "floor-ms")
	b.ReportMetric(ratio/float64(b.N), "wall/floor")
	b.ReportMetric(peakMB, "peak-MB")
}

// timed runs run once, timed, against r's sandbox with its request log cleared, and
// returns the wall time, the peak live heap and the requests run made. The timer is
// left running, as a benchmark loop expects.
func timed(b *testing.B, r *remote, run func()) (time.Duration, float64, []sandbox.Request) {
	b.StopTimer()
	r.call(b, http.MethodDelete, "/_sandbox/requests", nil, nil)
	h := startHeapPeak()
	b.StartTimer()
	start := time.Now()
	run()
	wall := time.Since(start)
	b.StopTimer()
	peak, log := h.end(), r.requests(b)
	b.StartTimer()
	return wall, peak, log
}
