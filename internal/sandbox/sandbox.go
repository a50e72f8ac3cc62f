package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config chooses the data and the behaviour. Config{} is the default audit estate.
type Config struct {
	// Estate is "audit" (the default: every quirk and finding) or "clean" (only the
	// connection's own tokens, each compliant).
	Estate string
	// Generate adds generated tokens (for the Query Server and Clerk, users) to the
	// named upstreams after the hand-made ones, for benchmarks and paging.
	Generate map[string]int
	// Options set an upstream's quirks, as "<upstream>.<option>": each upstream's file
	// says which it reads (e.g. "vercel.cursor", "clerk.rate_limit").
	Options map[string]string
	// Latency is the time from an upstream request's arrival to its answer, the
	// sandbox's own work included (when that takes longer, the answer is that late).
	// A write takes effect on arrival: a client that gives up while the answer waits
	// meets a provider that acted, as a real one may.
	Latency time.Duration
	// Now is the time the data is relative to: by default the start of the current
	// UTC day.
	Now time.Time
	// Seed draws the credentials and generated values (default 1).
	Seed uint64
}

// Validate reports a Config New would reject.
func (c Config) Validate() error {
	if c.Estate != "" && c.Estate != "audit" && c.Estate != "clean" {
		return fmt.Errorf("sandbox: estate %q: want audit or clean", c.Estate)
	}
	for name, n := range c.Generate {
		if kindOf(name) == nil || n < 0 {
			return fmt.Errorf("sandbox: generate %s=%d: want a known upstream and a count of 0 or more", name, n)
		}
	}
	for key, v := range c.Options {
		name, opt, _ := strings.Cut(key, ".")
		k := kindOf(name)
		if k == nil || k.options[opt] == nil {
			return fmt.Errorf("sandbox: option %q: no upstream takes it", key)
		}
		if err := k.options[opt](v); err != nil {
			return fmt.Errorf("sandbox: option %s=%q: %v", key, v, err)
		}
	}
	return nil
}

// option is the value of one of an upstream's options, "" when not given.
func (c Config) option(upstream, name string) string { return c.Options[upstream+"."+name] }

// upstream is one emulated provider, in a file of its own that registers it.
// Every method but state runs with the sandbox's lock held.
type upstream interface {
	// build makes its data afresh, drawing from rng (its own stream: adding an
	// upstream changes no other's data), which it keeps for what it mints later.
	build(s *Sandbox, rng *rand.Rand)
	// serve answers a request below its prefix; fault is the kind of a fault that
	// shapes the answer rather than replacing it ("" for none).
	serve(s *Sandbox, r *http.Request, path string, body []byte, fault string) *response
	// statusResponse answers a status fault in the upstream's own error format.
	statusResponse(f *Fault) *response
	// wrongShape is a 200 body of JSON of another shape than every answer it gives.
	wrongShape() []byte
	// secrets are the credentials and secret values it holds, its credentials also
	// in the "Bearer <credential>" form a client sends.
	secrets() []string
	// connection is the connection config that points the plugin at it, served at base.
	connection(base string) [][2]string
	// state is what a client in another process needs to know of its data.
	state() any
}

// kind is how an upstream is registered.
type kind struct {
	name    string                        // as the plugin's provider column names it
	prefix  string                        // the path it is served under, e.g. "/vercel"
	options map[string]func(string) error // its options, each with its check
	faults  []string                      // fault kinds of its own
	new     func(cfg Config) upstream
}

var kinds []*kind

// register adds an upstream; each upstream's file calls it from init.
func register(k *kind) {
	kinds = append(kinds, k)
	slices.SortFunc(kinds, func(a, b *kind) int { return strings.Compare(a.name, b.name) })
}

func kindOf(name string) *kind {
	for _, k := range kinds {
		if k.name == name {
			return k
		}
	}
	return nil
}

