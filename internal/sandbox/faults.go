package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching upstream requests fail the way the real service (or
// the network in front of it) fails.
//
// Faults are checked in the order added. Each counts every request matching
// its filters (for After and Every); the first that fires answers the
// request.
type Fault struct {
	Upstream string `json:"upstream"` // "vercel", "query_server" or "clerk" (required)
	Method   string `json:"method,omitempty"`
	// Path is an exact upstream path without the /vercel, /query or /clerk
	// prefix (e.g. "/v6/user/tokens"), or a prefix ending in "*". Clerk paths
	// may be given with or without "/v1".
	Path  string `json:"path,omitempty"`
	After int    `json:"after,omitempty"` // let this many matching requests through first
	Times int    `json:"times,omitempty"` // apply this many times, then stop (0 = forever)
	// Every applies the fault to every Nth matching request only, counting
	// from the first after After: with Every 3, the 3rd, 6th, 9th...
	Every int `json:"every,omitempty"`
	// Kind is one of: status, reset, hang, truncate, html, empty, wrong_shape,
	// extra_fields, missing_optional, null_optional, and for Vercel's list
	// only: repeat_cursor, empty_page_with_next, oversized_page.
	//
	// Note that Go's http.Transport retries an idempotent request (GET) once
	// on a new connection when a reused connection is reset before any
	// response byte: a "reset" with Times 1 is then invisible to the
	// caller. Use Times 2 or more (or no keep-alives) to see the error.
	Kind   string `json:"kind"`
	Status int    `json:"status,omitempty"` // for "status"
	// RetryAfter is sent as Retry-After. Clerk always sends one on 429, so
	// for Clerk it defaults to "1" there.
	RetryAfter string `json:"retry_after,omitempty"`
	// RateLimitReset is seconds from now for Vercel's X-RateLimit-Reset
	// (default 1).
	RateLimitReset int `json:"rate_limit_reset,omitempty"`
	// Delay is how long "hang" stalls before answering normally; 0 stalls
	// until the client gives up.
	Delay time.Duration `json:"-"`
}

type faultJSON Fault

// MarshalJSON writes Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	aux := struct {
		faultJSON
		Delay string `json:"delay,omitempty"`
	}{faultJSON: faultJSON(f)}
	if f.Delay != 0 {
		aux.Delay = f.Delay.String()
	}
	return json.Marshal(aux)
}

