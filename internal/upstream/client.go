package upstream

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-retryablehttp"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxWait      = 60 * time.Second
	DefaultMaxBodyBytes = 32 << 20
	defaultMinBackoff   = 250 * time.Millisecond
	defaultMaxBackoff   = 8 * time.Second
)

// Options configure a Client. The credential header is sent on every request and never logged.
type Options struct {
	Provider      string // display name used in errors and logs, e.g. "Vercel"
	BaseURL       string // scheme, host and optional path prefix
	Authorization string // the full value of the credential header
	AuthHeader    string // the credential header's name: "Authorization" when empty
	// Secrets are the raw credentials behind Authorization (the token without its
	// "Bearer "): upstream text that echoes one is redacted whatever its shape.
	Secrets      []string
	Header       http.Header   // extra headers sent on every request
	MaxRetries   int           // retries after the first attempt
	Timeout      time.Duration // per attempt, including reading the body
	MaxWait      time.Duration // longest server-requested wait honoured before giving up
	MinBackoff   time.Duration // first backoff for 5xx and transport errors
	MaxBackoff   time.Duration // cap for that backoff
	MaxBodyBytes int64         // larger bodies are an error
	Logger       hclog.Logger  // nil discards
	Transport    http.RoundTripper
	// ParseError extracts the upstream's code and message from an error body.
	ParseError func(body []byte) (code, message string)
}

// Client performs requests against one upstream.
type Client struct {
	provider   string
	base       *url.URL
	auth       string
	authHeader string
	secrets    []string // exact values to redact: the header and the raw credentials
	header     http.Header
	maxWait    time.Duration
	maxBody    int64
	parseError func([]byte) (string, string)
	log        hclog.Logger
	rc         *retryablehttp.Client
}

// Request is one logical call; the client may send it several times.
type Request struct {
	Method string
	Path   string     // escaped path below the base URL, built with Segment for variable parts
	Query  url.Values //
	Body   any        // JSON-encoded when not nil
	// Idempotent requests are retried on every transient failure. Others only when the
	// upstream certainly did not act on them: 429, 503, or a connection never made.
	Idempotent bool
	// Action requests change something upstream. A 2xx status alone confirms them: one
	// whose answer is then cut off is not repeated (a repeat may be refused, the action
	// being done), and its error says so (Error.Acted).
	Action bool
}

// Response is a final answer below 400.
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Attempts int
	method   string
	path     string
	provider string
}

// ParseBaseURL checks a configured base URL and returns it without a trailing slash.
// Credentials travel in headers, so the URL must be https, except on a loopback host
// (an emulation or a server on this machine), and must hold no credentials itself.
// Its errors never quote the URL: it may hold a secret.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("it is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("it must start with https://")
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("it has no host")
	case u.User != nil:
		return nil, errors.New("it must not contain credentials; use the token argument")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, errors.New("it must not contain a query or fragment")
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		return nil, errors.New("it must start with https:// (plain http:// is allowed only for a loopback host such as 127.0.0.1 or localhost, since every request carries a credential)")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}

// IsLoopback reports whether host names this machine: localhost, or a loopback IP.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// RedactURL shows a configured address without what may be secret in it: the
// userinfo, the query and the fragment become [redacted]. It never fails: text that
// does not parse is cut at the first '?' or '#', and everything before its last '@'
// (after any "//") is hidden.
func RedactURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		var b strings.Builder
		b.WriteString(u.Scheme + "://")
		if u.User != nil {
			b.WriteString("[redacted]@")
		}
		b.WriteString(u.Host + u.EscapedPath())
		if u.RawQuery != "" || u.ForceQuery {
			b.WriteString("?[redacted]")
		}
		if u.Fragment != "" {
			b.WriteString("#[redacted]")
		}
		return Scrub(b.String())
	}
	cut := raw
	if i := strings.IndexAny(cut, "?#"); i >= 0 {
		cut = cut[:i+1] + "[redacted]"
	}
	if j := strings.LastIndexByte(cut, '@'); j >= 0 {
		start := 0
		if i := strings.Index(cut, "//"); i >= 0 && i < j {
			start = i + 2
		}
		cut = cut[:start] + "[redacted]" + cut[j:]
	}
	return Scrub(cut)
}