// Sandbox emulates every registered upstream in one http.Handler, safe for concurrent use.
type Sandbox struct {
	cfg Config

	mu     sync.Mutex // guards the upstreams' data and minted
	ups    map[string]upstream
	minted []string // every secret minted since New, kept across Reset

	logMu sync.Mutex
	log   []Request

	faultMu sync.Mutex
	faults  []*faultState

	// late is how late this machine's timers fire (ns, a running mean): waits end
	// that much before their deadline, and the rest is spent yielding, so that an
	// answer leaves at Latency, not Latency plus the runtime's wake-up delay.
	late atomic.Int64
}

// New builds a sandbox; it panics on a Config that Validate rejects (a bug in the caller).
func New(cfg Config) *Sandbox {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	s := &Sandbox{cfg: cfg, ups: map[string]upstream{}}
	for _, k := range kinds {
		s.ups[k.name] = k.new(cfg)
	}
	s.Reset()
	return s
}

// Reset restores the data and clears the request log and faults. Secrets minted
// before stay in Secrets(): they may still sit in a client's logs.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	for _, k := range kinds {
		h := fnv.New64a()
		h.Write([]byte(k.name))
		s.ups[k.name].build(s, rand.New(rand.NewPCG(s.cfg.Seed, h.Sum64())))
	}
	s.mu.Unlock()
	s.ResetRequests()
	s.ClearFaults()
}

// Now is the time the data is relative to.
func (s *Sandbox) Now() time.Time { return s.cfg.Now }

// day is a time n days from the data's reference time.
func (s *Sandbox) day(n float64) time.Time {
	return s.cfg.Now.Add(time.Duration(n * 24 * float64(time.Hour)))
}

// Secrets lists every secret the sandbox holds or has minted, for tests that scan
// output for leaks.
func (s *Sandbox) Secrets() []string {
	s.mu.Lock()
	out := slices.Clone(s.minted)
	for _, k := range kinds {
		out = append(out, s.ups[k.name].secrets()...)
	}
	s.mu.Unlock()
	out = slices.DeleteFunc(out, func(v string) bool { return v == "" || v == "Bearer " })
	slices.Sort(out)
	return slices.Compact(out)
}

// mint records a new secret (the caller holds mu).
func (s *Sandbox) mint(v string) string {
	s.minted = append(s.minted, v)
	return v
}

// with runs f on an upstream's data under the lock: the typed accessors of each
// upstream's file use it.
func with[U upstream, R any](s *Sandbox, name string, f func(u U) R) R {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f(s.ups[name].(U))
}

// Request is one upstream request as the sandbox saw it.
type Request struct {
	Provider string    `json:"provider"`
	Method   string    `json:"method"`
	Path     string    `json:"path"` // escaped, without the upstream's prefix
	RawQuery string    `json:"raw_query,omitempty"`
	Body     string    `json:"body,omitempty"`
	Status   int       `json:"status"` // 0 when no answer was sent (reset, client gone)
	Fault    string    `json:"fault,omitempty"`
	Start    time.Time `json:"start"`
}

// Requests returns the request log, oldest first.
func (s *Sandbox) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.log)
}

// ResetRequests empties the request log.
func (s *Sandbox) ResetRequests() {
	s.logMu.Lock()
	s.log = nil
	s.logMu.Unlock()
}

// Count counts logged requests; "" matches anything, and a path ending in "*" is a prefix.
func (s *Sandbox) Count(provider, method, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if (provider == "" || r.Provider == provider) && (method == "" || r.Method == method) && pathMatches(path, r.Path) {
			n++
		}
	}
	return n
}

func pathMatches(pattern, path string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return pattern == "" || pattern == path
}

// ServeHTTP routes by prefix. Routing uses the escaped path, so an id holding an
// encoded "/" stays one segment.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	for _, k := range kinds {
		if strings.HasPrefix(p, k.prefix+"/") {
			s.serveUpstream(w, r, k.name, p[len(k.prefix):])
			return
		}
	}
	if strings.HasPrefix(p, "/_sandbox/") {
		s.serveControl(w, r, strings.TrimPrefix(p, "/_sandbox"))
		return
	}
	var prefixes []string
	for _, k := range kinds {
		prefixes = append(prefixes, k.prefix)
	}
	http.Error(w, "not a sandbox route: use "+strings.Join(prefixes, ", ")+" or /_sandbox", http.StatusNotFound)
}

