package sandbox

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault makes matching requests fail the way a real service (or the network in front
// of it) fails. Faults are checked in the order added; the first that fires answers.
type Fault struct {
	Provider string // the upstream's name, e.g. "vercel" (required)
	Method   string // "" matches any
	Path     string // exact path below the provider's base URL, or a prefix ending in "*"
	After    int    // let this many matching requests through first
	Times    int    // fire this many times, then stop (0: forever)
	Every    int    // fire on every Nth matching request only (after After)
	// Kind is one of: status, reset (connection dropped), hang, truncate (half the
	// body, then the connection closes), html (a proxy's 502 page), empty (200, no
	// body), wrong_shape (200, JSON of another shape), or one of the upstream's own
	// (its file lists them). acted_then_status lets the upstream act, then answers with
	// Status (a gateway that gave up after the upstream acted).
	//
	// Go's transport resends an idempotent request once on a new connection when a
	// reused one is reset before any answer: a "reset" with Times 1 can be invisible.
	Kind       string
	Status     int           // for "status"
	RetryAfter string        // sent as Retry-After; Clerk always sends one on 429 ("1" if empty)
	Delay      time.Duration // how long "hang" stalls before answering; 0 until the client leaves
}

type faultState struct {
	Fault
	seen, fired int
}

// faultKinds are the faults every upstream can meet.
var faultKinds = []string{"status", "reset", "hang", "truncate", "html", "empty", "wrong_shape", "acted_then_status"}

// AddFault installs a fault; it panics on one that cannot fire (a bug in the test).
func (s *Sandbox) AddFault(f Fault) {
	k := kindOf(f.Provider)
	switch {
	case k == nil:
		panic(fmt.Sprintf("sandbox: fault provider %q", f.Provider))
	case !slices.Contains(faultKinds, f.Kind) && !slices.Contains(k.faults, f.Kind):
		panic(fmt.Sprintf("sandbox: fault kind %q", f.Kind))
	case (f.Kind == "status" || f.Kind == "acted_then_status") && (f.Status < 400 || f.Status > 599):
		panic(fmt.Sprintf("sandbox: fault status %d", f.Status))
	}
	s.faultMu.Lock()
	s.faults = append(s.faults, &faultState{Fault: f})
	s.faultMu.Unlock()
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.faultMu.Lock()
	s.faults = nil
	s.faultMu.Unlock()
}

func (s *Sandbox) pickFault(provider, method, path string) *Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for _, f := range s.faults {
		if f.Provider != provider || (f.Method != "" && f.Method != method) || !pathMatches(f.Path, path) {
			continue
		}
		f.seen++
		n := f.seen - f.After
		if n <= 0 || (f.Times > 0 && f.fired >= f.Times) || (f.Every > 1 && n%f.Every != 0) {
			continue
		}
		f.fired++
		fault := f.Fault
		return &fault
	}
	return nil
}

// faultResponse is the answer of a fault that replaces the upstream's own, or nil
// when the upstream answers and the fault shapes how (its own kinds, truncate).
func faultResponse(u upstream, f *Fault) *response {
	switch f.Kind {
	case "status":
		return statusFault(u, f)
	case "html":
		r := newResponse(http.StatusBadGateway, []byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"+
			"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
		r.header.Set("Content-Type", "text/html")
		return r
	case "empty":
		return newResponse(http.StatusOK, nil)
	case "wrong_shape":
		return newResponse(http.StatusOK, u.wrongShape())
	}
	return nil
}

// statusFault answers with the fault's status in the upstream's own error format.
func statusFault(u upstream, f *Fault) *response {
	r := u.statusResponse(f)
	if f.RetryAfter != "" {
		r.header.Set("Retry-After", f.RetryAfter)
	}
	return r
}

// statusCode is the machine code of an error status, e.g. "too_many_requests".
func statusCode(status int) string {
	return strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

// hangUp drops the connection without an answer; linger 0 makes the kernel send a
// TCP RST, which the client sees as "connection reset by peer".
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// writeTruncated declares the whole body's length, sends half and closes the
// connection: the client sees an unexpected EOF mid-JSON.
func writeTruncated(w http.ResponseWriter, r *response) {
	if len(r.body) == 0 {
		r.write(w)
		return
	}
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body[:len(r.body)/2])
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		_ = conn.Close()
	}
}