// UnmarshalJSON accepts Delay as a Go duration string ("1.5s") or as
// nanoseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var aux struct {
		faultJSON
		Delay json.RawMessage `json:"delay"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*f = Fault(aux.faultJSON)
	if len(aux.Delay) > 0 && string(aux.Delay) != "null" {
		var s string
		if err := json.Unmarshal(aux.Delay, &s); err == nil {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("delay: %w", err)
			}
			f.Delay = d
		} else {
			var n int64
			if err := json.Unmarshal(aux.Delay, &n); err != nil {
				return fmt.Errorf("delay: want a duration string or nanoseconds")
			}
			f.Delay = time.Duration(n)
		}
	}
	return nil
}

var faultKinds = map[string]bool{
	"status": true, "reset": true, "hang": true, "truncate": true, "html": true,
	"empty": true, "wrong_shape": true, "extra_fields": true, "missing_optional": true,
	"null_optional": true, "repeat_cursor": true, "empty_page_with_next": true, "oversized_page": true,
}

// vercelListOnly kinds only make sense for the token list; they implicitly
// match GET /v6/user/tokens alone.
var vercelListOnly = map[string]bool{"repeat_cursor": true, "empty_page_with_next": true, "oversized_page": true}

// Validate reports a Fault that AddFault would reject.
func (f Fault) Validate() error {
	switch f.Upstream {
	case UpstreamVercel, UpstreamQueryServer, UpstreamClerk:
	default:
		return fmt.Errorf("fault: upstream %q: want vercel, query_server or clerk", f.Upstream)
	}
	if !faultKinds[f.Kind] {
		return fmt.Errorf("fault: unknown kind %q", f.Kind)
	}
	if vercelListOnly[f.Kind] && f.Upstream != UpstreamVercel {
		return fmt.Errorf("fault: kind %q exists for Vercel's token list only", f.Kind)
	}
	if f.Kind == "status" && (f.Status < 100 || f.Status > 599) {
		return fmt.Errorf("fault: kind status needs Status in 100..599, got %d", f.Status)
	}
	if f.After < 0 || f.Times < 0 || f.Every < 0 || f.Delay < 0 || f.RateLimitReset < 0 {
		return fmt.Errorf("fault: After, Times, Every, Delay and RateLimitReset must not be negative")
	}
	return nil
}

type faultState struct {
	id      int
	f       Fault
	seen    int
	applied int
}

// AddFault installs f and returns its id. It panics on a Fault that
// Validate rejects: that is a bug in the test. (The control API answers 400
// instead.)
func (s *Sandbox) AddFault(f Fault) int {
	id, err := s.addFault(f)
	if err != nil {
		panic(err)
	}
	return id
}

func (s *Sandbox) addFault(f Fault) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.nextFaultID++
	s.faults = append(s.faults, &faultState{id: s.nextFaultID, f: f})
	return s.nextFaultID, nil
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.faultMu.Lock()
	s.faults = nil
	s.faultMu.Unlock()
}

func (s *Sandbox) faultCount() int {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return len(s.faults)
}

func matchPath(pattern, up, path string) bool {
	if pattern == "" {
		return true
	}
	try := func(p string) bool {
		if strings.HasSuffix(pattern, "*") {
			return strings.HasPrefix(p, strings.TrimSuffix(pattern, "*"))
		}
		return p == pattern
	}
	if try(path) {
		return true
	}
	return up == UpstreamClerk && strings.HasPrefix(path, "/v1/") && try(strings.TrimPrefix(path, "/v1"))
}

func (fs *faultState) matches(up, method, path string) bool {
	f := fs.f
	if f.Upstream != up {
		return false
	}
	if f.Method != "" && !strings.EqualFold(f.Method, method) {
		return false
	}
	if vercelListOnly[f.Kind] && (method != http.MethodGet || path != "/v6/user/tokens") {
		return false
	}
	return matchPath(f.Path, up, path)
}

func (s *Sandbox) pickFault(up, method, path string) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	var chosen *Fault
	for _, fs := range s.faults {
		if !fs.matches(up, method, path) {
			continue
		}
		fs.seen++
		if chosen != nil || fs.seen <= fs.f.After {
			continue
		}
		k := fs.seen - fs.f.After
		if fs.f.Every > 1 && k%fs.f.Every != 0 {
			continue
		}
		if fs.f.Times > 0 && fs.applied >= fs.f.Times {
			continue
		}
		fs.applied++
		f := fs.f
		chosen = &f
	}
	return chosen
}

// statusFault answers with the upstream's own error for that status.
func (s *Sandbox) statusFault(up string, f *Fault) *response {
	var resp *response
	switch up {
	case UpstreamVercel:
		resp = vercelStatusError(f)
	case UpstreamQueryServer:
		resp = queryStatusError(f.Status)
	default:
		resp = clerkStatusError(f.Status)
		if f.Status == http.StatusTooManyRequests && f.RetryAfter == "" {
			resp.header.Set("Retry-After", "1")
		}
	}
	if f.RetryAfter != "" {
		resp.header.Set("Retry-After", f.RetryAfter)
	}
	return resp
}

func snakeStatus(status int) string {
	t := strings.ToLower(http.StatusText(status))
	if t == "" {
		return "http_" + strconv.Itoa(status)
	}
	t = strings.NewReplacer(" ", "_", "-", "_", "'", "").Replace(t)
	return t
}