// New builds a client. The base URL must already be valid (see ParseBaseURL).
func New(o Options) (*Client, error) {
	base, err := ParseBaseURL(o.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s base URL %s: %w", o.Provider, RedactURL(o.BaseURL), err)
	}
	c := &Client{
		provider:   o.Provider,
		base:       base,
		auth:       o.Authorization,
		authHeader: cmp.Or(o.AuthHeader, "Authorization"),
		secrets:    append([]string{o.Authorization}, o.Secrets...),
		header:     o.Header.Clone(),
		maxWait:    orDuration(o.MaxWait, DefaultMaxWait),
		maxBody:    o.MaxBodyBytes,
		parseError: o.ParseError,
		log:        o.Logger,
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxBodyBytes
	}
	if c.log == nil {
		c.log = hclog.NewNullLogger()
	}
	transport := o.Transport
	if transport == nil {
		transport = newTransport()
	}
	c.rc = &retryablehttp.Client{
		HTTPClient:     &http.Client{Transport: transport, Timeout: o.Timeout, CheckRedirect: sameHostRedirects},
		Logger:         debugLogger{c.log},
		RetryWaitMin:   orDuration(o.MinBackoff, defaultMinBackoff),
		RetryWaitMax:   orDuration(o.MaxBackoff, defaultMaxBackoff),
		RetryMax:       max(o.MaxRetries, 0),
		CheckRetry:     c.checkRetry,
		Backoff:        backoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: countAttempt,
	}
	return c, nil
}

// Provider is the display name given in Options.
func (c *Client) Provider() string { return c.provider }

// Segment escapes one variable path segment so it can never address another route:
// slashes, '?', '#', '%' and the dot segments are all encoded.
func Segment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// Do sends the request, retrying as its kind allows, and returns the final answer.
// Answers of 400 and above come back as *Error; so do transport and timeout failures.
// A cancelled context returns the context's own error.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	start := time.Now()
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.Path
	path, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, &Error{Provider: c.provider, Method: r.Method, Path: r.Path, Kind: KindProtocol, Message: "invalid request path"}
	}
	u.Path = path
	u.RawQuery = r.Query.Encode()

	var body any
	if r.Body != nil {
		b, err := json.Marshal(r.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: encoding request body: %w", c.provider, err)
		}
		body = b
	}
	st := &callState{idempotent: r.Idempotent, action: r.Action, maxBody: c.maxBody}
	req, err := retryablehttp.NewRequestWithContext(context.WithValue(ctx, stateKey{}, st), r.Method, u.String(), body)
	if err != nil {
		return nil, &Error{Provider: c.provider, Method: r.Method, Path: r.Path, Kind: KindProtocol, Message: "cannot build request"}
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.auth != "" {
		req.Header.Set(c.authHeader, c.auth)
	}
	req.SetResponseHandler(st.readBody)

	resp, doErr := c.rc.Do(req)
	elapsed := time.Since(start)
	fail := func(kind Kind, status int, cause error) *Error {
		return &Error{Provider: c.provider, Method: r.Method, Path: r.Path, Kind: kind, Status: status,
			Attempts: st.attempts, Elapsed: elapsed, Err: cause}
	}
	if ctx.Err() != nil {
		drain(resp)
		return nil, ctx.Err()
	}
	if doErr != nil {
		drain(resp)
		var tooBig *bodyTooLargeError
		switch {
		case errors.As(doErr, &tooBig):
			e := fail(KindDecode, resp.StatusCode, nil)
			e.Message = fmt.Sprintf("a body larger than %d bytes", c.maxBody)
			return nil, e
		case isTimeout(doErr):
			return nil, fail(KindTimeout, 0, nil)
		case errors.Is(doErr, io.ErrUnexpectedEOF):
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			return nil, fail(KindNetwork, status, scrubbedError{"the answer was cut off before its end"})
		default:
			cause := doErr
			var ue *url.Error
			if errors.As(doErr, &ue) {
				cause = ue.Err // the URL is in the message already
			}
			e := fail(KindNetwork, 0, scrubbedError{scrubSecrets(cause.Error(), c.secrets...)})
			e.NeverSent = neverSent(doErr)
			return nil, e
		}
	}
	if st.body == nil {
		// The answer that ended the retries was never read (retries ran out on a 429 or 5xx).
		if err := st.readBody(resp); err != nil {
			st.body = []byte{}
		}
	}
	resp.Body.Close()
	c.log.Debug("upstream request", "provider", c.provider, "method", r.Method, "path", r.Path,
		"status", resp.StatusCode, "attempts", st.attempts, "elapsed", elapsed)

	if resp.StatusCode >= 400 {
		e := fail(KindStatus, resp.StatusCode, nil)
		if c.parseError != nil {
			code, msg := c.parseError(st.body)
			e.Code, e.Message = cleanMessage(code, c.secrets...), cleanMessage(msg, c.secrets...)
		}
		if w, ok := serverWait(resp); ok {
			e.RetryAfter = w
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.Kind = KindThrottled
		}
		return nil, e
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: st.body, Attempts: st.attempts,
		method: r.Method, path: r.Path, provider: c.provider}, nil
}

