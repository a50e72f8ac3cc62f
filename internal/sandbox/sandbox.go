package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Upstream names used in the request log, in faults and in Count.
const (
	UpstreamVercel      = "vercel"
	UpstreamQueryServer = "query_server"
	UpstreamClerk       = "clerk"
)

// Config selects the generated data and the behaviour variants. Zero values
// mean "default" throughout, so Config{} is a complete, realistic setup.
type Config struct {
	Seed int64 // default 1
	// VercelTokens is the number of generated Vercel tokens, the current one
	// included (default 30). -1 means none: the account lists nothing, and the
	// current token still authenticates without appearing in the list.
	VercelTokens int
	// VercelCursor is "number", "string" or "mixed" (default): the JSON type of
	// pagination.next. "mixed" alternates page by page.
	VercelCursor string
	// QueryServerUsers counts users including the admin, each with exactly one
	// user token (default 6); -1 leaves only the admin.
	QueryServerUsers int
	// QueryServerTokenPath is where the user-token routes live: "/_/user/token"
	// (default, as real servers) or "/_/user-token" (the old docs' path). The
	// other path answers 404 "404 Not Found".
	QueryServerTokenPath string
	// ClerkUsers is the number of Clerk users (default 5; -1 for none). There
	// are always two organizations; the first user belongs to the first.
	ClerkUsers int
	// ClerkRateLimit is requests per 10 s per secret key before 429 (default
	// 100, a development instance's limit; -1 disables).
	ClerkRateLimit int
	// Latency is added to every upstream request (not to the control API).
	Latency time.Duration
	// Now is the reference time generated data is relative to. Default: the
	// current UTC day at 00:00, so that sandboxes built from one seed on the
	// same day hold identical data while "expired", "expires within 7 days"
	// and "unused for 90 days" stay true against the real clock all day.
	Now time.Time
}

func (c Config) normalized() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	switch {
	case c.VercelTokens == 0:
		c.VercelTokens = 30
	case c.VercelTokens < 0:
		c.VercelTokens = 0
	}
	if c.VercelCursor == "" {
		c.VercelCursor = "mixed"
	}
	switch {
	case c.QueryServerUsers == 0:
		c.QueryServerUsers = 6
	case c.QueryServerUsers < 0:
		c.QueryServerUsers = 1
	}
	if c.QueryServerTokenPath == "" {
		c.QueryServerTokenPath = "/_/user/token"
	}
	switch {
	case c.ClerkUsers == 0:
		c.ClerkUsers = 5
	case c.ClerkUsers < 0:
		c.ClerkUsers = 0
	}
	switch {
	case c.ClerkRateLimit == 0:
		c.ClerkRateLimit = 100
	case c.ClerkRateLimit < 0:
		c.ClerkRateLimit = 0
	}
	if c.Now.IsZero() {
		c.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	return c
}

// Validate reports a Config that New would reject.
func (c Config) Validate() error {
	switch c.VercelCursor {
	case "", "number", "string", "mixed":
	default:
		return fmt.Errorf("sandbox: VercelCursor %q: want number, string or mixed", c.VercelCursor)
	}
	switch c.QueryServerTokenPath {
	case "", "/_/user/token", "/_/user-token":
	default:
		return fmt.Errorf("sandbox: QueryServerTokenPath %q: want /_/user/token or /_/user-token", c.QueryServerTokenPath)
	}
	return nil
}

// Sandbox emulates the Vercel, Query Server and Clerk APIs in one
// http.Handler. It is safe for concurrent use.
type Sandbox struct {
	cfg Config

	mu      sync.RWMutex // guards the upstream state and secrets below
	vercel  *vercelState
	query   *queryState
	clerk   *clerkState
	secrets map[string]bool // secret -> also sent as "Bearer <secret>"

	logMu sync.Mutex
	log   []Request

	faultMu     sync.Mutex
	faults      []*faultState
	nextFaultID int
}

// New builds a sandbox whose data is fully determined by cfg (Seed and Now).
// It panics on a Config that Validate rejects: that is a bug in the test.
func New(cfg Config) *Sandbox {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &Sandbox{cfg: cfg.normalized(), secrets: map[string]bool{}}
	s.mu.Lock()
	s.seedLocked()
	s.mu.Unlock()
	return s
}

func (s *Sandbox) seedLocked() {
	s.vercel = newVercelState(s.cfg, s.addSecretLocked)
	s.query = newQueryState(s.cfg, s.addSecretLocked)
	s.clerk = newClerkState(s.cfg, s.addSecretLocked)
}