// response is an answer before it is written.
type response struct {
	status int
	header http.Header
	body   []byte
}

func newResponse(status int, body []byte) *response {
	return &response{status: status, header: http.Header{}, body: body}
}

func jsonResponse(status int, v any) *response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // every body is made of plain values
	}
	r := newResponse(status, b)
	r.header.Set("Content-Type", "application/json; charset=utf-8")
	return r
}

func (r *response) write(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

func (s *Sandbox) serveUpstream(w http.ResponseWriter, r *http.Request, provider, path string) {
	entry := Request{Provider: provider, Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Start: time.Now()}
	// Read the body first: net/http notices a client leaving only once it is read,
	// and latency and hangs must end when the client gives up.
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	entry.Body = string(body)
	finish := func(status int) {
		entry.Status = status
		s.logMu.Lock()
		s.log = append(s.log, entry)
		s.logMu.Unlock()
	}
	u := s.ups[provider]
	f := s.pickFault(provider, r.Method, path)
	var resp *response
	if f != nil {
		entry.Fault = f.Kind
		switch f.Kind {
		case "reset":
			finish(0)
			hangUp(w)
			return
		case "hang":
			if f.Delay <= 0 || !sleep(r.Context(), f.Delay) {
				<-r.Context().Done()
				finish(0)
				return
			}
		default:
			resp = faultResponse(u, f)
		}
	}
	if resp == nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		var kind string
		if f != nil {
			kind = f.Kind
		}
		s.mu.Lock()
		resp = u.serve(s, r, path, body, kind)
		s.mu.Unlock()
	}
	if f != nil && f.Kind == "acted_then_status" {
		resp = u.statusResponse(f)
	}
	// The answer leaves Latency after the request arrived, its own work included, as
	// a real API's does, and never before: the floor of the benchmarks is a true floor.
	if !s.sleepUntil(r.Context(), entry.Start.Add(s.cfg.Latency)) {
		finish(0)
		return
	}
	finish(resp.status)
	if f != nil && f.Kind == "truncate" {
		writeTruncated(w, resp)
		return
	}
	resp.write(w)
}

// sleepUntil waits until deadline, never returning before it: the timer is set
// for deadline minus how late timers fire here, and the few microseconds left when
// it fires early enough are spent yielding.
func (s *Sandbox) sleepUntil(ctx context.Context, deadline time.Time) bool {
	if !time.Now().Before(deadline) {
		return true // no latency, or the work took longer
	}
	late := time.Duration(s.late.Load())
	target := deadline.Add(-late)
	wait := time.Until(target)
	if !sleep(ctx, wait) {
		return false
	}
	// learn from this wake-up, unless no timer ran (the work left less than the
	// lateness) or it was a stall (a descheduled process)
	if over := time.Since(target); wait > 0 && over < maxTimerLate {
		s.late.Store(min(max(int64(late+(over-late)/8), 0), int64(maxTimerLate)))
	}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// maxTimerLate bounds what one wake-up teaches sleepUntil: anything later than this
// is the process not being scheduled, not a timer firing late.
const maxTimerLate = 2 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// State is what a client in another process needs to know of the data: each
// upstream's state, by name (VercelState, ClerkState, ...).
type State map[string]json.RawMessage

// serveControl serves the request log, the data's state and faults to a client in
// another process (benchmarks keep the sandbox's data out of the measured heap).
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/requests" && r.Method == http.MethodGet:
		jsonResponse(http.StatusOK, s.Requests()).write(w)
	case path == "/requests" && r.Method == http.MethodDelete:
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case path == "/state" && r.Method == http.MethodGet:
		st := map[string]any{}
		s.mu.Lock()
		for name, u := range s.ups {
			st[name] = u.state()
		}
		s.mu.Unlock()
		jsonResponse(http.StatusOK, st).write(w)
	case path == "/faults" && r.Method == http.MethodPost:
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.AddFault(f)
		w.WriteHeader(http.StatusNoContent)
	case path == "/faults" && r.Method == http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "the control API: GET, DELETE /_sandbox/requests; GET /_sandbox/state; POST, DELETE /_sandbox/faults", http.StatusNotFound)
	}
}