// DecodeError describes a successful status whose body is unusable.
func (r *Response) DecodeError(format string, args ...any) *Error {
	return &Error{Provider: r.provider, Method: r.method, Path: r.path, Kind: KindDecode, Status: r.Status,
		Attempts: r.Attempts, Message: fmt.Sprintf(format, args...)}
}

// ProtocolError describes answers that are valid one by one but wrong together.
func (r *Response) ProtocolError(format string, args ...any) *Error {
	return &Error{Provider: r.provider, Method: r.method, Path: r.path, Kind: KindProtocol, Status: r.Status,
		Message: fmt.Sprintf(format, args...)}
}

// JSON decodes the body into v, describing an unusable body without quoting it:
// a body may hold secrets (a minted sign-in token), so only its shape is reported.
func (r *Response) JSON(v any) error {
	body := bytes.TrimSpace(r.Body)
	switch {
	case len(body) == 0:
		return r.DecodeError("an empty body instead of JSON")
	case body[0] == '<':
		return r.DecodeError("an HTML page instead of JSON (%d bytes)", len(r.Body))
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax) && syntax.Offset >= int64(len(body)), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "unexpected end of JSON input"):
		return r.DecodeError("JSON cut off after %d bytes", len(body))
	case errors.As(err, &syntax):
		return r.DecodeError("malformed JSON (invalid at byte %d of %d)", syntax.Offset, len(body))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the top level"
		}
		return r.DecodeError("JSON of an unexpected shape (%s is %s, want %s)", field, jsonKind(typeErr.Value), typeErr.Type.Kind())
	default:
		return r.DecodeError("JSON of an unexpected shape")
	}
}

func jsonKind(v string) string {
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	switch v {
	case "object", "array":
		return "an " + v
	}
	return "a " + v
}

type stateKey struct{}

// callState follows one logical call through retryablehttp's attempts.
type callState struct {
	idempotent bool
	action     bool
	maxBody    int64
	attempts   int
	body       []byte
}

type bodyTooLargeError struct{}

func (bodyTooLargeError) Error() string { return "body too large" }

// readBody reads a final answer completely, inside the per-attempt timeout, so that a
// body cut off mid-way is a transport failure that can be retried like any other.
func (st *callState) readBody(resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, st.maxBody+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > st.maxBody {
		return &bodyTooLargeError{}
	}
	st.body = b
	return nil
}

