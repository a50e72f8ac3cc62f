// Package upstream is the HTTP plumbing shared by the upstream API clients: retries
// per request, server-requested waits, bounded bodies, careful JSON decoding and
// typed errors whose text never carries a secret. It knows nothing of Steampipe.
package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind classifies what went wrong, so callers can choose advice without parsing text.
type Kind int

const (
	// KindStatus: the upstream answered with an HTTP error status.
	KindStatus Kind = iota + 1
	// KindThrottled: the upstream kept answering 429 (or asked for too long a wait).
	KindThrottled
	// KindTimeout: no complete answer within the per-request timeout.
	KindTimeout
	// KindNetwork: the connection failed (refused, reset, DNS, TLS).
	KindNetwork
	// KindDecode: the body was not the JSON we expect (empty, HTML, cut off, wrong shape).
	KindDecode
	// KindProtocol: the answers are well-formed but inconsistent (for example a pagination loop).
	KindProtocol
	// KindCanceled: the caller's context ended (query cancelled or LIMIT reached).
	KindCanceled
)

// Error is every failure a client returns. Its text names the provider, the request,
// the upstream's own status, code and message, and how hard we tried.
type Error struct {
	Provider   string        // display name, e.g. "Vercel"
	Method     string        // HTTP method
	Path       string        // request path without query or host
	Kind       Kind          //
	Status     int           // HTTP status, 0 when none was received
	Code       string        // the upstream's machine-readable code, when it sent one
	Message    string        // the upstream's human message (scrubbed, shortened), or what was wrong with the body
	RetryAfter time.Duration // the wait the upstream last asked for, if any
	Attempts   int           // requests made, including retries
	Elapsed    time.Duration // time spent across all attempts
	NeverSent  bool          // a network failure before the request left (no connection)
	Err        error         // underlying transport or decode error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s: ", e.Provider, e.Method, e.Path)
	switch e.Kind {
	case KindThrottled:
		b.WriteString("throttled")
		if e.Status != 0 {
			fmt.Fprintf(&b, " (%s)", e.statusText())
		}
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, "; it asked to wait %s", round(e.RetryAfter))
		}
	case KindTimeout:
		b.WriteString("no answer within the request timeout")
	case KindNetwork:
		b.WriteString("connection failed")
		if e.Err != nil {
			fmt.Fprintf(&b, ": %s", Scrub(e.Err.Error()))
		}
	case KindDecode:
		if e.Status != 0 {
			fmt.Fprintf(&b, "answered %d with %s", e.Status, e.Message)
		} else {
			b.WriteString(e.Message)
		}
	case KindProtocol:
		b.WriteString(e.Message)
	case KindCanceled:
		b.WriteString("cancelled")
	default:
		b.WriteString(e.statusText())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts over %s)", e.Attempts, round(e.Elapsed))
	}
	return b.String()
}

func (e *Error) statusText() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Acted says whether a failed request that changes something (a create, an update, a
// revoke) took effect upstream. Callers map it to words; the HTTP reasoning is here.
type Acted int

const (
	// ActedNo: certainly not: an answer that refuses (4xx, 429, 503) or a connection
	// that was never made.
	ActedNo Acted = iota
	// ActedMaybe: unknown: a 5xx other than 503, no answer in time, or a connection
	// lost after the request was sent.
	ActedMaybe
	// ActedYes: the upstream answered 2xx, but the answer was cut off or unreadable.
	ActedYes
)

// Acted classifies the failure of a request that changes something.
func (e *Error) Acted() Acted {
	switch {
	case e.Status >= 200 && e.Status < 300:
		return ActedYes
	case e.Kind == KindTimeout, e.Kind == KindDecode:
		return ActedMaybe
	case e.Kind == KindNetwork:
		if e.NeverSent {
			return ActedNo
		}
		return ActedMaybe
	case e.Kind == KindStatus && e.Status >= 500 && e.Status != http.StatusServiceUnavailable:
		return ActedMaybe
	}
	return ActedNo
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsStatus reports whether err is an upstream answer with one of the given statuses.
func IsStatus(err error, statuses ...int) bool {
	e, ok := As(err)
	if !ok || e.Kind != KindStatus {
		return false
	}
	for _, s := range statuses {
		if e.Status == s {
			return true
		}
	}
	return false
}

// IsNotFound reports whether the upstream answered 404.
func IsNotFound(err error) bool { return IsStatus(err, http.StatusNotFound) }

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
