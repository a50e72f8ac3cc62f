package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The providers, named as the plugin's provider column names them.
const (
	ProviderVercel      = "vercel"
	ProviderQueryServer = "query_server"
	ProviderClerk       = "clerk"
)

// Config chooses the data and the behaviour. Config{} is the default audit estate.
type Config struct {
	// Estate is "audit" (the default: every quirk and finding) or "clean" (only the
	// connection's own tokens, each compliant).
	Estate string
	// VercelTokens and QueryServerUsers add generated tokens (users with a token)
	// after the hand-made ones, for benchmarks and paging.
	VercelTokens, QueryServerUsers int
	// ClerkUsers adds generated Clerk users after the hand-made ones.
	ClerkUsers int
	// VercelCursor is the JSON type of pagination.next: "number", "string" or
	// "mixed" (the default: alternating page by page).
	VercelCursor string
	// ClerkRateLimit is requests per 10 s per key before 429 (default 100, a
	// development instance's limit; -1 turns it off).
	ClerkRateLimit int
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
	switch {
	case c.Estate != "" && c.Estate != "audit" && c.Estate != "clean":
		return fmt.Errorf("sandbox: estate %q: want audit or clean", c.Estate)
	case c.VercelCursor != "" && c.VercelCursor != "number" && c.VercelCursor != "string" && c.VercelCursor != "mixed":
		return fmt.Errorf("sandbox: VercelCursor %q: want number, string or mixed", c.VercelCursor)
	case c.VercelTokens < 0 || c.QueryServerUsers < 0 || c.ClerkUsers < 0:
		return fmt.Errorf("sandbox: generated counts must not be negative")
	}
	return nil
}

// Sandbox emulates the three upstreams in one http.Handler, safe for concurrent use.
type Sandbox struct {
	cfg Config

	mu     sync.Mutex // guards d, minted and the Clerk rate window
	d      *data
	rng    *rand.Rand
	minted []string // every secret minted since New, kept across Reset
	clerkW map[string][]time.Time

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
	if cfg.VercelCursor == "" {
		cfg.VercelCursor = "mixed"
	}
	if cfg.ClerkRateLimit == 0 {
		cfg.ClerkRateLimit = 100
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	s := &Sandbox{cfg: cfg, clerkW: map[string][]time.Time{}}
	s.Reset()
	return s
}

// Reset restores the data and clears the request log and faults. Secrets minted
// before stay in Secrets(): they may still sit in a client's logs.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	s.rng = rand.New(rand.NewPCG(s.cfg.Seed, 0x70c3e5))
	s.d = build(s.cfg, s.rng)
	clear(s.clerkW)
	s.mu.Unlock()
	s.ResetRequests()
	s.ClearFaults()
}

// Now is the time the data is relative to.
func (s *Sandbox) Now() time.Time { return s.cfg.Now }

// Credentials the plugin's connection config needs.
func (s *Sandbox) VercelToken() string {
	return s.locked(func(d *data) any { return d.vercelToken }).(string)
}
func (s *Sandbox) QueryServerAdminToken() string {
	return s.locked(func(d *data) any { return d.qsAdminToken }).(string)
}
func (s *Sandbox) ClerkSecretKey() string {
	return s.locked(func(d *data) any { return d.clerkKey }).(string)
}

// ClerkPublishableKey is the instance's publishable key, which cannot call the Backend API.
func (s *Sandbox) ClerkPublishableKey() string {
	return s.locked(func(d *data) any { return d.clerkPublishKey }).(string)
}

// VercelAccount is the user every Vercel token belongs to.
func (s *Sandbox) VercelAccount() VercelAccount {
	return s.locked(func(d *data) any { return d.vercelAccount }).(VercelAccount)
}

// VercelTokens returns the Vercel tokens, newest first.
func (s *Sandbox) VercelTokens() []VercelToken {
	return s.locked(func(d *data) any { return slices.Clone(d.vercelTokens) }).([]VercelToken)
}

// QueryServerUsers returns the Query Server's users in id order.
func (s *Sandbox) QueryServerUsers() []QueryServerUser {
	return s.locked(func(d *data) any { return slices.Clone(d.qsUsers) }).([]QueryServerUser)
}

// QueryServerUserTokens returns the Query Server's user tokens in id order.
func (s *Sandbox) QueryServerUserTokens() []QueryServerUserToken {
	return s.locked(func(d *data) any { return slices.Clone(d.qsTokens) }).([]QueryServerUserToken)
}

// ClerkSignInTokens returns the sign-in tokens minted since the last Reset.
func (s *Sandbox) ClerkSignInTokens() []ClerkSignInToken {
	return s.locked(func(d *data) any { return slices.Clone(d.clerkTokens) }).([]ClerkSignInToken)
}