func stateOf(ctx context.Context) *callState {
	if st, ok := ctx.Value(stateKey{}).(*callState); ok {
		return st
	}
	return &callState{}
}

func countAttempt(_ retryablehttp.Logger, req *http.Request, _ int) {
	stateOf(req.Context()).attempts++
}

func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st := stateOf(ctx)
	if err != nil {
		var tooBig *bodyTooLargeError
		if errors.As(err, &tooBig) {
			return false, nil
		}
		if resp != nil { // the status was final but its body broke off
			return st.idempotent && !(st.action && resp.StatusCode < 300), nil
		}
		if retry, _ := retryablehttp.DefaultRetryPolicy(ctx, nil, err); !retry {
			return false, nil
		}
		return st.idempotent || neverSent(err), nil
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if w, ok := serverWait(resp); ok && w > c.maxWait {
			return false, nil // waiting that long inside a query helps no one; say so instead
		}
		return true, nil
	case code >= 500 && code != http.StatusNotImplemented:
		return st.idempotent, nil
	}
	return false, nil
}

// neverSent reports a failure before the request left: safe to retry even a create.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serverWait is how long the upstream asked us to wait: Retry-After (seconds or a date),
// else, on a 429, the time its rate-limit window resets (epoch seconds), in whichever
// header the upstream names it: Vercel's X-RateLimit-Reset, GitLab's RateLimit-Reset
// (GitLab sends 429s without Retry-After), Okta's X-Rate-Limit-Reset.
func serverWait(resp *http.Response) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if v := strings.TrimSpace(resp.Header.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 && secs < 1e9 {
			return time.Duration(secs * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0), true
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		for _, h := range resetHeaders {
			v := strings.TrimSpace(resp.Header.Get(h))
			if epoch, err := strconv.ParseInt(v, 10, 64); err == nil && epoch > 0 && epoch < 1e11 {
				// The reset is whole seconds; the window opens within the second after it.
				return max(time.Until(time.Unix(epoch, 0)), 0), true
			}
		}
	}
	return 0, false
}

// resetHeaders name the time a rate-limit window resets, in epoch seconds.
var resetHeaders = []string{"X-RateLimit-Reset", "RateLimit-Reset", "X-Rate-Limit-Reset"}

// minServerWait keeps a stale or zero reset time from turning retries into a tight loop.
const minServerWait = 50 * time.Millisecond

// backoff honours what the server asked for, else doubles from lo up to hi, with jitter
// in the upper half so that parallel callers spread out.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if w, ok := serverWait(resp); ok {
			return max(w, minServerWait)
		}
	}
	d := hi
	if attempt < 30 && lo<<attempt < hi {
		d = lo << attempt
	}
	return d/2 + rand.N(d/2+1)
}

// sameHostRedirects refuses redirects to another host, which would carry the
// Authorization header somewhere it was never meant to go, and from https to plain
// http, which would send it in clear text.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	switch {
	case len(via) >= 5:
		return errors.New("too many redirects")
	case req.URL.Host != via[0].URL.Host:
		return fmt.Errorf("refusing redirect to another host (%s)", req.URL.Hostname())
	case via[0].URL.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("refusing redirect from https to plain http")
	}
	return nil
}

func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}

func drain(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
	}
}

func orDuration(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

type scrubbedError struct{ msg string }

func (e scrubbedError) Error() string { return e.msg }

// debugLogger keeps retryablehttp's own lines at debug level: the client reports
// failures itself, with context, once.
type debugLogger struct{ l hclog.Logger }

func (d debugLogger) Error(msg string, kv ...any) { d.l.Debug(msg, kv...) }
func (d debugLogger) Info(msg string, kv ...any)  { d.l.Debug(msg, kv...) }
func (d debugLogger) Debug(msg string, kv ...any) { d.l.Debug(msg, kv...) }
func (d debugLogger) Warn(msg string, kv ...any)  { d.l.Debug(msg, kv...) }