// Reset restores the seeded data and clears the request log and faults.
// Secrets minted before the reset stay in Secrets(): they may still sit in a
// client's logs.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	s.seedLocked()
	s.mu.Unlock()
	s.ResetRequests()
	s.ClearFaults()
}

func (s *Sandbox) addSecretLocked(v string, bearer bool) {
	if v == "" {
		return
	}
	s.secrets[v] = s.secrets[v] || bearer
}

// Secrets returns every secret the sandbox knows or has minted, plus the
// "Bearer <secret>" header value of each bearer credential, sorted.
func (s *Sandbox) Secrets() []string {
	s.mu.RLock()
	out := make([]string, 0, len(s.secrets)*2)
	for v, bearer := range s.secrets {
		out = append(out, v)
		if bearer {
			out = append(out, "Bearer "+v)
		}
	}
	s.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Request is one upstream request as the sandbox saw it.
type Request struct {
	Upstream string    `json:"upstream"`
	Method   string    `json:"method"`
	Path     string    `json:"path"` // escaped, without the /vercel, /query or /clerk prefix
	RawQuery string    `json:"raw_query"`
	Status   int       `json:"status"` // 0 when no answer was sent (reset, client gone)
	Start    time.Time `json:"start"`
	// Duration runs from arrival until the response started (latency and
	// hangs included).
	Duration time.Duration `json:"-"`
	Fault    string        `json:"fault"` // injected fault kind, or ""
}

type requestJSON Request

// MarshalJSON writes Duration as a Go duration string.
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		requestJSON
		Duration string `json:"duration"`
	}{requestJSON(r), r.Duration.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Request) UnmarshalJSON(b []byte) error {
	var aux struct {
		requestJSON
		Duration string `json:"duration"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = Request(aux.requestJSON)
	if aux.Duration != "" {
		d, err := time.ParseDuration(aux.Duration)
		if err != nil {
			return err
		}
		r.Duration = d
	}
	return nil
}

// Requests returns a copy of the request log, oldest first.
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

// Count counts logged requests; "" matches anything. pathPrefix is compared
// with the logged path; for Clerk the "/v1" may be left out.
func (s *Sandbox) Count(upstream, method, pathPrefix string) int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	n := 0
	for _, r := range s.log {
		if upstream != "" && r.Upstream != upstream {
			continue
		}
		if method != "" && !strings.EqualFold(r.Method, method) {
			continue
		}
		if pathPrefix != "" && !strings.HasPrefix(r.Path, pathPrefix) &&
			!(r.Upstream == UpstreamClerk && strings.HasPrefix(strings.TrimPrefix(r.Path, "/v1"), pathPrefix)) {
			continue
		}
		n++
	}
	return n
}

func (s *Sandbox) record(r Request) {
	s.logMu.Lock()
	s.log = append(s.log, r)
	s.logMu.Unlock()
}

// ServeHTTP routes by prefix: /vercel, /query, /clerk and /_sandbox.
// Routing uses the escaped path so that an id containing an encoded "/",
// "?" or "#" stays one path segment.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	switch {
	case hasSegPrefix(p, "/_sandbox"):
		s.serveControl(w, r, strings.TrimPrefix(p, "/_sandbox"))
	case hasSegPrefix(p, "/vercel"):
		s.serveUpstream(w, r, UpstreamVercel, strings.TrimPrefix(p, "/vercel"))
	case hasSegPrefix(p, "/query"):
		s.serveUpstream(w, r, UpstreamQueryServer, strings.TrimPrefix(p, "/query"))
	case hasSegPrefix(p, "/clerk"):
		s.serveUpstream(w, r, UpstreamClerk, strings.TrimPrefix(p, "/clerk"))
	default:
		http.Error(w, "not a sandbox route: use /vercel, /query, /clerk/v1 or /_sandbox", http.StatusNotFound)
	}
}

func hasSegPrefix(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

func (s *Sandbox) serveUpstream(w http.ResponseWriter, r *http.Request, up, path string) {
	if path == "" {
		path = "/"
	}
	entry := Request{Upstream: up, Method: r.Method, Path: path, RawQuery: r.URL.RawQuery, Start: time.Now()}
	// Read the body up front: net/http notices a client hanging up (and
	// cancels r.Context) only once the body is consumed, and latency and
	// "hang" faults must stop when the client gives up.
	if r.Body != nil && r.Body != http.NoBody {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	finish := func(status int) {
		entry.Status = status
		entry.Duration = time.Since(entry.Start)
		s.record(entry)
	}
	if d := s.cfg.Latency; d > 0 && !sleepCtx(r.Context(), d) {
		finish(0)
		return
	}
	f := s.pickFault(up, r.Method, path)
	kind := ""
	if f != nil {
		kind = f.Kind
		entry.Fault = kind
	}
	var resp *response
	switch kind {
	case "reset":
		finish(0)
		resetConn(w)
		return
	case "hang":
		if f.Delay <= 0 {
			<-r.Context().Done()
			finish(0)
			return
		}
		if !sleepCtx(r.Context(), f.Delay) {
			finish(0)
			return
		}
	case "status":
		resp = s.statusFault(up, f)
	case "html":
		resp = proxyErrorPage()
	case "empty":
		resp = newResponse(http.StatusOK, nil)
	case "wrong_shape":
		resp = wrongShape(up)
	}
	if resp == nil {
		resp = s.handle(up, r, path, kind)
	}
	switch kind {
	case "extra_fields", "missing_optional", "null_optional":
		resp = transformBody(up, resp, kind)
	}
	if kind != "html" {
		s.decorate(up, r, resp)
	}
	finish(resp.status)
	if kind == "truncate" {
		writeTruncated(w, resp)
	} else {
		resp.write(w)
	}
	resp.release()
}

func (s *Sandbox) handle(up string, r *http.Request, path, fault string) *response {
	switch up {
	case UpstreamVercel:
		return s.serveVercel(r, path, fault)
	case UpstreamQueryServer:
		return s.serveQuery(r, path)
	default:
		return s.serveClerk(r, path)
	}
}

// decorate adds the headers an upstream sends on every response.
func (s *Sandbox) decorate(up string, r *http.Request, resp *response) {
	switch up {
	case UpstreamVercel:
		if resp.header.Get("Content-Type") == "" {
			resp.header.Set("Content-Type", "application/json; charset=utf-8")
		}
		s.vercelRateHeaders(r, resp)
	case UpstreamQueryServer:
		resp.noContentType = true
	case UpstreamClerk:
		if resp.header.Get("Content-Type") == "" {
			resp.header.Set("Content-Type", "application/json")
		}
		if resp.header.Get("Clerk-Trace-Id") == "" {
			resp.header.Set("Clerk-Trace-Id", newTraceID())
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resetConn drops the connection without a response; linger 0 makes the
// kernel send a TCP RST, which clients see as "connection reset by peer".
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeTruncated declares the full Content-Length, sends half the body and
// closes the connection: the client sees an unexpected EOF mid-JSON.
func writeTruncated(w http.ResponseWriter, resp *response) {
	if len(resp.body) == 0 {
		resp.write(w)
		return
	}
	full := resp.body
	resp.body = full[:len(full)/2]
	h := w.Header()
	for k, v := range resp.header {
		h[k] = v
	}
	if resp.noContentType {
		h["Content-Type"] = nil
	}
	h.Set("Content-Length", fmt.Sprint(len(full)))
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
	resp.body = full
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func proxyErrorPage() *response {
	body := "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	resp := newResponse(http.StatusBadGateway, []byte(body))
	resp.header.Set("Content-Type", "text/html")
	return resp
}

// wrongShape is valid JSON that no client should accept as a success body.
func wrongShape(up string) *response {
	var body string
	switch up {
	case UpstreamVercel:
		body = `{"tokens":{},"token":[],"user":"x","pagination":[]}`
	case UpstreamQueryServer:
		body = `{"data":"x"}`
	default:
		body = `[]`
	}
	return newResponse(http.StatusOK, []byte(body))
}

func transformBody(up string, resp *response, kind string) *response {
	tree, err := parseTree(resp.body)
	if err != nil {
		return resp // not JSON (plain-text error, empty body): nothing to rewrite
	}
	switch kind {
	case "extra_fields":
		addExtraFields(tree)
	case "missing_optional":
		rewriteOptional(tree, optionalFor(up), false)
	case "null_optional":
		rewriteOptional(tree, optionalFor(up), true)
	}
	out := newResponse(resp.status, appendTree(nil, tree))
	out.header = resp.header
	out.noContentType = resp.noContentType
	resp.release()
	return out
}

func optionalFor(up string) optionalKeys {
	switch up {
	case UpstreamVercel:
		return vercelOptional
	case UpstreamQueryServer:
		return queryOptional
	default:
		return clerkOptional
	}
}