// ClerkUserIDs returns the ids of the Clerk users: the hand-made ones, then the generated.
func (s *Sandbox) ClerkUserIDs() []string {
	return s.locked(func(d *data) any { return slices.Clone(d.clerkUsers) }).([]string)
}

// State is what a client in another process needs to know of the data.
type State struct {
	VercelTokens          int      `json:"vercel_tokens"`
	QueryServerUserTokens int      `json:"query_server_user_tokens"`
	ClerkUsers            []string `json:"clerk_users"`
}

// AddQueryServerUser adds an active user with a token that never expires, as the
// server's trigger does on user creation; it returns the user's uuid.
func (s *Sandbox) AddQueryServerUser(email string, admin bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().Unix()
	s.d.addUser(s.rng, QueryServerUser{Email: email, Admin: admin, Active: true},
		&QueryServerUserToken{Write: true, Active: true, CreatedAt: now, UpdatedAt: now, ExpirationDate: now}, now)
	s.minted = append(s.minted, s.d.qsTokens[len(s.d.qsTokens)-1].Token)
	return s.d.qsUsers[len(s.d.qsUsers)-1].UUID
}

// DeleteQueryServerUser removes a user and, by the foreign key's cascade, its token.
func (s *Sandbox) DeleteQueryServerUser(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.d.qsUserByEmail(email); u != nil {
		uuid := u.UUID
		s.d.qsTokens = slices.DeleteFunc(s.d.qsTokens, func(t QueryServerUserToken) bool { return t.UserUUID == uuid })
		s.d.qsUsers = slices.DeleteFunc(s.d.qsUsers, func(u QueryServerUser) bool { return u.UUID == uuid })
	}
}

func (s *Sandbox) locked(f func(*data) any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return f(s.d)
}

// Secrets lists every secret the sandbox holds or has minted, and the
// "Bearer <secret>" form of each credential, for tests that scan output for leaks.
func (s *Sandbox) Secrets() []string {
	s.mu.Lock()
	out := append(s.d.secrets(), s.minted...)
	out = append(out, "Bearer "+s.d.vercelToken, "Bearer "+s.d.qsAdminToken, "Bearer "+s.d.clerkKey)
	s.mu.Unlock()
	out = slices.DeleteFunc(out, func(v string) bool { return v == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

// mint records a new secret (the caller holds mu).
func (s *Sandbox) mint(v string) string {
	s.minted = append(s.minted, v)
	return v
}

// Request is one upstream request as the sandbox saw it.
type Request struct {
	Provider string    `json:"provider"`
	Method   string    `json:"method"`
	Path     string    `json:"path"` // escaped, without the /vercel, /query or /clerk prefix
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
	for prefix, provider := range map[string]string{"/vercel/": ProviderVercel, "/query/": ProviderQueryServer, "/clerk/v1/": ProviderClerk} {
		if strings.HasPrefix(p, prefix) {
			s.serveUpstream(w, r, provider, p[len(prefix)-1:])
			return
		}
	}
	if strings.HasPrefix(p, "/_sandbox/") {
		s.serveControl(w, r, strings.TrimPrefix(p, "/_sandbox"))
		return
	}
	http.Error(w, "not a sandbox route: use /vercel, /query, /clerk/v1 or /_sandbox", http.StatusNotFound)
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
			resp = s.faultResponse(provider, f)
		}
	}
	if resp == nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		var kind string
		if f != nil {
			kind = f.Kind
		}
		switch provider {
		case ProviderVercel:
			resp = s.serveVercel(r, path, kind)
		case ProviderQueryServer:
			resp = s.serveQueryServer(r, path, body)
		default:
			resp = s.serveClerk(r, path, body)
		}
	}
	if f != nil && f.Kind == "acted_then_status" {
		resp = statusFault(provider, f)
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

// maxTimerLate bounds what one wake-up teaches sleepUntil: timers here fire
// 0.1-0.7 ms late; anything later is the process not being scheduled.
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

// serveControl serves the request log, the data's size and faults to a client in
// another process (benchmarks keep the sandbox's data out of the measured heap).
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/requests" && r.Method == http.MethodGet:
		jsonResponse(http.StatusOK, s.Requests()).write(w)
	case path == "/requests" && r.Method == http.MethodDelete:
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	case path == "/state" && r.Method == http.MethodGet:
		s.mu.Lock()
		st := State{VercelTokens: len(s.d.vercelTokens), QueryServerUserTokens: len(s.d.qsTokens), ClerkUsers: slices.Clone(s.d.clerkUsers)}
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

func sortNewestFirst(tokens []VercelToken) {
	sort.SliceStable(tokens, func(i, j int) bool {
		a, b := tokens[i], tokens[j]
		return a.CreatedAt.After(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
	})
}
